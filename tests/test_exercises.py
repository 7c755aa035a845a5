"""Exercise generation (markers, drift), the generated exercise notebooks, and students' work kept safe.

Everything here reads exercises/ as git has committed it: a student's saved work never fails `make test`.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_utils import exercises as mx

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = sorted((ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"))


def test_stub_names_the_function_and_keeps_indentation():
    src = "def area(r):\n    '''Circle area.'''\n    # BEGIN SOLUTION\n    return 3.14 * r * r\n    # END SOLUTION\n"
    out = mx.stub_source(src, "nb cell 3")
    assert "return 3.14" not in out
    assert '    raise NotImplementedError("Exercise (nb cell 3): write `area`")' in out
    ns: dict = {}
    exec(out, ns)
    with pytest.raises(NotImplementedError, match="area"):
        ns["area"](1.0)


def test_top_level_region_gets_a_cell_stub():
    out = mx.stub_source("x = 1\n# BEGIN SOLUTION\ny = x + 1\n# END SOLUTION\nprint(y)", "nb cell 2")
    assert "write this cell" in out and "y = x + 1" not in out and out.endswith("print(y)")


@pytest.mark.parametrize("src, message", [
    ("def f():\n    # BEGIN SOLUTION\n    return 1\n", "never closed"),
    ("def f():\n    return 1\n    # END SOLUTION\n", "without a"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n", "nested"),
    ("def f():\n    # BEGIN SOLUTION\n    # just a comment\n    # END SOLUTION\n", "holds no code"),
])
def test_malformed_markers_are_errors(src, message):
    with pytest.raises(mx.MarkerError, match=message):
        mx.stub_source(src, "nb cell 1")


def test_notebook_without_exercise_is_an_error():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    with pytest.raises(mx.MarkerError, match="no `# BEGIN SOLUTION`"):
        mx.make_exercise(nb, "99_empty")


def test_outputs_stripped_and_markdown_kept():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Exercise 1"),
        nbformat.v4.new_code_cell("def f():\n    # BEGIN SOLUTION\n    return 2\n    # END SOLUTION",
                                  execution_count=4, outputs=[nbformat.v4.new_output("stream", text="hi")])])
    ex = mx.make_exercise(nb, "99_x")
    assert ex.cells[0].source == "## Exercise 1"
    assert ex.cells[1].outputs == [] and ex.cells[1].execution_count is None
    assert "return 2" in nb.cells[1].source, "the solution notebook must not be modified"


def test_committed_exercises_match_solutions():
    problems = mx.committed_drift()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", EXERCISES, ids=[p.stem for p in EXERCISES])
def test_exercise_notebook_runs_with_only_stubs_failing(path):
    """Every non-exercise cell runs; the only errors allowed are the stubs' NotImplementedError."""
    nb = nbformat.reads(mx.committed_text(path), as_version=4)
    NotebookClient(nb, timeout=600, allow_errors=True, resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [(i, o) for i, c in enumerate(nb.cells, 1) if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    bad = [f"cell {i}: {o.ename}: {o.evalue}" for i, o in errors if o.ename != "NotImplementedError"]
    assert not bad, "exercise cells failed for another reason than a stub:\n" + "\n".join(bad)
    pending = sum("not implemented yet" in o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                  for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert errors or pending, "no stub was reached: the exercises have nothing to do"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A fresh clone of this checkout's HEAD, as a student has it."""
    if shutil.which("git") is None or subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT,
                                                     capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    repo = tmp_path_factory.mktemp("student") / "course"
    subprocess.run(["git", "clone", "-q", "--local", str(ROOT), str(repo)], check=True)
    return repo


def student_saves_work(path: Path) -> None:
    """What JupyterLab writes after a student ran an exercise and typed an answer."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[0].outputs = [nbformat.v4.new_output("stream", text="my output\n")]
    code[0].execution_count = 1
    code[-1].source += "\n# my answer"
    nbformat.write(nb, path)


def run(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(repo))     # the clone's course_utils, not this checkout's
    return subprocess.run([sys.executable, *args], cwd=repo, env=env, capture_output=True, text=True)


def test_saved_student_work_does_not_fail_the_tests(clone):
    name = EXERCISES[0].name
    student_saves_work(clone / "exercises" / name)
    assert git(clone, "status", "--porcelain", "exercises").strip(), "the student's change is in the clone"
    r = run(clone, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_exercises.py::test_committed_"
            "exercises_match_solutions", "tests/test_notebooks.py", "-k", "not links")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]


def test_regenerating_keeps_student_work_and_reset_saves_a_backup(clone):
    path = clone / "exercises" / EXERCISES[0].name
    student_saves_work(path)
    mine = path.read_text()
    r = run(clone, "-m", "course_utils", "exercises")
    assert r.returncode == 0 and "kept exercises/" in r.stdout and "reset" in r.stdout, r.stdout + r.stderr
    assert path.read_text() == mine, "`exercises` overwrote a student's work"
    r = run(clone, "-m", "course_utils", "reset", path.name[:2])
    assert r.returncode == 0, r.stdout + r.stderr
    assert path.read_text() == mx.committed_text(EXERCISES[0]), "reset did not restore the generated exercise"
    backups = list((clone / "exercises" / "backup").glob(f"{path.stem}.*.ipynb"))
    assert len(backups) == 1 and backups[0].read_text() == mine
    r = run(clone, "-m", "course_utils", "reset", "99")
    assert r.returncode == 1 and "no exercise '99'" in r.stderr and "01" in r.stderr
