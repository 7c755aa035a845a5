"""Localisation against ground truth: does the attribution fall on the object?

* ``make_localization_dataset`` – Fashion-MNIST items placed at random positions on a larger canvas, with
  each item's box; ``localization_cnn()`` – the shipped FashionCNN trained on such canvases
  (``scripts/train_localization_cnn.py``).
* ``PHOTO_BOXES`` – boxes drawn by hand around the object in four course photos, for EfficientNet-Lite0.
* ``box_mask``, ``mass_inside_box`` (share of the attribution inside the box) and ``pointing_game``
  (Zhang et al. 2016: is the map's maximum in the box?).

Boxes are N×4 integer tensors (y0, x0, y1, x1), end exclusive.
"""
from __future__ import annotations

import torch

from ..data import DATA_DIR
from ..validation import check_images, class_indices, finite_number, one_of, positive_int
from .maps import sum_channels

LOCALIZATION_CHECKPOINT = DATA_DIR / "models" / "localization_cnn.pt"
CANVAS_SIZE = 56
KINDS = ("positive", "abs")


def make_localization_dataset(images: torch.Tensor, labels: torch.Tensor, canvas_size: int = CANVAS_SIZE,
                              noise: float = 0.1, threshold: float = 0.05, seed: int = 0
                              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Place each item at a random position on a larger canvas; record where it is.

    ``images`` N×1×h×w in [0, 1] (Fashion-MNIST: 28×28), ``labels`` N. Each canvas is ``canvas_size``²,
    filled with uniform noise in [0, ``noise``] (so that a zero input is not a give-away); the item is
    pasted at a uniformly random position with ``max(canvas, item)``. Returns (canvases N×1×S×S, labels N,
    boxes N×4 int64 as (y0, x0, y1, x1), end exclusive): the tight box around the item's pixels brighter
    than ``threshold``. Deterministic for a given ``seed``.
    """
    images = check_images(images, "images", channels=1)
    labels = class_indices(labels, "labels", n=len(images), device=images.device)
    images, labels = images.cpu(), labels.cpu()            # the canvases are drawn on the CPU
    n, _, h, w = images.shape
    canvas_size = positive_int(canvas_size, "canvas_size")
    if canvas_size < max(h, w):
        raise ValueError(f"canvas_size: expected an int ≥ the item size {max(h, w)}, got {canvas_size!r}")
    noise, threshold = finite_number(noise, "noise"), finite_number(threshold, "threshold")
    if not 0 <= noise < 1:
        raise ValueError(f"noise: expected a value in [0, 1), got {noise}")
    gen = torch.Generator().manual_seed(positive_int(seed, "seed", minimum=0))
    canvas = noise * torch.rand(n, 1, canvas_size, canvas_size, generator=gen)
    tops = torch.randint(0, canvas_size - h + 1, (n,), generator=gen)
    lefts = torch.randint(0, canvas_size - w + 1, (n,), generator=gen)
    # paste all items at once: canvas row tops[i] + r, column lefts[i] + c gets images[i, 0, r, c]
    rows = (tops.view(n, 1, 1) + torch.arange(h).view(1, h, 1)).expand(n, h, w)
    cols = (lefts.view(n, 1, 1) + torch.arange(w).view(1, 1, w)).expand(n, h, w)
    batch = torch.arange(n).view(n, 1, 1).expand(n, h, w)
    canvas[batch, 0, rows, cols] = torch.maximum(canvas[batch, 0, rows, cols], images[:, 0])
    # tight box of the item's bright pixels, in item coordinates, then shifted onto the canvas
    on = images[:, 0] > threshold
    any_row, any_col = on.any(2), on.any(1)
    empty = ~any_row.any(1)
    first = lambda m: m.float().argmax(1)                                         # noqa: E731
    last = lambda m: m.shape[1] - 1 - m.flip(1).float().argmax(1)                 # noqa: E731
    y0, y1 = first(any_row), last(any_row) + 1
    x0, x1 = first(any_col), last(any_col) + 1
    full = torch.stack([torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long),
                        torch.full((n,), h), torch.full((n,), w)], 1)
    boxes = torch.stack([y0, x0, y1, x1], 1)
    boxes = torch.where(empty.view(-1, 1), full, boxes)       # an empty item: its whole patch
    boxes = boxes + torch.stack([tops, lefts, tops, lefts], 1)
    return canvas, labels.clone(), boxes.long()


def localization_cnn():
    """FashionCNN trained on 56×56 canvases (``scripts/train_localization_cnn.py``), eval mode."""
    from ..models import load_fashion_checkpoint
    return load_fashion_checkpoint(LOCALIZATION_CHECKPOINT, "train_localization_cnn.py")


# Hand-drawn boxes (y0, x0, y1, x1; end exclusive) around the object EfficientNet-Lite0 names in four course
# photos, on the 224×224 crops ``course_utils.models.preprocess`` makes. Drawn by eye for lecture 10: a
# small ground truth for the pointing game on a real model, not a benchmark.
PHOTO_BOXES: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "camera": ("tripod", (100, 88, 224, 182)),
    "coffee": ("espresso", (0, 14, 168, 206)),
    "rocket": ("missile", (14, 104, 206, 142)),
    "motorcycle": ("moped", (70, 0, 214, 224)),
}


def _check_boxes(boxes: torch.Tensor, n: int | None, h: int, w: int, device=None) -> torch.Tensor:
    """N×4 int64 boxes inside an h×w image; whole-number float boxes are accepted, fractional ones are not."""
    if not isinstance(boxes, torch.Tensor) or boxes.ndim != 2 or boxes.shape[1] != 4 \
            or (n is not None and len(boxes) != n):
        raise ValueError(f"boxes: expected a tensor N×4 = {n if n is not None else 'N'}×4 of (y0, x0, y1, x1), got "
                         f"{tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__}")
    if device is not None and boxes.device != device:
        raise ValueError(f"boxes: is on {boxes.device} but the attributions are on {device}; "
                         f"move it with boxes.to({str(device)!r})")
    if boxes.dtype == torch.bool or boxes.is_complex():
        raise TypeError(f"boxes: expected integer pixel coordinates, got {boxes.dtype}")
    if boxes.is_floating_point():
        if not bool(torch.isfinite(boxes).all()) or bool((boxes != boxes.round()).any()):
            raise ValueError("boxes: expected whole pixel coordinates, got fractional or non-finite values")
    boxes = boxes.long()
    y0, x0, y1, x1 = boxes.unbind(1)
    if ((y0 < 0) | (x0 < 0) | (y1 > h) | (x1 > w) | (y1 <= y0) | (x1 <= x0)).any():
        raise ValueError(f"boxes: expected 0 ≤ y0 < y1 ≤ {h} and 0 ≤ x0 < x1 ≤ {w} (end exclusive)")
    return boxes


def box_mask(boxes: torch.Tensor, height: int, width: int | None = None) -> torch.Tensor:
    """N×H×W bool masks of boxes N×4 (y0, x0, y1, x1), end exclusive (on the boxes' device)."""
    height = positive_int(height, "height")
    width = height if width is None else positive_int(width, "width")
    boxes = _check_boxes(boxes, None, height, width)
    ys = torch.arange(height, device=boxes.device).view(1, -1, 1)
    xs = torch.arange(width, device=boxes.device).view(1, 1, -1)
    y0, x0, y1, x1 = (b.view(-1, 1, 1) for b in boxes.unbind(1))
    return (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)


def mass_inside_box(attributions: torch.Tensor, boxes: torch.Tensor, kind: str = "positive") -> torch.Tensor:
    """Share of each map's attribution that lies inside its box: N values in [0, 1].

    Channels are summed first. ``kind="positive"`` counts only positive attribution (evidence *for* the
    target), ``"abs"`` counts |attribution|. An all-zero map scores 0. Chance level for a map spread
    uniformly is the box's share of the image (``box_mask(...).float().mean((1, 2))``).
    """
    maps = sum_channels(attributions)
    n, h, w = maps.shape
    one_of(kind, "kind", KINDS)
    maps = maps.clamp(min=0) if kind == "positive" else maps.abs()
    inside = box_mask(_check_boxes(boxes, n, h, w, maps.device), h, w)
    total = maps.flatten(1).sum(1)
    share = (maps * inside).flatten(1).sum(1) / total.clamp(min=1e-30)
    return torch.where(total > 0, share, torch.zeros_like(share))


def pointing_game(attributions: torch.Tensor, boxes: torch.Tensor, tolerance: int = 0) -> torch.Tensor:
    """Pointing game (Zhang et al. 2016): N bools, True where the map's maximum lies in the box.

    Channels are summed first; the box is grown by ``tolerance`` pixels on every side (Zhang et al. use 15 px
    on PASCAL VOC and COCO images, a few hundred pixels a side). Ties: a hit if *any* maximal pixel lies in
    the box. An all-equal map (e.g. all zero) never hits.
    """
    maps = sum_channels(attributions)
    n, h, w = maps.shape
    boxes = _check_boxes(boxes, n, h, w, maps.device)
    tolerance = positive_int(tolerance, "tolerance", minimum=0)
    grown = boxes + torch.tensor([-tolerance, -tolerance, tolerance, tolerance], device=boxes.device)
    grown = torch.stack([grown[:, 0].clamp(min=0), grown[:, 1].clamp(min=0),
                         grown[:, 2].clamp(max=h), grown[:, 3].clamp(max=w)], 1)
    inside = box_mask(grown, h, w)
    flat = maps.flatten(1)
    is_max = (maps == flat.amax(1).view(-1, 1, 1))
    constant = flat.amax(1) == flat.amin(1)
    return (is_max & inside).flatten(1).any(1) & ~constant
