"""Quadrature rules on [0, 1]: the nodes α_k and weights w_k with ∫₀¹ g(α) dα ≈ Σ_k w_k g(α_k).

The course's one quadrature: integrated gradients on images (``attribution.integrated``) and on token
embeddings (``text.attributions``) both take their nodes from here.

* ``quadrature(steps, rule)`` – the uniform rules, the same nodes for every path: left/right/midpoint Riemann
  sums, the trapezoid rule and Gauss–Legendre.
* ``gauss_legendre_pieces(edges, nodes_per_interval)`` – composite Gauss–Legendre on a partition of [0, 1]:
  Legendre nodes inside each interval, weights scaled by the interval's length (exact for piecewise
  polynomials of degree ≤ 2q − 1 on that partition).
* ``adaptive_quadrature(scan_scores, steps)`` – the adaptive rule: from F on an evenly spaced scan of the
  path (forward passes only), a partition whose intervals are short where F changes, then
  ``gauss_legendre_pieces`` on it. Each path gets its own nodes.
* ``simpson_pieces(edges)``, ``simpson_errors(alphas, scores, slopes)``, ``split_points(alphas, errors, k)`` –
  the steps of adaptive Simpson (``rule="adaptive_simpson"`` in ``integrated_gradients``): composite Simpson
  on a partition; each interval's error, known exactly because every gradient pass also returns F, so
  F(e_{p+1}) − F(e_p) = ∫ dF/dα over the interval; and the nodes that bisect the worst intervals.
* ``trapezoid_pieces(edges)`` – the trapezoid rule's weights on a partition, for adaptive trapezoid
  (``rule="adaptive_trapezoid"`` in ``integrated_gradients``), which bisects the intervals across which the
  gradients, pixel by pixel, change most.
"""
from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np
import torch

from ..validation import check_finite, one_of, positive_float, positive_int

RULES = ("left", "right", "midpoint", "trapezoid", "gauss_legendre")   # uniform: one set of nodes for all paths
ADAPTIVE = "adaptive"                                                   # nodes from a forward scan of each path
ADAPTIVE_SIMPSON = "adaptive_simpson"                                   # bisect where the known error is largest
ADAPTIVE_TRAPEZOID = "adaptive_trapezoid"                               # bisect where the gradients change most
ALL_RULES = RULES + (ADAPTIVE, ADAPTIVE_SIMPSON, ADAPTIVE_TRAPEZOID)


