"""Integrated gradients (Sundararajan, Taly & Yan 2017): gradients averaged along a straight path.

For an input x, a baseline x' and a score F (a class logit or an inner unit),

    IG_i(x) = (x_i − x'_i) · ∫₀¹ ∂F/∂x_i (x' + α (x − x')) dα,

and the attributions add up to F(x) − F(x') (completeness). The integral is replaced by a quadrature
rule on [0, 1] with nodes α_k and weights w_k (``quadrature``):

    IG_i(x) ≈ (x_i − x'_i) · Σ_k w_k ∂F/∂x_i (x' + α_k (x − x')).

* ``quadrature(steps, rule)`` – nodes and weights of the left/right/midpoint/trapezoid Riemann sums and
  of Gauss–Legendre.
* ``make_baseline(kind, inputs, model)`` – black, zeros, blurred or uniform-noise baselines.
* ``integrated_gradients(model, inputs, target, baseline=..., steps=..., rule=..., batch_size=...)`` – the
  attributions (optionally with the completeness error), all path points evaluated in batches.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..hooks import preserved_state
from ..progress import progress
from ._common import (Target, auto_batch_size, batches, check_inputs, input_gradients, resolve_target,
                      target_scores)

RULES = ("left", "right", "midpoint", "trapezoid", "gauss_legendre")
BASELINES = ("black", "zeros", "blur", "noise")


def quadrature(steps: int, rule: str = "gauss_legendre") -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes α_k in [0, 1] and weights w_k (float64, summing to 1) of a rule with ``steps`` intervals/points.

    ``left``: α = 0, 1/m, …, (m−1)/m; ``right``: α = 1/m, …, 1 (the paper's sum); ``midpoint``:
    α = (k + ½)/m; all with weights 1/m. ``trapezoid``: α = 0, 1/m, …, 1 with weights 1/m, ends halved
    (m + 1 points). ``gauss_legendre``: the m Legendre nodes mapped from [−1, 1] to [0, 1].
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps: expected a positive int, got {steps!r}")
    m = int(steps)
    k = torch.arange(m, dtype=torch.float64)
    if rule == "left":
        return k / m, torch.full((m,), 1 / m, dtype=torch.float64)
    if rule == "right":
        return (k + 1) / m, torch.full((m,), 1 / m, dtype=torch.float64)
    if rule == "midpoint":
        return (k + 0.5) / m, torch.full((m,), 1 / m, dtype=torch.float64)
    if rule == "trapezoid":
        w = torch.full((m + 1,), 1 / m, dtype=torch.float64)
        w[0] = w[-1] = 0.5 / m
        return torch.arange(m + 1, dtype=torch.float64) / m, w
    if rule == "gauss_legendre":
        nodes, weights = np.polynomial.legendre.leggauss(m)
        return torch.from_numpy((nodes + 1) / 2), torch.from_numpy(weights / 2)
    raise ValueError(f"rule: expected one of {RULES}, got {rule!r}")


def pixel_range(model: nn.Module, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel values (lo, hi) that black and white pixels take in ``model``'s input space.

    The course models and torchvision's ImageNet models normalize with a known mean/std (see
    ``course_utils.models.preprocess``); any other model is assumed to take raw pixels in [0, 1].
    Returns two tensors of shape C.
    """
    from ..models import EfficientNetLite0, FashionCNN, _norm_stats
    known = isinstance(model, (EfficientNetLite0, FashionCNN)) or type(model).__module__.startswith(
        "torchvision.models")
    if known:
        mean, std, _ = _norm_stats(model)
        if len(mean) == channels:
            mean, std = torch.tensor(mean), torch.tensor(std)
            return (0 - mean) / std, (1 - mean) / std
    return torch.zeros(channels), torch.ones(channels)


