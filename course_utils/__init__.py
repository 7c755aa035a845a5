"""Helpers for the course "Looking inside neural networks"."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

__version__ = "0.1.0"


def set_seed(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch Generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def get_device() -> torch.device:
    """The course runs on the CPU unless ``COURSE_DEVICE`` names another device (e.g. ``cuda``)."""
    return torch.device(os.environ.get("COURSE_DEVICE", "cpu"))


def setup_notebook(seed: int = 0, dpi: int = 72) -> torch.device:
    """The first cell of every notebook: fixed seeds, compact figures, quiet warnings; returns the device."""
    import warnings

    import matplotlib.pyplot as plt
    set_seed(seed)
    plt.rcParams.update({"figure.dpi": dpi, "savefig.dpi": dpi, "font.size": 9, "axes.titlesize": 9,
                         "figure.max_open_warning": 0})
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    return get_device()
