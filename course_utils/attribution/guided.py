"""DeconvNet and guided backpropagation (lecture 05): other backward rules through the ReLUs.

The three rules, for a ReLU with forward input x and signal g arriving from the layer above:

* gradient (backprop):  g · [x > 0]            – the true derivative; the forward input decides.
* DeconvNet:            max(g, 0)              – Zeiler & Fergus 2014: the backward signal itself goes
                                                 through a ReLU; the forward input is ignored.
* guided backprop:      max(g, 0) · [x > 0]    – Springenberg et al. 2015: both conditions at once.

Everything else (convolutions → transposed convolutions, max-pool → unpooling with the forward pass's
switches, batch norm in eval mode → a per-channel scale) is what ordinary autograd does already, so
DeconvNet and guided backprop are "the input gradient with the ReLU rule replaced".

``override_relu_backward(rule)`` swaps the rule for every ReLU-like activation run inside it — modules
(``nn.ReLU``, ``nn.ReLU6``, ``nn.LeakyReLU``, ``nn.Hardtanh(0, m)``, in-place or not) and functional calls
(``F.relu``, ``torch.relu``, ``x.relu_()``, ``F.relu6``, ``F.leaky_relu``, ...) — with a
``TorchFunctionMode``, so nothing in the model is modified and leaving the block restores everything.
Other activations (sigmoid, tanh, GELU, SiLU, ...) have no such rule: with ``strict=True`` (default)
they raise a ``ValueError`` instead of silently contributing their plain gradient. ``x.clamp(min=0)``
is not recognised as a ReLU.

For ReLU6 / LeakyReLU the "[x > 0]" factor becomes the activation's own local derivative
([0 < x < 6], or 1 / negative_slope); the DeconvNet rule stays max(g, 0).
"""
from __future__ import annotations

import contextlib
from collections import Counter
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..hooks import preserved_state
from ..progress import progress
from ..validation import check_bool, one_of, positive_int
from ._common import batches, check_call


# ------------------------------------------------------------------------------------ the three rules
# ``derivative`` is the activation's local derivative where it is not ReLU's [x > 0] (ReLU6: [0 < x < 6],
# LeakyReLU: 1 or its slope); it is also what the autograd Function below keeps instead of x, which an
# in-place activation overwrites.
def relu_backward_gradient(x: torch.Tensor, grad_output: torch.Tensor,
                           derivative: torch.Tensor | None = None) -> torch.Tensor:
    """Backprop through a ReLU: pass g where the forward input was positive, g · [x > 0]. Shapes: any, equal."""
    return grad_output * ((x > 0) if derivative is None else derivative)


def relu_backward_deconvnet(x: torch.Tensor, grad_output: torch.Tensor,
                            derivative: torch.Tensor | None = None) -> torch.Tensor:
    """DeconvNet through a ReLU: keep the positive part of g, max(g, 0), whatever the forward input was."""
    return grad_output.clamp(min=0)


def relu_backward_guided(x: torch.Tensor, grad_output: torch.Tensor,
                         derivative: torch.Tensor | None = None) -> torch.Tensor:
    """Guided backprop through a ReLU: positive g, and only where the forward input was positive,
    max(g, 0) · [x > 0]."""
    return grad_output.clamp(min=0) * ((x > 0) if derivative is None else derivative)


RELU_BACKWARD_RULES: dict[str, Callable[..., torch.Tensor]] = {
    "gradient": relu_backward_gradient,
    "deconvnet": relu_backward_deconvnet,
    "guided": relu_backward_guided,
}


def _check_rule(rule: str) -> str:
    return one_of(rule, "rule", sorted(RELU_BACKWARD_RULES))


# --------------------------------------------------------------- an activation with a chosen backward
class _ReluLike(torch.autograd.Function):
    """Forward: relu / clip(0, upper) / leaky relu. Backward: the chosen rule of RELU_BACKWARD_RULES, with
    the activation's local derivative in place of [x > 0]."""

    @staticmethod
    def forward(ctx, x, kind: str, param: float, rule: str):
        if kind == "relu":
            out, slope = x.clamp(min=0), (x > 0).to(x.dtype)
        elif kind == "clip":   # ReLU6 and Hardtanh(0, upper)
            out, slope = x.clamp(0, param), ((x > 0) & (x < param)).to(x.dtype)
        else:                  # leaky: x for x > 0, param · x otherwise
            out = torch.where(x > 0, x, x * param)
            slope = torch.where(x > 0, torch.ones_like(x), torch.full_like(x, param))
        ctx.save_for_backward(slope)   # the local derivative, not x: x may be overwritten (in-place)
        ctx.rule = rule
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (slope,) = ctx.saved_tensors
        grad = RELU_BACKWARD_RULES[ctx.rule](None, grad_output, derivative=slope)
        return grad, None, None, None


