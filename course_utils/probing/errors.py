"""Probing the classifier head (lecture 02): which classes are confused, and the extremes of one class.

* ``confusion_matrix(predictions, labels, n_classes)`` – counts K×K, entry (true, predicted).
* ``confused_pairs(cm, n)`` – the ``n`` largest off-diagonal entries.
* ``class_extremes(probs, labels, cls, k)`` – the most and least confident items of one class.
"""
from __future__ import annotations

import torch

from ..validation import check_tensor, class_indices, integer, positive_int


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """n_classes×n_classes counts: entry (t, p) = number of items of true class t predicted as p.

    ``predictions`` and ``labels`` are 1-d integer class indices of equal length (arg-max the logits
    first: float predictions are an error, not truncated).
    """
    n_classes = positive_int(n_classes, "n_classes")
    predictions = class_indices(predictions, "predictions", n_classes=n_classes)
    labels = class_indices(labels, "labels", n=len(predictions), n_classes=n_classes, device=predictions.device)
    flat = labels * n_classes + predictions
    return torch.bincount(flat, minlength=n_classes * n_classes).view(n_classes, n_classes)


def confused_pairs(cm: torch.Tensor, n: int = 5) -> list[tuple[int, int, int]]:
    """The ``n`` largest off-diagonal entries of a confusion matrix as ``(true, predicted, count)``,
    largest first (ties: smaller true class, then smaller predicted class)."""
    if not isinstance(cm, torch.Tensor) or cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm: expected a square matrix (a tensor K×K), got "
                         f"{tuple(cm.shape) if isinstance(cm, torch.Tensor) else type(cm).__name__}")
    if cm.is_floating_point():
        check_tensor(cm, "cm", "K×K")            # NaN counts would sort anywhere
    n = positive_int(n, "n")
    pairs = [(int(cm[t, p]), t, p) for t in range(len(cm)) for p in range(len(cm)) if t != p]
    pairs.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [(t, p, count) for count, t, p in pairs[:n]]


def class_extremes(probs: torch.Tensor, labels: torch.Tensor, cls: int, k: int = 8
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Among the items of true class ``cls``: indices of the ``k`` with the highest and the ``k`` with the
    lowest probability of ``cls`` (``probs`` N×K softmax outputs, ``labels`` N). Returns two length-k tensors."""
    probs = check_tensor(probs, "probs", "N×K")
    labels = class_indices(labels, "labels", n=len(probs), device=probs.device)
    cls, k = integer(cls, "cls"), positive_int(k, "k")
    if not 0 <= cls < probs.shape[1]:
        raise ValueError(f"cls: expected a class index in [0, {probs.shape[1] - 1}] (probs has "
                         f"{probs.shape[1]} columns), got {cls}")
    members = (labels == cls).nonzero().squeeze(1)
    if len(members) < k:
        raise ValueError(f"k: class {cls} has only {len(members)} items, got k={k}")
    p = probs[members, cls]
    order = p.sort(descending=True, stable=True).indices
    return members[order[:k]], members[order.flip(0)[:k]]
