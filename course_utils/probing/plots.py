"""Figures for lectures 01 and 02: kernels, feature maps, one channel's examples, Zeiler & Fergus grids.

Every function returns the matplotlib Figure.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from ..hooks import ReceptiveField
from ..plotting import MAGNITUDE_CMAP, SIGNED_CMAP, clip_limit
from ..validation import check_images, check_tensor, integer, one_image, one_of, positive_float, positive_int
from .filters import normalize_filters
from .receptive import _check_rf, crop_patch, receptive_field_box, receptive_field_patches
from .topk import ProbeResult


def tile(images: np.ndarray, ncols: int, pad: int = 1) -> np.ndarray:
    """Arrange N×h×w (or N×h×w×3) images in a grid of ``ncols`` columns, separated by ``pad`` NaN pixels
    (drawn as background by ``imshow``): one array, so a grid of 100 kernels is one fast ``imshow``."""
    images = np.asarray(images)
    if images.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"images: expected a non-empty array N×h×w or N×h×w×3, got shape {images.shape}")
    ncols, pad = positive_int(ncols, "ncols"), positive_int(pad, "pad", minimum=0)
    n, h, w = images.shape[:3]
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad) + images.shape[3:], np.nan)
    for i in range(n):
        r, c = divmod(i, ncols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = images[i]
    return out


def show_filters(weights: torch.Tensor, mode: str = "each", ncols: int = 8, size: float = 0.7,
                 title: str | None = None, ax=None):
    """Draw conv kernels O×C×k×k as a grid after ``normalize_filters(weights, mode)``; returns the Figure.

    RGB kernels (C = 3) are drawn as colour patches; single-channel kernels in grey for the min-max modes
    and with the diverging colormap (white = 0) for the symmetric modes. Other C: the channel mean.
    ``size`` is the width of one kernel in inches; ``ax`` draws into an existing Axes (``title`` then
    becomes the Axes title).
    """
    shown = normalize_filters(weights, mode).cpu()
    ncols, size = positive_int(ncols, "ncols"), positive_float(size, "size")
    if shown.shape[1] == 3:
        grid = tile(shown.permute(0, 2, 3, 1).numpy(), ncols)
        rgba = np.concatenate([np.nan_to_num(grid, nan=1.0), (~np.isnan(grid[..., :1])).astype(float)], axis=2)
        image, cmap = rgba, None
    else:
        image = tile(shown.mean(1).numpy(), ncols)
        cmap = SIGNED_CMAP if mode.startswith("symmetric") else "gray"
    if ax is None:
        ncols = min(ncols, len(shown))
        nrows = -(-len(shown) // ncols)
        fig, ax = plt.subplots(figsize=(size * ncols, size * nrows + (0.35 if title else 0)), layout="constrained")
        if title:
            fig.suptitle(title, fontsize=10)
    elif title:
        ax.set_title(title, fontsize=9)
    ax.imshow(image, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    return ax.figure


def show_feature_maps(activation: torch.Tensor, channels: Sequence[int] | None = None, ncols: int = 8,
                      size: float = 1.0, title: str | None = None, shared_scale: bool = True):
    """Draw the channels of one feature map (C×H×W or 1×C×H×W); returns the Figure.

    Non-negative maps (after a ReLU) use the sequential colormap on [0, L]; maps with negative values the
    diverging one on [−L, L]; L is the 99th percentile of |values| over the shown channels
    (``shared_scale``, so channels are comparable, with one colour bar for all) or of each channel.
    """
    activation = check_tensor(activation.detach() if isinstance(activation, torch.Tensor) else activation,
                              "activation", ("C×H×W", "1×C×H×W"))
    maps = one_image(activation, "activation").cpu()
    channels = list(range(min(len(maps), 16))) if channels is None else [integer(c, "channels") for c in channels]
    if not channels or not all(0 <= c < len(maps) for c in channels):
        raise ValueError(f"channels: expected a non-empty list of indices in [0, {len(maps) - 1}], got {channels}")
    ncols, size = positive_int(ncols, "ncols"), positive_float(size, "size")
    shown = maps[channels].numpy()
    signed = bool((shown < 0).any())
    ncols = min(ncols, len(channels))
    nrows = -(-len(channels) // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.35 if title else 0)),
                             squeeze=False)
    lim_all = clip_limit(shown)
    for i, ax in enumerate(grid.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(channels):
            ax.axis("off")
            continue
        lim = lim_all if shared_scale else clip_limit(shown[i])
        ax.imshow(shown[i], cmap=SIGNED_CMAP if signed else MAGNITUDE_CMAP, vmin=-lim if signed else 0,
                  vmax=lim, interpolation="nearest")
        ax.set_title(f"ch {channels[i]}", fontsize=7, pad=2)
        image = ax.images[0]
    if title:
        fig.suptitle(title, fontsize=10)
    if shared_scale:
        fig.colorbar(image, ax=grid.ravel().tolist(), fraction=0.02, pad=0.02).ax.tick_params(labelsize=7)
    return fig


def _display(image: torch.Tensor) -> np.ndarray:
    x = image.detach().float().cpu().clamp(0, 1)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def _check_result(result, images: torch.Tensor) -> torch.Tensor:
    if not isinstance(result, ProbeResult):
        raise TypeError(f"result: expected a ProbeResult (from top_k_examples), got {type(result).__name__}")
    images = check_images(images, "images")
    if len(images) != result.n_images:
        raise ValueError(f"images: expected the {result.n_images} images that were probed (same order), "
                         f"got {len(images)}")
    return images


def _channel(value, result: ProbeResult, name: str = "channel") -> int:
    channels = result.top.values.shape[0]
    if not 0 <= integer(value, name) < channels:
        raise ValueError(f"{name}: expected 0 <= {name} < {channels} for layer {result.layer}, got {value}")
    return int(value)


def _show_in(ax, image: np.ndarray, cmap) -> None:
    """``image`` in ``ax``: a new ``imshow`` on [0, 1], or the data (and extent) of the one it already has."""
    if not ax.images:
        ax.imshow(image, cmap=cmap, vmin=0, vmax=1)
        return
    h, w = image.shape[:2]
    ax.images[0].set_data(image)
    ax.images[0].set_extent((-0.5, w - 0.5, h - 0.5, -0.5))


def show_examples(result: ProbeResult, images: torch.Tensor, channel: int, rf: ReceptiveField | None = None,
                  which: str = "top", k: int | None = None, titles: Sequence[str] | None = None, size: float = 1.1,
                  fig=None):
    """One channel's top (or bottom) examples: the images with the receptive field of the maximum outlined,
    and below them the cropped patches. ``images`` N×C×H×W in [0, 1] (display space, same order as probed).
    Returns the Figure.

    ``fig``: a Figure an earlier call returned, with the same number of panels (k, and patches or not) —
    its images, outlines and titles are replaced in place (no new axes, no new layout), which is what an
    explorer moving between channels and layers needs (show it with ``widgets.show_figure``)."""
    one_of(which, "which", ("top", "bottom"))
    images = _check_result(result, images)
    channel = _channel(channel, result)
    if rf is not None:
        _check_rf(rf)
    if titles is not None and len(titles) != result.n_images:
        raise ValueError(f"titles: expected one title per probed image ({result.n_images}), got {len(titles)}")
    found = getattr(result, which)
    k = result.k if k is None else min(positive_int(k, "k"), result.k)
    idx = found.indices[channel, :k]
    with_patches = rf is not None and found.locations is not None
    rows = 2 if with_patches else 1
    if fig is None:
        fig, axes = plt.subplots(rows, k, figsize=(size * k, size * rows + 0.5), squeeze=False)
        new = True
    else:
        if not isinstance(fig, plt.Figure):
            raise TypeError(f"fig: expected a Figure from show_examples, got {type(fig).__name__}")
        if len(fig.axes) != rows * k:
            raise ValueError(f"fig: expected a figure with {rows}×{k} panels (from show_examples with the same k, "
                             f"{'with' if with_patches else 'without'} patches), got {len(fig.axes)} axes")
        axes, new = np.array(fig.axes, dtype=object).reshape(rows, k), False
    cmap = "gray" if images.shape[1] == 1 else None
    for j in range(k):
        ax = axes[0, j]
        _show_in(ax, _display(images[idx[j]]), cmap)
        label = titles[int(idx[j])] if titles is not None else f"#{int(idx[j])}"
        ax.set_title(f"{label}\n{found.values[channel, j]:.2f}", fontsize=7, pad=2)
        ax.set_xticks([])
        ax.set_yticks([])
        if with_patches:
            r, c = (int(v) for v in found.locations[channel, j])
            top, left, s = receptive_field_box(rf, r, c)
            if ax.patches:
                ax.patches[0].set_bounds(left - 0.5, top - 0.5, s, s)
            else:
                ax.add_patch(Rectangle((left - 0.5, top - 0.5), s, s, fill=False, edgecolor="red", linewidth=1))
            _show_in(axes[1, j], _display(crop_patch(images[idx[j]], top, left, s, fill=0.0)), cmap)
            axes[1, j].set_xticks([])
            axes[1, j].set_yticks([])
    if with_patches:
        axes[1, 0].set_ylabel(f"{rf.size}×{rf.size} patch", fontsize=7)
    fig.suptitle(f"{result.layer} channel {channel}: {which}-{k} of {result.n_images} images "
                 f"(global {result.reduce} score under each)", fontsize=9)
    if new:
        fig.tight_layout()
    return fig


def show_patch_grid(result: ProbeResult, images: torch.Tensor, rf: ReceptiveField, channels: Sequence[int],
                    k: int | None = None, size: float = 0.7, title: str | None = None, fill: float = 0.0):
    """Zeiler & Fergus style grid: one row per channel, its top-K receptive-field patches (Figure)."""
    images = _check_result(result, images)
    _check_rf(rf)
    if result.top.locations is None:
        raise ValueError(f"result: layer {result.layer} is dense; patches need a conv layer")
    k = result.k if k is None else min(positive_int(k, "k"), result.k)
    channels = [_channel(ch, result, "channels") for ch in channels]
    if not channels:
        raise ValueError("channels: expected at least one channel")
    fig, axes = plt.subplots(len(channels), k, figsize=(size * k + 0.6, size * len(channels) + 0.4), squeeze=False)
    cmap = "gray" if images.shape[1] == 1 else None
    for i, ch in enumerate(channels):
        idx = result.top.indices[ch, :k]
        loc = result.top.locations[ch, :k]
        patches = receptive_field_patches(images[idx], rf, loc[:, 0], loc[:, 1], fill=fill)
        for j in range(k):
            ax = axes[i, j]
            ax.imshow(_display(patches[j]), cmap=cmap, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[i, 0].set_ylabel(f"ch {ch}", fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(title or f"{result.layer}: top-{k} patches ({rf.size}×{rf.size} px) per channel", fontsize=9)
    fig.tight_layout()
    return fig
