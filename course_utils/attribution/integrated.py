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
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..hooks import preserved_state
from ..models import input_range
from ..progress import progress
from ..validation import check_bool, check_images, one_of, positive_float, positive_int
from ._common import auto_batch_size, batches, check_call, gradients_and_scores

RULES = ("left", "right", "midpoint", "trapezoid", "gauss_legendre")
BASELINES = ("black", "zeros", "blur", "noise")


def quadrature(steps: int, rule: str = "gauss_legendre") -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes α_k in [0, 1] and weights w_k (float64, summing to 1) of a rule with ``steps`` intervals/points.

    ``left``: α = 0, 1/m, …, (m−1)/m; ``right``: α = 1/m, …, 1 (the paper's sum); ``midpoint``:
    α = (k + ½)/m; all with weights 1/m. ``trapezoid``: α = 0, 1/m, …, 1 with weights 1/m, ends halved
    (m + 1 points). ``gauss_legendre``: the m Legendre nodes mapped from [−1, 1] to [0, 1].
    The course's one quadrature: integrated gradients on images and on token embeddings both use it.
    """
    m = positive_int(steps, "steps")
    one_of(rule, "rule", RULES)
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
    nodes, weights = np.polynomial.legendre.leggauss(m)
    return torch.from_numpy((nodes + 1) / 2), torch.from_numpy(weights / 2)


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


def _constant(value, name: str) -> float | None:
    """A number baseline as a finite float (None when ``value`` is not a number)."""
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected one of {BASELINES}, a number or a tensor, got a bool")
    if not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    if not math.isfinite(float(value)):
        raise ValueError(f"{name}: a constant baseline must be a finite number, got {value}")
    return float(value)


def _make_baseline(kind, x: torch.Tensor, model: nn.Module | None, blur_sigma: float | None,
                   generator: torch.Generator | None, name: str) -> torch.Tensor:
    """``make_baseline`` on checked inputs; errors name the caller's argument ``name``."""
    n, c, h, w = x.shape
    value = _constant(kind, name)
    if value is not None:
        return torch.full_like(x, value)
    if not isinstance(kind, str):
        raise TypeError(f"{name}: expected one of {BASELINES}, a number or a tensor, got {type(kind).__name__}")
    one_of(kind, name, BASELINES)
    if kind == "zeros":
        return torch.zeros_like(x)
    if kind == "blur":
        sigma = max(h, w) / 10 if blur_sigma is None else positive_float(blur_sigma, "blur_sigma", allow_zero=True)
        return gaussian_blur(x, sigma)
    lo, hi = (t.to(x).view(1, c, 1, 1) for t in input_range(model, c))   # black and white pixels
    if kind == "black":
        return lo.expand_as(x).clone()
    u = torch.rand(x.shape, generator=generator, dtype=torch.float64).to(x)
    return lo + u * (hi - lo)


def make_baseline(kind: str | float, inputs: torch.Tensor, model: nn.Module | None = None, *,
                  blur_sigma: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """A baseline for each input: N×C×H×W, same dtype/device as ``inputs``.

    ``kind``: ``"black"`` (black pixels in the model's input space, ``models.input_range``), ``"zeros"``
    (the all-zero tensor), ``"blur"`` (the input blurred with σ = ``blur_sigma``, default a tenth of the
    image side), ``"noise"`` (uniform noise between the black and white values, drawn from ``generator``),
    or a number (a constant image).
    """
    if model is not None:
        x = check_call(model, inputs, 0)[0]
    else:
        checked = check_images(inputs, "inputs")
        x = (inputs if inputs.dtype == torch.float64 else checked).detach()
    return _make_baseline(kind, x, model, blur_sigma, generator, "kind")


def _baselines(baseline, x: torch.Tensor, model: nn.Module, n_baselines: int, seed: int,
               blur_sigma: float | None) -> torch.Tensor:
    """All baselines as an N×B×C×H×W tensor (B = number of baselines averaged over)."""
    generator = torch.Generator().manual_seed(seed)
    if isinstance(baseline, (list, tuple)):
        if not baseline:
            raise ValueError("baseline: expected at least one baseline in the list")
        parts = [_baselines(b, x, model, 1, seed + i, blur_sigma) for i, b in enumerate(baseline)]
        return torch.cat(parts, 1)
    if isinstance(baseline, torch.Tensor):
        b = check_images(baseline, "baseline", model=model, ndim=baseline.ndim if baseline.ndim in (3, 4) else 4)
        b = (baseline if baseline.dtype == torch.float64 else b).to(x)
        if b.ndim == 3:
            b = b[None]
        if b.shape[1:] != x.shape[1:] or b.shape[0] not in (1, len(x)):
            raise ValueError(f"baseline: expected a tensor of shape {tuple(x.shape)} (or 1×C×H×W / C×H×W), "
                             f"got {tuple(baseline.shape)}")
        return b.expand_as(x)[:, None].clone()
    repeats = n_baselines if baseline == "noise" else 1
    return torch.stack([_make_baseline(baseline, x, model, blur_sigma, generator, "baseline")
                        for _ in range(repeats)], 1)


def _path_blocks(n: int, b: int, s: int, batch_size: int) -> Iterator[tuple[slice, slice, slice]]:
    """(inputs, baselines, steps) slices covering every path point, at most ``batch_size`` points each:
    the whole paths of several inputs when they fit in one pass, else pieces of one path."""
    if b * s <= batch_size:
        for inputs in batches(n, batch_size // (b * s)):
            yield inputs, slice(0, b), slice(0, s)
    elif s <= batch_size:
        for i in range(n):
            for bases in batches(b, batch_size // s):
                yield slice(i, i + 1), bases, slice(0, s)
    else:
        for i in range(n):
            for j in range(b):
                for steps in batches(s, batch_size):
                    yield slice(i, i + 1), slice(j, j + 1), steps


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


def integrated_gradients(model: nn.Module, inputs: torch.Tensor, target,
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
    x, target = check_call(model, inputs, target)
    batch_size = auto_batch_size(batch_size, x.shape[1:])
    n_baselines = positive_int(n_baselines, "n_baselines")
    check_bool(return_error, "return_error")
    check_bool(return_path, "return_path")
    if n_baselines > 1 and not (isinstance(baseline, str) and baseline == "noise"):
        raise ValueError(f"n_baselines: averaging over {n_baselines} baselines needs baseline='noise' "
                         "(or pass a list of baselines)")
    alphas, weights = (t.to(x) for t in quadrature(steps, rule))              # S nodes α_k and weights w_k
    base = _baselines(baseline, x, model, n_baselines, positive_int(seed, "seed", 0), blur_sigma)  # N×B×C×H×W
    n, b, s = base.shape[0], base.shape[1], len(alphas)
    delta = x[:, None] - base                                                # N×B×C×H×W: x − x'
    grad_sum = torch.zeros_like(delta)                                       # Σ_k w_k ∇F(x' + α_k (x − x'))
    scores = x.new_zeros(n, b, s)                                            # F at each path point
    slopes = x.new_zeros(n, b, s)                                            # dF/dα = ∇F · (x − x')
    each_point = (1, 1, -1, 1, 1, 1)                                         # α_k, w_k against I×B×K×C×H×W
    with preserved_state(model):
        blocks = list(_path_blocks(n, b, s, batch_size))
        for ii, jj, kk in progress(blocks, enabled=show_progress, desc="IG steps"):
            # path points γ(α_k) = x' + α_k (x − x') of inputs ii, baselines jj, nodes kk: I×B×K×C×H×W
            points = base[ii, jj, None] + alphas[kk].view(each_point) * delta[ii, jj, None]
            of_input = torch.arange(n)[ii].view(-1, 1, 1).expand(points.shape[:3])   # which input, per point
            grads, f = gradients_and_scores(model, points.flatten(0, 2), target[of_input.flatten()])
            grads = grads.view(points.shape)
            grad_sum[ii, jj] += (weights[kk].view(each_point) * grads).sum(2)
            scores[ii, jj, kk] = f.view(points.shape[:3])
            slopes[ii, jj, kk] = (grads * delta[ii, jj, None]).flatten(3).sum(3)
        attributions = (delta * grad_sum).mean(1)                           # (x − x') ⊙ Σ_k w_k ∇F, mean over B
        extra: tuple = (IGPath(alphas, weights, scores, slopes),) if return_path else ()
        if not return_error:
            return (attributions, *extra) if extra else attributions
        with torch.no_grad():                                                # completeness: F(x) − mean_b F(x'_b)
            f_x = torch.cat([target[sl].scores(model, x[sl]) for sl in batches(n, batch_size)])
            flat_base = base.flatten(0, 1)                                   # (N·B)×C×H×W, input-major
            of_input = torch.arange(n).repeat_interleave(b)
            f_base = torch.cat([target[of_input[sl]].scores(model, flat_base[sl])
                                for sl in batches(n * b, batch_size)])
        error = attributions.flatten(1).sum(1) - (f_x - f_base.view(n, b).mean(1))
    return (attributions, error, *extra)
