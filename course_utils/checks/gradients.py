"""Checks for the exercises of lecture 04 (gradients): saliency map, Input×Gradient, SmoothGrad.

Each check builds small seeded conv nets and inputs the notebook never shows, compares the student's
function with the course_utils implementation, and names the usual mistakes (sum instead of max over
channels, missing absolute value, probability instead of logit, noise not scaled by the input range, ...).
"""
from __future__ import annotations

import torch
from torch import nn

from ..attribution import input_gradients, noise_scale, probability, reduce_channels, saliency
from . import Case, CheckResult, compare, run_check


def _tiny_net(seed: int, channels: int = 3, classes: int = 4) -> nn.Module:
    """A small seeded conv net (conv → ReLU → max-pool → conv → ReLU → GAP → linear) in eval mode."""
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(channels, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(8, classes))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return net.eval()


def _inputs(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def _with_alternatives(expected: torch.Tensor, **alternatives: torch.Tensor) -> torch.Tensor:
    """Attach the results of typical mistakes to the expected tensor so the comparison can name them."""
    expected.alternatives = alternatives
    return expected


def _diagnosing_compare(messages: dict[str, str], atol: float = 1e-5, rtol: float = 1e-4):
    def compare_fn(expected, got):
        problem = compare(expected, got, atol=atol, rtol=rtol)
        if problem is None or not isinstance(got, torch.Tensor):
            return problem
        for key, alt in getattr(expected, "alternatives", {}).items():
            if alt.shape == got.shape and torch.allclose(got.detach().double(), alt.double(), atol=atol, rtol=rtol):
                return messages[key]
        return problem
    return compare_fn


# ------------------------------------------------------------------------------------- saliency map
def _saliency_cases() -> list[Case]:
    return [
        Case("1 RGB image 8×8, class 2", (_tiny_net(11), _inputs(1, (1, 3, 8, 8)), 2)),
        Case("3 RGB images 10×10, classes [0, 3, 1]", (_tiny_net(12), _inputs(2, (3, 3, 10, 10)),
                                                       torch.tensor([0, 3, 1]))),
        Case("2 grey images 6×6, class 1", (_tiny_net(13, channels=1), _inputs(3, (2, 1, 6, 6)), 1)),
    ]


def _saliency_reference(model, x, target):
    grads, _ = input_gradients(model, x, target)
    grad_p, _ = input_gradients(model, x, probability(target))
    return _with_alternatives(
        reduce_channels(saliency(model, x, target), "max"),
        sum=grads.abs().sum(1, keepdim=True), signed_max=grads.amax(1, keepdim=True),
        mean=grads.abs().mean(1, keepdim=True), probability=grad_p.abs().amax(1, keepdim=True))


def check_saliency_map(saliency_map) -> CheckResult:
    """``saliency_map(model, x, target)``: x N×C×H×W → N×1×H×W, max over channels of |∂logit/∂x|."""
    messages = {
        "sum": "you summed |gradient| over the channels; Simonyan et al. take the maximum (`.amax(1, keepdim=True)`)",
        "mean": "you averaged |gradient| over the channels; take the maximum (`.amax(1, keepdim=True)`)",
        "signed_max": "you took the maximum of the signed gradient; take the absolute value first",
        "probability": "this is the gradient of the softmax probability; use the class logit (the model's output)",
    }
    return run_check("check_saliency_map", saliency_map, _saliency_reference, _saliency_cases(),
                     hint="grad = torch.autograd.grad(model(x)[range(N), target].sum(), x)[0], "
                          "then grad.abs().amax(1, keepdim=True)",
                     compare_fn=_diagnosing_compare(messages))


# ---------------------------------------------------------------------------------- Input×Gradient
def _ixg_reference(model, x, target):
    grads, _ = input_gradients(model, x, target)
    return _with_alternatives(x * grads, abs_gradient=x * grads.abs(), gradient=grads,
                              abs_product=(x * grads).abs())


def check_input_x_gradient(input_x_gradient) -> CheckResult:
    """``input_x_gradient(model, x, target)``: x N×C×H×W → N×C×H×W, x ⊙ ∂logit/∂x (signed)."""
    messages = {
        "abs_gradient": "you multiplied the input by |gradient|; Input×Gradient uses the signed gradient",
        "gradient": "this is the plain gradient: multiply it by the input",
        "abs_product": "you took the absolute value; Input×Gradient keeps its sign (positive pushes the score up)",
    }
    cases = [Case("2 RGB images 8×8, class 1", (_tiny_net(21), _inputs(4, (2, 3, 8, 8)) - 0.5, 1)),
             Case("1 grey image 6×6, class 3", (_tiny_net(22, channels=1), _inputs(5, (1, 1, 6, 6)), 3))]
    return run_check("check_input_x_gradient", input_x_gradient, _ixg_reference, cases,
                     hint="x * torch.autograd.grad(score.sum(), x)[0]", compare_fn=_diagnosing_compare(messages))


# ------------------------------------------------------------------------------------------ SmoothGrad
def _smoothgrad_reference(model, x, target, noise_level, noise):
    """The formula, one noisy copy at a time: mean_s ∂S/∂x at x + σ·noise[:, s], σ = level·(max − min)."""
    sigma = noise_scale(x, noise_level)
    per_sample = [input_gradients(model, x + sigma * noise[:, s], target)[0] for s in range(noise.shape[1])]
    mean = torch.stack(per_sample).mean(0)
    unscaled = torch.stack([input_gradients(model, x + noise_level * noise[:, s], target)[0]
                            for s in range(noise.shape[1])]).mean(0)
    return _with_alternatives(mean, absolute=torch.stack(per_sample).abs().mean(0), unscaled=unscaled,
                              no_noise=input_gradients(model, x, target)[0])


def check_smoothgrad(smoothgrad_with_noise) -> CheckResult:
    """``smoothgrad_with_noise(model, x, target, noise_level, noise)``: x N×C×H×W, noise N×S×C×H×W standard
    normal → N×C×H×W, the mean gradient over the S copies x + σ·noise[:, s], σ = noise_level·(max − min) per image."""
    g = torch.Generator().manual_seed(31)
    cases = []
    for i, (shape, level, s, target) in enumerate([((1, 3, 8, 8), 0.2, 5, 2), ((2, 3, 6, 6), 0.1, 4, torch.tensor([1, 0])),
                                                   ((2, 1, 8, 8), 0.3, 3, 3)]):
        x = _inputs(40 + i, shape) * (i + 1)   # different ranges: σ must follow each image's range
        noise = torch.randn((shape[0], s, *shape[1:]), generator=g)
        cases.append(Case(f"{shape[0]} image(s) {shape[1]}×{shape[2]}×{shape[3]}, noise level {level}, {s} samples",
                          (_tiny_net(30 + i, channels=shape[1]), x, target, level, noise)))
    messages = {
        "absolute": "you averaged |gradient|; average the signed gradients (take abs later, for display)",
        "unscaled": "σ must be noise_level × (max − min) of each image, not noise_level itself",
        "no_noise": "this is the gradient at x itself: add σ·noise[:, s] to x before each gradient",
    }
    return run_check("check_smoothgrad", smoothgrad_with_noise, _smoothgrad_reference, cases,
                     hint="sigma = noise_level * (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3))), shaped N×1×1×1; "
                          "average the S gradients",
                     compare_fn=_diagnosing_compare(messages, atol=1e-5, rtol=1e-3))
