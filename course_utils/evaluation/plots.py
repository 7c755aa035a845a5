"""Figures for lecture 10: boxes on images and deletion/insertion curves with their AUC."""
from __future__ import annotations

import torch

from ..validation import check_tensor, integer
from .curves import auc


def draw_box(ax, box, color: str = "lime", label: str | None = None, linewidth: float = 1.5):
    """Outline a box (y0, x0, y1, x1), end exclusive, on an image drawn with imshow; returns the Axes."""
    from matplotlib.patches import Rectangle
    values = box.tolist() if isinstance(box, torch.Tensor) else list(box) if hasattr(box, "__iter__") else None
    if values is None or len(values) != 4:
        raise ValueError(f"box: expected 4 ints (y0, x0, y1, x1), got {box!r}")
    y0, x0, y1, x1 = (integer(v, "box") for v in values)
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=color,
                           linewidth=linewidth, label=label))
    return ax


def plot_curves(fractions: torch.Tensor, curves: dict[str, torch.Tensor], ax=None, title: str = "",
                ylabel: str = "probability of the target class"):
    """One line per method (curves: name → K scores, or N×K averaged over N), AUC in the legend; returns Axes."""
    import matplotlib.pyplot as plt
    fractions = check_tensor(fractions, "fractions", "K")
    if not isinstance(curves, dict) or not curves:
        raise TypeError(f"curves: expected a non-empty dict {{method name: scores}}, got {type(curves).__name__}")
    ax = ax or plt.subplots(figsize=(4, 3))[1]
    for name, c in curves.items():
        c = check_tensor(c, f"curves[{name!r}]", ("K", "N×K"))
        if c.shape[-1] != len(fractions):
            raise ValueError(f"curves[{name!r}]: expected {len(fractions)} points per curve (one per fraction), "
                             f"got shape {tuple(c.shape)}")
        c = c.reshape(-1, len(fractions)).mean(0)
        style = dict(color="k", linestyle="--") if name == "random" else {}
        ax.plot(fractions.numpy(), c.numpy(), label=f"{name} ({auc(c, fractions).item():.2f})", **style)
    ax.set_xlabel("fraction of pixels changed")
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=6, title="method (AUC)", title_fontsize=6)
    return ax