def gaussian_blur(inputs: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur N×C×H×W ``inputs`` with a Gaussian of standard deviation ``sigma`` pixels (reflected borders)."""
    if sigma <= 0:
        return inputs.clone()
    h, w = inputs.shape[-2:]
    radius = min(int(math.ceil(3 * sigma)), h - 1, w - 1)
    if radius < 1:
        return inputs.clone()
    t = torch.arange(-radius, radius + 1, dtype=inputs.dtype, device=inputs.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = inputs.shape[1]
    out = F.pad(inputs, (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)   # along x
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)  # along y


def make_baseline(kind: str | float, inputs: torch.Tensor, model: nn.Module | None = None, *,
                  blur_sigma: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """A baseline for each input: N×C×H×W, same dtype/device as ``inputs``.

    ``kind``: ``"black"`` (black pixels in the model's input space, see ``pixel_range``), ``"zeros"``
    (the all-zero tensor), ``"blur"`` (the input blurred with σ = ``blur_sigma``, default a tenth of the
    image side), ``"noise"`` (uniform noise between the black and white values, drawn from ``generator``),
    or a number (a constant image).
    """
    check_inputs(inputs)
    n, c, h, w = inputs.shape
    if isinstance(kind, (int, float)) and not isinstance(kind, bool):
        return torch.full_like(inputs, float(kind))
    if kind == "zeros":
        return torch.zeros_like(inputs)
    if kind == "blur":
        sigma = max(h, w) / 10 if blur_sigma is None else float(blur_sigma)
        return gaussian_blur(inputs.detach(), sigma)
    if kind in ("black", "noise"):
        lo, hi = (t.to(inputs).view(1, c, 1, 1) for t in pixel_range(model, c))
        if kind == "black":
            return lo.expand_as(inputs).clone()
        u = torch.rand(inputs.shape, generator=generator, dtype=torch.float64).to(inputs)
        return lo + u * (hi - lo)
    raise ValueError(f"baseline: expected one of {BASELINES}, a number or a tensor shaped like inputs, "
                     f"got {kind!r}")


def _baselines(baseline, inputs: torch.Tensor, model: nn.Module, n_baselines: int, seed: int,
               blur_sigma: float | None) -> torch.Tensor:
    """All baselines as an N×B×C×H×W tensor (B = number of baselines averaged over)."""
    generator = torch.Generator().manual_seed(seed)
    if isinstance(baseline, (list, tuple)):
        if not baseline:
            raise ValueError("baseline: expected at least one baseline in the list")
        parts = [_baselines(b, inputs, model, 1, seed + i, blur_sigma) for i, b in enumerate(baseline)]
        return torch.cat(parts, 1)
    if isinstance(baseline, torch.Tensor):
        if not baseline.is_floating_point():
            raise TypeError(f"baseline: expected a floating-point tensor, got {baseline.dtype}")
        b = baseline.to(inputs)
        if b.ndim == 3:
            b = b[None]
        if b.ndim != 4 or b.shape[1:] != inputs.shape[1:] or b.shape[0] not in (1, len(inputs)):
            raise ValueError(f"baseline: expected a tensor of shape {tuple(inputs.shape)} (or 1×C×H×W / C×H×W), "
                             f"got {tuple(baseline.shape)}")
        return b.expand_as(inputs)[:, None].clone()
    repeats = n_baselines if baseline == "noise" else 1
    return torch.stack([make_baseline(baseline, inputs, model, blur_sigma=blur_sigma, generator=generator)
                        for _ in range(repeats)], 1)


@dataclass
class IGPath:
    """What happened along the path, returned by ``integrated_gradients(..., return_path=True)``.

    ``alphas``, ``weights``: the quadrature nodes and weights (S); ``scores``: F(x' + α_k (x − x'))
    (N×B×S, B baselines); ``slopes``: dF/dα = ∇F · (x − x') at each node (N×B×S). The weighted sum of
    the slopes, averaged over baselines, is Σ_i IG_i — the completeness error is a 1-d quadrature error.
    """
    alphas: torch.Tensor
    weights: torch.Tensor
    scores: torch.Tensor
    slopes: torch.Tensor


def integrated_gradients(model: nn.Module, inputs: torch.Tensor, target: Target,
                         baseline: str | float | torch.Tensor | Sequence = "black", steps: int = 32,
                         rule: str = "gauss_legendre", batch_size: int | None = None, n_baselines: int = 1,
                         return_error: bool = False, blur_sigma: float | None = None, seed: int = 0,
                         return_path: bool = False, show_progress: bool = False
                         ) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Integrated gradients of each input's target score: N×C×H×W, shaped like ``inputs``.

    ``baseline``: a name (``"black"``, ``"zeros"``, ``"blur"``, ``"noise"``; see ``make_baseline``), a
    number, a tensor (N×C×H×W, 1×C×H×W or C×H×W), or a list of these, whose attributions are averaged.
    With ``"noise"``, ``n_baselines`` noise images (seeded by ``seed``) are averaged.
    ``steps`` and ``rule``: the quadrature (see ``quadrature``). All N·B·(number of nodes) path points are
    evaluated ``batch_size`` at a time (``None``: as many as fit ``VALUES_PER_PASS`` input values, e.g. 4 rows
    at 3×224×224 — faster on a CPU than large batches of large images).

    With ``return_error=True`` also returns the completeness error per input (a length-N tensor):
    Σ_i IG_i − (F(x) − mean_b F(x'_b)), which goes to 0 as ``steps`` grows. With ``return_path=True``
    also returns an ``IGPath`` (scores and slopes dF/dα at every node); the result is then
    ``attributions[, error][, path]``.
    """
    check_inputs(inputs)
    batch_size = auto_batch_size(batch_size, inputs.shape[1:])
    if isinstance(n_baselines, bool) or not isinstance(n_baselines, int) or n_baselines < 1:
        raise ValueError(f"n_baselines: expected a positive int, got {n_baselines!r}")
    if n_baselines > 1 and not (isinstance(baseline, str) and baseline == "noise"):
        raise ValueError(f"n_baselines: averaging over {n_baselines} baselines needs baseline='noise' "
                         "(or pass a list of baselines)")
    alphas, weights = quadrature(steps, rule)
    target = resolve_target(target, len(inputs))
    x = inputs.detach()
    base = _baselines(baseline, x, model, n_baselines, seed, blur_sigma)      # N×B×C×H×W
    n, b = base.shape[:2]
    alphas, weights = alphas.to(x), weights.to(x)
    s = len(alphas)
    delta = (x[:, None] - base).reshape(n * b, *x.shape[1:])                  # x − x', one row per (n, b)
    flat_base = base.reshape(n * b, *x.shape[1:])
    total = torch.zeros_like(delta)                                          # Σ_k w_k ∇F(γ(α_k))
    scores = torch.zeros(n * b * s, dtype=x.dtype, device=x.device)
    slopes = torch.zeros_like(scores)
    with preserved_state(model):
        for sl in progress(list(batches(n * b * s, batch_size)), enabled=show_progress, desc="IG steps"):
            idx = torch.arange(sl.start, sl.stop)
            row, k = idx // s, idx % s                                       # row = n·B + b
            shape = (-1,) + (1,) * (x.ndim - 1)
            points = flat_base[row] + alphas[k].view(shape) * delta[row]
            t = target if callable(target) else target[row // b]
            grads, f = input_gradients(model, points, t, batch_size=len(idx))
            total.index_add_(0, row, grads * weights[k].view(shape))
            scores[sl], slopes[sl] = f, (grads * delta[row]).flatten(1).sum(1)
        attributions = (delta * total).view(n, b, *x.shape[1:]).mean(1)
        extra: tuple = ()
        if return_path:
            extra = (IGPath(alphas, weights, scores.view(n, b, s), slopes.view(n, b, s)),)
        if not return_error:
            return (attributions, *extra) if extra else attributions
        with torch.no_grad():
            f_x = torch.cat([target_scores(model, x[sl], target if callable(target) else target[sl])
                             for sl in batches(n, batch_size)])
            rows = torch.arange(n * b)
            f_base = torch.cat([target_scores(model, flat_base[sl], target if callable(target)
                                              else target[rows[sl] // b]) for sl in batches(n * b, batch_size)])
        expected = f_x - f_base.view(n, b).mean(1)
        error = attributions.flatten(1).sum(1) - expected
    return (attributions, error, *extra)
