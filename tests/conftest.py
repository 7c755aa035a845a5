"""Shared test setup: the repository root on sys.path (for scripts/), quiet progress bars, 1 torch thread per worker."""
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("COURSE_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"   # inherited by the notebook kernels nbval starts: no oversubscription
