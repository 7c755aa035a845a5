"""One set of packages in pyproject.toml and environment.yml; CI runs the README's command."""
import re

import pytest
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"pytorch": "torch"}      # conda package name → PyPI name


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def pyproject_packages() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {_name(r): r.replace(" ", "") for r in reqs}


def environment_packages() -> dict[str, str]:
    out = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z][\w.-]*)(.*)$", line)
        if not m or m.group(1) in {"python", "pip"} or m.group(1).startswith("-e"):
            continue
        name = CONDA_NAMES.get(m.group(1).lower(), m.group(1).lower())
        out[name] = name + m.group(2).replace(" ", "")
    return out


def test_environment_yml_mirrors_pyproject():
    py, conda = pyproject_packages(), environment_packages()
    assert sorted(py) == sorted(conda), f"only in pyproject: {set(py) - set(conda)}; only in environment.yml: {set(conda) - set(py)}"
    for name in py:
        assert py[name].split(name, 1)[1] == conda[name].split(name, 1)[1], f"{name}: versions differ"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    first_block = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S).group(1).split()
    assert first_block[:4] == ["make", "lab", "make", "test"] or "make test" in " ".join(first_block)
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_every_lecture_has_solution_and_exercise_and_readme_row():
    readme = (ROOT / "README.md").read_text()
    lectures = sorted(p.name for p in (ROOT / "lectures").glob("[0-9][0-9]_*.ipynb"))
    assert lectures and lectures[0] == "00_tour.ipynb"
    for name in lectures:
        assert f"lectures/{name}" in readme, f"README's lecture table lacks {name}"
        if name != "00_tour.ipynb":
            assert (ROOT / "solutions" / name).exists() and (ROOT / "exercises" / name).exists(), name


def test_make_test_runs_everything_once_and_the_browser_tests_alone():
    from course_utils.__main__ import BROWSER_TESTS, test_commands
    (everything, browser), env = test_commands()
    assert env["MPLBACKEND"] == "Agg"
    assert {"tests", "lectures", "solutions"} <= set(everything) and f"--ignore={BROWSER_TESTS}" in everything
    assert "-n" in everything and "--dist" in everything                  # two workers, one notebook per worker
    assert BROWSER_TESTS in browser and "-n" not in browser               # alone: no nbval kernel beside it
    assert (ROOT / BROWSER_TESTS).exists()
    (a, b), _ = test_commands(["-x"])
    assert a[-1] == b[-1] == "-x"


@pytest.mark.parametrize("codes, expected", [((0, 0), 0), ((1, 0), 1), ((0, 1), 1), ((2, 1), 2), ((0, 5), 0),
                                             ((5, 0), 0), ((5, 5), 5), ((5, 1), 1)])
def test_make_test_fails_when_any_run_fails(monkeypatch, codes, expected):
    from course_utils import __main__ as cli
    calls = []
    monkeypatch.setattr(cli.subprocess, "call", lambda cmd, **kw: calls.append(cmd) or codes[len(calls) - 1])
    assert cli.run_tests([]) == expected
    assert len(calls) == 2, "the browser tests run even when the others failed"
