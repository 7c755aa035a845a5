"""KernelSHAP (Lundberg & Lee 2017): Shapley values as the solution of a weighted linear regression.

Fit g(z) = φ₀ + φ·z to V on coalitions z, each weighted by the *Shapley kernel*

    π(z) = (n − 1) / ( C(n, |z|) · |z| · (n − |z|) ),

infinite for z = ∅ and z = N: those two are constraints, φ₀ = V(∅) and Σ φ_i = V(N) − V(∅) (efficiency).
With every coalition in the regression the solution *is* the vector of Shapley values; with a sample of
them it is an estimate that converges to it.

Sampling (as the ``shap`` package does): coalition sizes carry total weight ∝ (n − 1) / (s (n − s)), the
most at s = 1 and n − 1. Sizes are taken in pairs (s, n − s) from the ends; a pair whose coalitions the
budget would sample at least once each is enumerated exactly, with their kernel weights. The rest of
the budget is drawn at random from the remaining sizes (in proportion to their weight) — each draw with
its complement when ``paired`` (Covert & Lee 2021: antithetic pairs cancel much of the noise) — until
that many *distinct* coalitions are drawn; repeats add weight, never forward passes.
"""
from __future__ import annotations

import itertools
import math
import time

import numpy as np
import torch

from ..shapley.games import check_game, coalition_masks
from ..validation import check_bool, finite_number, positive_int
from .explanation import Explanation, as_float64, values_of

__all__ = ["shapley_kernel", "kernel_regression", "kernel_shap_coalitions", "kernel_shap"]


def shapley_kernel(n_players: int, size: int) -> float:
    """The Shapley kernel weight of one coalition of ``size`` players out of ``n_players``:
    (n − 1) / (C(n, s) s (n − s)); ``math.inf`` for s = 0 and s = n (the two constraints)."""
    n = positive_int(n_players, "n_players")
    s = positive_int(size, "size", minimum=0)
    if s > n:
        raise ValueError(f"size: a coalition of {n} players has at most {n} members, got {s}")
    if s in (0, n):
        return math.inf
    return (n - 1) / (math.comb(n, s) * s * (n - s))


def kernel_regression(coalitions: torch.Tensor, values: torch.Tensor, weights: torch.Tensor,
                      v_empty: float, v_full: float) -> torch.Tensor:
    """The constrained weighted least squares of KernelSHAP → φ (float64, n), with Σφ = v_full − v_empty.

    Minimizes Σ_k w_k (V(z_k) − v_empty − z_k·φ)² subject to Σ_i φ_i = v_full − v_empty, for ``coalitions``
    K×n (bool), ``values`` K, ``weights`` K ≥ 0. The constraint is exact: substitute
    φ_n = Δ − Σ_{i<n} φ_i, where Δ = v_full − v_empty, and solve an ordinary weighted regression for the
    other n − 1 values (minimum-norm if the samples do not determine them).
    """
    if not isinstance(coalitions, torch.Tensor) or coalitions.ndim != 2:
        raise ValueError(f"coalitions: expected a K×n tensor, got "
                         f"{tuple(coalitions.shape) if isinstance(coalitions, torch.Tensor) else type(coalitions).__name__}")
    v_empty, v_full = finite_number(v_empty, "v_empty"), finite_number(v_full, "v_full")
    delta, n = v_full - v_empty, coalitions.shape[1]
    if n == 1:                                        # efficiency alone decides
        return torch.tensor([delta], dtype=torch.float64)
    z, y, w = (as_float64(t, name, layout) for t, name, layout in
               ((coalitions, "coalitions", "K×n"), (values, "values", "K"), (weights, "weights", "K")))
    if not (len(z) == len(y) == len(w)):
        raise ValueError(f"values, weights: expected {len(z)} of each (one per coalition), got {len(y)} and {len(w)}")
    if bool((w < 0).any()):
        raise ValueError("weights: expected non-negative weights (use the constraints for ∅ and N, not inf)")
    target = y - v_empty - z[:, -1] * delta                     # what the first n − 1 values must explain
    design = z[:, :-1] - z[:, -1:]
    weighted = (w[:, None] * design).T.contiguous()           # XᵀW (a transposed view would be slow)
    # the (n−1)×(n−1) normal equations; gelsd gives the minimum-norm solution when they are singular
    head = torch.linalg.lstsq(weighted @ design, weighted @ target, driver="gelsd").solution
    return torch.cat([head, (delta - head.sum())[None]])


def _size_weights(n: int) -> torch.Tensor:
    """Share of the total kernel weight held by each coalition size s = 1..n−1 (sums to 1)."""
    s = torch.arange(1, n, dtype=torch.float64)
    w = (n - 1) / (s * (n - s))
    return w / w.sum()


def _subsets_of_size(n: int, size: int) -> torch.Tensor:
    """All C(n, size) coalitions of ``size`` players: C(n, size)×n bool."""
    members = torch.tensor(list(itertools.combinations(range(n), size)), dtype=torch.long).view(-1, size)
    return torch.zeros(len(members), n, dtype=torch.bool).scatter_(1, members, True)


