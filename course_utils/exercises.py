"""Exercise notebooks: generated from solutions/NN_*.ipynb (their single source), checked, and reset.

In code cells, the lines from ``# BEGIN SOLUTION`` to ``# END SOLUTION`` are replaced by a stub that raises
``NotImplementedError`` naming the exercise (the enclosing function, or the notebook and cell). Markdown is
kept; outputs and execution counts are stripped. Malformed markers are errors, never warnings.

A student's work in exercises/ is never overwritten silently: ``write_exercises`` keeps every exercise that
has uncommitted changes (unless ``force``), and ``reset_exercise`` puts one exercise back to its generated
state after saving the student's copy under exercises/backup/.

Commands: ``python -m course_utils exercises [--check] [--force]`` (developers, after changing solutions/),
``python -m course_utils reset NN`` (students: start exercise NN afresh).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
EXERCISES, SOLUTIONS = ROOT / "exercises", ROOT / "solutions"
BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
DEF = re.compile(r"^(\s*)def\s+(\w+)\s*\(")


class MarkerError(ValueError):
    """A solution notebook whose markers cannot be turned into an exercise."""


def stub_source(source: str, where: str) -> str:
    """Replace every solution region of one cell's source by a NotImplementedError stub."""
    lines = source.split("\n")
    out: list[str] = []
    region_start: int | None = None
    indent = ""
    for no, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if region_start is not None:
                raise MarkerError(f"{where}, line {no}: nested `{BEGIN}` (the one on line {region_start} "
                                  "is not closed)")
            region_start, indent = no, line[: len(line) - len(line.lstrip())]
            body: list[str] = []
            continue
        if stripped.startswith(END):
            if region_start is None:
                raise MarkerError(f"{where}, line {no}: `{END}` without a `{BEGIN}`")
            if not any(b.strip() and not b.strip().startswith("#") for b in body):
                raise MarkerError(f"{where}, line {region_start}: the solution region holds no code, "
                                  "so the exercise would have nothing left to do")
            func = next((m.group(2) for prev in reversed(out) if (m := DEF.match(prev))
                         and len(m.group(1)) < len(indent)), None)
            name = f"`{func}`" if func else "this cell"
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f'{indent}raise NotImplementedError("Exercise ({where}): write {name}")')
            region_start = None
            continue
        if region_start is not None:
            body.append(line)
        else:
            out.append(line)
    if region_start is not None:
        raise MarkerError(f"{where}, line {region_start}: `{BEGIN}` is never closed by `{END}`")
    return "\n".join(out)


def make_exercise(solution: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The exercise notebook for one solution notebook (a new object; the solution is not modified)."""
    nb = nbformat.from_dict(solution)
    regions = 0
    for i, cell in enumerate(nb.cells, 1):
        if cell.cell_type == "code":
            if BEGIN in cell.source or END in cell.source:
                regions += cell.source.count(BEGIN)
                cell.source = stub_source(cell.source, f"{name} cell {i}")
            cell.outputs = []
            cell.execution_count = None
        cell.get("metadata", {}).pop("execution", None)
    if regions == 0:
        raise MarkerError(f"{name}: no `{BEGIN}` region, so the exercise notebook would hold no exercise")
    return nb


def committed_text(path: Path) -> str | None:
    """The text of ``path`` as committed in git (HEAD); the file on disk outside a git checkout; None if absent."""
    rel = Path(path).resolve().relative_to(ROOT).as_posix()
    try:
        r = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=ROOT, capture_output=True, text=True)
    except OSError:      # no git on this machine
        r = None
    if r is not None and r.returncode == 0:
        return r.stdout
    inside_git = r is not None and subprocess.run(["git", "rev-parse", "--git-dir"], cwd=ROOT,
                                                   capture_output=True).returncode == 0
    if inside_git:
        return None      # a file git does not have
    return Path(path).read_text() if Path(path).exists() else None


def generate(solutions: dict[str, str] | None = None) -> dict[str, str]:
    """{file name: exercise notebook JSON} for every solution notebook.

    ``solutions`` maps file names to notebook JSON (default: the solutions/NN_*.ipynb files on disk).
    """
    if solutions is None:
        solutions = {p.name: p.read_text() for p in sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))}
    result = {}
    for name, text in sorted(solutions.items()):
        nb = make_exercise(nbformat.reads(text, as_version=4), Path(name).stem)
        result[name] = nbformat.writes(nb) + "\n"
    return result


def committed_drift() -> list[str]:
    """Problems between what git has committed in solutions/ and in exercises/ (empty: they agree).

    Only committed files are compared, so a student's saved work in exercises/ never counts as drift.
    """
    names = sorted(p.name for p in SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))
    solutions = {n: committed_text(SOLUTIONS / n) for n in names}
    generated = generate({n: t for n, t in solutions.items() if t is not None})
    problems = []
    for name, text in generated.items():
        committed = committed_text(EXERCISES / name)
        if committed is None:
            problems.append(f"exercises/{name} is not committed although solutions/{name} is")
        elif committed != text:
            problems.append(f"exercises/{name} as committed differs from what the committed solutions/{name} "
                            "generates (developers: `python -m course_utils exercises --force`, then commit)")
    return problems


def has_local_changes(path: Path) -> bool:
    """True if ``path`` differs from its committed version (e.g. a student saved work in it)."""
    committed = committed_text(path)
    return path.exists() and committed is not None and path.read_text() != committed


def write_exercises(force: bool = False) -> list[str]:
    """Regenerate exercises/ from solutions/; exercises with uncommitted changes are kept unless ``force``.

    Returns one line per file written, kept or removed.
    """
    notebooks = generate()
    EXERCISES.mkdir(exist_ok=True)
    report = []
    for name, text in notebooks.items():
        path = EXERCISES / name
        if path.exists() and path.read_text() == text:
            continue
        if not force and has_local_changes(path):
            report.append(f"kept exercises/{name}: it has changes of yours (start it afresh with "
                          f"`python -m course_utils reset {name[:2]}`, which saves a backup first)")
            continue
        path.write_text(text)
        report.append(f"wrote exercises/{name}")
    for path in sorted(EXERCISES.glob("*.ipynb")):
        if path.name not in notebooks and not has_local_changes(path):
            path.unlink()
            report.append(f"removed exercises/{path.name} (no solution notebook)")
    return report


def reset_exercise(number: str) -> tuple[Path, Path | None]:
    """Put exercise ``number`` (e.g. "03") back to its generated state; the old file is kept in exercises/backup/.

    Returns (the exercise notebook, the backup or None if nothing needed saving).
    """
    number = str(number).zfill(2)
    matches = sorted(SOLUTIONS.glob(f"{number}_*.ipynb"))
    if not re.fullmatch(r"\d\d", number) or not matches:
        available = ", ".join(p.name[:2] for p in sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb")))
        raise ValueError(f"number: no exercise {number!r}; the exercises are {available}")
    name = matches[0].name
    text = generate({name: matches[0].read_text()})[name]
    path, backup = EXERCISES / name, None
    if path.exists() and path.read_text() != text:
        backup = EXERCISES / "backup" / f"{path.stem}.{time.strftime('%Y%m%d-%H%M%S')}.ipynb"
        backup.parent.mkdir(exist_ok=True)
        shutil.copy2(path, backup)
    path.write_text(text)
    return path, backup
