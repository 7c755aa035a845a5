"""Test setup for tests/ and the notebooks: scripts/ importable, quiet progress bars, 1 torch thread per xdist
worker (inherited by the kernels nbval starts), and a benchmark of the notebooks collected while they run."""
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("COURSE_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"   # inherited by the notebook kernels nbval starts: no oversubscription


# ---- benchmark of the notebooks, collected while nbval runs them (reported, never asserted: the machine is noisy)
import json  # noqa: E402
import re  # noqa: E402

ARTIFACTS = ROOT / "test-artifacts"
CALLBACK_TIME = re.compile(r"callback time: ([\d.]+) s")


def pytest_sessionstart(session):
    if not hasattr(session.config, "workerinput"):        # the controller (or a run without xdist)
        for old in ARTIFACTS.glob("notebook_times.*.jsonl"):
            old.unlink()


def pytest_runtest_makereport(item, call):
    """For every notebook cell nbval ran: its duration and any 'callback time: X s' a widget cell printed."""
    if call.when != "call" or not hasattr(item, "test_outputs"):
        return
    path = Path(str(item.fspath))
    texts = [o.get("text", "") for o in item.test_outputs or [] if o.get("output_type") == "stream"]
    callbacks = [float(m) for t in texts for m in CALLBACK_TIME.findall(t)]
    ARTIFACTS.mkdir(exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(ARTIFACTS / f"notebook_times.{worker}.jsonl", "a") as f:
        f.write(json.dumps({"notebook": f"{path.parent.name}/{path.name}", "seconds": call.duration,
                            "callbacks": callbacks}) + "\n")


def pytest_terminal_summary(terminalreporter):
    records = [json.loads(line) for p in sorted(ARTIFACTS.glob("notebook_times.*.jsonl"))
               for line in p.read_text().splitlines()]
    if not records:
        return
    totals: dict[str, list] = {}
    for r in records:
        entry = totals.setdefault(r["notebook"], [0.0, []])
        entry[0] += r["seconds"]
        entry[1] += r["callbacks"]
    lines = [f"{name:48s} {secs:6.1f} s" + (f"   widget callbacks: {', '.join(f'{c:.2f} s' for c in cbs)}" if cbs else "")
             for name, (secs, cbs) in sorted(totals.items())]
    (ARTIFACTS / "notebook_times.txt").write_text("\n".join(lines) + "\n")
    terminalreporter.write_sep("-", "notebook run times and widget callback times (benchmark, not asserted)")
    for line in lines:
        terminalreporter.write_line(line)
