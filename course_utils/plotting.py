"""Plotting helpers with the course's conventions; every function returns the matplotlib Figure or Axes.

Signed maps use a diverging colormap centred on zero; magnitudes a sequential one; both are clipped at a
percentile so a few extreme pixels do not wash out the rest. All-zero maps are drawn, not divided by zero.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .validation import integer, one_image, positive_float

SIGNED_CMAP = "RdBu_r"
MAGNITUDE_CMAP = "inferno"


def to_numpy_image(x) -> np.ndarray:
    """A tensor C×H×W / 1×C×H×W / H×W or an array H×W(×C) → H×W or H×W×3 NumPy array for imshow."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().float()
        if x.ndim >= 3:
            x = one_image(x, "x").permute(1, 2, 0)
        x = x.numpy()
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[..., 0]
    if x.ndim not in (2, 3):
        raise ValueError(f"x: expected an image H×W or H×W×C, got shape {x.shape}")
    return x


def clip_limit(values: np.ndarray, percentile: float = 99.0) -> float:
    """The ``percentile`` of |values|, or 1.0 for an all-zero map (so colour scales never divide by zero)."""
    limit = float(np.percentile(np.abs(values), percentile)) if values.size else 0.0
    return limit if limit > 0 else (float(np.abs(values).max()) or 1.0)


def show_map(attribution, ax=None, signed: bool | None = None, image=None, percentile: float = 99.0,
             title: str | None = None, alpha: float = 0.6, colorbar: bool = False, limit: float | None = None):
    """Draw one attribution map (H×W, 1×H×W, C×H×W summed over channels) and return the Axes.

    ``signed`` defaults to whether the map has negative values; signed maps are drawn with a diverging
    colormap on [−L, L], magnitudes on [0, L], L the ``percentile`` of |map| — or ``limit`` when given (pass
    one ``limit`` to several maps to draw them on one colour scale). With ``image`` the map is overlaid on it
    (image in grey underneath).
    """
    m = to_numpy_image(attribution)
    if m.ndim == 3:
        m = m.sum(2)
    if signed is None:
        signed = bool((m < 0).any())
    lim = clip_limit(m, percentile) if limit is None else positive_float(limit, "limit")
    ax = ax or plt.subplots(figsize=(3, 3))[1]
    if image is not None:
        img = to_numpy_image(image)
        gray = img.mean(2) if img.ndim == 3 else img
        ax.imshow(gray, cmap="gray")
    im = ax.imshow(m, cmap=SIGNED_CMAP if signed else MAGNITUDE_CMAP,
                   vmin=-lim if signed else 0, vmax=lim, alpha=alpha if image is not None else 1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def show_images(images: Sequence, titles: Sequence[str] | None = None, ncols: int = 8, size: float = 1.4,
                cmap: str = "gray", suptitle: str | None = None, normalize: str = "each"):
    """A grid of images (tensors or arrays); returns the Figure.

    ``normalize``: ``"each"`` rescales every image to its own min..max, ``"all"`` uses one shared range,
    ``"none"`` shows values as they are (uint8 or floats in [0, 1]).
    """
    if normalize not in ("each", "all", "none"):
        raise ValueError(f"normalize: expected 'each', 'all' or 'none', got {normalize!r}")
    arrays = [to_numpy_image(im).astype(float) if normalize != "none" else to_numpy_image(im) for im in images]
    if not arrays:
        raise ValueError("images: expected at least one image")
    if normalize == "all":
        lo, hi = min(a.min() for a in arrays), max(a.max() for a in arrays)
        arrays = [(a - lo) / (hi - lo if hi > lo else 1.0) for a in arrays]
    elif normalize == "each":
        arrays = [(a - a.min()) / (a.max() - a.min() if a.max() > a.min() else 1.0) for a in arrays]
    ncols = min(ncols, len(arrays))
    nrows = -(-len(arrays) // ncols)
    # room for each row's titles (0.16 in per line at fontsize 8), so a title never covers the image above it
    title_lines = max((str(t).count("\n") + 1 for t in titles), default=0) if titles is not None else 0
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(size * ncols, (size + 0.16 * title_lines) * nrows + (0.3 if suptitle else 0)))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(arrays):
            ax.imshow(arrays[i], cmap=cmap if arrays[i].ndim == 2 else None)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def show_class_map(labels, class_names, ax=None, image=None, max_classes: int = 6, title: str | None = None,
                   classes: Sequence[int] | None = None):
    """Draw a map of class indices over an image, one colour per class: a pixel map H×W (e.g.
    ``grid_to_pixels(outputs.argmax(-1), H, W, window, stride, mode="nearest")``, the most likely class with
    the occluder nearest to each pixel) or a coarse grid stretched over the image, with a legend naming the ``max_classes`` most frequent
    classes (the rest grouped as "other"). Colours go by frequency within this map, unless ``classes`` (at
    most 10 distinct class indices) fixes them: the k-th listed class gets the k-th colour, in every panel
    given the same list, and classes not listed are grey "other". Returns the Axes."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    lab = torch.as_tensor(labels).cpu()
    if lab.ndim != 2:
        raise ValueError(f"labels: expected a 2-d grid of class indices, got shape {tuple(lab.shape)}")
    ids, counts = lab.unique(return_counts=True)
    order = ids[counts.argsort(descending=True)].tolist()
    if classes is None:
        shown, palette = order[:max_classes], list(range(min(len(order), max_classes)))
    else:
        if isinstance(classes, (str, bytes)) or not isinstance(classes, Sequence):
            raise TypeError(f"classes: expected a list of class indices, got {type(classes).__name__}")
        fixed = [integer(c, "classes") for c in classes]
        if not fixed or len(set(fixed)) != len(fixed) or len(fixed) > 10:
            raise ValueError(f"classes: expected 1 to 10 distinct class indices, got {fixed}")
        if min(fixed) < 0 or max(fixed) >= len(class_names):
            raise ValueError(f"classes: indices must lie in [0, {len(class_names) - 1}], got {fixed}")
        shown = [c for c in order if c in fixed]
        palette = [fixed.index(c) for c in shown]
    codes = torch.full_like(lab, len(shown))
    for k, cls in enumerate(shown):
        codes[lab == cls] = k
    colours = [plt.get_cmap("tab10").colors[k] for k in palette] + [(0.6, 0.6, 0.6)]
    ax = ax or plt.subplots(figsize=(3.5, 3))[1]
    extent = None
    if image is not None:
        img = to_numpy_image(image)
        ax.imshow(img if img.ndim == 3 else img, cmap=None if img.ndim == 3 else "gray")
        extent = (-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5)
    ax.imshow(codes.numpy(), cmap=ListedColormap(colours), vmin=-0.5, vmax=len(colours) - 0.5,
              alpha=0.55 if image is not None else 1.0, extent=extent, interpolation="nearest")
    handles = [Patch(color=colours[k], label=str(class_names[cls])) for k, cls in enumerate(shown)]
    if len(order) > len(shown):
        handles.append(Patch(color=colours[-1], label=f"{len(order) - len(shown)} other classes"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax
