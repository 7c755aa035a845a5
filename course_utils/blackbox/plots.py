"""Drawing segmentations, per-segment values and convergence curves; every function returns the Axes."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..plotting import show_map, to_numpy_image
from ..validation import positive_float
from .segments import check_segments, paint


def _display(image) -> np.ndarray:
    """An image as H×W×3 floats in [0, 1] for drawing (grey images repeated, uint8 divided by 255)."""
    img = to_numpy_image(image).astype(np.float64)
    if img.max() > 1.0:
        img = img / 255.0
    img = np.clip(img, 0, 1)
    return np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img


def plot_segments(image, segments, ax=None, title: str | None = None, color=(1.0, 0.85, 0.0), numbers: bool = False):
    """``image`` (H×W×3 array or a 1×C×H×W tensor in [0, 1]) with the boundaries of ``segments`` drawn;
    ``numbers=True`` writes each segment's label at its centre."""
    from skimage.segmentation import mark_boundaries
    img = _display(image)
    s, k = check_segments(segments, *img.shape[:2])
    ax = ax or plt.subplots(figsize=(3, 3))[1]
    ax.imshow(mark_boundaries(img, s.numpy(), color=color, mode="inner"))
    if numbers:
        for label in range(k):
            rows, cols = (s == label).nonzero(as_tuple=True)
            ax.text(float(cols.double().mean()), float(rows.double().mean()), str(label), ha="center",
                    va="center", fontsize=7, color="white", bbox=dict(boxstyle="round,pad=0.1", fc="black", alpha=0.5, lw=0))
    ax.set(title=title or f"{k} segments")
    ax.axis("off")
    return ax


def plot_segment_values(values, segments, image=None, ax=None, title: str | None = None, colorbar: bool = True,
                        limit: float | None = None):
    """One signed value per segment (``values``: K, ``segments``: H×W labels 0..K−1), painted on its pixels
    with a diverging colormap on [−L, L], over ``image`` in grey when given, with the segment boundaries.

    L is the largest |value| — or ``limit`` (a finite number > 0) when given: pass one ``limit`` to
    several maps in the same units to draw them on one colour scale (as ``plotting.show_map``).
    """
    if limit is not None:
        limit = positive_float(limit, "limit")
    v = values.detach().double().cpu() if isinstance(values, torch.Tensor) else torch.as_tensor(values, dtype=torch.float64)
    s, _ = check_segments(segments, *segments.shape)
    ax = ax or plt.subplots(figsize=(3, 3))[1]
    show_map(paint(v, s).float(), ax=ax, signed=True, image=image, percentile=100, title=title, colorbar=colorbar,
             limit=limit)
    edges = np.zeros(s.shape, dtype=bool)
    a = s.numpy()
    edges[:-1] |= a[:-1] != a[1:]
    edges[:, :-1] |= a[:, :-1] != a[:, 1:]
    ax.imshow(np.ma.masked_where(~edges, edges), cmap="Greys", vmin=0, vmax=1, alpha=0.6, interpolation="nearest")
    return ax


def plot_convergence(samples, errors: dict, ax=None, title: str = "", ylabel: str = "relative error"):
    """Error against the number of samples, log–log: ``errors`` maps a name to a tensor len(samples) or
    seeds×len(samples) (the median is drawn, with the range over seeds shaded)."""
    ax = ax or plt.subplots(figsize=(4.5, 3))[1]
    x = np.asarray(samples, dtype=float)
    for name, e in errors.items():
        e = np.atleast_2d(np.asarray(e, dtype=float))
        line, = ax.plot(x, np.median(e, 0), marker="o", ms=3, label=name)
        if len(e) > 1:
            ax.fill_between(x, e.min(0), e.max(0), color=line.get_color(), alpha=0.2, lw=0)
    ax.set(xscale="log", yscale="log", xlabel="coalitions evaluated", ylabel=ylabel, title=title)
    ax.legend(fontsize=7)
    return ax
