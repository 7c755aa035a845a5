"""The one reduction the evaluation metrics share: an attribution map → one signed value per pixel."""
from __future__ import annotations

import torch

from ..validation import check_tensor


def sum_channels(attributions: torch.Tensor, name: str = "attributions") -> torch.Tensor:
    """An N×C×H×W (or N×H×W) map → N×H×W float32 by summing the channels (signed: positive evidence stays
    positive). NaN/inf are an error: a NaN pixel would be ranked, counted or correlated as if it meant
    something. (``course_utils.attribution.reduce_channels`` is the display reduction, max |·|, keepdim.)"""
    maps = check_tensor(attributions.detach() if isinstance(attributions, torch.Tensor) else attributions, name,
                        ("N×C×H×W", "N×H×W"))
    return maps.sum(1) if maps.ndim == 4 else maps
