"""What every attribution method shares: argument checks, batching, input gradients.

Call shape of every method: ``method(model, inputs, target, **options) -> Tensor`` with ``inputs``
N×C×H×W and ``target`` any of the kinds in ``attribution.targets`` (a class index, N indices,
``probability(c)``, ``unit_target(...)``, a callable).
"""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import torch
from torch import nn

from ..hooks import preserved_state
from ..progress import progress
from ..validation import check_model_inputs, check_module, positive_int
from .targets import Target, resolve_target

# Input values per forward/backward pass when a method's batch_size is None. Measured on 2 cores
# (scripts/benchmark.py, idle): integrated gradients on Lite0 at 224² ran fastest at 4 rows a pass (3.55 s
# for 64 steps, against 4.68 s at 32 rows). Small rows are capped at ROWS_PER_PASS: FashionCNN's IG on 64
# images (32 steps) took 3.5 s at the 790 rows that fit, 2.0 s at 256 and 1.9 s at 128.
VALUES_PER_PASS = 620_000
ROWS_PER_PASS = 256


def check_call(model: nn.Module, inputs: torch.Tensor, target) -> tuple[torch.Tensor, Target]:
    """The checks of every method's first three arguments → (inputs in the model's dtype, detached, Target)."""
    check_module(model)
    x = check_model_inputs(inputs, model).detach()
    return x, resolve_target(target, len(x))


def auto_batch_size(batch_size: int | None, row_shape: Sequence[int]) -> int:
    """``batch_size`` checked; ``None`` → as many rows of ``row_shape`` (e.g. C×H×W) as fit VALUES_PER_PASS,
    at most ROWS_PER_PASS."""
    if batch_size is None:
        return max(1, min(ROWS_PER_PASS, VALUES_PER_PASS // math.prod(row_shape)))
    return positive_int(batch_size, "batch_size")


def batches(n: int, batch_size: int) -> Iterator[slice]:
    """Slices covering range(n) in chunks of ``batch_size``."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def gradients_and_scores(model: nn.Module, x: torch.Tensor, target: Target) -> tuple[torch.Tensor, torch.Tensor]:
    """∂score/∂x and the scores for one batch ``x`` (already checked; ``target`` matches its rows).

    The model's state is the caller's business (``preserved_state``); ``x`` itself is not modified.
    """
    x = x.detach().clone().requires_grad_(True)
    scores = target.scores(model, x)
    (grads,) = torch.autograd.grad(scores.sum(), x)
    return grads, scores.detach()


def input_gradients(model: nn.Module, inputs: torch.Tensor, target, batch_size: int = 64,
                    show_progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of each input's target score with respect to that input, and the scores.

    ``inputs`` N×C×H×W → (gradients N×C×H×W, scores N), computed in batches of ``batch_size`` with the
    model in eval mode and its parameters frozen (both restored afterwards).
    """
    x, target = check_call(model, inputs, target)
    batch_size = positive_int(batch_size, "batch_size")
    grads, scores = [], []
    with preserved_state(model):
        for sl in progress(list(batches(len(x), batch_size)), enabled=show_progress, desc="gradients"):
            g, s = gradients_and_scores(model, x[sl], target[sl])
            grads.append(g)
            scores.append(s)
    return torch.cat(grads), torch.cat(scores)
