"""Generate exercises/NN_*.ipynb from solutions/NN_*.ipynb (the single source of every exercise).

In code cells, the lines from ``# BEGIN SOLUTION`` to ``# END SOLUTION`` are replaced by a stub that raises
``NotImplementedError`` naming the exercise (the enclosing function, or the notebook and cell). Markdown is
kept; outputs and execution counts are stripped. Malformed markers are errors, never warnings.

Usage: python scripts/make_exercises.py [--check]   (--check: exit 1 if exercises/ is out of date)
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
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


def generate(solutions_dir: Path = ROOT / "solutions") -> dict[str, str]:
    """{file name: exercise notebook JSON} for every solutions/NN_*.ipynb."""
    result = {}
    for path in sorted(solutions_dir.glob("[0-9][0-9]_*.ipynb")):
        nb = make_exercise(nbformat.read(path, as_version=4), path.stem)
        result[path.name] = nbformat.writes(nb) + "\n"
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether exercises/ is up to date")
    args = parser.parse_args()
    try:
        notebooks = generate()
    except MarkerError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out_dir = ROOT / "exercises"
    stale = [n for n, text in notebooks.items()
             if not (out_dir / n).exists() or (out_dir / n).read_text() != text]
    extra = sorted(p.name for p in out_dir.glob("*.ipynb") if p.name not in notebooks)
    if args.check:
        for n in stale:
            print(f"exercises/{n} differs from what solutions/{n} generates: run `make exercises`")
        for n in extra:
            print(f"exercises/{n} has no solutions/{n}")
        return 1 if stale or extra else 0
    out_dir.mkdir(exist_ok=True)
    for n in stale:
        (out_dir / n).write_text(notebooks[n])
        print(f"wrote exercises/{n}")
    for n in extra:
        (out_dir / n).unlink()
        print(f"removed exercises/{n} (no solution notebook)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
