"""Concept images made offline: procedural textures, and scikit-image's bundled texture photos.

A concept set should differ from random images in the concept and as little as possible in anything else,
so every texture is drawn with random scale, orientation, phase and two random colours: what the images
share is the *pattern*.

* ``TEXTURES`` – the procedural kinds: ``"stripes"``, ``"dots"``, ``"checkerboard"``, ``"zigzag"``.
* ``texture_images(kind, n, size, channels, seed)`` – n images N×C×S×S in [0, 1].
* ``PHOTO_TEXTURES`` / ``photo_textures(n, size, channels, seed)`` – random crops of the CC0 texture photos
  scikit-image ships (``brick``, ``grass``, ``gravel``) as {name: N×C×S×S in [0, 1]}; {} where scikit-image
  or its bundled files are missing (the procedural textures always work).

Images are raw pixels in [0, 1]: normalize them for a model with ``course_utils.models.input_normalizer``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..validation import integer, one_of, positive_int

__all__ = ["PHOTO_TEXTURES", "TEXTURES", "photo_textures", "texture_images"]

TEXTURES = ("stripes", "dots", "checkerboard", "zigzag")
PHOTO_TEXTURES = ("brick", "grass", "gravel")   # skimage.data, CC0 (see their docstrings)


def _uniform(gen: torch.Generator, n: int, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen)


def _pattern(kind: str, n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """n binary-ish patterns N×S×S in [0, 1] of one kind, with random period, angle and phase."""
    # 5 to 16 repeats across the image, but never finer than 4 pixels (finer patterns alias or blur away)
    lo = max(size / 16, 4.0)
    period = _uniform(gen, n, lo, max(size / 5, lo + 2)).view(n, 1, 1)
    angle = _uniform(gen, n, 0, math.pi).view(n, 1, 1)
    phase = torch.rand(n, 2, generator=gen).view(n, 2, 1, 1)
    coords = torch.arange(size, dtype=torch.float32)
    y, x = coords.view(1, -1, 1), coords.view(1, 1, -1)
    u = (x * torch.cos(angle) + y * torch.sin(angle)) / period + phase[:, 0]     # across the pattern
    v = (-x * torch.sin(angle) + y * torch.cos(angle)) / period + phase[:, 1]    # along it
    if kind == "stripes":
        return ((u % 1) < 0.5).float()
    if kind == "checkerboard":
        return (((u.floor() + v.floor()) % 2) == 0).float()
    if kind == "zigzag":
        triangle = 2 * (v % 1 - 0.5).abs()               # 0..1..0 along the stripes: the stripes zigzag
        return (((u + 0.8 * triangle) % 1) < 0.5).float()
    radius = _uniform(gen, n, 0.2, 0.35).view(n, 1, 1)    # dots on a grid, in units of the period
    du, dv = u % 1 - 0.5, v % 1 - 0.5
    return ((du * du + dv * dv).sqrt() < radius).float()


def texture_images(kind: str, n: int, size: int = 224, channels: int = 3, seed: int = 0) -> torch.Tensor:
    """``n`` images of one procedural texture, N×C×S×S in [0, 1] (``channels`` 1 or 3).

    Each image has its own period (size/16 to size/5 pixels, at least 4), orientation, phase and two random
    colours (grey levels for 1 channel) at least 0.4 apart, and a slight blur so edges are not aliased.
    Deterministic for ``seed``.
    """
    one_of(kind, "kind", TEXTURES)
    n, size = positive_int(n, "n"), positive_int(size, "size", minimum=8)
    channels = integer(channels, "channels")
    if channels not in (1, 3):
        raise ValueError(f"channels: expected 1 (grey) or 3 (RGB), got {channels}")
    gen = torch.Generator().manual_seed(integer(seed, "seed"))
    pattern = _pattern(kind, n, size, gen)[:, None]                       # N×1×S×S
    fg = torch.rand(n, channels, 1, 1, generator=gen)
    bg = torch.rand(n, channels, 1, 1, generator=gen)
    too_close = (fg - bg).abs().mean(1, keepdim=True) < 0.4                # keep the pattern visible
    bg = torch.where(too_close, 1 - fg, bg)
    images = bg + (fg - bg) * pattern
    kernel = torch.tensor([0.25, 0.5, 0.25])
    kernel = (kernel[:, None] * kernel[None, :]).expand(channels, 1, 3, 3)
    return F.conv2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), kernel, groups=channels).clamp(0, 1)


def _load_photo(name: str):
    """A texture photo from scikit-image's bundled data as a float tensor H×W in [0, 1], or None."""
    try:
        import skimage.data
        image = getattr(skimage.data, name)()
    except Exception:        # scikit-image missing, or its data files not installed: procedural only
        return None
    image = torch.as_tensor(image, dtype=torch.float32) / 255
    return image.mean(-1) if image.ndim == 3 else image


def photo_textures(n: int, size: int = 224, channels: int = 3, seed: int = 0,
                   names=PHOTO_TEXTURES) -> dict[str, torch.Tensor]:
    """``n`` random square crops of each texture photo of scikit-image: {name: N×C×S×S in [0, 1]}.

    Crops cover 1/4 to 1/2 of the photo's side (some mirrored) and are resized to ``size``; grey photos
    are repeated over 3 channels. Photos that cannot be loaded offline are left out (possibly all).
    """
    n, size = positive_int(n, "n"), positive_int(size, "size", minimum=8)
    channels = integer(channels, "channels")
    if channels not in (1, 3):
        raise ValueError(f"channels: expected 1 (grey) or 3 (RGB), got {channels}")
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise TypeError(f"names: expected a list of names among {PHOTO_TEXTURES}, got {names!r}")
    gen = torch.Generator().manual_seed(integer(seed, "seed"))
    out = {}
    for name in names:
        one_of(name, "names", PHOTO_TEXTURES)
        photo = _load_photo(name)
        if photo is None:
            continue
        h, w = photo.shape
        crops = []
        for i in range(n):
            side = int(min(h, w) * float(_uniform(gen, 1, 0.25, 0.5)))
            top = int(torch.randint(0, h - side + 1, (1,), generator=gen))
            left = int(torch.randint(0, w - side + 1, (1,), generator=gen))
            crop = photo[top:top + side, left:left + side][None, None]
            crop = crop.flip(-1) if i % 2 else crop
            crops.append(F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True,
                                       align_corners=False))
        out[name] = torch.cat(crops).expand(-1, channels, -1, -1).clamp(0, 1).contiguous()
    return out
