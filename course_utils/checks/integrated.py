"""Checks for lecture 06 (integrated gradients): quadrature nodes, IG with a Riemann sum, completeness, and a
two-interval Gauss–Legendre rule (the adaptive rule in the small).

Every check runs the student's function on small hand-made models and random inputs drawn here from their
own generators (never shown in the notebook) and compares with ``course_utils.attribution``. When the
answer is wrong, the usual mistakes are recognised by comparing with what each mistake would produce.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

import numpy as np

from ..attribution import gauss_legendre_pieces, integrated_gradients, probability, quadrature, target_scores
from . import Case, CheckResult, compare, exercise_check, generator, run_check


def small_model(seed: int, channels: int = 2, classes: int = 3) -> nn.Module:
    """A tiny smooth conv net (conv, tanh, conv, softplus, global average pooling, linear) in float64."""
    gen = generator(seed)
    model = nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 5, 3, padding=1),
                          nn.Softplus(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, classes)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return model.eval()


def _random(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator(seed), dtype=torch.float64)


# ------------------------------------------------------------------------------------------ exercise 1
def _equal(m: int) -> torch.Tensor:
    return torch.full((m,), 1 / m, dtype=torch.float64)


def _compare_nodes(expected, got: Any) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "return a pair (alphas, weights) of 1-d tensors"
    alphas, weights = got
    if not isinstance(alphas, torch.Tensor) or not isinstance(weights, torch.Tensor):
        return "return alphas and weights as torch tensors"
    if alphas.shape != expected[0].shape:
        return (f"expected {len(expected[0])} nodes, got shape {tuple(alphas.shape)} "
                "(left/right/midpoint: m nodes; trapezoid: m + 1)")
    if weights.shape == alphas.shape and abs(float(weights.double().sum()) - 1) > 1e-6:
        return f"the weights must add up to 1 (the length of [0, 1]); yours add up to {float(weights.sum()):.4g}"
    return compare(expected, (alphas, weights), atol=1e-6, rtol=1e-5)


@exercise_check
def check_riemann_nodes(riemann_nodes) -> CheckResult:
    """Exercise: ``riemann_nodes(steps, rule) -> (alphas, weights)`` for left/right/midpoint/trapezoid."""
    mistakes = {
        "the trapezoid rule halves the weights of the two end points (α = 0 and α = 1): weights 1/(2m), 1/m, "
        "…, 1/m, 1/(2m)": lambda m, rule: (quadrature(m, rule)[0], torch.full((m + 1,), 1 / m, dtype=torch.float64))
        if rule == "trapezoid" else None,
        "the right rule starts at α = 1/m and ends at α = 1 (you started at 0: the left rule)":
            lambda m, rule: quadrature(m, "left") if rule == "right" else None,
        "the left rule starts at α = 0 and stops at (m−1)/m (you ended at 1: the right rule)":
            lambda m, rule: quadrature(m, "right") if rule == "left" else None,
        "linspace(0, 1, m) puts nodes on both ends; the nodes are k/m (left), (k + 1)/m (right) or (k + ½)/m "
        "(midpoint) for k = 0 … m−1": lambda m, rule: (torch.linspace(0, 1, m, dtype=torch.float64), _equal(m))
        if rule != "trapezoid" else None,
    }
    cases = [Case(f"steps={m}, rule={rule!r}", (m, rule)) for m, rule in
             [(1, "left"), (5, "left"), (4, "right"), (7, "midpoint"), (1, "trapezoid"), (6, "trapezoid"),
              (3, "right"), (10, "midpoint")]]
    return run_check("check_riemann_nodes", riemann_nodes, quadrature, cases, mistakes=mistakes,
                     compare_fn=_compare_nodes, atol=1e-6, rtol=1e-5,
                     hint="α_k are the points where the gradient is evaluated, w_k their weights (1/m each, "
                          "except the trapezoid's halved ends)")


# ------------------------------------------------------------------------------------------ exercise 2
def _ig(model, inputs, target, baseline, steps, rule="right"):
    return integrated_gradients(model, inputs, target, baseline=baseline, steps=steps, rule=rule, batch_size=7)


def _average_gradient(model, inputs, target, baseline, steps):
    delta = inputs - baseline
    ig = _ig(model, inputs, target, baseline, steps)
    return torch.where(delta != 0, ig / delta, torch.zeros_like(ig))


@exercise_check
def check_integrated_gradients(integrated_gradients_riemann) -> CheckResult:
    """Exercise: ``integrated_gradients_riemann(model, inputs, target, baseline, steps)`` (right Riemann sum)."""
    mistakes = {
        "this is the average gradient along the path: multiply it by (x − baseline)": _average_gradient,
        "you multiplied by x instead of (x − baseline)":
            lambda m, x, t, b, s: _average_gradient(m, x, t, b, s) * x,
        "the paper's sum runs over k = 1 … m (α = k/m), not from k = 0": lambda m, x, t, b, s: _ig(m, x, t, b, s, "left"),
        "these are the midpoints α = (k + ½)/m; this exercise asks for the right sum α = k/m, k = 1 … m":
            lambda m, x, t, b, s: _ig(m, x, t, b, s, "midpoint"),
        "that is the trapezoid rule; this exercise asks for the right sum α = k/m, k = 1 … m":
            lambda m, x, t, b, s: _ig(m, x, t, b, s, "trapezoid"),
        "you summed the gradients without dividing by the number of steps": lambda m, x, t, b, s: _ig(m, x, t, b, s) * s,
        "this integrates the gradient of the softmax probability: use the logit of the target class":
            lambda m, x, t, b, s: _ig(m, x, probability(t), b, s),
    }
    cases = []
    for i, (n, c, size, steps, target) in enumerate([(1, 1, 5, 4, 0), (2, 2, 6, 10, 2), (3, 2, 4, 3, 1)]):
        x = _random(200 + i, n, c, size, size)
        baseline = 0.3 * _random(300 + i, n, c, size, size) if i == 1 else torch.zeros_like(x)
        if i == 2:
            target = torch.tensor([0, 2, 1])
        desc = (f"{n} input(s) {c}×{size}×{size}, {'random' if i == 1 else 'zero'} baseline, steps={steps}, "
                f"target={target.tolist() if isinstance(target, torch.Tensor) else target}")
        cases.append(Case(desc, (small_model(100 + i, channels=c), x, target, baseline, steps)))
    return run_check("check_integrated_gradients", integrated_gradients_riemann, _ig, cases, mistakes=mistakes,
                     atol=1e-6, rtol=1e-5,
                     hint="IG ≈ (x − x') ⊙ (1/m) Σ_{k=1..m} ∇F(x' + (k/m)(x − x')); evaluate all m points "
                          "in one batch", slow_hint="evaluate the N·m path points in one batch")


# ------------------------------------------------------------------------------------------ exercise 3
def _gap(model, inputs, target, baseline, attributions, reduce="sum", score=None):
    t = torch.full((len(inputs),), target) if isinstance(target, int) else target
    with torch.no_grad():
        f = score or (lambda x: target_scores(model, x, t))
        f_x, f_b = f(inputs), f(baseline)
    total = attributions.flatten(1).sum(1) if reduce == "sum" else attributions.flatten(1).mean(1)
    return total - (f_x - f_b)


@exercise_check
def check_completeness_gap(completeness_gap) -> CheckResult:
    """Exercise: ``completeness_gap(model, inputs, target, baseline, attributions)`` → N values."""
    def prob(model, target):
        t = lambda x: torch.full((len(x),), target) if isinstance(target, int) else target   # noqa: E731
        return lambda x: model(x).softmax(1).gather(1, t(x).view(-1, 1))[:, 0]

    mistakes = {
        "completeness compares with F(x) − F(baseline): you left out F(baseline)":
            lambda m, x, t, b, a: _gap(m, x, t, b, a) - _scores_of(m, b, t),
        "use the logit (the score IG explained), not the softmax probability":
            lambda m, x, t, b, a: _gap(m, x, t, b, a, score=prob(m, t)),
        "return the gap as a signed number (not its absolute value): Σ IG − (F(x) − F(x'))":
            lambda m, x, t, b, a: _gap(m, x, t, b, a).abs(),
        "the gap is Σ IG − (F(x) − F(x')): you subtracted the other way round": lambda m, x, t, b, a: -_gap(m, x, t, b, a),
        "sum the attributions over C, H and W (you took their mean)": lambda m, x, t, b, a: _gap(m, x, t, b, a, "mean"),
    }

    def compare_fn(expected, got):
        if isinstance(got, torch.Tensor) and got.ndim == 0 and expected.ndim == 1:
            return (f"expected one value per input (shape {tuple(expected.shape)}), got a single number: sum over "
                    "C, H, W only, not over the batch")
        return compare(expected, got, atol=1e-6, rtol=1e-5)

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
    return run_check("check_completeness_gap", completeness_gap, _gap, cases, mistakes=mistakes,
                     compare_fn=compare_fn, atol=1e-6, rtol=1e-5,
                     hint="sum each input's attributions over C, H, W, then subtract F(x) − F(baseline) "
                          "(logits of the target class)")


def _scores_of(model, x, target) -> torch.Tensor:
    t = torch.full((len(x),), target) if isinstance(target, int) else target
    with torch.no_grad():
        return target_scores(model, x, t)


# ------------------------------------------------------------------------------------------ exercise 4
def _two_intervals(a, n_left, n_right):
    return gauss_legendre_pieces(torch.tensor([0.0, a, 1.0], dtype=torch.float64), [n_left, n_right])


def _legendre(q: int) -> tuple[torch.Tensor, torch.Tensor]:
    t, v = np.polynomial.legendre.leggauss(q)
    return torch.from_numpy(t), torch.from_numpy(v)


def _two_intervals_wrong(a, n_left, n_right, scale="length", shift=True, map_nodes=True):
    """What a typical mistake gives: weights not scaled by the length (or not halved), no shift, no mapping."""
    parts_a, parts_w = [], []
    for start, h, q in [(0.0, a, n_left), (a, 1 - a, n_right)]:
        t, v = _legendre(q)
        parts_a.append((start if shift else 0.0) + h * ((t + 1) / 2 if map_nodes else t))
        parts_w.append({"length": h * v / 2, "none": v / 2, "unhalved": h * v}[scale])
    return torch.cat(parts_a), torch.cat(parts_w)


def _compare_two_intervals(expected, got: Any) -> str | None:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return "return a pair (alphas, weights) of 1-d tensors"
    alphas, weights = got
    if not isinstance(alphas, torch.Tensor) or not isinstance(weights, torch.Tensor):
        return "return alphas and weights as torch tensors"
    if alphas.shape != expected[0].shape or weights.shape != expected[1].shape:
        return (f"expected n_left + n_right = {len(expected[0])} nodes and as many weights, got shapes "
                f"{tuple(alphas.shape)} and {tuple(weights.shape)}")
    if abs(float(weights.double().sum()) - 1) > 1e-6:
        return f"the weights must add up to 1 (the length of [0, 1]); yours add up to {float(weights.sum()):.4g}"
    return compare(expected, (alphas, weights), atol=1e-9, rtol=1e-7)


@exercise_check
def check_two_interval_rule(two_interval_rule) -> CheckResult:
    """Exercise: ``two_interval_rule(a, n_left, n_right) -> (alphas, weights)``: Gauss–Legendre with ``n_left``
    nodes on [0, a] and ``n_right`` on [a, 1]."""
    mistakes = {
        "scale each interval's Legendre weights by its length: on [0, a] the weights are a·v_j/2, on [a, 1] "
        "(1 − a)·v_j/2 (yours add up to 2, as if each interval had length 1)":
            lambda a, nl, nr: _two_intervals_wrong(a, nl, nr, scale="none"),
        "the Legendre weights v_j add up to 2 on [−1, 1]: halve them (weights h·v_j/2, h the interval's length)":
            lambda a, nl, nr: _two_intervals_wrong(a, nl, nr, scale="unhalved"),
        "the nodes on [a, 1] start at a: a + (1 − a)(t_j + 1)/2 (you left out the shift by a)":
            lambda a, nl, nr: _two_intervals_wrong(a, nl, nr, shift=False),
        "map the Legendre nodes from [−1, 1] to the interval: start + h·(t_j + 1)/2, not start + h·t_j":
            lambda a, nl, nr: _two_intervals_wrong(a, nl, nr, map_nodes=False),
        "n_left nodes belong to [0, a] and n_right to [a, 1]: you swapped the counts":
            lambda a, nl, nr: _two_intervals(a, nr, nl) if nl != nr else None,
        "these are evenly spaced (midpoint) nodes; use the Gauss–Legendre nodes of numpy.polynomial.legendre.leggauss":
            lambda a, nl, nr: (torch.cat([a * (torch.arange(nl, dtype=torch.float64) + 0.5) / nl,
                                          a + (1 - a) * (torch.arange(nr, dtype=torch.float64) + 0.5) / nr]),
                               torch.cat([torch.full((nl,), a / nl, dtype=torch.float64),
                                          torch.full((nr,), (1 - a) / nr, dtype=torch.float64)])),
    }
    cases = [Case(f"a={a}, n_left={nl}, n_right={nr}", (a, nl, nr), note=note) for a, nl, nr, note in
             [(0.5, 1, 1, "the simplest case: one node in the middle of each half"),
              (0.25, 2, 3, "different counts on the two sides"),
              (0.03, 5, 2, "a short first interval, as on a path whose score rises early"),
              (0.8, 1, 4, ""), (0.1, 6, 6, "")]]
    return run_check("check_two_interval_rule", two_interval_rule, _two_intervals, cases, mistakes=mistakes,
                     compare_fn=_compare_two_intervals, atol=1e-9, rtol=1e-7,
                     hint="on an interval [s, s + h], the q Legendre nodes t_j, weights v_j on [−1, 1] become "
                          "s + h(t_j + 1)/2 and h·v_j/2; concatenate the two intervals (left first)")
