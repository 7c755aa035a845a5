"""The course's commands, for every OS (the Makefile calls these; on Windows use them directly):

    python -m course_utils lab              open the course in JupyterLab (rooted at the project, lecture 00 first)
    python -m course_utils test [args]      run every test (extra args go to pytest)
    python -m course_utils doctor           check that this machine is ready for the course
    python -m course_utils reset NN         start exercise NN afresh (your copy is saved in exercises/backup/)
    python -m course_utils exercises        regenerate exercises/ from solutions/ (developers; --check, --force)
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_PAGE = "lectures/00_tour.ipynb"
JUPYTER = Path(__file__).resolve().parent / "jupyter"   # the course's JupyterLab defaults


def lab_command(extra: list[str] = ()) -> tuple[list[str], dict[str, str]]:
    """The command and environment that start the course's JupyterLab (tests start it exactly this way).

    The server is rooted at the project, so lectures/, exercises/ and solutions/ are all in the file browser,
    and opens lecture 00. ``MPLBACKEND`` is removed from the environment: the kernels must use matplotlib's
    inline backend, or no figure would ever appear in the notebook. The course's JupyterLab defaults
    (course_utils/jupyter/) start the notebook's kernel without asking, and disable the JupyterLab 3
    MathJax extension that jupyterlab-rise pulls in (JupyterLab 4 typesets formulas itself).
    """
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={ROOT}",
           f"--LabApp.default_url=/lab/tree/{START_PAGE}", f"--LabApp.app_settings_dir={JUPYTER / 'settings'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")         # containers and CI machines run as root
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(filter(None, [str(JUPYTER / "config"),
                                                              os.environ.get("JUPYTER_CONFIG_PATH")]))
    return cmd + list(extra), env


BROWSER_TESTS = "tests/test_lab.py"      # JupyterLab in Chromium: run alone, on a machine as quiet as a student's


def test_commands(extra: list[str] = ()) -> tuple[list[list[str]], dict[str, str]]:
    """The pytest runs of `make test` and their environment: tests/, the lectures and the solutions (nbval) on two
    workers, then the browser tests on their own, so that a kernel in the browser does not share two cores with
    two nbval kernels (its explorer and Run All are timed against a person's patience). Extra args go to both."""
    jobs = os.environ.get("JOBS", "2")
    rest = [sys.executable, "-m", "pytest", "-n", jobs, "--dist", "loadfile", "tests", f"--ignore={BROWSER_TESTS}",
            "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=600",
            "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", "lectures", "solutions"]
    browser = [sys.executable, "-m", "pytest", BROWSER_TESTS]
    return [rest + list(extra), browser + list(extra)], dict(os.environ, MPLBACKEND="Agg")


NO_TESTS_COLLECTED = 5      # pytest's exit code when the extra args select nothing in a run


def run_tests(extra: list[str] = ()) -> int:
    """Run every pytest run of :func:`test_commands` (all of them, even after a failure); the first failure's code.

    A run whose extra args select no test does not count as a failure unless no run had any test."""
    commands, env = test_commands(extra)
    codes = [subprocess.call(cmd, cwd=ROOT, env=env) for cmd in commands]
    failed = [c for c in codes if c not in (0, NO_TESTS_COLLECTED)]
    if failed:
        return failed[0]
    return NO_TESTS_COLLECTED if all(c == NO_TESTS_COLLECTED for c in codes) else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in ("lab", "test", "doctor", "reset", "exercises"):
        print(__doc__, file=sys.stderr)
        print("usage: python -m course_utils {lab,test,doctor,reset,exercises}", file=sys.stderr)
        return 1
    command, rest = argv[0], argv[1:]
    if command == "doctor":
        from .doctor import main as doctor
        return doctor()
    if command in ("lab", "test"):
        try:
            if command == "test":
                return run_tests(rest)
            cmd, env = lab_command(rest)
            return subprocess.call(cmd, cwd=ROOT, env=env)
        except KeyboardInterrupt:
            return 130
    from . import exercises
    if command == "reset":
        if len(rest) != 1:
            print("usage: python -m course_utils reset NN   (e.g. reset 03)", file=sys.stderr)
            return 1
        try:
            path, backup = exercises.reset_exercise(rest[0])
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"reset {path.relative_to(ROOT)}" + (f"; your previous copy is {backup.relative_to(ROOT)}"
                                                   if backup else " (it had no changes)"))
        print("If it is open in JupyterLab, close it without saving and open it again.")
        return 0
    # exercises
    unknown = [a for a in rest if a not in ("--check", "--force")]
    if unknown:
        print(f"error: unknown option(s) {unknown}; use --check or --force", file=sys.stderr)
        return 1
    try:
        if "--check" in rest:
            problems = exercises.committed_drift()
            print("\n".join(problems) or "exercises/ as committed matches solutions/")
            return 1 if problems else 0
        for line in exercises.write_exercises(force="--force" in rest):
            print(line)
    except exercises.MarkerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
