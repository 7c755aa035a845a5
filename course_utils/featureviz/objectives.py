"""Objectives: what feature visualization maximizes, one value per image, composable with ``+ - * /``.

An objective maps the activations of one forward pass, a dict ``{layer: output}``, to a Tensor[N]. A layer
is named (``"relu4"``, ``"_blocks.5"``) or given as the module itself (``model.relu4``): ``render`` finds
it in the model. Two special entries: ``INPUT`` (the image in [0, 1], before the transforms) and
``LOGITS`` (the model's output).

* what to maximize: ``neuron``, ``channel``, ``deepdream``, ``class_logit``, ``class_probability``,
  ``diversity`` (with ``gram_matrices``);
* penalties, to subtract: ``l2``, ``total_variation``, ``blur_penalty``.

    obj = channel("relu4", 7) - 0.05 * total_variation() + 0.5 * diversity("relu4")
"""
from __future__ import annotations

import numbers
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import check_bool, check_images, finite_number, positive_int
from .transforms import blur

INPUT, LOGITS = "input", "logits"
Layer = str | nn.Module
Activations = dict
__all__ = ["INPUT", "LOGITS", "Objective", "neuron", "channel", "deepdream", "class_logit", "class_probability",
           "l2", "total_variation", "blur_penalty", "gram_matrices", "diversity"]


class Objective:
    """A function ``activations → Tensor[N]`` (one value per image) that knows which layers it reads.

    ``obj(acts)`` evaluates it; ``obj.layers`` lists the layers (names or modules) the hooks must record.
    ``a + b``, ``a - b``, ``-a``, ``k * a``, ``a * b``, ``a / k`` build new objectives; numbers act as constants.
    """

    def __init__(self, fn: Callable[[Activations], torch.Tensor], layers: Sequence[Layer] = (), name: str = "objective"):
        self.fn = fn
        self.layers = tuple(dict.fromkeys(layers))   # ordered, without duplicates
        self.name = name

    def __call__(self, acts: Activations) -> torch.Tensor:
        missing = [_label(layer) for layer in self.layers if layer not in acts]
        if missing:
            raise ValueError(f"objective {self.name!r}: no activations recorded for {missing}")
        return self.fn(acts)

    def __repr__(self) -> str:
        return f"Objective({self.name})"

    # --- composition: every operator returns a new Objective reading the union of both layer lists
    def _combine(self, other, op: Callable, symbol: str, reverse: bool = False) -> "Objective":
        if isinstance(other, Objective):
            left, right = (other, self) if reverse else (self, other)
            return Objective(lambda acts: op(left(acts), right(acts)), left.layers + right.layers,
                             f"{left.name} {symbol} {_paren(right.name)}")
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            k = float(other)
            if reverse:
                return Objective(lambda acts: op(k, self(acts)), self.layers, f"{k:g} {symbol} {_paren(self.name)}")
            return Objective(lambda acts: op(self(acts), k), self.layers, f"{_paren(self.name)} {symbol} {k:g}")
        return NotImplemented

    def __add__(self, other):
        return self._combine(other, lambda a, b: a + b, "+")

    def __radd__(self, other):   # makes sum([obj1, obj2]) work (it starts from 0)
        if isinstance(other, numbers.Real) and not isinstance(other, bool) and other == 0:
            return self
        return self._combine(other, lambda a, b: a + b, "+", reverse=True)

    def __sub__(self, other):
        return self._combine(other, lambda a, b: a - b, "-")

    def __rsub__(self, other):
        return self._combine(other, lambda a, b: a - b, "-", reverse=True)

    def __mul__(self, other):
        return self._combine(other, lambda a, b: a * b, "*")

    def __rmul__(self, other):
        return self._combine(other, lambda a, b: a * b, "*", reverse=True)

    def __truediv__(self, other):
        if not isinstance(other, numbers.Real) or isinstance(other, bool) or other == 0:
            raise TypeError(f"other: an objective can only be divided by a nonzero number, got {other!r}")
        return self * (1.0 / float(other))

    def __neg__(self) -> "Objective":
        return Objective(lambda acts: -self(acts), self.layers, f"-{_paren(self.name)}")


