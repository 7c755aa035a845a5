"""Execute lectures and solutions top to bottom from a clean kernel and write them back with their outputs.

This is how committed outputs are made (run it on an idle machine): inline figures, progress bars off
(COURSE_PROGRESS=0), no saved widget state (the explorers show their note where no kernel draws them).
Cells that print to stderr are listed, so a warning is never committed unnoticed. Each notebook's time is printed and,
with ``--explorers``, its explorers' update times are printed as ``scripts/benchmark_notebooks.py`` reports them.

Usage: python scripts/execute_notebooks.py [--explorers] [NOTEBOOK ...]   (default: every lecture and solution)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_notebooks import notebooks, report, run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--explorers", action="store_true", help="also time every explorer update")
    args = parser.parse_args()
    for path in notebooks(args.notebooks):
        nb, seconds, explorers = run(path, args.explorers)
        nb.metadata.pop("widgets", None)
        for cell in nb.cells:
            cell.get("metadata", {}).pop("execution", None)
        nbformat.write(nb, path)
        report(path, seconds, explorers)
        for i, c in enumerate(nb.cells):
            for o in c.get("outputs", []):
                if o.output_type == "stream" and o.get("name") == "stderr":
                    print(f"   stderr in cell {i}: {o.get('text', '')[:120]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
