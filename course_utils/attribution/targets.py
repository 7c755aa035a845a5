"""What a method explains: one scalar score per input, chosen by a *target*.

Every method that takes a ``target`` accepts the same kinds:

* an int class index ``c``               → the logit S_c(x) of every input;
* a tensor of N class indices (or one)   → each input's own class logit;
* ``probability(c)``                     → the softmax probability p_c(x) instead of the logit
  (``c`` an int or N indices); a rise in p_c can also come from lowering the other classes;
* ``unit_target(layer, channel, y, x)``  → an inner unit's activation (a channel's mean or max without y, x);
  ``strongest_channel(model, image, layer)`` picks the channel most active on an image (Zeiler & Fergus);
* any callable ``f(model, x) -> Tensor[len(x)]``.

``resolve_target(target, n)`` checks a target for ``n`` inputs once and returns a ``Target``;
``target[rows]`` is the target of a batch whose rows are copies of inputs ``rows`` (occluded copies, path
points, noisy samples), and ``target.scores(model, batch)`` scores such a batch. ``target_scores(model, x,
target)`` does both for a plain batch. Scores that are NaN or ±inf are an error, never a silent map.
"""
from __future__ import annotations

import numbers
from typing import Callable

import torch
from torch import nn

from ..hooks import Layer, forward_to, preserved_state
from ..validation import check_model_inputs, check_module, one_of, positive_int

ScoreFn = Callable[[nn.Module, torch.Tensor], torch.Tensor]


def _class_indices(target, what: str = "target") -> torch.Tensor:
    """An int or an integer tensor of class indices → a 1-d int64 tensor (≥ 0; the upper bound needs the model)."""
    if isinstance(target, bool) or (isinstance(target, torch.Tensor) and target.dtype == torch.bool):
        raise TypeError(f"{what}: expected an int class index, a tensor of N indices, probability(c) or a "
                        "callable, got a bool")
    if isinstance(target, numbers.Integral):
        indices = torch.tensor([int(target)])
    elif isinstance(target, torch.Tensor):
        if target.is_floating_point() or target.is_complex():
            raise TypeError(f"{what}: expected integer class indices, got a {target.dtype} tensor "
                            f"(use {what}.long() if they are whole numbers)")
        if target.device.type == "meta":
            raise ValueError(f"{what}: is on the meta device (it holds no values)")
        indices = target.reshape(-1).long().cpu()
    else:
        raise TypeError(f"{what}: expected an int class index, a tensor of N indices, probability(c), "
                        f"unit_target(...) or a callable f(model, x) -> Tensor[N], got {type(target).__name__}")
    if len(indices) and int(indices.min()) < 0:
        raise ValueError(f"{what}: class indices must be ≥ 0, got {int(indices.min())}")
    return indices