def _paren(name: str) -> str:
    return f"({name})" if any(s in name for s in " +-*") else name


def _label(layer: Layer) -> str:
    return layer if isinstance(layer, str) else type(layer).__name__


def _check_layer(layer) -> Layer:
    """A layer name or a module (which model it belongs to is checked when the objective runs)."""
    if isinstance(layer, nn.Module):
        return layer
    if not isinstance(layer, str):
        raise TypeError(f"layer: expected a layer name (str, e.g. 'relu4' or '_blocks.5') or the module itself, "
                        f"got {type(layer).__name__} {layer!r}")
    if not layer:
        raise ValueError("layer: expected a layer name such as 'relu4', got '' (that is the whole model)")
    return layer


def _indices(value, name: str) -> int | tuple[int, ...]:
    """An int (the same unit for every image) or a non-empty sequence of ints (one per image of the batch)."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name}: expected integer indices, got a {value.dtype} tensor")
        value = value.reshape(-1).tolist()
    if isinstance(value, (list, tuple, range)):
        if len(value) == 0:
            raise ValueError(f"{name}: expected an int or a non-empty list of ints (one per image), got {value!r}")
        return tuple(positive_int(v, name, minimum=0) for v in value)
    return positive_int(value, name, minimum=0)


def _pick(a: torch.Tensor, index: int | tuple[int, ...], name: str, layer: Layer) -> torch.Tensor:
    """Row ``index`` (or ``index[i]`` for image i) of dimension 1 of ``a`` (N×C×... → N×...)."""
    n, c = a.shape[0], a.shape[1]
    idx = torch.full((n,), index, dtype=torch.long) if isinstance(index, int) else torch.tensor(index)
    if len(idx) != n:
        raise ValueError(f"{name}: {len(idx)} indices given (one per image) for a batch of {n} images")
    if int(idx.max()) >= c:
        raise ValueError(f"{name}: {_label(layer)!r} has {c} entries along dimension 1 (0..{c - 1}), "
                         f"got index {int(idx.max())}")
    return a[torch.arange(n, device=a.device), idx.to(a.device)]


def neuron(layer: Layer, channel: int | Sequence[int], y: int | None = None, x: int | None = None) -> Objective:
    """The activation of one unit: channel ``channel`` of ``layer`` at position (y, x) (default: the centre).

    ``channel`` may be a list with one entry per image, to optimize several units in one batch.
    On a fully connected layer (N×K output) the unit is simply column ``channel``.
    """
    layer, index = _check_layer(layer), _indices(channel, "channel")
    y = None if y is None else positive_int(y, "y", minimum=0)
    x = None if x is None else positive_int(x, "x", minimum=0)

    def fn(acts: Activations) -> torch.Tensor:
        a = _pick(acts[layer], index, "channel", layer)          # N×H×W (or N for a dense layer)
        if a.ndim == 1:
            return a
        h, w = a.shape[-2:]
        yy, xx = (h // 2 if y is None else y), (w // 2 if x is None else x)
        if not (yy < h and xx < w):
            raise ValueError(f"y, x: ({yy}, {xx}) lies outside the {h}×{w} map of {_label(layer)!r}")
        return a[:, yy, xx]

    return Objective(fn, [layer], f"neuron({_label(layer)}:{channel})")


def channel(layer: Layer, channel: int | Sequence[int]) -> Objective:
    """The mean activation of channel ``channel`` of ``layer`` over all positions (one list entry per image)."""
    layer, index = _check_layer(layer), _indices(channel, "channel")

    def fn(acts: Activations) -> torch.Tensor:
        a = _pick(acts[layer], index, "channel", layer)
        return a.flatten(1).mean(1) if a.ndim > 1 else a

    return Objective(fn, [layer], f"channel({_label(layer)}:{channel})")


def deepdream(layer: Layer) -> Objective:
    """DeepDream's layer objective: the mean of the squared activations of the whole layer, per image.

    (Mean rather than sum, so the same weight works for layers of any size; the maximizer is the same.)
    """
    layer = _check_layer(layer)
    return Objective(lambda acts: acts[layer].pow(2).flatten(1).mean(1), [layer], f"deepdream({_label(layer)})")


def class_logit(target: int | Sequence[int]) -> Objective:
    """The logit (pre-softmax score S_c) of class ``target`` (one list entry per image)."""
    index = _indices(target, "target")
    return Objective(lambda acts: _pick(acts[LOGITS], index, "target", LOGITS), [LOGITS], f"logit({target})")


def class_probability(target: int | Sequence[int], log: bool = False) -> Objective:
    """The softmax probability of class ``target`` (``log=True``: its logarithm, z_k − logsumexp z).

    Raising it may also mean lowering the other classes. The probability's gradient p(1 − p)·∂z vanishes
    where p ≈ 0 (a start the model confidently puts in another class); the log-probability's does not.
    """
    index = _indices(target, "target")
    if check_bool(log, "log"):
        return Objective(lambda acts: _pick(acts[LOGITS].log_softmax(1), index, "target", LOGITS), [LOGITS],
                         f"log_probability({target})")
    return Objective(lambda acts: _pick(acts[LOGITS].softmax(1), index, "target", LOGITS), [LOGITS],
                     f"probability({target})")


def l2(center: float = 0.5) -> Objective:
    """Penalty: mean squared distance of the image from a flat grey ``center``, per image (subtract it)."""
    center = finite_number(center, "center")
    return Objective(lambda acts: (acts[INPUT] - center).pow(2).flatten(1).mean(1), [INPUT], "l2")


def total_variation(x: torch.Tensor | None = None):
    """Penalty: mean |difference| between vertical neighbours plus the same for horizontal ones, per image.

    TV(x) = mean_{c,i,j} |x[c,i+1,j] − x[c,i,j]| + mean_{c,i,j} |x[c,i,j+1] − x[c,i,j]|.
    Called with a tensor N×C×H×W it returns TV as a Tensor[N]; without arguments it returns the penalty as
    an Objective on the rendered image (subtract it: ``obj - 0.1 * total_variation()``).
    """
    if x is None:
        return Objective(lambda acts: total_variation(acts[INPUT]), [INPUT], "tv")
    x = check_images(x, "x")
    if min(x.shape[-2:]) < 2:       # no neighbours: the means below would be NaN
        raise ValueError(f"x: total variation needs images of at least 2×2 pixels, got shape {tuple(x.shape)}")
    dy = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().flatten(1).mean(1)
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().flatten(1).mean(1)
    return dy + dx


def blur_penalty(sigma: float = 1.0) -> Objective:
    """Penalty: 0.5·mean (x − blur(x))², with blur(x) held constant; its gradient step pulls x toward its blur.

    The optimizer's step on −penalty moves the image a little toward a Gaussian-blurred copy of itself
    every iteration: Yosinski et al.'s (2015) periodic blurring, written as an objective.
    """
    smooth = blur(sigma)
    return Objective(lambda acts: 0.5 * (acts[INPUT] - smooth(acts[INPUT]).detach()).pow(2).flatten(1).mean(1),
                     [INPUT], f"blur_penalty({sigma:g})")


def gram_matrices(activations: torch.Tensor) -> torch.Tensor:
    """N×C×H×W activations → N×C×C Gram matrices G[c, d] = mean over positions of a_c · a_d."""
    flat = check_images(activations, "activations").flatten(2)
    return flat @ flat.transpose(1, 2) / flat.shape[2]


def diversity(layer: Layer) -> Objective:
    """Reward for images of a batch that differ in style: minus the mean cosine similarity of each image's
    Gram matrix (at ``layer``) to those of the other images. Value per image in [−1, 1]; 0 for a batch of one.

    Gram matrices ignore where a pattern is, so the term pushes images to use different patterns, not
    merely to shift the same one (Olah et al. 2017, "Diversity").
    """
    layer = _check_layer(layer)

    def fn(acts: Activations) -> torch.Tensor:
        g = F.normalize(gram_matrices(acts[layer]).flatten(1), dim=1)   # N × C²
        n = g.shape[0]
        if n < 2:
            return g.new_zeros(n)
        sim = g @ g.T                                                   # N×N cosine similarities
        return -(sim.sum(1) - sim.diagonal()) / (n - 1)

    return Objective(fn, [layer], f"diversity({_label(layer)})")
