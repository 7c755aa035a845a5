"""Integrated gradients (Sundararajan, Taly & Yan 2017): gradients averaged along a straight path.

For an input x, a baseline x' and a score F (a class logit or an inner unit),

    IG_i(x) = (x_i − x'_i) · ∫₀¹ ∂F/∂x_i (x' + α (x − x')) dα,

and the attributions add up to F(x) − F(x') (completeness). The integral is replaced by a quadrature
rule on [0, 1] with nodes α_k and weights w_k (``attribution.quadrature``):

    IG_i(x) ≈ (x_i − x'_i) · Σ_k w_k ∂F/∂x_i (x' + α_k (x − x')).

* ``rule="adaptive"``: a forward-only scan of F at ``scan_steps + 1`` evenly spaced points of
  each path, then the ``steps`` gradients placed where F changes (``adaptive_quadrature``); the uniform rules
  (``quadrature(steps, rule)``: left/right/midpoint/trapezoid Riemann sums, Gauss–Legendre) stay available.
* ``rule="adaptive_simpson"``: no scan; composite Simpson on 4 intervals, then, round by round, the
  intervals whose error is largest are bisected. The error of each interval is known exactly: every
  gradient pass also returns F, and F(b) − F(a) is the integral Simpson's rule estimates there.
* ``rule="adaptive_trapezoid"``: no scan; the trapezoid rule on 4 intervals, then, round by round, the
  intervals across which the map's integrand (x − x') ⊙ ∇F changes most, times their length, are bisected:
  it refines where the *pixels* are uncertain, not where their sum is (lecture 06, section 3.5).
* ``adaptive_rule(model, inputs, target, ...)`` – the adaptive rule's nodes and weights for each input, without
  computing any gradient (to look at them).
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
from .quadrature import (ADAPTIVE, ADAPTIVE_SIMPSON, ADAPTIVE_TRAPEZOID, ALL_RULES, RULES, adaptive_quadrature,
                         quadrature, simpson_errors, simpson_pieces, split_points, trapezoid_pieces)

BASELINES = ("black", "zeros", "blur", "noise")
SCAN_STEPS = 32          # the adaptive rule's default forward scan: 33 points, no backward pass
SIMPSON_START = 4        # adaptive Simpson: the first partition (4 equal intervals, 9 nodes) …
SIMPSON_SPLITS = 1       # … then the worst interval of each path bisected per round (2 new gradients)
TRAPEZOID_START = 4      # adaptive trapezoid: the first partition (4 equal intervals, 5 nodes) …
TRAPEZOID_SPLITS = 4     # … then the 4 intervals of each path whose integrand changes most bisected per round
GRADIENT_VALUES = 2**25  # the adaptive rules keep every node's gradient until the weights are final: ≤ 128 MB


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

    ``alphas``, ``weights``: the quadrature nodes and weights — shape S for a uniform rule (the same for every
    path), N×B×S for the adaptive rules (each path its own); ``scores``: F(x' + α_k (x − x')) (N×B×S, B
    baselines); ``slopes``: dF/dα = ∇F · (x − x') at each node (N×B×S). The weighted sum of the slopes,
    averaged over baselines, is Σ_i IG_i — the completeness error is a 1-d quadrature error.
    ``scan_alphas`` (S'+1) and ``scan_scores`` (N×B×(S'+1)): the adaptive rule's forward scan (None otherwise).
    ``gradient_evaluations`` and ``forward_evaluations``: what one path cost (forward-only passes: the scan).
    """
    alphas: torch.Tensor
    weights: torch.Tensor
    scores: torch.Tensor
    slopes: torch.Tensor
    scan_alphas: torch.Tensor | None = None
    scan_scores: torch.Tensor | None = None

    @property
    def gradient_evaluations(self) -> int:
        return int(self.scores.shape[-1])

    @property
    def forward_evaluations(self) -> int:
        return 0 if self.scan_scores is None else int(self.scan_scores.shape[-1])


def _check_rule(rule, steps, scan_steps, nodes_per_interval) -> tuple[int, int | None, int]:
    """The quadrature arguments checked: (steps, scan_steps or None, nodes_per_interval)."""
    if not isinstance(rule, str):
        raise TypeError(f"rule: expected one of {', '.join(map(repr, ALL_RULES))}, got {type(rule).__name__}")
    one_of(rule, "rule", ALL_RULES)
    steps = positive_int(steps, "steps")
    q = positive_int(nodes_per_interval, "nodes_per_interval")
    if rule == ADAPTIVE_SIMPSON and steps < 3:
        raise ValueError(f"steps: adaptive Simpson needs at least 3 gradients (the ends and the midpoint of [0, 1]), "
                         f"got {steps}")
    if rule == ADAPTIVE_TRAPEZOID and steps < 2:
        raise ValueError(f"steps: adaptive trapezoid needs at least 2 gradients (the ends of [0, 1]), got {steps}")
    if rule != ADAPTIVE:
        if scan_steps is not None:
            raise ValueError(f"scan_steps: only rule='adaptive' scans the path; rule={rule!r} has fixed nodes "
                             "(leave scan_steps=None)")
        return steps, None, q
    scan_steps = SCAN_STEPS if scan_steps is None else positive_int(scan_steps, "scan_steps")
    return steps, scan_steps, q