class probability:
    """Target: the softmax probability of class ``c`` (an int or N class indices) instead of its logit.

        saliency(model, x, probability(3))        # ∂p_3/∂x rather than ∂S_3/∂x
        bubbles(model, x, probability(labels))    # Bubbles' responses are probabilities
    """

    def __init__(self, c) -> None:
        self.classes = _class_indices(c)

    def __call__(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return resolve_target(self, len(x)).scores(model, x)

    def __repr__(self) -> str:
        c = self.classes
        return f"probability({int(c[0]) if len(c) == 1 else c.tolist()})"


class Target:
    """A target checked for ``n`` inputs: class indices (logits or probabilities) or a score function.

    ``classes``: int64 tensor of N class indices (``None`` for a callable); ``probability``: softmax instead
    of logits; ``fn``: the callable. ``t[rows]`` selects the targets of a batch of copies of inputs ``rows``.
    """

    def __init__(self, classes: torch.Tensor | None = None, probability: bool = False,
                 fn: ScoreFn | None = None) -> None:
        self.classes, self.probability, self.fn = classes, probability, fn

    def __getitem__(self, rows) -> "Target":
        if self.classes is None:
            return self
        if isinstance(rows, torch.Tensor):
            rows = rows.cpu()
        return Target(self.classes[rows], self.probability)

    def scores(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """One finite score per row of ``x``: Tensor[len(x)] (in the graph, for gradients)."""
        if self.fn is not None:
            s = self.fn(model, x)
            if not isinstance(s, torch.Tensor):
                raise TypeError(f"target: the callable must return a tensor of {len(x)} scores, got "
                                f"{type(s).__name__}")
            if s.shape != (len(x),):
                raise ValueError(f"target: the callable must return one score per input (shape ({len(x)},)), "
                                 f"got shape {tuple(s.shape)}")
            return _finite_scores(s, "target", "the target callable returned")
        if len(self.classes) != len(x):
            raise ValueError(f"target: {len(self.classes)} class indices for a batch of {len(x)} inputs")
        out = model(x)
        if not isinstance(out, torch.Tensor) or out.ndim != 2:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"model: expected outputs N×K (logits) for a class target, got {shape}; "
                             "pass unit_target(...) or a callable to score something else")
        k = out.shape[1]
        if int(self.classes.max()) >= k:
            raise ValueError(f"target: class indices must lie in [0, {k - 1}] (the model has {k} outputs), "
                             f"got {int(self.classes.max())}")
        if self.probability:
            out = out.softmax(1)
        s = out.gather(1, self.classes.to(out.device).view(-1, 1)).squeeze(1)
        return _finite_scores(s, "model", "the model gave")


def _finite_scores(s: torch.Tensor, name: str, who: str) -> torch.Tensor:
    bad = ~torch.isfinite(s.detach())
    if bool(bad.any()):
        i = int(bad.nonzero()[0])
        raise ValueError(f"{name}: {who} a non-finite score ({s[i].item()}) for input {i} of the batch, with "
                         "finite inputs; check the model's weights (NaN/inf parameters?) and the target")
    return s


def resolve_target(target, n: int) -> Target:
    """Any accepted target (see the module docstring) checked for ``n`` inputs → a ``Target``.

    One class index is used for every input; otherwise a tensor must hold exactly ``n`` (an N×1 column is
    fine). The upper bound of class indices is checked against the model's outputs when scoring.
    """
    if isinstance(target, Target):
        if target.classes is not None and len(target.classes) != n:
            raise ValueError(f"target: {len(target.classes)} class indices for {n} inputs")
        return target
    if isinstance(target, probability):
        classes, prob = target.classes, True
    elif callable(target) and not isinstance(target, torch.Tensor):
        if isinstance(target, nn.Module):   # model passed twice, e.g. saliency(model, x, model)
            raise TypeError("target: got an nn.Module; a callable target takes (model, x) and returns N scores")
        return Target(fn=target)
    else:
        classes, prob = _class_indices(target), False
    if len(classes) == 1:
        classes = classes.expand(n).clone()
    elif len(classes) != n:
        raise ValueError(f"target: expected one class index or {n} (one per input), got {len(classes)}")
    return Target(classes, prob)


def target_scores(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """One score per row of ``x`` (Tensor[N], in the autograd graph): the logit of each row's class, its
    probability with ``probability(c)``, or ``target(model, x)``. Raises ValueError for non-finite scores."""
    check_module(model)
    return resolve_target(target, len(x)).scores(model, x)


def class_target(target, n: int, method: str) -> Target:
    """``resolve_target`` for methods defined for class logits only (CAM): no callables, no probabilities."""
    t = resolve_target(target, n)
    if t.classes is None or t.probability:
        raise TypeError(f"target: {method} is defined for class logits (an int or N class indices), got "
                        f"{target!r}; use grad_cam for an inner unit or a probability")
    return t


class unit_target:
    """Target: channel ``channel`` of ``layer`` (a name or the module) at (``y``, ``x``), or the whole channel
    reduced by ``reduce`` (``"mean"`` or ``"max"``) without a position. Calling it returns Tensor[N].

    The model runs only as far as ``layer``; the activation is the layer's output before any later
    in-place operation (``hooks.capture_activations``).
    """

    def __init__(self, layer: Layer, channel: int, y: int | None = None, x: int | None = None,
                 reduce: str = "mean") -> None:
        if not isinstance(layer, (str, nn.Module)):
            raise TypeError(f"layer: expected a layer name (str) or a submodule, got {type(layer).__name__}")
        self.layer = layer
        self.channel = positive_int(channel, "channel", minimum=0)
        if (y is None) != (x is None):
            raise ValueError(f"y, x: give both coordinates of the unit or neither, got y={y!r}, x={x!r}")
        self.y = None if y is None else positive_int(y, "y", minimum=0)
        self.x = None if x is None else positive_int(x, "x", minimum=0)
        self.reduce = one_of(reduce, "reduce", ("mean", "max"))

    def __call__(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        a = next(iter(forward_to(model, inputs, self.layer, detach=False).values()))
        if not isinstance(a, torch.Tensor) or a.ndim < 2:
            raise ValueError(f"layer: {self.layer!r} does not output an N×C… tensor")
        if self.channel >= a.shape[1]:
            raise ValueError(f"channel: layer {self.layer!r} has {a.shape[1]} channels, got {self.channel}")
        a = a[:, self.channel]
        if self.y is not None:
            if a.ndim != 3:
                raise ValueError(f"layer: {self.layer!r} has no spatial output (shape {tuple(a.shape)} per "
                                 "channel); drop y and x")
            if self.y >= a.shape[1] or self.x >= a.shape[2]:
                raise ValueError(f"y, x: ({self.y}, {self.x}) lies outside the {a.shape[1]}×{a.shape[2]} map "
                                 f"of {self.layer!r}")
            return a[:, self.y, self.x]
        a = a.reshape(len(a), -1)
        return a.mean(1) if self.reduce == "mean" else a.amax(1)

    def __repr__(self) -> str:
        where = f", {self.y}, {self.x}" if self.y is not None else f", reduce={self.reduce!r}"
        return f"unit_target({self.layer!r}, {self.channel}{where})"


def strongest_channel(model: nn.Module, inputs: torch.Tensor, layer: Layer, reduce: str = "mean") -> int:
    """The channel of ``layer`` with the largest activation on one image ``inputs`` (1×C×H×W): its mean (the
    total divided by the map's size) or its max over positions. Zeiler & Fergus's "strongest feature map in
    the unoccluded image" (2014, Fig. 7b); occlude for it with ``unit_target(layer, strongest_channel(...))``.
    """
    check_module(model)
    x = check_model_inputs(inputs, model)
    if len(x) != 1:
        raise ValueError(f"inputs: expected one image 1×C×H×W (the strongest channel is a property of one "
                         f"image), got a batch of shape {tuple(x.shape)}; pass inputs[i:i + 1]")
    one_of(reduce, "reduce", ("mean", "max"))
    with preserved_state(model), torch.no_grad():
        a = next(iter(forward_to(model, x, layer).values()))
    if not isinstance(a, torch.Tensor) or a.ndim < 2:
        raise ValueError(f"layer: {layer!r} does not output an N×C… tensor")
    a = a.reshape(1, a.shape[1], -1)
    return int((a.mean(-1) if reduce == "mean" else a.amax(-1))[0].argmax())
