"""The exercises' reference solutions and stubs, taken from solutions/NN_*.ipynb (their single source), and
the table of every exercise check, found in the notebooks' check cells: which check, which notebook, which
function (so a new exercise's check is tested here as soon as its notebook calls it).

``solution(notebook, name)`` executes the notebook's import lines and the cell defining ``name`` (the
solution region kept) and returns the function or class; ``stub(notebook, name)`` the same cell as the
exercise notebook has it (the region replaced by ``raise NotImplementedError``).
"""
from __future__ import annotations

import ast
import functools
import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import nbformat

from course_utils import exercises as mx

ROOT = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=None)
def _notebook(prefix: str) -> nbformat.NotebookNode:
    (path,) = (ROOT / "solutions").glob(f"{prefix}_*.ipynb")
    return nbformat.read(path, as_version=4)


@functools.lru_cache(maxsize=None)
def _imports(prefix: str) -> str:
    """Every import statement of the notebook's code cells (no data loading, no model building)."""
    lines = []
    for cell in _notebook(prefix).cells:
        if cell.cell_type == "code" and "%" not in cell.source.split("\n")[0]:
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            lines += [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(lines)


def _cell(prefix: str, name: str) -> str:
    for cell in _notebook(prefix).cells:
        if cell.cell_type == "code" and mx.BEGIN in cell.source and (
                f"def {name}(" in cell.source or f"class {name}(" in cell.source):
            return cell.source
    raise LookupError(f"solutions/{prefix}_*.ipynb has no exercise cell defining {name}")


def _load(prefix: str, name: str, source: str, extra: dict | None) -> Any:
    namespace: dict = {}
    exec(compile(_imports(prefix), f"<{prefix} imports>", "exec"), namespace)
    namespace.update(extra or {})
    exec(compile(source, f"<solutions/{prefix} {name}>", "exec"), namespace)
    return namespace[name]


def solution(prefix: str, name: str, extra: dict | None = None) -> Any:
    """The reference solution ``name`` of solutions/``prefix``_*.ipynb (``extra``: notebook globals it uses)."""
    return _load(prefix, name, _cell(prefix, name), extra)


def stub(prefix: str, name: str, extra: dict | None = None) -> Any:
    """``name`` as the generated exercise has it: the solution region replaced by the stub."""
    return _load(prefix, name, mx.stub_source(_cell(prefix, name), f"{prefix} test"), extra)


@functools.lru_cache(maxsize=None)
def capstone_globals() -> dict:
    """The notebook-10 globals the capstone solutions read (vendor_x, standard_x, ...)."""
    from course_utils.shortcut import shortcut_test_set
    vendor_x, vendor_y = (t[:2000] for t in shortcut_test_set("vendor"))
    standard_x, standard_y = (t[:2000] for t in shortcut_test_set("standard"))
    return dict(vendor_x=vendor_x, vendor_y=vendor_y, standard_x=standard_x, standard_y=standard_y)


@dataclass(frozen=True)
class Exercise:
    """One check, the notebook and the name of the function it checks, and extra arguments of the check."""
    check: Callable
    notebook: str
    function: str
    check_args: tuple = ()
    capstone: bool = False
    label: str = ""

    @property
    def id(self) -> str:
        return self.label or self.check.__name__ + "".join(f"[{a}]" for a in self.check_args)

    def run(self, fn) -> Any:
        return self.check(fn, *self.check_args)

    def solution(self):
        return solution(self.notebook, self.function, capstone_globals() if self.capstone else None)

    def stub(self):
        return stub(self.notebook, self.function, capstone_globals() if self.capstone else None)


_CALL = re.compile(r"^(check_\w+)\((\w+)((?:,\s*[^)]*)?)\)\s*$")


def _discover() -> list[Exercise]:
    """Every ``check_xxx(function, ...)`` call of the solution notebooks, with the check it imports."""
    found, names = [], set()
    for path in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")):
        prefix = path.name[:2]
        modules = dict(re.findall(r"from course_utils\.checks\.(\w+) import \(?([^)]*?)\)?$",
                                  _imports(prefix), re.M | re.S))
        owner = {name.strip(): module for module, group in modules.items() for name in group.split(",")}
        for cell in _notebook(prefix).cells:
            for line in cell.source.split("\n") if cell.cell_type == "code" else ():
                m = _CALL.match(line.strip())
                if not m or m.group(1) not in owner:
                    continue
                module = importlib.import_module(f"course_utils.checks.{owner[m.group(1)]}")
                args = ast.literal_eval(f"({m.group(3).lstrip(',')},)") if m.group(3).strip() else ()
                label = m.group(1) if m.group(1) not in names else f"{owner[m.group(1)]}.{m.group(1)}"
                names.add(m.group(1))
                found.append(Exercise(getattr(module, m.group(1)), prefix, m.group(2), args,
                                      capstone=prefix == "10", label=label if args == () else ""))
    return found


EXERCISES = _discover()
