"""What every attribution method shares: argument checks, targets, batching, input gradients.

Call shape of every method: ``method(model, inputs, target, **options) -> Tensor`` with ``inputs``
N×C×H×W and ``target`` an int, a length-N tensor of class indices, or a callable
``target(model, x) -> Tensor[N]`` giving one scalar per input (e.g. ``unit_target`` for an inner unit).
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

from ..hooks import capture_activations, preserved_state
from ..progress import progress

Target = int | torch.Tensor | Callable[[nn.Module, torch.Tensor], torch.Tensor]


def check_inputs(inputs: torch.Tensor, name: str = "inputs") -> torch.Tensor:
    """Raise a clear error unless ``inputs`` is a floating N×C×H×W tensor; return it."""
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor N×C×H×W, got {type(inputs).__name__}")
    if inputs.ndim != 4:
        raise ValueError(f"{name}: expected a 4-d tensor N×C×H×W, got shape {tuple(inputs.shape)}"
                         + (" (add a batch dimension with x[None])" if inputs.ndim == 3 else ""))
    if not inputs.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got {inputs.dtype}")
    return inputs


def check_batch_size(batch_size: int) -> int:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    return batch_size


# Input values per forward/backward pass when a method's batch_size is None. Measured on 2 cores
# (scripts/benchmark.py): integrated gradients on Lite0 at 224² ran fastest at 4 rows a pass (3.1 s for
# 64 steps, against 6.7 s at 32 rows); small Fashion-MNIST rows still get large batches (790 rows).
VALUES_PER_PASS = 620_000


def auto_batch_size(batch_size: int | None, row_shape: Sequence[int]) -> int:
    """``batch_size`` checked; ``None`` → as many rows of ``row_shape`` (e.g. C×H×W) as fit VALUES_PER_PASS."""
    if batch_size is None:
        return max(1, VALUES_PER_PASS // math.prod(row_shape))
    return check_batch_size(batch_size)


def resolve_target(target: Target, n: int) -> torch.Tensor | Callable:
    """An int or tensor of class indices → a length-``n`` int64 tensor; a callable is returned as is."""
    if callable(target):
        return target
    if isinstance(target, bool):
        raise TypeError("target: expected an int class index, a tensor of N indices or a callable, got a bool")
    if isinstance(target, int):
        return torch.full((n,), target, dtype=torch.long)
    if isinstance(target, torch.Tensor) and not target.is_floating_point():
        target = target.reshape(-1).long()
        if target.numel() == 1:
            return target.expand(n).clone()
        if target.numel() != n:
            raise ValueError(f"target: expected {n} class indices (one per input), got {target.numel()}")
        return target
    raise TypeError(f"target: expected an int class index, a tensor of N indices or a callable, "
                    f"got {type(target).__name__}")


def target_scores(model: nn.Module, x: torch.Tensor, target: torch.Tensor | Callable) -> torch.Tensor:
    """One scalar per input: the logit of each input's target class, or ``target(model, x)``."""
    if callable(target):
        scores = target(model, x)
        if scores.shape != (len(x),):
            raise ValueError(f"target: the callable must return one score per input (shape ({len(x)},)), "
                             f"got shape {tuple(scores.shape)}")
        return scores
    out = model(x)
    if out.ndim != 2:
        raise ValueError(f"model: expected outputs N×K (logits), got shape {tuple(out.shape)}; "
                         "pass a callable target to select a unit")
    if target.min() < 0 or target.max() >= out.shape[1]:
        raise ValueError(f"target: class indices must lie in [0, {out.shape[1] - 1}], "
                         f"got {target.min().item()}..{target.max().item()}")
    return out.gather(1, target.to(out.device).view(-1, 1)).squeeze(1)


def unit_target(layer: str, channel: int, y: int | None = None, x: int | None = None,
                reduce: str = "mean") -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
    """A target selecting an inner unit: channel ``channel`` of layer ``layer`` at (y, x).

    Without ``y``/``x`` the whole channel is reduced to a scalar by ``reduce`` (``"mean"`` or ``"max"``).
    """
    if reduce not in ("mean", "max"):
        raise ValueError(f"reduce: expected 'mean' or 'max', got {reduce!r}")

    def select(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        with capture_activations(model, layer, detach=False) as acts:
            model(inputs)
        a = acts[layer]
        if not 0 <= channel < a.shape[1]:
            raise ValueError(f"channel: layer {layer!r} has {a.shape[1]} channels, got {channel}")
        a = a[:, channel]
        if y is not None and x is not None:
            return a[:, y, x]
        return a.flatten(1).mean(1) if reduce == "mean" else a.flatten(1).amax(1)

    return select


def batches(n: int, batch_size: int) -> Iterator[slice]:
    """Slices covering range(n) in chunks of ``batch_size``."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def input_gradients(model: nn.Module, inputs: torch.Tensor, target: Target, batch_size: int = 64,
                    show_progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of each input's target score with respect to that input, and the scores.

    ``inputs`` N×C×H×W → (gradients N×C×H×W, scores N), computed in batches of ``batch_size`` with the
    model in eval mode and its parameters frozen (both restored afterwards).
    """
    check_inputs(inputs)
    check_batch_size(batch_size)
    target = resolve_target(target, len(inputs))
    grads, scores = [], []
    with preserved_state(model):
        chunks: Iterable[slice] = batches(len(inputs), batch_size)
        for sl in progress(list(chunks), enabled=show_progress, desc="gradients"):
            x = inputs[sl].detach().clone().requires_grad_(True)
            t = target if callable(target) else target[sl]
            s = target_scores(model, x, t)
            (g,) = torch.autograd.grad(s.sum(), x)
            grads.append(g)
            scores.append(s.detach())
    return torch.cat(grads), torch.cat(scores)
