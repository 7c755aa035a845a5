"""Time every lecture and solution top to bottom, and every explorer update, as a student would meet them.

Each notebook runs in a fresh kernel (COURSE_PROGRESS=0, figures drawn inline as in JupyterLab) and is not
written back (``scripts/execute_notebooks.py`` runs the same and writes). Then, in the same kernel,
``course_utils.widgets.time_explorers`` moves every control of every explorer the notebook made and times each
update (callback and drawing). The goals: a notebook in at most 60 s and an explorer update in at most 1 s on an
idle 2-core machine (the load average at the start is printed: run it on an idle machine).

Usage: python scripts/benchmark_notebooks.py [NOTEBOOK ...]   (default: every lecture and solution)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.output_widget import OutputWidget

# nbclient sends every output an explorer's Output widget captures back to the kernel (OutputWidget.sync_state);
# that round trip sometimes left the run waiting forever with the kernel idle (3 of 3 runs of a notebook with
# three inline figures in an explorer stalled, none without it). Nothing here needs the kernel to see them.
OutputWidget.sync_state = lambda self: None

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_GOAL, EXPLORER_GOAL = 60.0, 1.0
PROBE = ("import json\nfrom course_utils.widgets import time_explorers\n"
         "print('EXPLORERS ' + json.dumps(time_explorers()))")


def notebooks(paths: list[Path]) -> list[Path]:
    """``paths`` resolved, or every lecture and solution; sets the environment the live notebook has."""
    os.environ["COURSE_PROGRESS"] = "0"
    os.environ.pop("MPLBACKEND", None)        # inline figures, as the live notebook draws them
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; goals: notebook ≤ "
          f"{NOTEBOOK_GOAL:.0f} s, explorer update ≤ {EXPLORER_GOAL:.0f} s", flush=True)
    default = sorted((ROOT / "lectures").glob("[0-9][0-9]_*.ipynb")) + sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
    return [p.resolve() for p in (paths or default)]


def run(path: Path, explorers: bool = True) -> tuple[nbformat.NotebookNode, float, list[dict]]:
    """Execute ``path`` in a fresh kernel: (the executed notebook, seconds from kernel start to the end of its
    last cell, one report per explorer from ``time_explorers`` — none with ``explorers=False``)."""
    nb = nbformat.read(path, as_version=4)
    # store_widget_state=True: nbclient 0.11 raises KeyError when an explorer's Output widget receives output
    # without it (the collected state is for the caller to drop)
    client = NotebookClient(nb, timeout=900, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        seconds = time.perf_counter() - start
        if not explorers:
            return nb, seconds, []
        nb.cells.append(nbformat.v4.new_code_cell(PROBE))        # run after the notebook, then removed
        client.execute_cell(nb.cells[-1], len(nb.cells) - 1, store_history=False)
        probe = nb.cells.pop()
    text = "".join(o.get("text", "") for o in probe.outputs if o.output_type == "stream")
    line = next((l for l in text.splitlines() if l.startswith("EXPLORERS ")), "EXPLORERS []")
    return nb, seconds, json.loads(line[len("EXPLORERS "):])


def report(path: Path, seconds: float, explorers: list[dict]) -> int:
    """Print one notebook's line and its explorers'; returns how many are over their goal."""
    over = seconds > NOTEBOOK_GOAL
    print(f"{path.parent.name}/{path.name:<42} {seconds:6.1f} s{'  OVER' if over else ''}", flush=True)
    for e in explorers:
        times = sorted(e["seconds"]) or [0.0]
        slow = times[-1] > EXPLORER_GOAL
        over += slow
        print(f"    explorer ({', '.join(e['controls'])}): {len(e['seconds'])} updates, median "
              f"{times[len(times) // 2]:.2f} s, slowest {times[-1]:.2f} s{'  OVER' if slow else ''}", flush=True)
    return over


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    over = sum(report(path, *run(path)[1:]) for path in notebooks(args.notebooks))
    print(f"{over} over the goals")
    return 0


if __name__ == "__main__":
    sys.exit(main())