def quadrature(steps: int, rule: str = "gauss_legendre") -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes α_k in [0, 1] and weights w_k (float64, summing to 1) of a rule with ``steps`` intervals/points.

    ``left``: α = 0, 1/m, …, (m−1)/m; ``right``: α = 1/m, …, 1 (the paper's sum); ``midpoint``:
    α = (k + ½)/m; all with weights 1/m. ``trapezoid``: α = 0, 1/m, …, 1 with weights 1/m, ends halved
    (m + 1 points). ``gauss_legendre``: the m Legendre nodes mapped from [−1, 1] to [0, 1].
    Returns two 1-d tensors of m nodes (m + 1 for the trapezoid). The adaptive rule depends on the path, so it
    is not here: see ``adaptive_quadrature``.
    """
    m = positive_int(steps, "steps")
    if rule == ADAPTIVE:
        raise ValueError("rule: 'adaptive' places its nodes from a scan of F along each path, so it has no fixed "
                         "nodes; use integrated_gradients(..., rule='adaptive') or adaptive_quadrature(scan_scores, "
                         f"steps), or one of {', '.join(map(repr, RULES))} here")
    if rule == ADAPTIVE_SIMPSON:
        raise ValueError("rule: 'adaptive_simpson' places its nodes from the gradients along each path, so it has "
                         "no fixed nodes; use integrated_gradients(..., rule='adaptive_simpson') or "
                         f"simpson_pieces(edges), or one of {', '.join(map(repr, RULES))} here")
    if rule == ADAPTIVE_TRAPEZOID:
        raise ValueError("rule: 'adaptive_trapezoid' places its nodes from the gradients along each path, so it has "
                         "no fixed nodes; use integrated_gradients(..., rule='adaptive_trapezoid') or "
                         f"trapezoid_pieces(edges), or one of {', '.join(map(repr, RULES))} here")
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


def _counts(nodes_per_interval, n_intervals: int) -> list[int]:
    if isinstance(nodes_per_interval, numbers.Integral) and not isinstance(nodes_per_interval, bool):
        return [positive_int(nodes_per_interval, "nodes_per_interval")] * n_intervals
    if isinstance(nodes_per_interval, (str, bytes)) or not isinstance(nodes_per_interval, Sequence):
        raise TypeError(f"nodes_per_interval: expected an int or a sequence of {n_intervals} ints, "
                        f"got {type(nodes_per_interval).__name__}")
    if len(nodes_per_interval) != n_intervals:
        raise ValueError(f"nodes_per_interval: expected {n_intervals} counts (one per interval of edges), "
                         f"got {len(nodes_per_interval)}")
    return [positive_int(q, "nodes_per_interval") for q in nodes_per_interval]


def gauss_legendre_pieces(edges: torch.Tensor, nodes_per_interval: int | Sequence[int] = 2
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Composite Gauss–Legendre on the partition ``edges`` of [0, 1].

    ``edges``: (…, P+1) non-decreasing, from 0 to 1 (a batch of partitions, one per row, is allowed), as a
    tensor or a list. ``nodes_per_interval``: q Legendre nodes in every interval, or a list of P counts.
    Interval p = [e_p, e_{p+1}] of length h_p gets the nodes e_p + h_p (t_j + 1)/2 and the weights
    h_p · v_j / 2, where (t_j, v_j) are the q-point Legendre nodes and weights on [−1, 1]: the rule integrates
    exactly every function that is a polynomial of degree ≤ 2q − 1 on each interval, and its weights add up
    to 1. Returns (alphas, weights), float64, shape (…, Σ_p q_p), nodes in increasing order.
    """
    if not isinstance(edges, torch.Tensor):
        if not isinstance(edges, (list, tuple, np.ndarray)):
            raise TypeError(f"edges: expected a tensor (…, P+1) of interval ends from 0 to 1, "
                            f"got {type(edges).__name__}")
        edges = torch.as_tensor(np.asarray(edges, dtype=np.float64))
    if edges.dtype == torch.bool or edges.is_complex():
        raise TypeError(f"edges: expected real numbers from 0 to 1, got {edges.dtype}")
    edges = check_finite(edges.to(torch.float64), "edges")
    if edges.ndim == 0 or edges.shape[-1] < 2:
        raise ValueError(f"edges: expected at least two interval ends (…, P+1 with P ≥ 1), "
                         f"got shape {tuple(edges.shape)}")
    if bool((edges[..., 0] != 0).any()) or bool((edges[..., -1] != 1).any()):
        raise ValueError("edges: a partition of [0, 1] starts at 0 and ends at 1, got "
                         f"{float(edges[..., 0].flatten()[0]):g} … {float(edges[..., -1].flatten()[0]):g}")
    lengths = edges.diff(dim=-1)                                               # (…, P) interval lengths h_p
    if bool((lengths < 0).any()):
        raise ValueError("edges: must be non-decreasing (each interval [e_p, e_{p+1}] with e_p ≤ e_{p+1})")
    counts = _counts(nodes_per_interval, lengths.shape[-1])
    legendre = {q: tuple(torch.from_numpy(a) for a in np.polynomial.legendre.leggauss(q)) for q in set(counts)}
    alphas, weights = [], []
    for p, q in enumerate(counts):                 # P intervals, each vectorized over the batch of partitions
        t, v = legendre[q]                         # q Legendre nodes and weights on [−1, 1]
        start, h = edges[..., p:p + 1], lengths[..., p:p + 1]
        alphas.append(start + h * (t + 1) / 2)
        weights.append(h * v / 2)
    return torch.cat(alphas, -1), torch.cat(weights, -1)


def adaptive_quadrature(scan_scores: torch.Tensor, steps: int = 64, nodes_per_interval: int = 2,
                        concentration: float = 0.75) -> tuple[torch.Tensor, torch.Tensor]:
    """The adaptive rule: ``steps`` nodes placed where F changes along the path, and their exact weights.

    ``scan_scores``: (…, S+1) the score F at the evenly spaced points α = 0, 1/S, …, 1 of each path (a forward
    scan, no gradients; one row per path). The partition of [0, 1] equalises the measure

        M(α) = c · V(α) / V(1) + (1 − c) · α,    V(α) = ∫₀^α |dF/dα| (the scan's piecewise-linear |ΔF| sum),

    with c = ``concentration`` ∈ [0, 1): a share c of the nodes follows the change of F, the rest is spread
    evenly so that no stretch of the path goes unsampled. Each interval then gets ``nodes_per_interval``
    Gauss–Legendre nodes (``gauss_legendre_pieces``; the last interval fewer when q does not divide
    ``steps``), with every interval carrying the same share of M per node. A path on which F does not change
    gets ``steps // q`` equal intervals. Returns (alphas, weights), float64, shape (…, steps).
    """
    if not isinstance(scan_scores, torch.Tensor):
        raise TypeError(f"scan_scores: expected a tensor (…, S+1) of scores along the path, "
                        f"got {type(scan_scores).__name__}")
    if scan_scores.is_complex() or not scan_scores.is_floating_point():
        raise TypeError(f"scan_scores: expected a float tensor, got {scan_scores.dtype}")
    f = check_finite(scan_scores.detach().to(torch.float64), "scan_scores")
    if f.ndim == 0 or f.shape[-1] < 2:
        raise ValueError(f"scan_scores: expected at least 2 scan points (α = 0 and α = 1) along the last axis, "
                         f"got shape {tuple(f.shape)}")
    m = positive_int(steps, "steps")
    q = min(positive_int(nodes_per_interval, "nodes_per_interval"), m)
    c = positive_float(concentration, "concentration", allow_zero=True)
    if c >= 1:
        raise ValueError(f"concentration: expected a number in [0, 1) (1 would leave flat stretches without "
                         f"nodes), got {c}")
    counts = [q] * (m // q) + ([m % q] if m % q else [])
    s = f.shape[-1] - 1
    grid = torch.linspace(0, 1, s + 1, dtype=torch.float64)
    variation = torch.cat([torch.zeros_like(f[..., :1]), f.diff(dim=-1).abs().cumsum(-1)], -1)   # V at the scan
    total = variation[..., -1:]
    moves = total > 1e-12 * f.abs().amax(-1, keepdim=True).clamp_min(1e-300)   # F changes along this path
    share = torch.where(moves, c * variation / torch.where(moves, total, torch.ones_like(total)), 0)
    measure = share + torch.where(moves, 1 - c, 1.0) * grid                    # M(α_j): increasing, 0 … 1
    measure[..., -1] = 1.0
    targets = torch.tensor([0] + counts, dtype=torch.float64).cumsum(0) / m  # M at the interval ends
    targets = targets.expand(*f.shape[:-1], -1).contiguous()
    j = torch.searchsorted(measure.contiguous(), targets, right=True).clamp(1, s)   # M_{j−1} ≤ target < M_j
    lo, hi = measure.gather(-1, j - 1), measure.gather(-1, j)
    edges = grid[j - 1] + (targets - lo) / (hi - lo) / s                       # invert the piecewise-linear M
    edges[..., 0], edges[..., -1] = 0.0, 1.0
    edges = torch.cummax(edges.clamp(0, 1), -1).values
    return gauss_legendre_pieces(edges, counts)


def simpson_pieces(edges) -> tuple[torch.Tensor, torch.Tensor]:
    """Composite Simpson on the partition ``edges`` of [0, 1]: nodes and weights, float64, (…, 2P+1) each.

    ``edges``: (…, P+1) non-decreasing from 0 to 1 (a tensor or a list). The nodes are e_0, m_0, e_1, m_1, …,
    e_P (each interval's ends and midpoint m_p, so the edges sit at the even positions); interval p of length
    h_p gives h_p/6 to each end and 4h_p/6 to its midpoint (an edge shared by two intervals gets both
    shares). Exact for every function that is a cubic polynomial on each interval.
    """
    midpoints, _ = gauss_legendre_pieces(edges, 1)          # checks edges; one Legendre node = the midpoint
    edges = (edges if isinstance(edges, torch.Tensor) else torch.as_tensor(np.asarray(edges, dtype=np.float64)))
    edges = edges.to(torch.float64)
    h = edges.diff(dim=-1)                                  # (…, P) interval lengths
    ends = torch.zeros_like(edges)                          # each edge: h/6 from the interval on either side
    ends[..., :-1] += h / 6
    ends[..., 1:] += h / 6
    nodes = torch.stack([edges[..., :-1], midpoints], -1).flatten(-2)
    weights = torch.stack([ends[..., :-1], 4 * h / 6], -1).flatten(-2)
    return torch.cat([nodes, edges[..., -1:]], -1), torch.cat([weights, ends[..., -1:]], -1)


def trapezoid_pieces(edges) -> torch.Tensor:
    """The trapezoid rule's weights on the partition ``edges`` of [0, 1], whose nodes are the edges themselves.

    ``edges``: (…, P+1) non-decreasing from 0 to 1 (a tensor or a list). Interval p of length h_p gives h_p/2
    to each of its ends (an edge shared by two intervals gets both halves). Exact for every function that is
    linear on each interval. Returns the weights, float64, (…, P+1).
    """
    gauss_legendre_pieces(edges, 1)                         # checks edges
    edges = (edges if isinstance(edges, torch.Tensor) else torch.as_tensor(np.asarray(edges, dtype=np.float64)))
    h = edges.to(torch.float64).diff(dim=-1)                # (…, P) interval lengths
    weights = torch.zeros(*h.shape[:-1], h.shape[-1] + 1, dtype=torch.float64)
    weights[..., :-1] += h / 2
    weights[..., 1:] += h / 2
    return weights


def _check_simpson_nodes(alphas) -> torch.Tensor:
    if not isinstance(alphas, torch.Tensor):
        raise TypeError(f"alphas: expected a tensor (…, 2P+1) of composite-Simpson nodes, "
                        f"got {type(alphas).__name__}")
    if alphas.ndim == 0 or alphas.shape[-1] < 3 or alphas.shape[-1] % 2 == 0:
        raise ValueError(f"alphas: expected an odd number ≥ 3 of nodes (edges and midpoints, 2P+1) along the "
                         f"last axis, got shape {tuple(alphas.shape)}")
    return alphas


def simpson_errors(alphas: torch.Tensor, scores: torch.Tensor, slopes: torch.Tensor) -> torch.Tensor:
    """Each interval's quadrature error along the path, known exactly: Simpson's estimate minus F(b) − F(a).

    ``alphas`` (…, 2P+1): composite-Simpson nodes in increasing order (edges at the even positions, as
    ``simpson_pieces`` makes them); ``scores``: F at the nodes; ``slopes``: dF/dα = ∇F · (x − x') at the
    nodes (both shaped like ``alphas``). Interval p = [a, b] with midpoint m and h = b − a gives
    h/6 · (g(a) + 4 g(m) + g(b)) − (F(b) − F(a)), its share of the completeness error. Returns (…, P); the
    errors add up to the path's completeness error Σ_k w_k g(α_k) − (F(1) − F(0)).
    """
    alphas = _check_simpson_nodes(alphas)
    for name, t in (("scores", scores), ("slopes", slopes)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: expected a tensor shaped like alphas, got {type(t).__name__}")
        if t.shape != alphas.shape:
            raise ValueError(f"{name}: expected the shape of alphas {tuple(alphas.shape)}, got {tuple(t.shape)}")
    h = alphas[..., 2::2] - alphas[..., :-2:2]
    estimate = h / 6 * (slopes[..., :-2:2] + 4 * slopes[..., 1::2] + slopes[..., 2::2])
    return estimate - (scores[..., 2::2] - scores[..., :-2:2])


def split_points(alphas: torch.Tensor, errors: torch.Tensor, k: int) -> torch.Tensor:
    """The nodes that bisecting the ``k`` intervals with the largest |error| adds, per row: (…, 2k).

    ``alphas`` (…, 2P+1) composite-Simpson nodes, ``errors`` (…, P) from ``simpson_errors``. Bisecting
    [a, b] keeps a, m and b as nodes (m becomes an edge) and adds the new midpoints a + h/4 and a + 3h/4.
    """
    alphas = _check_simpson_nodes(alphas)
    n_intervals = alphas.shape[-1] // 2
    wanted = (*alphas.shape[:-1], n_intervals)
    if not isinstance(errors, torch.Tensor):
        raise TypeError(f"errors: expected a tensor {wanted} (one per interval), got {type(errors).__name__}")
    if errors.shape != wanted:
        raise ValueError(f"errors: expected shape {wanted} (one per interval), got {tuple(errors.shape)}")
    k = positive_int(k, "k")
    if k > n_intervals:
        raise ValueError(f"k: at most {n_intervals} intervals can be split, got {k}")
    worst = errors.abs().topk(k, dim=-1).indices
    start = alphas[..., :-2:2].gather(-1, worst)
    h = alphas[..., 2::2].gather(-1, worst) - start
    return torch.cat([start + h / 4, start + 3 * h / 4], -1)
