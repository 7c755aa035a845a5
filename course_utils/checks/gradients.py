"""Checks for the exercises of lecture 04 (gradients): saliency map, Input×Gradient, SmoothGrad.

Each check builds small conv nets and inputs the notebook never shows (from their own generators),
compares the student's function with the course_utils implementation, and names the usual mistakes (sum
instead of max over channels, missing absolute value, probability instead of logit, noise not scaled by
the input range, ...). ``run_check`` also verifies that the model and the inputs come back untouched.
"""
from __future__ import annotations

import torch
from torch import nn

from ..attribution import input_gradients, noise_scale, probability, reduce_channels, saliency
from . import Case, CheckResult, exercise_check, generator, run_check, seeded


def _tiny_net(seed: int, channels: int = 3, classes: int = 4) -> nn.Module:
    """A small conv net (conv → ReLU → max-pool → conv → ReLU → GAP → linear) in eval mode."""
    return seeded(nn.Sequential(nn.Conv2d(channels, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                nn.Linear(8, classes)), seed, std=0.5).eval()


def _inputs(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.rand(shape, generator=generator(seed))


def _grads(model, x, target) -> torch.Tensor:
    return input_gradients(model, x, target)[0]


def _all_logits(model, x):
    """The gradient of the sum of every logit (the target ignored)."""
    return _grads(model, x, lambda m, inp: m(inp).sum(1))


# ------------------------------------------------------------------------------------- saliency map
@exercise_check
def check_saliency_map(saliency_map) -> CheckResult:
    """``saliency_map(model, x, target)``: x N×C×H×W → N×1×H×W, max over channels of |∂logit/∂x|."""
    mistakes = {
        "you summed |gradient| over the channels; Simonyan et al. take the maximum (`.amax(1, keepdim=True)`)":
            lambda m, x, t: _grads(m, x, t).abs().sum(1, keepdim=True),
        "you averaged |gradient| over the channels; take the maximum (`.amax(1, keepdim=True)`)":
            lambda m, x, t: _grads(m, x, t).abs().mean(1, keepdim=True),
        "you took the maximum of the signed gradient; take the absolute value first":
            lambda m, x, t: _grads(m, x, t).amax(1, keepdim=True),
        "this is the gradient of the softmax probability; use the class logit (the model's output)":
            lambda m, x, t: _grads(m, x, probability(t)).abs().amax(1, keepdim=True),
        "you differentiated the sum of all the logits: select each image's target logit, "
        "model(x)[range(N), target]": lambda m, x, t: _all_logits(m, x).abs().amax(1, keepdim=True),
    }
    cases = [
        Case("1 RGB image 8×8, class 2", (_tiny_net(11), _inputs(1, (1, 3, 8, 8)), 2)),
        Case("3 RGB images 10×10, classes [0, 3, 1]", (_tiny_net(12), _inputs(2, (3, 3, 10, 10)), torch.tensor([0, 3, 1]))),
        Case("2 grey images 6×6, class 1", (_tiny_net(13, channels=1), _inputs(3, (2, 1, 6, 6)), 1)),
    ]
    return run_check("check_saliency_map", saliency_map, lambda m, x, t: reduce_channels(saliency(m, x, t), "max"),
                     cases, mistakes=mistakes,
                     hint="grad = torch.autograd.grad(model(x)[range(N), target].sum(), x)[0], "
                          "then grad.abs().amax(1, keepdim=True)")


# ---------------------------------------------------------------------------------- Input×Gradient
@exercise_check
def check_input_x_gradient(input_x_gradient) -> CheckResult:
    """``input_x_gradient(model, x, target)``: x N×C×H×W → N×C×H×W, x ⊙ ∂logit/∂x (signed)."""
    mistakes = {
        "you multiplied the input by |gradient|; Input×Gradient uses the signed gradient":
            lambda m, x, t: x * _grads(m, x, t).abs(),
        "this is the plain gradient: multiply it by the input": lambda m, x, t: _grads(m, x, t),
        "you took the absolute value; Input×Gradient keeps its sign (positive pushes the score up)":
            lambda m, x, t: (x * _grads(m, x, t)).abs(),
        "this is x times the gradient of the softmax probability; use the class logit (the model's output)":
            lambda m, x, t: x * _grads(m, x, probability(t)),
        "you differentiated the sum of all the logits: select each image's target logit":
            lambda m, x, t: x * _all_logits(m, x),
    }
    cases = [Case("2 RGB images 8×8, class 1", (_tiny_net(21), _inputs(4, (2, 3, 8, 8)) - 0.5, 1)),
             Case("1 grey image 6×6, class 3", (_tiny_net(22, channels=1), _inputs(5, (1, 1, 6, 6)), 3)),
             Case("3 RGB images 6×6, classes [2, 0, 1]", (_tiny_net(23), _inputs(6, (3, 3, 6, 6)) - 0.3,
                                                          torch.tensor([2, 0, 1])))]
    return run_check("check_input_x_gradient", input_x_gradient, lambda m, x, t: x * _grads(m, x, t), cases,
                     mistakes=mistakes, hint="x * torch.autograd.grad(score.sum(), x)[0]")


# ------------------------------------------------------------------------------------------ SmoothGrad
def _noisy_mean(model, x, target, sigma, noise, absolute=False):
    """mean_s ∂S/∂x at x + σ·noise[:, s] (|∂S/∂x| with ``absolute``), one noisy copy at a time."""
    grads = torch.stack([_grads(model, x + sigma * noise[:, s], target) for s in range(noise.shape[1])])
    return (grads.abs() if absolute else grads).mean(0)


@exercise_check
def check_smoothgrad(smoothgrad_with_noise) -> CheckResult:
    """``smoothgrad_with_noise(model, x, target, noise_level, noise)``: x N×C×H×W, noise N×S×C×H×W standard
    normal → N×C×H×W, the mean gradient over the S copies x + σ·noise[:, s], σ = noise_level·(max − min) per image."""
    mistakes = {
        "you averaged |gradient|; average the signed gradients (take abs later, for display)":
            lambda m, x, t, lvl, noise: _noisy_mean(m, x, t, noise_scale(x, lvl), noise, absolute=True),
        "σ must be noise_level × (max − min) of each image, not noise_level itself":
            lambda m, x, t, lvl, noise: _noisy_mean(m, x, t, lvl, noise),
        "σ must come from each image's own range: max − min over (C, H, W) of that image, not of the whole batch":
            lambda m, x, t, lvl, noise: _noisy_mean(m, x, t, lvl * (x.max() - x.min()), noise),
        "the noise is not scaled: x + σ·noise[:, s], with σ = noise_level × (max − min)":
            lambda m, x, t, lvl, noise: _noisy_mean(m, x, t, 1.0, noise),
        "this is the gradient at x itself: add σ·noise[:, s] to x before each gradient":
            lambda m, x, t, lvl, noise: _grads(m, x, t),
    }
    g = generator(31)
    cases = []
    for i, (shape, level, s, target) in enumerate([((1, 3, 8, 8), 0.2, 5, 2), ((2, 3, 6, 6), 0.1, 4, torch.tensor([1, 0])),
                                                   ((3, 1, 8, 8), 0.3, 3, 3)]):
        scale = torch.arange(1, shape[0] + 1.0).view(-1, 1, 1, 1) * (i + 1)
        x = _inputs(40 + i, shape) * scale       # different ranges: σ must follow each image's range
        noise = torch.randn((shape[0], s, *shape[1:]), generator=g)
        cases.append(Case(f"{shape[0]} image(s) {shape[1]}×{shape[2]}×{shape[3]}, noise level {level}, {s} samples",
                          (_tiny_net(30 + i, channels=shape[1]), x, target, level, noise)))
    return run_check("check_smoothgrad", smoothgrad_with_noise,
                     lambda m, x, t, lvl, noise: _noisy_mean(m, x, t, noise_scale(x, lvl), noise), cases,
                     mistakes=mistakes, atol=1e-5, rtol=1e-3,
                     hint="sigma = noise_level * (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3))), shaped N×1×1×1; "
                          "average the S gradients",
                     slow_hint="evaluate the N·S noisy copies in one batch (flatten(0, 1)) with one autograd.grad")
