"""The course doctor reports every check and says what to do about a problem."""
import subprocess
import sys

from course_utils import data, doctor


def test_doctor_all_good(capsys):
    assert doctor.main() == 0
    out = capsys.readouterr().out
    assert "Fashion-MNIST: 4 files, SHA256 match" in out and "coffee photo → espresso" in out
    assert out.count("✅") == len(doctor.CHECKS) and "All good" in out


def test_doctor_reports_missing_data_with_a_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "FASHION_DIR", tmp_path)
    monkeypatch.setenv("CI", "true")
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert "❌ Fashion-MNIST file" in out and "git checkout" in out and "problem(s) found" in out


def test_doctor_command_line():
    r = subprocess.run([sys.executable, "-m", "course_utils", "doctor"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "course_utils"], capture_output=True, text=True)
    assert r.returncode == 1 and "usage" in r.stderr
