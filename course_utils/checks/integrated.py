"""Checks for lecture 06 (integrated gradients): quadrature nodes, IG with a Riemann sum, completeness.

Every check runs the student's function on small hand-made models and random inputs seeded here (never
shown in the notebook) and compares with ``course_utils.attribution`` or an independent formula. When the
answer is wrong, the usual mistakes are recognised by comparing with what each mistake would produce.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..attribution import integrated_gradients, quadrature, target_scores
from . import Case, CheckResult, compare, run_check


@dataclass
class Expected:
    """A reference value plus what typical mistakes would give instead ({message: value})."""
    value: Any
    mistakes: dict[str, Any] = field(default_factory=dict)


def compare_with_mistakes(expected: Expected, got: Any, atol: float = 1e-6, rtol: float = 1e-5) -> str | None:
    """``None`` when ``got`` matches; the message of a recognised mistake; else the generic diagnosis."""
    problem = compare(expected.value, got, atol=atol, rtol=rtol)
    if problem is None:
        return None
    for message, wrong in expected.mistakes.items():
        if compare(wrong, got, atol=atol, rtol=rtol) is None:
            return message
    return problem


def small_model(seed: int, channels: int = 2, classes: int = 3) -> nn.Module:
    """A tiny smooth conv net (conv, tanh, conv, softplus, global average pooling, linear) in float64."""
    gen = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 5, 3, padding=1),
                          nn.Softplus(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, classes)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return model.eval()


def _random(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ------------------------------------------------------------------------------------------ exercise 1
def _nodes_reference(steps: int, rule: str) -> Expected:
    alphas, weights = quadrature(steps, rule)
    m = steps
    mistakes = {}
    if rule == "trapezoid":
        mistakes["the trapezoid rule halves the weights of the two end points (α = 0 and α = 1): "
                 "weights 1/(2m), 1/m, …, 1/m, 1/(2m)"] = (alphas, torch.full((m + 1,), 1 / m, dtype=torch.float64))
    if rule == "right":
        mistakes["the right rule starts at α = 1/m and ends at α = 1 (you started at 0: the left rule)"] = \
            quadrature(steps, "left")
    if rule == "left":
        mistakes["the left rule starts at α = 0 and stops at (m−1)/m (you ended at 1: the right rule)"] = \
            quadrature(steps, "right")
    if rule == "midpoint":
        mistakes["linspace(0, 1, m) puts nodes on both ends; the midpoints are (k + ½)/m for k = 0 … m−1"] = (
            torch.linspace(0, 1, m, dtype=torch.float64), weights)
    return Expected((alphas, weights), mistakes)


def _compare_nodes(expected: Expected, got: Any) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "return a pair (alphas, weights) of 1-d tensors"
    alphas, weights = got
    if not isinstance(alphas, torch.Tensor) or not isinstance(weights, torch.Tensor):
        return "return alphas and weights as torch tensors"
    if alphas.shape != expected.value[0].shape:
        return (f"expected {len(expected.value[0])} nodes, got shape {tuple(alphas.shape)} "
                "(left/right/midpoint: m nodes; trapezoid: m + 1)")
    got = (alphas.double(), weights.double())
    if compare(expected.value, got, atol=1e-6, rtol=1e-5) is None:
        return None
    for message, wrong in expected.mistakes.items():
        if compare(wrong, got, atol=1e-6, rtol=1e-5) is None:
            return message
    if abs(float(got[1].sum()) - 1) > 1e-6:
        return f"the weights must add up to 1 (the length of [0, 1]); yours add up to {float(got[1].sum()):.4g}"
    return compare(expected.value, got, atol=1e-6, rtol=1e-5)


def check_riemann_nodes(riemann_nodes) -> CheckResult:
    """Exercise: ``riemann_nodes(steps, rule) -> (alphas, weights)`` for left/right/midpoint/trapezoid."""
    cases = [Case(f"steps={m}, rule={rule!r}", (m, rule)) for m, rule in
             [(1, "left"), (5, "left"), (4, "right"), (7, "midpoint"), (1, "trapezoid"), (6, "trapezoid"),
              (3, "right"), (10, "midpoint")]]
    return run_check("check_riemann_nodes", riemann_nodes, _nodes_reference, cases,
                     hint="α_k are the points where the gradient is evaluated, w_k their weights (1/m each, "
                          "except the trapezoid's halved ends)", compare_fn=_compare_nodes)


# ------------------------------------------------------------------------------------------ exercise 2
def _ig_reference(model, inputs, target, baseline, steps) -> Expected:
    ig = integrated_gradients(model, inputs, target, baseline=baseline, steps=steps, rule="right",
                              batch_size=7)
    left = integrated_gradients(model, inputs, target, baseline=baseline, steps=steps, rule="left",
                                batch_size=7)
    delta = inputs - baseline
    avg_grad = torch.where(delta != 0, ig / delta, torch.zeros_like(ig))
    mistakes = {
        "this is the average gradient along the path: multiply it by (x − baseline)": avg_grad,
        "you multiplied by x instead of (x − baseline)": avg_grad * inputs,
        "the paper's sum runs over k = 1 … m (α = k/m), not from k = 0": left,
        "you summed the gradients without dividing by the number of steps": ig * steps,
    }
    return Expected(ig, mistakes)


def check_integrated_gradients(integrated_gradients_riemann) -> CheckResult:
    """Exercise: ``integrated_gradients_riemann(model, inputs, target, baseline, steps)`` (right Riemann sum)."""
    cases = []
    for i, (n, c, size, steps, target) in enumerate([(1, 1, 5, 4, 0), (2, 2, 6, 10, 2), (3, 2, 4, 3, 1)]):
        model = small_model(100 + i, channels=c)
        x = _random(200 + i, n, c, size, size)
        baseline = 0.3 * _random(300 + i, n, c, size, size) if i == 1 else torch.zeros_like(x)
        if i == 2:
            target = torch.tensor([0, 2, 1])
        desc = (f"{n} input(s) {c}×{size}×{size}, {'random' if i == 1 else 'zero'} baseline, steps={steps}, "
                f"target={target.tolist() if isinstance(target, torch.Tensor) else target}")
        cases.append(Case(desc, (model, x, target, baseline, steps)))
    return run_check("check_integrated_gradients", integrated_gradients_riemann, _ig_reference, cases,
                     hint="IG ≈ (x − x') ⊙ (1/m) Σ_{k=1..m} ∇F(x' + (k/m)(x − x')); evaluate all m points "
                          "in one batch", compare_fn=compare_with_mistakes)


# ------------------------------------------------------------------------------------------ exercise 3
def _gap_reference(model, inputs, target, baseline, attributions) -> Expected:
    t = torch.full((len(inputs),), target) if isinstance(target, int) else target
    with torch.no_grad():
        f_x, f_b = target_scores(model, inputs, t), target_scores(model, baseline, t)
        p_x = model(inputs).softmax(1).gather(1, t.view(-1, 1))[:, 0]
        p_b = model(baseline).softmax(1).gather(1, t.view(-1, 1))[:, 0]
    total = attributions.flatten(1).sum(1)
    mistakes = {
        "completeness compares with F(x) − F(baseline): you left out F(baseline)": total - f_x,
        "use the logit (the score IG explained), not the softmax probability": total - (p_x - p_b),
        "return the gap as a signed number (not its absolute value): Σ IG − (F(x) − F(x'))":
            (total - (f_x - f_b)).abs(),
    }
    return Expected(total - (f_x - f_b), mistakes)


def check_completeness_gap(completeness_gap) -> CheckResult:
    """Exercise: ``completeness_gap(model, inputs, target, baseline, attributions)`` → N values."""
    cases = []
    for i, (n, steps) in enumerate([(1, 2), (3, 5), (2, 40)]):
        model = small_model(400 + i, channels=2, classes=4)
        x = _random(500 + i, n, 2, 5, 5)
        baseline = torch.zeros_like(x) if i != 1 else 0.5 * _random(600 + i, n, 2, 5, 5)
        target = 3 if i != 1 else torch.tensor([0, 3, 1])
        attributions = integrated_gradients(model, x, target, baseline=baseline, steps=steps, rule="midpoint")
        cases.append(Case(f"{n} input(s) 2×5×5, IG with {steps} midpoint steps, target "
                          f"{target if isinstance(target, int) else target.tolist()}",
                          (model, x, target, baseline, attributions)))
    return run_check("check_completeness_gap", completeness_gap, _gap_reference, cases,
                     hint="sum each input's attributions over C, H, W, then subtract F(x) − F(baseline) "
                          "(logits of the target class)", compare_fn=compare_with_mistakes)