def kernel_shap_coalitions(n_players: int, n_samples: int, generator: torch.Generator | None = None,
                           paired: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Distinct coalitions (K×n bool, neither ∅ nor N) and their regression weights (K, summing to 1).

    K = min(``n_samples``, 2^n − 2); with K = 2^n − 2 every coalition is taken with its exact kernel weight.
    See the module doc for the sampling scheme.
    """
    n, budget = positive_int(n_players, "n_players"), positive_int(n_samples, "n_samples")
    paired = check_bool(paired, "paired")
    if n == 1:
        return torch.zeros(0, 1, dtype=torch.bool), torch.zeros(0, dtype=torch.float64)
    share = _size_weights(n)                                    # share[s − 1]: weight of size s
    if n <= 25 and budget >= 2 ** n - 2:                        # everything: the exact regression
        z = coalition_masks(n)[1:-1]
        sizes = z.sum(1)
        return z, share[sizes - 1] / torch.tensor([math.comb(n, int(s)) for s in range(n + 1)],
                                                  dtype=torch.float64)[sizes]
    rows, weights, left, remaining = [], [], budget, 1.0
    sizes_left = list(range(1, n))
    for s in range(1, n // 2 + 1):                              # enumerate whole sizes from the ends while affordable
        pair = [s] if s == n - s else [s, n - s]
        count = sum(math.comb(n, t) for t in pair)
        pair_share = float(sum(share[t - 1] for t in pair))
        if count > left or left * pair_share / remaining / count < 1 - 1e-8:
            break
        for t in pair:
            rows.append(_subsets_of_size(n, t))
            weights.append(torch.full((math.comb(n, t),), float(share[t - 1]) / math.comb(n, t), dtype=torch.float64))
            sizes_left.remove(t)
        left, remaining = left - count, remaining - pair_share
    if left > 0 and sizes_left:
        z, w = _sample(n, left, sizes_left, share, remaining, generator, paired)
        rows.append(z)
        weights.append(w)
    return torch.cat(rows), torch.cat(weights)


def _sample(n: int, k: int, sizes: list[int], share: torch.Tensor, remaining: float,
            generator: torch.Generator | None, paired: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``k`` distinct random coalitions with sizes in ``sizes`` (drawn ∝ ``share``) and weights that split
    ``remaining`` in proportion to how often each was drawn."""
    probs = share[torch.tensor(sizes) - 1]
    probs = probs / probs.sum()
    counts: dict[bytes, int] = {}
    found: dict[bytes, torch.Tensor] = {}
    drawn, max_draws = 0, 50 * k + 1000                           # a cap, in case nearly every coalition is asked for
    while len(found) < k and drawn < max_draws:
        m = max(1, (k - len(found) + 1) // (2 if paired else 1))
        size = torch.tensor(sizes)[torch.multinomial(probs, m, replacement=True, generator=generator)]
        ranks = torch.rand(m, n, generator=generator).argsort(1).argsort(1)
        z = ranks < size[:, None]
        if paired:
            z = torch.stack([z, ~z], 1).flatten(0, 1)           # each draw next to its complement
        keys = [bytes(r) for r in np.packbits(z.numpy(), axis=1)]
        for key, row in zip(keys, z):
            if key not in found:
                if len(found) >= k:
                    continue                                     # budget reached: this draw is not counted
                found[key] = row
            counts[key] = counts.get(key, 0) + 1
            drawn += 1
    keys = list(found)
    c = torch.tensor([counts[key] for key in keys], dtype=torch.float64)
    return torch.stack([found[key] for key in keys]), remaining * c / c.sum()


def kernel_shap(game, n_samples: int = 1000, paired: bool = True, seed: int = 0, batch_size: int = 256,
                show_progress: bool = True) -> Explanation:
    """KernelSHAP estimates of the Shapley values of ``game`` (e.g. a ``SegmentGame``).

    Asks the game for V(∅), V(N) and ``n_samples`` distinct coalitions (``kernel_shap_coalitions``, drawn
    from a generator seeded with ``seed``), ``batch_size`` at a time, and solves ``kernel_regression``.
    The values always add up to V(N) − V(∅); with ``n_samples`` ≥ 2^n − 2 they are the exact Shapley values.
    """
    n = check_game(game)
    n_samples = positive_int(n_samples, "n_samples")
    seed, batch_size = positive_int(seed, "seed", minimum=0), positive_int(batch_size, "batch_size")
    check_bool(paired, "paired")
    check_bool(show_progress, "show_progress")
    start = time.perf_counter()
    z, w = kernel_shap_coalitions(n, n_samples, torch.Generator().manual_seed(seed), paired)
    ends = torch.stack([torch.zeros(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)])
    v = values_of(game, torch.cat([ends, z]), batch_size, show_progress, "KernelSHAP samples")
    v_empty, v_full = float(v[0]), float(v[1])
    phi = kernel_regression(z, v[2:], w, v_empty, v_full)
    return Explanation(phi, v_empty, len(z) + 2, time.perf_counter() - start, "KernelSHAP")
