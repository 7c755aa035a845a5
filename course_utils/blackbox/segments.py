"""Segments: which pixels go together. They are the *players* of an image game (``coalitions``).

A segmentation is an H×W int64 tensor of labels 0..K−1, every label used (label k = segment k = player k).

* ``slic_segments(image, n_segments)`` – SLIC superpixels (Achanta et al. 2012, via scikit-image): compact
  regions of similar colour that follow the edges in the image;
* ``square_patches(height, width, size)`` – a grid of size×size squares (the last row and column may be
  narrower), the natural choice for 28×28 Fashion-MNIST;
* ``check_segments(segments, height, width)`` – a segmentation checked against the image it belongs to;
* ``paint(values, segments)`` – one value per segment → an H×W map (to draw it);
* ``segment_totals(maps, segments)`` – a pixel attribution (N×C×H×W) → its total (or mean) per segment,
  so IG or occlusion can be compared with the segment methods.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch

from ..validation import check_finite, check_images, one_image, one_of, positive_float, positive_int
from .explanation import as_float64

__all__ = ["slic_segments", "square_patches", "check_segments", "paint", "segment_totals"]


def check_segments(segments, height: int, width: int, name: str = "segments") -> tuple[torch.Tensor, int]:
    """``segments`` (tensor or array H×W of integer labels 0..K−1, every label used) → (int64 tensor, K).

    ``height``×``width`` is the image it must match. A label with no pixels would be a player that can
    never change anything, a sign of a mistake (relabel with ``torch.unique(s, return_inverse=True)[1]``).
    """
    if isinstance(segments, np.ndarray):
        segments = torch.from_numpy(np.ascontiguousarray(segments))
    if not isinstance(segments, torch.Tensor):
        raise TypeError(f"{name}: expected an H×W integer tensor of segment labels, got {type(segments).__name__}")
    if segments.dtype == torch.bool or segments.is_floating_point() or segments.is_complex():
        raise TypeError(f"{name}: expected integer segment labels 0..K−1, got {segments.dtype}"
                        + ("; convert whole numbers with .long()" if segments.is_floating_point() else ""))
    if tuple(segments.shape) != (height, width):
        hint = " (drop the batch and channel dimensions)" if segments.numel() == height * width else ""
        raise ValueError(f"{name}: expected shape H×W = ({height}, {width}) to match the image, "
                         f"got {tuple(segments.shape)}{hint}")
    s = segments.long().cpu()
    if int(s.min()) < 0:
        raise ValueError(f"{name}: labels must be 0..K−1, got a negative label {int(s.min())}")
    k = int(s.max()) + 1
    used = torch.bincount(s.flatten(), minlength=k) > 0
    if not bool(used.all()):
        missing = (~used).nonzero().flatten().tolist()
        raise ValueError(f"{name}: labels must be 0..K−1 with every label used; label(s) {missing[:5]} have no "
                         f"pixels (relabel with torch.unique({name}, return_inverse=True)[1])")
    return s, k


def _as_pixels(image) -> np.ndarray:
    """An image for SLIC → H×W×C float array in [0, 1] (uint8 is divided by 255)."""
    if isinstance(image, torch.Tensor):
        x = check_images(one_image(image, "image"), "image", ndim=3).cpu()
        if float(x.min()) < 0 or float(x.max()) > 1:
            raise ValueError("image: a tensor must hold pixels in [0, 1]; for a normalized model input use "
                             "models.deprocess(x, model) first")
        return x.permute(1, 2, 0).double().numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image: expected an H×W×3 (or H×W) array or a C×H×W tensor, got {type(image).__name__}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"image: expected an array H×W×3 or H×W, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255
    if image.dtype == bool or not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"image: expected uint8 or float pixels, got {image.dtype}")
    x = check_finite(torch.from_numpy(image.astype(np.float64)), "image").numpy()
    if x.size == 0 or x.min() < 0 or x.max() > 1:
        raise ValueError("image: float pixels must lie in [0, 1] (and the image must not be empty)")
    return x


def slic_segments(image, n_segments: int = 12, compactness: float = 10.0, sigma: float = 1.0) -> torch.Tensor:
    """SLIC superpixels of ``image`` → H×W int64 labels 0..K−1.

    ``image``: an H×W×3 (or H×W) uint8 or [0, 1] float array, or a C×H×W / 1×C×H×W tensor in [0, 1]
    (``models.deprocess`` turns a normalized model input into such an array). ``n_segments`` is a target:
    SLIC returns about that many (count them with ``int(s.max()) + 1``). ``compactness``: higher gives
    squarer segments, lower ones that follow colour more closely. ``sigma``: pre-smoothing.
    """
    from skimage.segmentation import slic
    pixels = _as_pixels(image)
    n_segments = positive_int(n_segments, "n_segments")
    compactness, sigma = positive_float(compactness, "compactness"), positive_float(sigma, "sigma", allow_zero=True)
    labels = slic(pixels, n_segments=n_segments, compactness=compactness, sigma=sigma, start_label=0,
                  channel_axis=-1, convert2lab=pixels.shape[2] == 3)
    # SLIC may skip labels; renumber 0..K−1 so that every label is a player
    return torch.unique(torch.from_numpy(labels.astype(np.int64)), return_inverse=True)[1]


def _pair(v, name: str) -> tuple[int, int]:
    if isinstance(v, (tuple, list)) and len(v) == 2:
        return positive_int(v[0], name), positive_int(v[1], name)
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        v = positive_int(v, name)
        return v, v
    raise TypeError(f"{name}: expected an int or a pair (height, width), got {type(v).__name__} {v!r}")


def square_patches(height: int, width: int, size) -> torch.Tensor:
    """A grid of ``size``×``size`` patches (``size`` an int or (h, w)) → H×W int64 labels, row by row.

    ``square_patches(28, 28, 7)`` gives 4×4 = 16 patches; when ``size`` does not divide the image, the
    last row/column of patches is narrower (28 with size 10: widths 10, 10, 8).
    """
    height, width = positive_int(height, "height"), positive_int(width, "width")
    ph, pw = _pair(size, "size")
    if ph > height or pw > width:
        raise ValueError(f"size: a {ph}×{pw} patch does not fit in a {height}×{width} image")
    rows, cols = torch.arange(height) // ph, torch.arange(width) // pw
    return rows[:, None] * int(cols.max() + 1) + cols[None, :]


def paint(values, segments: torch.Tensor) -> torch.Tensor:
    """One value per segment (a tensor K, or N×K) → H×W (or N×H×W): every pixel gets its segment's value."""
    if not isinstance(segments, (torch.Tensor, np.ndarray)) or segments.ndim != 2:
        raise ValueError(f"segments: expected an H×W tensor of labels, got "
                         f"{getattr(segments, 'shape', type(segments).__name__)}")
    s, k = check_segments(segments, *segments.shape)
    v = as_float64(values, "values", ("K", "N×K"))
    if v.shape[-1] != k:
        raise ValueError(f"values: expected {k} values (one per segment), got {v.shape[-1]}")
    return v[..., s]


def segment_totals(maps: torch.Tensor, segments: torch.Tensor, reduce: str = "sum") -> torch.Tensor:
    """A pixel map N×C×H×W (or N×H×W, H×W) → N×K: its sum (``reduce="sum"``) or mean over each segment.

    The channels are summed first. Sums keep completeness: an IG map's segment totals add up to its total.
    """
    reduce = one_of(reduce, "reduce", ("sum", "mean"))
    m = as_float64(maps, "maps", ("H×W", "N×H×W", "N×C×H×W"))
    m = m.sum(1) if m.ndim == 4 else (m[None] if m.ndim == 2 else m)
    s, k = check_segments(segments, *m.shape[-2:])
    flat = s.flatten()
    totals = torch.zeros(len(m), k, dtype=torch.float64).index_add_(1, flat, m.flatten(1))
    if reduce == "mean":
        totals = totals / torch.bincount(flat, minlength=k).double()
    return totals