def _points(model, base, delta, target, alphas, batch_size, weights=None, show_progress=False):
    """F and dF/dα at x' + α (x − x') for per-path nodes ``alphas`` (N×B×K), in batches, and the gradients:
    every ∇F (N×B×K×C×H×W), or with ``weights`` (N×B×K) only their sum Σ_k w_k ∇F (N×B×C×H×W)."""
    n, b, k = alphas.shape
    scores, slopes = base.new_zeros(n, b, k), base.new_zeros(n, b, k)
    grads = torch.zeros_like(delta) if weights is not None else base.new_zeros(n, b, k, *base.shape[2:])
    blocks = list(_path_blocks(n, b, k, batch_size))
    for ii, jj, kk in progress(blocks, enabled=show_progress, desc="IG steps"):
        # path points γ(α_k) = x' + α_k (x − x') of inputs ii, baselines jj, nodes kk: I×B×K×C×H×W
        a = alphas[ii, jj, kk].to(base)[..., None, None, None]
        points = base[ii, jj, None] + a * delta[ii, jj, None]
        of_input = torch.arange(n)[ii].view(-1, 1, 1).expand(points.shape[:3])   # which input, per point
        g, f = gradients_and_scores(model, points.flatten(0, 2), target[of_input.flatten()])
        g = g.view(points.shape)
        scores[ii, jj, kk] = f.view(points.shape[:3])
        slopes[ii, jj, kk] = (g * delta[ii, jj, None]).flatten(3).sum(3)
        if weights is None:
            grads[ii, jj, kk] = g
        else:
            grads[ii, jj] += (weights[ii, jj, kk].to(base)[..., None, None, None] * g).sum(2)
    return scores, slopes, grads


