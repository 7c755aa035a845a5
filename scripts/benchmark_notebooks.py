"""Time every lecture and solution top to bottom, and every explorer update, as a student would meet them.

Each notebook runs in a fresh kernel (COURSE_PROGRESS=0, figures drawn inline as in JupyterLab) without being
written back. Then, in the same kernel, ``course_utils.widgets.time_explorers`` moves every control of every
explorer the notebook made and times each update (callback and drawing). The goals: a notebook in at most
60 s and an explorer update in at most 1 s on an idle 2-core machine (run ``uptime`` first: the load average
at the start is printed).

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

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_GOAL, EXPLORER_GOAL = 60.0, 1.0
PROBE = ("import json\nfrom course_utils.widgets import time_explorers\n"
         "print('EXPLORERS ' + json.dumps(time_explorers()))")


def measure(path: Path) -> tuple[float, list[dict]]:
    """(seconds for the notebook from kernel start to its last cell, explorer reports) for ``path``."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = NotebookClient(nb, timeout=900, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if index == len(nb.cells) - 1:
                seconds = time.perf_counter() - start
            client.execute_cell(cell, index)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    line = next((l for l in text.splitlines() if l.startswith("EXPLORERS ")), "EXPLORERS []")
    return seconds, json.loads(line[len("EXPLORERS "):])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    paths = args.notebooks or sorted((ROOT / "lectures").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*.ipynb"))
    os.environ["COURSE_PROGRESS"] = "0"
    os.environ.pop("MPLBACKEND", None)        # inline figures, as the live notebook draws them
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} at start; goals: notebook ≤ {NOTEBOOK_GOAL:.0f} s, "
          f"explorer update ≤ {EXPLORER_GOAL:.0f} s")
    over = 0
    for path in paths:
        seconds, explorers = measure(path.resolve())
        flag = "  OVER" if seconds > NOTEBOOK_GOAL else ""
        over += bool(flag)
        print(f"{path.parent.name}/{path.name:<40} {seconds:6.1f} s{flag}", flush=True)
        for e in explorers:
            worst = max(e["seconds"], default=0.0)
            median = sorted(e["seconds"])[len(e["seconds"]) // 2] if e["seconds"] else 0.0
            flag = "  OVER" if worst > EXPLORER_GOAL else ""
            over += bool(flag)
            print(f"    explorer ({', '.join(e['controls'])}): {len(e['seconds'])} updates, median {median:.2f} s, "
                  f"slowest {worst:.2f} s{flag}", flush=True)
    print(f"{over} over the goals")
    return 0


if __name__ == "__main__":
    sys.exit(main())
