"""A small probing set for EfficientNet-Lite0 (lecture 02): the course photos plus random crops."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from ..validation import positive_float, positive_int


def photo_crops(model: nn.Module, names: Sequence[str] | None = None, crops_per_image: int = 4,
                min_scale: float = 0.3, max_scale: float = 0.7, seed: int = 0
                ) -> tuple[torch.Tensor, list[str]]:
    """The course photos for ``model`` plus random square crops (some mirrored), as one dataset.

    For every photo: the centre crop from ``preprocess``, then ``crops_per_image`` random squares whose side
    is ``min_scale``..``max_scale`` of the shorter side, every other one flipped left-right, each resized to
    the model's input size. Returns (N×C×S×S normalized tensor, N descriptions like ``"cat crop 2 (flip)"``).
    """
    from ..data import list_images, load_image
    from ..models import preprocess
    if names is not None and (isinstance(names, str) or not isinstance(names, (list, tuple))
                              or not names or not all(isinstance(n, str) for n in names)):
        raise TypeError(f"names: expected a non-empty list of photo names (see course_utils.data.list_images()), "
                        f"got {names!r}")
    crops_per_image = positive_int(crops_per_image, "crops_per_image", minimum=0)
    min_scale, max_scale = positive_float(min_scale, "min_scale"), positive_float(max_scale, "max_scale")
    if not min_scale <= max_scale <= 1:
        raise ValueError(f"min_scale, max_scale: expected 0 < min_scale ≤ max_scale ≤ 1, got {min_scale}, {max_scale}")
    rng = np.random.default_rng(positive_int(seed, "seed", minimum=0))
    names = list_images() if names is None else list(names)
    tensors, descriptions = [], []
    for name in names:
        image = load_image(name)
        tensors.append(preprocess(image, model))
        descriptions.append(f"{name}")
        h, w = image.shape[:2]
        for i in range(crops_per_image):
            side = max(1, int(min(h, w) * rng.uniform(min_scale, max_scale)))
            top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            crop = image[top:top + side, left:left + side]
            flip = i % 2 == 1
            if flip:
                crop = crop[:, ::-1]
            tensors.append(preprocess(np.ascontiguousarray(crop), model))
            descriptions.append(f"{name} crop {i + 1}" + (" (flip)" if flip else ""))
    return torch.cat(tensors), descriptions