def _bisection_rule(model, base, delta, target, first: torch.Tensor, total: int, next_nodes, final_weights,
                    batch_size: int, show_progress: bool, desc: str):
    """The rules that place their nodes from the gradients: (Σ_k w_k ∇F_k N×B×C×H×W, alphas, weights, scores,
    slopes N×B×total).

    Every path starts with the nodes ``first``; each round, ``next_nodes(alphas, scores, slopes, stored, slot,
    delta, room)`` gives the new nodes of each path (M×B×k, k ≤ ``room`` = gradients left), until ``total``
    gradients are used; then ``final_weights(alphas)`` weighs the sorted nodes. Paths are done a few at a time
    so that the kept gradients stay under ``GRADIENT_VALUES`` numbers. Each gradient is written once, into the
    next free slot of one buffer (``stored``, M×B×total×C×H×W, in computation order; ``slot`` says which
    belongs to each sorted node); only the small per-node tensors are re-sorted each round.
    """
    n, b = base.shape[:2]
    per_chunk = max(1, GRADIENT_VALUES // (b * total * math.prod(base.shape[2:])))
    results = []
    for sl in progress(list(batches(n, per_chunk)), enabled=show_progress, desc=desc):
        bs, ds, m = base[sl], delta[sl], len(range(n)[sl])
        targets = target[torch.arange(n)[sl]]
        alphas = first.expand(m, b, -1).contiguous()
        scores, slopes, new_grads = _points(model, bs, ds, targets, alphas, batch_size)
        stored = new_grads.new_empty(m, b, total, *new_grads.shape[3:])
        used = alphas.shape[-1]
        stored[:, :, :used] = new_grads
        slot = torch.arange(used).expand(m, b, -1)
        while used < total:
            new = next_nodes(alphas, scores, slopes, stored, slot, ds, total - used)
            f, g, new_grads = _points(model, bs, ds, targets, new, batch_size)
            k = new.shape[-1]
            stored[:, :, used:used + k] = new_grads
            order = torch.cat([alphas, new], -1).argsort(-1)
            alphas, scores, slopes = (torch.cat(pair, -1).gather(-1, order)
                                      for pair in ((alphas, new), (scores, f), (slopes, g)))
            slot = torch.cat([slot, torch.arange(used, used + k).expand(m, b, -1)], -1).gather(-1, order)
            used += k
        weights = final_weights(alphas)
        by_slot = weights.new_zeros(m, b, total).scatter_(-1, slot, weights)
        grad_sum = torch.einsum("nbk,nbkp->nbp", by_slot.to(stored), stored.flatten(3)).view(m, b, *stored.shape[3:])
        results.append((grad_sum, alphas, weights, scores, slopes))
    return tuple(torch.cat(parts) for parts in zip(*results))


def _adaptive_simpson(model, base, delta, target, steps: int, batch_size: int, show_progress: bool):
    """Adaptive Simpson on every path (``_bisection_rule``'s results, S = the largest odd number ≤ ``steps``).

    Start with composite Simpson on ``SIMPSON_START`` equal intervals; each round, bisect the
    ``SIMPSON_SPLITS`` intervals of each path whose ``simpson_errors`` are largest (2 new gradients each).
    """
    start = max(1, min(SIMPSON_START, (steps - 1) // 2))
    total = 2 * start + 1 + 2 * ((steps - 2 * start - 1) // 2)                  # gradients per path

    def next_nodes(alphas, scores, slopes, stored, slot, delta, room):
        return split_points(alphas, simpson_errors(alphas, scores.double(), slopes.double()),
                            min(SIMPSON_SPLITS, room // 2))

    first = simpson_pieces(torch.linspace(0, 1, start + 1, dtype=torch.float64))[0]
    return _bisection_rule(model, base, delta, target, first, total, next_nodes,
                           lambda alphas: simpson_pieces(alphas[..., ::2])[1],   # the final partition's weights
                           batch_size, show_progress, "IG (adaptive Simpson)")


def _integrand_changes(alphas: torch.Tensor, stored: torch.Tensor, slot: torch.Tensor, delta: torch.Tensor
                       ) -> torch.Tensor:
    """h_p · ‖(x − x') ⊙ (∇F(e_{p+1}) − ∇F(e_p))‖ for every interval p of every path: M×B×P.

    ``alphas`` M×B×(P+1) sorted nodes, ``stored`` M×B×K×C×H×W the gradients in computation order, ``slot``
    M×B×(P+1) which stored gradient belongs to each sorted node, ``delta`` M×B×C×H×W. An estimate of the
    trapezoid rule's error on the interval, pixel by pixel (in norm): where each pixel's integrand is monotone
    on the interval, that error is at most half of it.
    """
    flat = stored.flatten(3)                                                   # M×B×K×pixels
    in_order = flat.gather(2, slot[..., None].expand(-1, -1, -1, flat.shape[-1]))   # the nodes' gradients, sorted
    change = ((in_order[:, :, 1:] - in_order[:, :, :-1]) * delta.flatten(2)[:, :, None]).norm(dim=-1)
    return change.to(alphas) * alphas.diff(dim=-1)


def _largest(changes: torch.Tensor, lengths: torch.Tensor, k: int) -> torch.Tensor:
    """The indices of the ``k`` largest ``changes`` per row; ties (e.g. intervals where nothing changes) go to
    the longer interval, then to the one nearer α = 0. A change below 10⁻¹² of the row's largest counts as
    none (gradients of one linear region can differ in their last bits between passes)."""
    changes = torch.where(changes <= 1e-12 * changes.amax(-1, keepdim=True), 0, changes)
    by_length = lengths.argsort(dim=-1, descending=True, stable=True)
    by_change = changes.gather(-1, by_length).argsort(dim=-1, descending=True, stable=True)
    return by_length.gather(-1, by_change)[..., :k]


def _adaptive_trapezoid(model, base, delta, target, steps: int, batch_size: int, show_progress: bool):
    """Adaptive trapezoid on every path (``_bisection_rule``'s results, ``steps`` gradients).

    Start with the trapezoid rule on ``TRAPEZOID_START`` equal intervals; each round, bisect the (up to)
    ``TRAPEZOID_SPLITS`` intervals of each path with the largest ``_integrand_changes`` (1 new gradient each,
    at the midpoint).
    """
    def next_nodes(alphas, scores, slopes, stored, slot, delta, room):
        k = min(TRAPEZOID_SPLITS, room, alphas.shape[-1] - 1)
        worst = _largest(_integrand_changes(alphas, stored, slot, delta), alphas.diff(dim=-1), k)
        return (alphas[..., :-1].gather(-1, worst) + alphas[..., 1:].gather(-1, worst)) / 2

    first = torch.linspace(0, 1, max(1, min(TRAPEZOID_START, steps - 1)) + 1, dtype=torch.float64)
    return _bisection_rule(model, base, delta, target, first, steps, next_nodes, trapezoid_pieces,
                           batch_size, show_progress, "IG (adaptive trapezoid)")


def _scan(model: nn.Module, base: torch.Tensor, delta: torch.Tensor, target, scan_steps: int,
          batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """F at α = 0, 1/S, …, 1 on every path, forward passes only → (grid S+1, scores N×B×(S+1))."""
    n, b = base.shape[:2]
    grid = torch.linspace(0, 1, scan_steps + 1, dtype=torch.float64)
    alphas = grid.to(base)
    scores = base.new_zeros(n, b, scan_steps + 1)
    with torch.no_grad():
        for ii, jj, kk in _path_blocks(n, b, scan_steps + 1, batch_size):
            points = base[ii, jj, None] + alphas[kk].view(1, 1, -1, 1, 1, 1) * delta[ii, jj, None]
            of_input = torch.arange(n)[ii].view(-1, 1, 1).expand(points.shape[:3])
            f = target[of_input.flatten()].scores(model, points.flatten(0, 2))
            scores[ii, jj, kk] = f.view(points.shape[:3])
    return grid, scores


def adaptive_rule(model: nn.Module, inputs: torch.Tensor, target,
                  baseline: str | float | torch.Tensor = "black", steps: int = 64, scan_steps: int = SCAN_STEPS,
                  nodes_per_interval: int = 2, batch_size: int | None = None, blur_sigma: float | None = None,
                  seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The adaptive rule's nodes and weights for each input, from a forward scan only (no gradient).

    ``inputs`` N×C×H×W, ``target`` and ``baseline`` (one per input: a name, a number or a tensor) as in
    ``integrated_gradients``. Returns ``(alphas, weights, scan_scores)``: the ``steps`` nodes α_k and weights
    w_k of each input's path (N×steps, float64, weights summing to 1) and the scan F(x' + (j/S)(x − x')),
    j = 0 … S (N×(S+1), S = ``scan_steps``). ``integrated_gradients(..., rule="adaptive")`` uses the same nodes.
    """
    x, target = check_call(model, inputs, target)
    batch_size = auto_batch_size(batch_size, x.shape[1:])
    steps, scan_steps, q = _check_rule(ADAPTIVE, steps, scan_steps, nodes_per_interval)
    base = _baselines(baseline, x, model, 1, positive_int(seed, "seed", 0), blur_sigma)
    if base.shape[1] != 1:
        raise ValueError(f"baseline: adaptive_rule takes one baseline per input, got {base.shape[1]}")
    with preserved_state(model):
        _, scan = _scan(model, base, x[:, None] - base, target, scan_steps, batch_size)
    alphas, weights = adaptive_quadrature(scan.double(), steps, q)
    return alphas[:, 0], weights[:, 0], scan[:, 0]


def integrated_gradients(model: nn.Module, inputs: torch.Tensor, target,
                         baseline: str | float | torch.Tensor | Sequence = "black", steps: int = 32,
                         rule: str = "gauss_legendre", batch_size: int | None = None, n_baselines: int = 1,
                         return_error: bool = False, blur_sigma: float | None = None, seed: int = 0,
                         return_path: bool = False, show_progress: bool = False, scan_steps: int | None = None,
                         nodes_per_interval: int = 2) -> torch.Tensor | tuple[torch.Tensor, ...]:
    """Integrated gradients of each input's target score: N×C×H×W, shaped like ``inputs``.

    ``baseline``: a name (``"black"``, ``"zeros"``, ``"blur"``, ``"noise"``; see ``make_baseline``), a
    number, a tensor (N×C×H×W, 1×C×H×W or C×H×W), or a list of these, whose attributions are averaged.
    With ``"noise"``, ``n_baselines`` noise images (seeded by ``seed``) are averaged.
    ``steps``: the number of gradient evaluations per path (m; the trapezoid rule uses m + 1, adaptive
    Simpson the largest odd number ≤ m).
    ``rule``: ``"adaptive"`` scans F at ``scan_steps + 1`` evenly spaced points of each path with forward
    passes only (default 32 + 1; no backward pass, about a third of a gradient's cost each), then puts the
    ``steps`` nodes where F changes, ``nodes_per_interval`` Gauss–Legendre nodes per interval
    (``adaptive_quadrature``); ``"adaptive_simpson"`` starts from Simpson's rule on 4 intervals and
    bisects, round by round, the intervals whose exactly known error is largest (``simpson_errors``);
    ``"adaptive_trapezoid"`` starts from the trapezoid rule on 4 intervals and bisects, round by round, the
    intervals across which (x − x') ⊙ ∇F changes most in norm, times their length (an estimate of the map's
    error there, not the sum's);
    ``"left"``, ``"right"``, ``"midpoint"``, ``"trapezoid"``, ``"gauss_legendre"``
    use the same nodes on every path (``quadrature``). All path points, of all inputs and baselines, are
    evaluated ``batch_size`` at a time (``None``: as many as fit ``VALUES_PER_PASS`` input values, at most
    ``ROWS_PER_PASS``, e.g. 4 rows at 3×224×224 — faster on a CPU than large batches of large images).

    With ``return_error=True`` also returns the completeness error per input (a length-N tensor):
    Σ_i IG_i − (F(x) − mean_b F(x'_b)), which goes to 0 as ``steps`` grows. With ``return_path=True``
    also returns an ``IGPath`` (nodes, weights, scores and slopes dF/dα at every node, the scan); the result
    is then ``attributions[, error][, path]``.
    """
    x, target = check_call(model, inputs, target)
    batch_size = auto_batch_size(batch_size, x.shape[1:])
    steps, scan_steps, q = _check_rule(rule, steps, scan_steps, nodes_per_interval)
    n_baselines = positive_int(n_baselines, "n_baselines")
    check_bool(return_error, "return_error")
    check_bool(return_path, "return_path")
    if n_baselines > 1 and not (isinstance(baseline, str) and baseline == "noise"):
        raise ValueError(f"n_baselines: averaging over {n_baselines} baselines needs baseline='noise' "
                         "(or pass a list of baselines)")
    base = _baselines(baseline, x, model, n_baselines, positive_int(seed, "seed", 0), blur_sigma)  # N×B×C×H×W
    n, b = base.shape[0], base.shape[1]
    delta = x[:, None] - base                                                # N×B×C×H×W: x − x'
    with preserved_state(model):
        scan_alphas = scan_scores = None
        if rule in (ADAPTIVE_SIMPSON, ADAPTIVE_TRAPEZOID):                   # nodes chosen from the gradients
            bisect = _adaptive_simpson if rule == ADAPTIVE_SIMPSON else _adaptive_trapezoid
            grad_sum, node_alphas, node_weights, scores, slopes = bisect(
                model, base, delta, target, steps, batch_size, show_progress)
            attributions = (delta * grad_sum).mean(1)
            extra = (IGPath(node_alphas.to(x), node_weights.to(x), scores, slopes),) if return_path else ()
            if not return_error:
                return (attributions, *extra) if extra else attributions
            change = (scores[..., -1] - scores[..., 0]).mean(1)             # α = 1 and α = 0 are nodes
            return (attributions, attributions.flatten(1).sum(1) - change, *extra)
        if rule == ADAPTIVE:                                                 # forward-only scan of each path
            scan_alphas, scan_scores = _scan(model, base, delta, target, scan_steps, batch_size)
            node_alphas, node_weights = adaptive_quadrature(scan_scores.double(), steps, q)   # N×B×S each
            alphas, weights = node_alphas.to(x), node_weights.to(x)
        else:
            node_alphas, node_weights = quadrature(steps, rule)              # S nodes α_k and weights w_k
            alphas, weights = (t.to(x).expand(n, b, -1) for t in (node_alphas, node_weights))
        # F, dF/dα at every node and Σ_k w_k ∇F(x' + α_k (x − x')) per path
        scores, slopes, grad_sum = _points(model, base, delta, target, alphas, batch_size, weights, show_progress)
        attributions = (delta * grad_sum).mean(1)                           # (x − x') ⊙ Σ_k w_k ∇F, mean over B
        extra: tuple = ((IGPath(node_alphas.to(x), node_weights.to(x), scores, slopes,
                                scan_alphas if scan_alphas is None else scan_alphas.to(x), scan_scores),)
                        if return_path else ())
        if not return_error:
            return (attributions, *extra) if extra else attributions
        if scan_scores is not None:                                          # the scan's ends: F(x) and F(x')
            change = (scan_scores[..., -1] - scan_scores[..., 0]).mean(1)
        else:
            with torch.no_grad():                                            # completeness: F(x) − mean_b F(x'_b)
                f_x = torch.cat([target[sl].scores(model, x[sl]) for sl in batches(n, batch_size)])
                flat_base = base.flatten(0, 1)                               # (N·B)×C×H×W, input-major
                of_input = torch.arange(n).repeat_interleave(b)
                f_base = torch.cat([target[of_input[sl]].scores(model, flat_base[sl])
                                    for sl in batches(n * b, batch_size)])
            change = f_x - f_base.view(n, b).mean(1)
        error = attributions.flatten(1).sum(1) - change
    return (attributions, error, *extra)
