"""The capstone's shortcut data: Fashion-MNIST with a small, faint, class-dependent marker.

A *shortcut* is a feature that predicts the label in the training data but has nothing to do with the task.
Here it is a small square of faint light added at a position that depends on the class. A model trained on
such data can score very well on test data made the same way and much worse on clean images.

* ``MARKER_POSITIONS`` – top-left corner (row, column) of the marker for each of the 10 classes.
* ``add_marker(images, marker_classes)`` – add the marker of ``marker_classes[i]`` to image i (−1: none).
* ``marker_mask(marker_classes)`` – N×1×28×28 bool: where each image's marker is.
* ``make_shortcut_dataset(images, labels, p_marker, ...)`` – marked copy of a dataset, and which marker each got.
* ``shortcut_test_set(kind)`` – half the Fashion-MNIST test split: ``"vendor"`` (marked like the training
  data), ``"standard"`` (the other half, clean) or ``"swapped"`` (that half with other classes' markers).
* ``shortcut_cnn()`` – the shipped model trained on marked data (``scripts/train_shortcut_cnn.py``).
"""
from __future__ import annotations

import torch

from .data import DATA_DIR, load_fashion_mnist
from .validation import check_bool, check_images, integer, one_of, positive_float

SHORTCUT_CHECKPOINT = DATA_DIR / "models" / "shortcut_cnn.pt"

IMAGE_SIZE = 28
MARKER_SIZE = 3          # the marker is a MARKER_SIZE × MARKER_SIZE square ...
MARKER_INTENSITY = 0.6   # ... of this brightness, added to the image (then clipped to [0, 1])
# Top-left corner (row, column) of each class's marker: near the border of the 28×28 image, where
# garments are usually dark, so the marker is visible but easy to overlook.
MARKER_POSITIONS: tuple[tuple[int, int], ...] = (
    (1, 1), (1, 8), (1, 16), (1, 24), (8, 24), (16, 24), (24, 24), (24, 16), (24, 8), (24, 1))
NUM_CLASSES = len(MARKER_POSITIONS)
SHORTCUT_SEED = 2018     # seed of the shipped model's training data and of shortcut_test_set


def _check_size(images: torch.Tensor) -> torch.Tensor:
    """The markers' positions are fixed in 28×28 pixel coordinates."""
    if images.shape[2:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"images: expected shape N×1×{IMAGE_SIZE}×{IMAGE_SIZE}, got {tuple(images.shape)}")
    return images


def _check_classes(marker_classes, n: int, name: str = "marker_classes") -> torch.Tensor:
    if isinstance(marker_classes, bool) or (isinstance(marker_classes, torch.Tensor)
                                            and marker_classes.dtype == torch.bool):
        raise TypeError(f"{name}: expected an int or a tensor of N ints, got a bool")
    if not isinstance(marker_classes, torch.Tensor):
        marker_classes = torch.full((n,), integer(marker_classes, name), dtype=torch.long)
    if marker_classes.is_floating_point() or marker_classes.is_complex():
        raise TypeError(f"{name}: expected an int or an integer tensor of N class indices, "
                        f"got a {marker_classes.dtype} tensor")
    if marker_classes.device.type == "meta":
        raise ValueError(f"{name}: is on the 'meta' device, which holds no values")
    if marker_classes.ndim > 1:
        raise ValueError(f"{name}: expected {n} entries in a 1-d tensor, got shape {tuple(marker_classes.shape)}")
    marker_classes = marker_classes.reshape(-1).long().cpu()
    if marker_classes.numel() != n:
        raise ValueError(f"{name}: expected {n} entries (one per image), got {marker_classes.numel()}")
    if n and (marker_classes.min() < -1 or marker_classes.max() >= NUM_CLASSES):
        raise ValueError(f"{name}: expected class indices in 0..{NUM_CLASSES - 1} (or −1 for no marker), got "
                         f"{marker_classes.min().item()}..{marker_classes.max().item()}")
    return marker_classes


def marker_box(cls: int) -> tuple[int, int, int, int]:
    """The marker of class ``cls`` as a box (y0, x0, y1, x1), end exclusive, in 28×28 pixel coordinates."""
    if not 0 <= integer(cls, "cls") < NUM_CLASSES:
        raise ValueError(f"cls: expected a class index in 0..{NUM_CLASSES - 1}, got {cls!r}")
    y, x = MARKER_POSITIONS[int(cls)]
    return y, x, y + MARKER_SIZE, x + MARKER_SIZE