def _arg(args, kwargs, index, name, default):
    return args[index] if len(args) > index else kwargs.get(name, default)


# func → (args, kwargs) ↦ (kind, parameter, in-place) or None when this call is not ReLU-like
_RELU_LIKE: dict[Callable, Callable] = {
    F.relu: lambda a, k: ("relu", 0.0, _arg(a, k, 1, "inplace", False)),
    torch.relu: lambda a, k: ("relu", 0.0, False),
    torch.Tensor.relu: lambda a, k: ("relu", 0.0, False),
    torch.relu_: lambda a, k: ("relu", 0.0, True),
    torch.Tensor.relu_: lambda a, k: ("relu", 0.0, True),
    F.relu6: lambda a, k: ("clip", 6.0, _arg(a, k, 1, "inplace", False)),
    torch._C._nn.relu6: lambda a, k: ("clip", 6.0, False),
    torch._C._nn.relu6_: lambda a, k: ("clip", 6.0, True),
    F.hardtanh: lambda a, k: (("clip", float(_arg(a, k, 2, "max_val", 1.0)), _arg(a, k, 3, "inplace", False))
                              if _arg(a, k, 1, "min_val", -1.0) == 0 else None),
    torch._C._nn.hardtanh: lambda a, k: (("clip", float(_arg(a, k, 2, "max_val", 1.0)), False)
                                         if _arg(a, k, 1, "min_val", -1.0) == 0 else None),
    torch._C._nn.hardtanh_: lambda a, k: (("clip", float(_arg(a, k, 2, "max_val", 1.0)), True)
                                          if _arg(a, k, 1, "min_val", -1.0) == 0 else None),
    F.leaky_relu: lambda a, k: ("leaky", float(_arg(a, k, 1, "negative_slope", 0.01)),
                                _arg(a, k, 2, "inplace", False)),
    torch._C._nn.leaky_relu: lambda a, k: ("leaky", float(_arg(a, k, 1, "negative_slope", 0.01)), False),
    torch._C._nn.leaky_relu_: lambda a, k: ("leaky", float(_arg(a, k, 1, "negative_slope", 0.01)), True),
}

# activations with no DeconvNet/guided rule: an error under strict=True rather than a silent plain gradient
_NOT_GUIDABLE = {getattr(F, n) for n in ("gelu", "silu", "elu", "selu", "celu", "softplus", "mish", "hardswish",
                                         "hardsigmoid", "prelu", "rrelu", "logsigmoid", "tanhshrink", "softsign",
                                         "glu", "threshold", "sigmoid", "tanh", "hardtanh",
                                         "elu_", "selu_", "celu_", "rrelu_", "threshold_")}
_NOT_GUIDABLE |= {getattr(torch._C._nn, n) for n in ("gelu", "silu", "silu_", "elu", "elu_", "softplus", "mish",
                                                     "mish_", "hardswish", "hardswish_", "hardsigmoid",
                                                     "hardsigmoid_", "log_sigmoid", "glu", "hardtanh", "hardtanh_")}
_NOT_GUIDABLE |= {getattr(torch, n) for n in ("selu", "selu_", "celu", "celu_", "sigmoid", "sigmoid_", "tanh",
                                              "tanh_", "threshold", "threshold_", "prelu", "rrelu", "rrelu_")}
_NOT_GUIDABLE |= {getattr(torch.Tensor, n) for n in ("sigmoid", "sigmoid_", "tanh", "tanh_")}


def _name(func: Callable) -> str:
    module = getattr(func, "__module__", None) or ""
    qual = getattr(func, "__qualname__", getattr(func, "__name__", repr(func)))
    return f"{module}.{qual}" if module and not qual.startswith("Tensor.") else qual


