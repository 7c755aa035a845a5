"""Figures for Neuron Shapley: sorted Shapley values with confidence intervals, and ablation curves.

Both return the matplotlib Axes they drew on.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..validation import check_finite, positive_int
from .estimators import ShapleyResult, normal_quantile

__all__ = ["plot_shapley", "plot_ablation"]


def _curve(curve, name: str) -> torch.Tensor:
    """A 1-d curve or R×K curves of finite numbers → float64 tensor."""
    try:
        c = torch.as_tensor(np.asarray(curve.detach().cpu() if isinstance(curve, torch.Tensor) else curve,
                                       dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected numbers, got {type(curve).__name__}") from None
    if c.ndim not in (1, 2) or c.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty curve K or curves R×K, got shape {tuple(c.shape)}")
    return check_finite(c, name)


def plot_shapley(result, ax=None, ci: float | None = 0.95, labels: Sequence[str] | None = None,
                 top: int | None = None, title: str = "Shapley values", ylabel: str = "Shapley value",
                 start: int = 0):
    """Bar chart of Shapley values sorted from largest to smallest (with confidence intervals); returns Axes.

    ``result``: a ShapleyResult or a tensor of n values; ``labels``: n names; ``top``: only ``top`` bars;
    ``start``: skip the ``start`` largest first (draw a long ranking in rows: start=0, 32, ... with
    top=32); ``ci``: the confidence level of the error bars (None: none).
    """
    import matplotlib.pyplot as plt
    values = result.values if isinstance(result, ShapleyResult) else _curve(result, "result")
    if values.ndim != 1:
        raise ValueError(f"result: expected one value per player, got shape {tuple(values.shape)}")
    check_finite(values, "result")
    if labels is not None and len(labels) != len(values):
        raise ValueError(f"labels: expected {len(values)} names (one per player), got {len(labels)}")
    z = None if ci is None else normal_quantile(ci, "ci")
    start = positive_int(start, "start", minimum=0)
    if start >= len(values):
        raise ValueError(f"start: expected 0..{len(values) - 1} (bars to skip), got {start}")
    stop = None if top is None else start + positive_int(top, "top")
    order = torch.argsort(values, descending=True, stable=True)[start:stop]
    err = None
    if isinstance(result, ShapleyResult) and z is not None and float(result.stderr.abs().sum()) > 0:
        err = (z * result.stderr)[order].numpy()
    ax = ax or plt.subplots(figsize=(8, 2.8))[1]
    ax.bar(range(len(order)), values[order].numpy(), yerr=err, color="tab:blue", ecolor="0.4", capsize=1.5)
    names = [labels[i] for i in order] if labels is not None else [str(int(i)) for i in order]
    ax.set_xticks(range(len(order)), names, rotation=90 if len(order) > 40 else 0, fontsize=8)
    ax.set_xlim(-0.7, len(order) - 0.3)
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set(title=title, xlabel="player (sorted by value)", ylabel=ylabel)
    return ax


def plot_ablation(curves: dict, ax=None, title: str = "Ablation curves", ylabel: str = "accuracy",
                  chance: float | None = None):
    """Value against the number of players removed, one line per ranking (dict name → 1-d or R×K curves).

    A 2-d entry (several random orders) is drawn as its mean with a band from min to max. Returns Axes.
    """
    import matplotlib.pyplot as plt
    if not isinstance(curves, dict):
        raise TypeError(f"curves: expected a dict {{name: curve}}, got {type(curves).__name__}")
    if not curves:
        raise ValueError("curves: expected at least one curve")
    curves = {name: _curve(curve, f"curves[{name!r}]") for name, curve in curves.items()}
    ax = ax or plt.subplots(figsize=(5, 3.2))[1]
    for name, c in curves.items():
        if c.ndim == 2:
            x = np.arange(c.shape[1])
            line, = ax.plot(x, c.mean(0).numpy(), label=f"{name} (mean of {len(c)})")
            ax.fill_between(x, c.min(0).values.numpy(), c.max(0).values.numpy(), color=line.get_color(), alpha=0.2)
        else:
            ax.plot(np.arange(len(c)), c.numpy(), label=name, marker="o" if len(c) <= 20 else None, ms=3)
    if chance is not None:
        ax.axhline(chance, color="0.5", ls=":", label="chance")
    ax.set(title=title, xlabel="players removed", ylabel=ylabel)
    ax.legend(fontsize=7)
    return ax
