"""Removing channels: what it means for a player to be absent in Neuron Shapley.

A removed channel's activation is replaced by a fixed value — zero, or its mean over held-out data, so the
next layer sees an "average" input instead of an unusual one.

* ``removed_channels(model, layer, channels, replacement)`` – context manager: the channels are removed
  from every forward pass inside the block;
* ``layer_activations(model, layer, inputs)`` and ``channel_means(model, layer, inputs)``.
"""
from __future__ import annotations

import numbers
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from torch import nn

from ..hooks import forward_to, preserved_state
from ..progress import progress
from ..validation import check_bool, check_finite, check_model_inputs, positive_int, resolve_layer

__all__ = ["removed_channels", "layer_activations", "channel_means"]


def indices(which, n: int, name: str, what: str = "channel") -> torch.Tensor:
    """An int, a sequence of ints, an int tensor or a bool mask of length ``n`` → the indices (int64), each
    checked to lie in 0..n−1. Floats are an error, not truncated."""
    if isinstance(which, np.ndarray):
        which = torch.from_numpy(which)
    if isinstance(which, torch.Tensor):
        if which.dtype == torch.bool:
            if which.shape != (n,):
                raise ValueError(f"{name}: a bool mask must have shape ({n},), got {tuple(which.shape)}")
            return which.nonzero().flatten().cpu()
        if which.is_floating_point() or which.is_complex():
            raise TypeError(f"{name}: expected {what} indices (ints) or a bool mask, got a {which.dtype} tensor")
        items = which.reshape(-1).tolist()
    elif isinstance(which, numbers.Integral) and not isinstance(which, bool):
        items = [which]
    else:
        try:
            items = list(which)
        except TypeError:
            raise TypeError(f"{name}: expected an int, a sequence of ints or a bool mask, "
                            f"got {type(which).__name__} {which!r}") from None
    if not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in items):
        raise TypeError(f"{name}: expected {what} indices (ints) or a bool tensor mask, got {items[:5]}")
    bad = [int(c) for c in items if not 0 <= c < n]
    if bad:
        raise ValueError(f"{name}: there are {n} {what}s (0..{n - 1}), got {bad[:5]}")
    return torch.tensor([int(c) for c in items], dtype=torch.long)


def channel_mask(channels, n_channels: int, name: str = "channels") -> torch.Tensor:
    """Indices or a bool mask → a bool mask of length ``n_channels`` (True = channel listed)."""
    mask = torch.zeros(n_channels, dtype=torch.bool)
    mask[indices(channels, n_channels, name)] = True
    return mask


def check_replacement(replacement, name: str = "replacement"):
    """None/'zero' or a finite tensor of per-channel values (its shape is checked against the activation later)."""
    if replacement is None or (isinstance(replacement, str) and replacement == "zero"):
        return None
    if isinstance(replacement, str):
        raise ValueError(f"{name}: expected None/'zero' or a tensor of per-channel values, got {replacement!r}")
    if not isinstance(replacement, torch.Tensor) or not replacement.is_floating_point():
        raise TypeError(f"{name}: expected a float tensor of shape (C,) or C×H×W, got "
                        f"{replacement.dtype if isinstance(replacement, torch.Tensor) else type(replacement).__name__}")
    return check_finite(replacement.detach().float(), name)


def fill_values(replacement: torch.Tensor | None, activation_shape: torch.Size, name: str = "replacement") -> torch.Tensor:
    """The values removed channels take, broadcastable to one activation C(×H×W): zeros, or ``replacement``."""
    c, rest = activation_shape[0], tuple(activation_shape[1:])
    if replacement is None:
        return torch.zeros((c,) + (1,) * len(rest))
    if replacement.ndim == len(activation_shape) and replacement.shape[0] == c and all(
            r in (1, a) for r, a in zip(replacement.shape[1:], rest)):
        return replacement                          # C×H×W, or C×1×1 broadcast over positions
    if replacement.shape == (c,):
        return replacement.view((c,) + (1,) * len(rest))
    raise ValueError(f"{name}: expected shape ({c},) or {tuple(activation_shape)} for an activation of shape "
                     f"{tuple(activation_shape)}, got {tuple(replacement.shape)}")


def _replace(acts: torch.Tensor, remove: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    """``acts`` N×C(×H×W) with the channels where ``remove`` (C, or N×C) is True set to ``fill``."""
    rows = remove.shape[0] if remove.ndim == 2 else 1
    shape = (rows, acts.shape[1]) + (1,) * (acts.ndim - 2)
    return torch.where(remove.view(shape).to(acts.device), fill.to(acts.device, acts.dtype), acts)


@contextmanager
def removed_channels(model: nn.Module, layer, channels, replacement=None) -> Iterator[nn.Module]:
    """Inside the block, channels ``channels`` of ``layer``'s output are removed from ``model``.

    ``layer``: a name (``"relu4"``) or the module. ``channels``: an int, a sequence of ints or a bool mask of
    length C. ``replacement``: ``None`` or ``"zero"`` (set them to 0), or a tensor of shape (C,) or C×H×W
    (e.g. ``channel_means(...)``) whose entries for the removed channels replace them. The forward hook is
    removed when the block ends, even if it raises; the model's parameters are not touched.

        with removed_channels(model, "relu4", [3, 17], replacement=means):
            logits = model(x)
    """
    name, module = resolve_layer(model, layer)
    replacement = check_replacement(replacement)
    if replacement is not None:
        channel_mask(channels, replacement.shape[0])      # fail early when the size is already known

    def hook(mod, inputs, output):
        if not isinstance(output, torch.Tensor) or output.ndim < 2:
            raise ValueError(f"layer: {name!r} must output a tensor N×C(×H×W) to remove channels")
        remove = channel_mask(channels, output.shape[1])
        return _replace(output, remove, fill_values(replacement, output.shape[1:]))

    handle = module.register_forward_hook(hook)
    try:
        yield model
    finally:
        handle.remove()


@torch.no_grad()
def layer_activations(model: nn.Module, layer, inputs: torch.Tensor, batch_size: int = 500,
                      show_progress: bool = False) -> torch.Tensor:
    """The output of ``layer`` (a name or the module) for every input N×C×H×W: N×C×H×W (or N×C), on the CPU.

    Computed in batches, each forward pass stopping after ``layer``; the model is restored.
    """
    name, _ = resolve_layer(model, layer)
    inputs = check_model_inputs(inputs, model)
    batch_size = positive_int(batch_size, "batch_size")
    out = []
    with preserved_state(model):
        starts = range(0, len(inputs), batch_size)
        for s in progress(starts, enabled=check_bool(show_progress, "show_progress"), desc=f"activations of {name}"):
            out.append(forward_to(model, inputs[s:s + batch_size], name)[name].cpu())
    return torch.cat(out)


def channel_means(model: nn.Module, layer, inputs: torch.Tensor, spatial: bool = True,
                  batch_size: int = 500) -> torch.Tensor:
    """Mean activation of every channel of ``layer`` over ``inputs`` (held-out data).

    Returns C×H×W (the mean at every position) or, with ``spatial=False``, C (also averaged over positions).
    Used as the ``replacement`` of a removed channel: the next layer then sees an "average" input.
    """
    check_bool(spatial, "spatial")
    mean = layer_activations(model, layer, inputs, batch_size).mean(0)
    return mean if spatial or mean.ndim == 1 else mean.flatten(1).mean(1)