class ReluBackwardOverride(TorchFunctionMode):
    """Inside this mode every ReLU-like call uses ``rule`` on the way back. ``counts`` records which
    activations were replaced (e.g. ``{"relu6": 34}``); ``unguided`` the unsupported ones let through."""

    def __init__(self, rule: str, strict: bool = True) -> None:
        super().__init__()
        self.rule, self.strict = _check_rule(rule), strict
        self.counts: Counter = Counter()
        self.unguided: Counter = Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        parse = _RELU_LIKE.get(func)
        spec = parse(args, kwargs) if parse is not None else None
        if spec is None:
            if func in _NOT_GUIDABLE:
                if self.strict:
                    raise ValueError(
                        f"model: the forward pass calls {_name(func)}, an activation with no "
                        f"{self.rule!r} backward rule (only ReLU, ReLU6, Hardtanh(0, m) and LeakyReLU have one). "
                        "Pass strict=False to let its ordinary gradient through.")
                self.unguided[_name(func)] += 1
            return func(*args, **kwargs)
        kind, param, inplace = spec
        x = args[0] if args else kwargs["input"]
        out = _ReluLike.apply(x, kind, param, self.rule)
        self.counts[{"relu": "relu", "clip": f"relu{param:g}" if param != 6 else "relu6",
                     "leaky": "leaky_relu"}[kind]] += 1
        if inplace:   # keep the in-place contract: the caller may use x afterwards, not the return value
            x.copy_(out)
            return x
        return out


@contextlib.contextmanager
def override_relu_backward(rule: str = "guided", strict: bool = True) -> Iterator[ReluBackwardOverride]:
    """Context manager: forward passes run inside use ``rule`` ("gradient", "deconvnet", "guided") for the
    backward pass of every ReLU-like activation. Yields the mode (see ``ReluBackwardOverride.counts``).
    Nothing is patched: leaving the block (also on error) leaves torch and the model as they were."""
    mode = ReluBackwardOverride(rule, strict)
    with mode:
        yield mode


# ------------------------------------------------------------------------------- attribution methods
def modified_gradient(model: nn.Module, inputs: torch.Tensor, target, rule: str,
                      batch_size: int = 64, strict: bool = True, show_progress: bool = False) -> torch.Tensor:
    """∂S_c/∂x with ``rule`` at every ReLU-like activation: N×C×H×W → N×C×H×W (signed).

    ``rule="gradient"`` gives the ordinary gradient (a check of the machinery). Raises ``ValueError`` if
    the model runs no ReLU-like activation: the result would be the plain gradient under another name.
    """
    _check_rule(rule)
    x, target = check_call(model, inputs, target)
    batch_size = positive_int(batch_size, "batch_size")
    check_bool(strict, "strict")
    grads = []
    with preserved_state(model):
        for sl in progress(list(batches(len(x), batch_size)), enabled=show_progress, desc=rule):
            xb = x[sl].clone().requires_grad_(True)
            with override_relu_backward(rule, strict) as mode:
                scores = target[sl].scores(model, xb)
            if not mode.counts:
                raise ValueError(f"model: no ReLU-like activation (nn.ReLU, nn.ReLU6, nn.LeakyReLU, F.relu, ...) "
                                 f"ran in the forward pass of {type(model).__name__} before the target's score, so "
                                 f"there is nothing to apply the {rule!r} rule to")
            (g,) = torch.autograd.grad(scores.sum(), xb)
            grads.append(g)
    return torch.cat(grads)


def guided_backprop(model: nn.Module, inputs: torch.Tensor, target, batch_size: int = 64,
                    strict: bool = True, show_progress: bool = False) -> torch.Tensor:
    """Guided backpropagation (Springenberg et al. 2015): N×C×H×W → N×C×H×W (signed).

    The input gradient of the target score with every ReLU passing back max(g, 0)·[x > 0].
    """
    return modified_gradient(model, inputs, target, "guided", batch_size, strict, show_progress)


def deconvnet(model: nn.Module, inputs: torch.Tensor, target, batch_size: int = 64,
              strict: bool = True, show_progress: bool = False) -> torch.Tensor:
    """DeconvNet reconstruction (Zeiler & Fergus 2014): N×C×H×W → N×C×H×W (signed).

    The input gradient of the target score with every ReLU passing back max(g, 0); max-pools route the
    signal through the forward pass's switches (ordinary max-pool backward), convolutions are transposed.
    """
    return modified_gradient(model, inputs, target, "deconvnet", batch_size, strict, show_progress)

