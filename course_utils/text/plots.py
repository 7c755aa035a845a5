"""Figures for lecture 11: attention matrices, every head at once, head-score tables, coloured tokens.

Each function returns the matplotlib Axes (``plot_attention_grid``: the Figure).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..plotting import MAGNITUDE_CMAP, SIGNED_CMAP, clip_limit


def _values(x, name: str) -> np.ndarray:
    """A tensor or array → a finite float numpy array (NaN would draw as a blank cell without a word)."""
    try:
        v = x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=float)
    except (TypeError, ValueError, NotImplementedError, RuntimeError):
        raise TypeError(f"{name}: expected a tensor or array of numbers, got {type(x).__name__}") from None
    if not np.isfinite(v).all():
        raise ValueError(f"{name}: holds NaN or ±inf values")
    return v


def plot_attention(attention: torch.Tensor, tokens: Sequence[str], ax=None, title: str | None = None,
                   vmax: float | None = 1.0, colorbar: bool = True):
    """One head's T×T attention matrix as a heatmap (rows: queries, columns: keys); returns the Axes."""
    import matplotlib.pyplot as plt

    a = _values(attention, "attention")
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"attention: expected a T×T matrix, got shape {a.shape}")
    if not isinstance(tokens, (list, tuple)) or len(tokens) != a.shape[0]:
        raise ValueError(f"tokens: expected {a.shape[0]} tokens for a {a.shape[0]}×{a.shape[0]} matrix, got "
                         f"{len(tokens) if isinstance(tokens, (list, tuple)) else type(tokens).__name__}")
    if ax is None:
        size = 1.6 + 0.22 * len(tokens)
        ax = plt.subplots(figsize=(size + 0.8, size))[1]
    im = ax.imshow(a, cmap="Blues", vmin=0, vmax=vmax if vmax is not None else max(float(a.max()), 1e-9))
    ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
    ax.set_yticks(range(len(tokens)), tokens, fontsize=7)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    return ax


def plot_attention_grid(attentions: torch.Tensor, title: str | None = None, size: float = 0.9):
    """Every head of every layer (L×H×T×T) as small maps in an L×H grid; returns the Figure."""
    import matplotlib.pyplot as plt

    if not isinstance(attentions, torch.Tensor) or attentions.ndim != 4:
        raise ValueError(f"attentions: expected L×H×T×T, got {getattr(attentions, 'shape', type(attentions).__name__)}")
    _values(attentions, "attentions")
    L, H = attentions.shape[:2]
    fig, axes = plt.subplots(L, H, figsize=(H * size, L * size + 0.5), squeeze=False)
    for l in range(L):
        for h in range(H):
            ax = axes[l, h]
            ax.imshow(attentions[l, h].detach().cpu().numpy(), cmap="Blues", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if l == L - 1:
                ax.set_xlabel(f"head {h}", fontsize=7)
            if h == 0:
                ax.set_ylabel(f"layer {l}", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_head_scores(scores: torch.Tensor, title: str, ax=None, vmax: float | None = None):
    """An L×H table of head scores as a heatmap with the values written in; returns the Axes."""
    import matplotlib.pyplot as plt

    s = _values(scores, "scores")
    if s.ndim != 2:
        raise ValueError(f"scores: expected an L×H table, got shape {s.shape}")
    ax = ax or plt.subplots(figsize=(0.45 * s.shape[1] + 1.2, 0.4 * s.shape[0] + 0.9))[1]
    top = vmax if vmax is not None else max(float(s.max()), 1e-9)
    ax.imshow(s, cmap=MAGNITUDE_CMAP, vmin=0, vmax=top)
    for (l, h), v in np.ndenumerate(s):
        label = f"{v:.2f}"
        ax.text(h, l, label[1:] if label.startswith("0.") else label, ha="center", va="center", fontsize=6,
                color="black" if v > 0.6 * top else "white")
    ax.set_xticks(range(s.shape[1]))
    ax.set_yticks(range(s.shape[0]))
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(title)
    return ax


def show_token_scores(tokens: Sequence[str], scores, ax=None, signed: bool | None = None,
                      title: str | None = None, percentile: float = 100.0):
    """Tokens written left to right on boxes coloured by their scores (diverging and centred on 0 when
    signed, sequential otherwise); returns the Axes."""
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    v = _values(scores, "scores")
    if v.ndim != 1 or len(v) != len(tokens):
        raise ValueError(f"scores: expected {len(tokens)} values (one per token), got shape {v.shape}")
    if signed is None:
        signed = bool((v < 0).any())
    lim = clip_limit(v, percentile)
    cmap = colormaps[SIGNED_CMAP if signed else "Oranges"]
    norm = (v / lim + 1) / 2 if signed else v / lim
    widths = [0.25 + 0.085 * len(t) for t in tokens]
    ax = ax or plt.subplots(figsize=(max(3.0, sum(widths) + 0.3), 0.6))[1]
    x = 0.0
    for t, w, c, val in zip(tokens, widths, np.clip(norm, 0, 1), v):
        ax.add_patch(plt.Rectangle((x, 0), w - 0.04, 1, color=cmap(float(c))))
        ax.text(x + (w - 0.04) / 2, 0.5, t, ha="center", va="center", fontsize=8,
                color="white" if abs(c - (0.5 if signed else 0)) > 0.35 else "black")
        x += w
    ax.set_xlim(0, x)
    ax.set_ylim(0, 1)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    return ax