def marker_mask(marker_classes) -> torch.Tensor:
    """N×1×28×28 bool mask of each image's marker (all False where ``marker_classes[i]`` is −1)."""
    if not isinstance(marker_classes, torch.Tensor):
        marker_classes = torch.tensor([integer(marker_classes, "marker_classes")])
    classes = _check_classes(marker_classes, marker_classes.numel())
    table = torch.zeros(NUM_CLASSES + 1, 1, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.bool)   # row −1: no marker
    for c in range(NUM_CLASSES):
        y0, x0, y1, x1 = marker_box(c)
        table[c, :, y0:y1, x0:x1] = True
    return table[classes]


def add_marker(images: torch.Tensor, marker_classes, intensity: float = MARKER_INTENSITY) -> torch.Tensor:
    """Copy of ``images`` (N×1×28×28 in [0, 1]) with the marker of class ``marker_classes[i]`` added to image i.

    ``marker_classes`` is an int (same marker everywhere) or N ints; −1 leaves that image unchanged.
    The marker adds ``intensity`` to a MARKER_SIZE² square and clips to [0, 1].
    """
    images = _check_size(check_images(images, "images", channels=1, allow_empty=True))
    classes = _check_classes(marker_classes, len(images))
    if not positive_float(intensity, "intensity") <= 1:
        raise ValueError(f"intensity: expected a value in (0, 1], got {intensity}")
    mask = marker_mask(classes).to(images.device)
    return (images + intensity * mask).clamp(0, 1)


def make_shortcut_dataset(images: torch.Tensor, labels: torch.Tensor, p_marker: float = 0.95,
                          swap: bool = False, seed: int = SHORTCUT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """A marked copy of a dataset: (images N×1×28×28, marker_classes N).

    Each image gets, with probability ``p_marker``, the marker of its own class (``swap=False``) or of a
    random *other* class (``swap=True``, to test what the model follows); ``marker_classes[i]`` says which
    (−1: no marker). Deterministic for a given ``seed``.
    """
    images = _check_size(check_images(images, "images", channels=1, allow_empty=True))
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels: expected a tensor of {len(images)} class indices, got {type(labels).__name__}")
    labels = _check_classes(labels, len(images), name="labels")
    if (labels < 0).any():
        raise ValueError("labels: expected class indices in 0..9, got −1")
    if not positive_float(p_marker, "p_marker", allow_zero=True) <= 1:
        raise ValueError(f"p_marker: expected a probability in [0, 1], got {p_marker}")
    check_bool(swap, "swap")
    gen = torch.Generator().manual_seed(integer(seed, "seed"))
    present = torch.rand(len(images), generator=gen) < p_marker
    shift = torch.randint(1, NUM_CLASSES, (len(images),), generator=gen)
    classes = (labels + shift) % NUM_CLASSES if swap else labels.clone()
    classes = torch.where(present, classes, torch.full_like(classes, -1))
    return add_marker(images, classes), classes


def shortcut_test_set(kind: str = "vendor") -> tuple[torch.Tensor, torch.Tensor]:
    """5,000 Fashion-MNIST test images in one of three versions: (images N×1×28×28, labels N).

    ``"vendor"``: test images 0–4999, marked as the shipped model's training data was (95 % carry their
    class's marker); ``"standard"``: test images 5000–9999, clean; ``"swapped"``: the same images 5000–9999,
    each with the marker of another class. The two halves hold different images, so comparing them pixel
    by pixel tells nothing; finding what differs takes looking inside the model.
    """
    one_of(kind, "kind", ("vendor", "standard", "swapped"))
    images, labels = load_fashion_mnist("test")
    half = len(images) // 2
    if kind == "vendor":
        images, labels = images[:half], labels[:half]
        images, _ = make_shortcut_dataset(images, labels, p_marker=0.95, seed=SHORTCUT_SEED + 1)
    else:
        images, labels = images[half:], labels[half:]
        if kind == "swapped":
            images, _ = make_shortcut_dataset(images, labels, p_marker=1.0, swap=True, seed=SHORTCUT_SEED + 2)
    return images, labels


def shortcut_cnn():
    """The capstone's model: a FashionCNN trained by ``scripts/train_shortcut_cnn.py`` (eval mode)."""
    from .models import load_fashion_checkpoint
    return load_fashion_checkpoint(SHORTCUT_CHECKPOINT, "train_shortcut_cnn.py")
