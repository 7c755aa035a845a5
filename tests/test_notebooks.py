"""Notebook hygiene: run top to bottom from a clean kernel, light, with the lesson's rhythm and slide marks.

The notebooks are read as git has committed them: what a student runs or saves in JupyterLab never fails here."""
import re
from pathlib import Path

import nbformat
import pytest

from course_utils.exercises import committed_text

ROOT = Path(__file__).resolve().parent.parent
EXECUTED = sorted((ROOT / "lectures").glob("[0-9][0-9]_*.ipynb")) + sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
LECTURES = sorted((ROOT / "lectures").glob("[0-9][0-9]_*.ipynb"))


def committed(path):
    text = committed_text(path)
    if text is None:
        pytest.skip(f"{path.name} is not committed yet")
    return nbformat.reads(text, as_version=4)


def ids(paths):
    return [f"{p.parent.name}/{p.stem}" for p in paths]


@pytest.mark.parametrize("path", EXECUTED, ids=ids(EXECUTED))
def test_committed_executed_in_order_without_errors(path):
    nb = committed(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), \
        "execute the notebook top to bottom from a clean kernel before committing"
    errors = [o.ename for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"committed with errors: {errors}"
    size = len(committed_text(path).encode())
    assert size < 1_500_000, f"{size / 1e6:.1f} MB: make the figures smaller"


SECONDS = re.compile(r"\d\s(s|ms|seconds?)\b(?!=)|\d(ms|seconds?)\b|\d\.\d+s\b")   # "78.4 s", "16.5 ms", "2 seconds"
PROGRESS_BAR = re.compile(r"\d+%\||it/s\]|s/it\]")


def printed(cell):
    return "".join(o.get("text", "") if o.output_type == "stream" else "".join(o.get("data", {}).get("text/plain", ""))
                   for o in cell.get("outputs", []))


# rewritten on the branch wip/lectures-06-10 (issues 19 and 21), not yet executed: strict, so that the mark must go
# when their refreshed outputs land
NOT_YET_REFRESHED: set[str] = set()


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason="outputs not refreshed yet"))
                                  if f"{p.parent.name}/{p.stem}" in NOT_YET_REFRESHED else p for p in EXECUTED],
                         ids=ids(EXECUTED))
def test_no_absolute_seconds_progress_bars_or_warnings_committed(path):
    """Seconds depend on the machine (a ratio measured in one run says what speed teaches); a committed tqdm bar
    is frozen where the run left it; a warning in a committed output is noise a student learns to ignore."""
    nb = committed(path)
    seconds = [f"cell {i}: {m.group(0)!r} in {text[max(0, m.start() - 30):m.end()]!r}"
               for i, c in enumerate(nb.cells) for text in [c.source if c.cell_type == "markdown" else printed(c)]
               for m in SECONDS.finditer(text)]
    assert not seconds, "absolute times (print a ratio instead; time explorers with scripts/benchmark_notebooks.py):\n" \
        + "\n".join(seconds)
    bars = [i for i, c in enumerate(nb.cells) if PROGRESS_BAR.search(printed(c))]
    assert not bars, f"progress bars in cells {bars}: loop with course_utils.progress, execute with scripts/execute_notebooks.py"
    stderr = [i for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
              if o.output_type == "stream" and o.name == "stderr"]
    assert not stderr, f"cells {stderr} wrote to stderr (a warning?): fix its cause, then execute again"


@pytest.mark.parametrize("path", LECTURES, ids=ids(LECTURES))
def test_lecture_rhythm(path):
    nb = committed(path)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
    first = nb.cells[0].source.lower()
    assert first.startswith("# ") and "time" in first and "prerequisite" in first, \
        "open with the title, objectives, prerequisites and an estimated time"
    assert "summary" in text and "references" in text and "pitfall" in text
    assert sum(c.metadata.get("slideshow", {}).get("slide_type") == "slide" for c in nb.cells) >= 3, \
        "mark section headings as slides so the lecture can be presented with RISE"


@pytest.mark.parametrize("path", sorted((ROOT / "exercises").glob("*.ipynb")), ids=lambda p: p.stem)
def test_exercises_are_committed_without_outputs(path):
    nb = committed(path)
    assert all(not c.outputs and c.execution_count is None for c in nb.cells if c.cell_type == "code")


ALL_NOTEBOOKS = EXECUTED + sorted((ROOT / "exercises").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=ids(ALL_NOTEBOOKS))
def test_links_between_notebooks_resolve(path):
    import re
    nb = committed(path)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    targets = re.findall(r"\]\(([^)#\s]+\.ipynb)", text)
    dead = [t for t in targets if not t.startswith("http") and not (path.parent / t).resolve().exists()]
    assert not dead, f"links to notebooks that do not exist: {dead}"


@pytest.mark.parametrize("path", LECTURES, ids=ids(LECTURES))
def test_slides_and_explorers_are_honest_and_offline(path):
    """RISE: a theme without web fonts and scrolling for long slides; each explorer on its own sub-slide,
    built with course_utils.widgets.explorer (a note, not `interactive(children=(...`, where it is not live);
    no saved widget state (it would make the site fetch a widget renderer from a CDN)."""
    nb = committed(path)
    assert nb.metadata.get("rise", {}).get("theme") == "white" and nb.metadata["rise"].get("scroll") is True
    assert "widgets" not in nb.metadata
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        assert "interact(" not in cell.source, f"cell {i}: use course_utils.widgets.explorer"
        if "\nexplorer(" in "\n" + cell.source:
            assert cell.metadata.get("slideshow", {}).get("slide_type") == "subslide", f"cell {i}"
            assert cell.source.lstrip().startswith("#") and "live" in cell.source.splitlines()[0]
        for out in cell.get("outputs", []):
            assert "interactive(children" not in str(out.get("data", {}).get("text/plain", "")), f"cell {i}"


def test_readme_minutes_match_each_lecture():
    """One "**Estimated time:** N minutes" line per lecture, and the README's table gives the same N."""
    import re
    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| \d\d \| \[lectures/(\S+?)\.ipynb\]\(\S+\) \| .+? \| (\d+) \|$", readme, re.M))
    assert sorted(rows) == sorted(p.stem for p in LECTURES), "every lecture has one row in the README"
    for path in LECTURES:
        text = "\n".join(c.source for c in committed(path).cells if c.cell_type == "markdown")
        found = re.findall(r"\*\*Estimated time:\*\* (\d+) minutes", text)
        assert len(found) == 1, f"{path.name}: expected one '**Estimated time:** N minutes' line, got {found}"
        assert found[0] == rows[path.stem], f"{path.name}: {found[0]} minutes, README says {rows[path.stem]}"
