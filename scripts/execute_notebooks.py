"""Execute lectures and solutions top to bottom from a clean kernel and write them back with their outputs.

This is how committed outputs are made (run it on an idle machine): inline figures, progress bars off
(COURSE_PROGRESS=0), no saved widget state (the explorers show their note where no kernel draws them).
Cells that print to stderr are listed, so a warning is never committed unnoticed.

Usage: python scripts/execute_notebooks.py [NOTEBOOK ...]   (default: every lecture and solution)
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent


def execute(path: Path) -> tuple[float, list[str]]:
    """Run ``path`` in place; returns (seconds, the cells that wrote to stderr)."""
    nb = nbformat.read(path, as_version=4)
    # store_widget_state=True: nbclient 0.11 raises KeyError when an explorer's Output widget receives output
    # without it; the state it collects is dropped below (nb.metadata["widgets"]), so nothing of it is committed
    client = NotebookClient(nb, timeout=900, kernel_name="python3", store_widget_state=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute(stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
    nbformat.write(nb, path)
    noisy = [f"cell {i}: {o.get('text', '')[:120]!r}" for i, c in enumerate(nb.cells) if c.cell_type == "code"
             for o in c.outputs if o.output_type == "stream" and o.get("name") == "stderr"]
    return seconds, noisy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args()
    paths = args.notebooks or sorted((ROOT / "lectures").glob("[0-9][0-9]_*.ipynb")) + \
        sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
    os.environ["COURSE_PROGRESS"] = "0"
    os.environ.pop("MPLBACKEND", None)
    for path in paths:
        seconds, noisy = execute(path.resolve())
        print(f"{path}: {seconds:.1f} s" + "".join(f"\n   stderr in {n}" for n in noisy), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
