"""Conv kernels made displayable (lecture 01): ``normalize_filters(weights, mode)`` → values in [0, 1]."""
from __future__ import annotations

import torch

from ..validation import check_tensor, one_of

FILTER_MODES = ("each", "all", "symmetric", "symmetric_all")


def normalize_filters(weights: torch.Tensor, mode: str = "each") -> torch.Tensor:
    """Conv kernels O×C×k×k → values in [0, 1] for display (same shape).

    * ``"each"`` – every kernel stretched to its own min..max (shows each pattern, hides relative scale);
    * ``"all"`` – one min..max for all kernels (relative strength visible, weak kernels look flat);
    * ``"symmetric"`` – per kernel, 0 ↦ 0.5 and ±max|w| ↦ 0/1 (the sign of every weight stays readable);
    * ``"symmetric_all"`` – the same with one max|w| for all kernels.
    A constant kernel maps to 0 (min-max modes) or 0.5 (symmetric modes): no division by zero.
    """
    w = check_tensor(weights.detach() if isinstance(weights, torch.Tensor) else weights, "weights", "O×C×k×k")
    one_of(mode, "mode", FILTER_MODES)
    dims = (1, 2, 3) if mode in ("each", "symmetric") else (0, 1, 2, 3)
    if mode.startswith("symmetric"):
        scale = w.abs().amax(dim=dims, keepdim=True)
        return 0.5 + 0.5 * w / torch.where(scale > 0, scale, torch.ones_like(scale))
    lo, hi = w.amin(dim=dims, keepdim=True), w.amax(dim=dims, keepdim=True)
    span = hi - lo
    return (w - lo) / torch.where(span > 0, span, torch.ones_like(span))
