"""Transforms: random changes applied to the image before each forward pass, so the optimum must survive them.

A transform is a function ``(x, generator) -> x`` on a batch N×C×H×W; its randomness comes from
``generator`` (a ``torch.Generator``, seeded by ``render``), so a render is reproducible.

* ``jitter``, ``random_scale``, ``random_rotate``, ``pad``, ``blur`` (with ``gaussian_kernel``);
* ``compose(transforms)`` and Lucid's recipe ``standard_transforms(size)``.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from ..validation import check_images, finite_number, one_of, positive_float, positive_int

Transform = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]
__all__ = ["Transform", "jitter", "random_scale", "random_rotate", "pad", "gaussian_kernel", "blur", "compose",
           "standard_transforms"]


def check_generator(generator) -> torch.Generator | None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    return generator


def _checked(apply: Callable) -> Transform:
    """The transform ``apply`` with its arguments checked (x: a finite N×C×H×W float tensor)."""
    @functools.wraps(apply)
    def transform(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return apply(check_images(x, "x"), check_generator(generator))
    return transform


def _numbers(values, name: str, check: Callable) -> tuple[float, ...]:
    """A non-empty sequence of numbers, each passed through ``check(value, name)``."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"{name}: expected a list of numbers, got {type(values).__name__} {values!r}")
    values = tuple(check(v, name) for v in values)
    if not values:
        raise ValueError(f"{name}: expected at least one value")
    return values


def _randint(low: int, high: int, generator: torch.Generator | None) -> int:
    """A random int in [low, high] (inclusive), drawn from ``generator``."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def jitter(max_shift: int) -> Transform:
    """Shift the whole batch by a random (dy, dx) in [−max_shift, max_shift]² with wrap-around (keeps shape)."""
    max_shift = positive_int(max_shift, "max_shift", minimum=0)

    @_checked
    def apply(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        dy = _randint(-max_shift, max_shift, generator)
        dx = _randint(-max_shift, max_shift, generator)
        return torch.roll(x, shifts=(dy, dx), dims=(2, 3))

    return apply


def _affine(x: torch.Tensor, scale: float = 1.0, angle_deg: float = 0.0) -> torch.Tensor:
    """Zoom by ``scale`` and rotate by ``angle_deg`` about the centre, keeping the size (edges reflected)."""
    a = math.radians(angle_deg)
    cos, sin = math.cos(a) / scale, math.sin(a) / scale   # affine_grid maps output → input coordinates
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def random_scale(scales: Sequence[float] = (0.9, 0.95, 1.0, 1.05, 1.1)) -> Transform:
    """Zoom the batch by a factor drawn from ``scales`` (keeps shape; >1 enlarges the content)."""
    scales = _numbers(scales, "scales", positive_float)

    @_checked
    def apply(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return _affine(x, scale=scales[_randint(0, len(scales) - 1, generator)])

    return apply


def random_rotate(degrees: Sequence[float] = tuple(range(-10, 11))) -> Transform:
    """Rotate the batch by an angle (degrees) drawn from ``degrees`` (keeps shape)."""
    degrees = _numbers(degrees, "degrees", finite_number)

    @_checked
    def apply(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return _affine(x, angle_deg=degrees[_randint(0, len(degrees) - 1, generator)])

    return apply


def pad(width: int, mode: str = "reflect", value: float = 0.5) -> Transform:
    """Pad every side by ``width`` pixels (H×W → (H+2w)×(W+2w)), so the image's edges stop being special.

    ``mode``: ``"reflect"`` (mirror the image) or ``"constant"`` (grey ``value``).
    """
    width = positive_int(width, "width", minimum=0)
    mode = one_of(mode, "mode", ("reflect", "constant"))
    value = finite_number(value, "value")

    @_checked
    def apply(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if mode == "constant":
            return F.pad(x, (width,) * 4, mode="constant", value=value)
        if width >= min(x.shape[-2:]):       # a mirror image needs pixels to mirror
            raise ValueError(f"width: reflecting {width} pixels needs images larger than {width}×{width}, got "
                             f"{x.shape[-2]}×{x.shape[-1]}; use a smaller width or mode='constant'")
        return F.pad(x, (width,) * 4, mode="reflect")

    return apply


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalized 1-d Gaussian of standard deviation ``sigma`` pixels, radius ⌈3σ⌉."""
    sigma = positive_float(sigma, "sigma")
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def blur(sigma: float = 1.0) -> Transform:
    """Gaussian blur of standard deviation ``sigma`` pixels, each channel separately (keeps shape)."""
    k = gaussian_kernel(sigma)
    r = len(k) // 2

    @_checked
    def apply(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        c = x.shape[1]
        kk = k.to(x)
        mode = "reflect" if min(x.shape[-2:]) > r else "replicate"
        x = F.conv2d(F.pad(x, (r, r, 0, 0), mode=mode), kk.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        return F.conv2d(F.pad(x, (0, 0, r, r), mode=mode), kk.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)

    return apply


def compose(transforms: Sequence[Transform]) -> Transform:
    """Apply ``transforms`` one after the other."""
    if isinstance(transforms, (str, bytes)) or not isinstance(transforms, Iterable):
        raise TypeError(f"transforms: expected a list of transforms (x, generator) -> x, "
                        f"got {type(transforms).__name__}")
    transforms = list(transforms)
    for t in transforms:
        if not callable(t):
            raise TypeError(f"transforms: expected callables (x, generator) -> x, got {type(t).__name__}")

    def apply(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for t in transforms:
            x = t(x, generator)
        return x

    return apply


def standard_transforms(size: int) -> list[Transform]:
    """Lucid's robustness recipe scaled to an image side of ``size`` pixels: pad, jitter, scale, rotate, jitter."""
    unit = max(1, positive_int(size, "size") // 32)
    return [pad(2 * unit), jitter(2 * unit), random_scale((1.0, 0.975, 1.025, 0.95, 1.05)),
            random_rotate(tuple(range(-5, 6))), jitter(unit)]
