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


def _available_devices() -> list[str]:
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def get_device() -> torch.device:
    """The course runs on the CPU unless ``COURSE_DEVICE`` names another device (e.g. ``cuda``, ``cuda:1``,
    ``mps``) that this machine has; anything else is a ValueError saying what is available."""
    raw = os.environ.get("COURSE_DEVICE", "cpu")
    value = raw.strip().lower() or "cpu"
    available = _available_devices()
    fix = (f"available here: {', '.join(available)}. Unset COURSE_DEVICE (or set COURSE_DEVICE=cpu) "
           "to run on the CPU, which every notebook supports")
    try:
        device = torch.device(value)
    except RuntimeError:
        hint = " (PyTorch calls an NVIDIA GPU 'cuda')" if value in ("gpu", "nvidia") else ""
        raise ValueError(f"COURSE_DEVICE={raw!r} is not a device name{hint}; {fix}.") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type not in available:
        raise ValueError(f"COURSE_DEVICE={raw!r}: this machine has no {device.type} device; {fix}.")
    if device.index is not None and str(device) not in available:
        raise ValueError(f"COURSE_DEVICE={raw!r}: there is no {device}; {fix}.")
    return device


def setup_notebook(seed: int = 0, dpi: int = 72) -> torch.device:
    """The first cell of every notebook: fixed seeds, compact figures, quiet warnings; returns the device."""
    import warnings

    import matplotlib.pyplot as plt
    set_seed(seed)
    plt.rcParams.update({"figure.dpi": dpi, "savefig.dpi": dpi, "font.size": 9, "axes.titlesize": 9,
                         "figure.max_open_warning": 0})
    warnings.filterwarnings("ignore", category=UserWarning, module="torch")
    return get_device()
