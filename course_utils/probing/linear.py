"""A linear classifier whose weight rows are class templates (lecture 01), and batched evaluation.

* ``train_linear_classifier(images, labels)`` – softmax regression trained from zero weights.
* ``class_templates(model, shape)`` – its weight rows reshaped into images, K×H×W.
* ``predict_logits(model, images)`` – N×K logits in batches; ``accuracy(model, images, labels)``.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..hooks import preserved_state
from ..validation import (check_finite, check_images, check_model_inputs, class_indices, positive_float,
                          positive_int)


def train_linear_classifier(images: torch.Tensor, labels: torch.Tensor, epochs: int = 3,
                            batch_size: int = 1000, lr: float = 0.01, weight_decay: float = 0.0,
                            seed: int = 0) -> nn.Sequential:
    """Softmax regression ``logits = W·flatten(x) + b`` trained with Adam on shuffled mini-batches.

    ``images`` N×C×H×W, ``labels`` N int64. Weights start at zero, so every weight row is a sum of
    (image × error) terms: a class template living in image space. Returns ``nn.Sequential(flatten, fc)``
    in eval mode, with ``fc`` an ``nn.Linear(C·H·W, n_classes)``; ``model(images)`` gives N×n_classes logits.
    """
    images = check_images(images, "images")
    labels = class_indices(labels, "labels", n=len(images), device=images.device)
    epochs, batch_size = positive_int(epochs, "epochs"), positive_int(batch_size, "batch_size")
    lr, weight_decay = positive_float(lr, "lr"), positive_float(weight_decay, "weight_decay", allow_zero=True)
    seed = positive_int(seed, "seed", minimum=0)
    n_classes = int(labels.max()) + 1
    flat = images.flatten(1)
    model = nn.Sequential()
    model.add_module("flatten", nn.Flatten())
    model.add_module("fc", nn.Linear(flat.shape[1], n_classes, device=images.device))
    nn.init.zeros_(model.fc.weight)
    nn.init.zeros_(model.fc.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(flat), generator=generator).to(images.device)
        for start in range(0, len(flat), batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model.fc(flat[idx]), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def class_templates(model: nn.Module, shape: Sequence[int] = (28, 28)) -> torch.Tensor:
    """The weight rows of ``model.fc`` (or of an ``nn.Linear``) reshaped to images: K×H×W (or K×C×H×W)."""
    fc = model if isinstance(model, nn.Linear) else getattr(model, "fc", None)
    if not isinstance(fc, nn.Linear):
        raise TypeError("model: expected an nn.Linear or a model with an nn.Linear attribute `fc`")
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or not len(shape):
        raise TypeError(f"shape: expected a tuple of ints such as (28, 28), got {shape!r}")
    shape = tuple(positive_int(s, "shape") for s in shape)
    if math.prod(shape) != fc.in_features:
        raise ValueError(f"shape: {shape} has {math.prod(shape)} pixels but the layer takes "
                         f"{fc.in_features} inputs")
    return fc.weight.detach().reshape(fc.out_features, *shape).clone()


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """``model(images)`` in batches, in eval mode without gradients (model restored): N×K logits.

    Raises ``ValueError`` if the model's outputs are not N×K or hold NaN/inf (an arg-max of NaN is 0).
    """
    images = check_model_inputs(images, model, "images")
    batch_size = positive_int(batch_size, "batch_size")
    with preserved_state(model):
        logits = torch.cat([model(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    if logits.ndim != 2:
        raise ValueError(f"model: expected outputs N×K (logits), got shape {tuple(logits.shape)}")
    return check_finite(logits, "model outputs (logits)")


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``images`` (N×C×H×W) whose arg-max logit equals ``labels`` (N class indices)."""
    images = check_model_inputs(images, model, "images")
    labels = class_indices(labels, "labels", n=len(images), device=images.device)
    logits = predict_logits(model, images, batch_size)
    labels = class_indices(labels, "labels", n_classes=logits.shape[1])
    return float((logits.argmax(1) == labels).float().mean())
