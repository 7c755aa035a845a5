"""Estimators of Shapley values, each returning a ``ShapleyResult``.

The Shapley value of player i averages its marginal contribution V(S ∪ {i}) − V(S) over all orders in
which the players could join:

    φ_i = Σ_{S ⊆ N∖{i}}  |S|! (n − |S| − 1)! / n!  · (V(S ∪ {i}) − V(S)).

* ``exact_shapley`` – enumerate all 2^n coalitions (n ≤ 20);
* ``permutation_shapley`` – Monte Carlo over permutations, optionally truncated;
* ``tmab_shapley`` – the top k: exact enumeration when 2^n coalitions cost less than the sampling budget,
  else the multi-armed bandit of Neuron Shapley, which only refines the players whose confidence
  interval (``bernstein_bound``, with a guaranteed range) straddles the top-k boundary, and says when
  there is no gap at that boundary;
* ``evaluations_until_top`` – when a sampler's running estimate first showed (for good) a given top k.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from ..progress import progress
from ..validation import check_bool, one_of, positive_float, positive_int
from .games import check_game, coalition_masks, evaluate, marginal_range
from .removal import indices

__all__ = ["ShapleyResult", "exact_shapley", "permutation_shapley", "bernstein_bound", "straddling", "tmab_shapley",
           "evaluations_until_top"]


@dataclass
class ShapleyResult:
    """Shapley values (exact or estimated) of n players.

    ``values`` n (float64); ``stderr`` n, the standard error of each estimate (0 for exact values);
    ``counts`` n, how many marginal contributions each estimate averages; ``n_evaluations`` coalitions
    evaluated; ``seconds`` wall time; ``history`` (evaluations so far, estimate) after every block of
    permutations; ``bounds`` the TMAB confidence half-widths; ``method`` a name. For a top-k search
    (``tmab_shapley``): ``separated`` True when the top k are certified, False when there is no gap at the
    boundary within the budget; ``stop_reason`` says why it stopped, in words; ``value_range`` the R of
    the bound and ``range_ok`` whether every marginal measured stayed within it.
    """
    values: torch.Tensor
    stderr: torch.Tensor
    counts: torch.Tensor
    n_evaluations: int
    seconds: float
    method: str
    history: list = field(default_factory=list, repr=False)
    bounds: torch.Tensor | None = None
    n_permutations: int = 0
    separated: bool | None = None
    stop_reason: str = ""
    value_range: float | None = None
    range_ok: bool | None = None

    def top(self, k: int) -> torch.Tensor:
        """Indices of the ``k`` players with the largest values, largest first."""
        positive_int(k, "k")
        return torch.argsort(self.values, descending=True, stable=True)[:k]

    def ci(self, level: float = 0.95) -> torch.Tensor:
        """Half-width of a normal-approximation confidence interval (``level``) for each value."""
        return normal_quantile(level, "level") * self.stderr

    def __repr__(self) -> str:
        # no seconds here: they depend on the machine and its load (they are in ``seconds``)
        return (f"ShapleyResult({self.method}: {len(self.values)} players, {self.n_evaluations} evaluations, "
                f"{self.n_permutations} permutations)")


def normal_quantile(level, name: str) -> float:
    """z such that a normal variable lies within ±z with probability ``level`` (a number in (0, 1))."""
    from statistics import NormalDist
    if not positive_float(level, name) < 1:
        raise ValueError(f"{name}: expected a confidence level in (0, 1), e.g. 0.95, got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2)


def exact_shapley(game, batch_size: int = 4096, max_players: int = 20, show_progress: bool = True) -> ShapleyResult:
    """Exact Shapley values by evaluating all 2^n coalitions (``batch_size`` per call to the game).

    φ_i = Σ_{S ∌ i} w(|S|) (V(S ∪ {i}) − V(S)) with w(s) = s!(n−s−1)!/n! = 1 / (n · C(n−1, s)).
    """
    n = check_game(game)
    batch_size, max_players = positive_int(batch_size, "batch_size"), positive_int(max_players, "max_players")
    if n > max_players:
        raise ValueError(f"game: exact enumeration of {n} players needs 2^{n} coalitions; it is limited to "
                         f"max_players={max_players} — use permutation_shapley or tmab_shapley")
    start = time.time()
    masks = coalition_masks(n)
    v = torch.cat([evaluate(game, masks[s:s + batch_size])
                   for s in progress(range(0, len(masks), batch_size), enabled=show_progress, desc="coalitions")])
    # Each coalition S enters φ_i with weight w(|S|−1) when i ∈ S (as S∪{i}) and −w(|S|) when i ∉ S (as S).
    size = masks.sum(1)
    weight = torch.tensor([1.0 / (n * math.comb(n - 1, s)) for s in range(n)] + [0.0], dtype=torch.float64)
    w_in, w_out = weight[(size - 1).clamp(min=0)], weight[size]
    m = masks.double()
    phi = m.T @ (v * w_in) - (1 - m).T @ (v * w_out)
    return ShapleyResult(phi, torch.zeros(n, dtype=torch.float64), torch.full((n,), 2 ** (n - 1)),
                         len(masks), time.time() - start, "exact")


# ------------------------------------------------------------------------------ permutation sampling
class _Stats:
    """Running sums of each player's marginal contributions (NaN = not measured in that permutation)."""

    def __init__(self, n: int) -> None:
        self.sums = torch.zeros(n, dtype=torch.float64)
        self.squares = torch.zeros(n, dtype=torch.float64)
        self.counts = torch.zeros(n, dtype=torch.long)

    def add(self, marginals: torch.Tensor) -> None:
        seen = ~torch.isnan(marginals)
        m = torch.where(seen, marginals, torch.zeros_like(marginals))
        self.sums += m.sum(0)
        self.squares += (m * m).sum(0)
        self.counts += seen.sum(0)

    @property
    def means(self) -> torch.Tensor:
        return self.sums / self.counts.clamp(min=1)

    @property
    def variances(self) -> torch.Tensor:
        """Unbiased sample variance (0 where fewer than 2 samples)."""
        c = self.counts.double()
        var = (self.squares - self.sums ** 2 / c.clamp(min=1)) / (c - 1).clamp(min=1)
        return torch.where(self.counts > 1, var.clamp(min=0), torch.zeros_like(var))

    @property
    def stderr(self) -> torch.Tensor:
        return (self.variances / self.counts.clamp(min=1)).sqrt()


def _scan_permutations(game, perms: torch.Tensor, active: torch.Tensor, v_full: float, v_empty: float,
                       truncation: float | None, patience: int, direction: str, chunk: int
                       ) -> tuple[torch.Tensor, int]:
    """Marginal contributions along each permutation (P×n, NaN where not measured) and evaluations used.

    Along permutation π the coalitions are C_0, C_1, ..., C_n: C_j = {π_1..π_j} when adding, N ∖ {π_1..π_j}
    when removing. The marginal contribution of π_j is V(C_j) − V(C_{j−1}) (adding) or V(C_{j−1}) − V(C_j)
    (removing). Only players in ``active`` are measured; the steps of other players are taken without
    evaluating anything. With ``truncation``, once |V(C_j) − V(C_n)| ≤ truncation at ``patience``
    consecutive measured steps, the remaining marginal contributions of that permutation are set to 0.
    Positions are processed ``chunk`` at a time for all permutations still running, so each call to the
    game holds many coalitions.
    """
    p_count, n = perms.shape
    add = direction == "add"
    v_start, v_end = (v_empty, v_full) if add else (v_full, v_empty)
    vals = torch.full((p_count, n + 1), float("nan"), dtype=torch.float64)
    vals[:, 0], vals[:, n] = v_start, v_end
    position = torch.empty_like(perms)
    position.scatter_(1, perms, torch.arange(n).expand(p_count, n).contiguous())   # position[p, i] = step of i (0-based)
    marg = torch.full((p_count, n), float("nan"), dtype=torch.float64)
    measured = active[perms]                                     # P×n: is the player at step j+1 measured?
    running = torch.ones(p_count, dtype=torch.bool)
    streak = torch.zeros(p_count, dtype=torch.long)
    evaluations = 0
    for a in range(1, n + 1, chunk):
        steps = range(a, min(a + chunk, n + 1))
        # the coalitions C_j (j in steps or j = a−1) needed by a measured step of a running permutation
        need = torch.zeros(p_count, n + 1, dtype=torch.bool)
        for j in steps:
            m = measured[:, j - 1] & running
            need[:, j] |= m
            need[:, j - 1] |= m
        need &= torch.isnan(vals)
        pi, ji = need.nonzero(as_tuple=True)
        if len(pi):
            joined = position[pi] < ji[:, None]                  # player joined (or left) before step ji
            coalitions = joined if add else ~joined
            vals[pi, ji] = evaluate(game, coalitions)
            evaluations += len(pi)
        for j in steps:
            m = measured[:, j - 1] & running
            if not m.any():
                continue
            delta = vals[:, j] - vals[:, j - 1]
            marg[m, perms[m, j - 1]] = delta[m] if add else -delta[m]
            if truncation is not None:
                close = (vals[:, j] - v_end).abs() <= truncation
                streak = torch.where(m, torch.where(close, streak + 1, torch.zeros_like(streak)), streak)
                stop = m & (streak >= patience)
                if stop.any():                                    # players after step j contribute 0
                    marg[stop[:, None] & (position >= j) & active[None, :]] = 0.0
                    running &= ~stop
        if not running.any():
            break
    return marg, evaluations


def _check_walk(truncation, patience, direction, block, chunk, seed) -> None:
    """The options permutation_shapley and tmab_shapley share."""
    if truncation is not None:
        positive_float(truncation, "truncation", allow_zero=True)
    for name, v in (("patience", patience), ("block", block), ("chunk", chunk)):
        positive_int(v, name)
    positive_int(seed, "seed", minimum=0)
    one_of(direction, "direction", ("add", "remove"))


def _end_values(game, n: int) -> tuple[float, float]:
    ends = evaluate(game, torch.stack([torch.ones(n, dtype=torch.bool), torch.zeros(n, dtype=torch.bool)]))
    return float(ends[0]), float(ends[1])


def permutation_shapley(game, n_permutations: int = 100, truncation: float | None = None, patience: int = 1,
                        direction: str = "remove", block: int = 16, chunk: int = 4, seed: int = 0,
                        show_progress: bool = True) -> ShapleyResult:
    """Monte Carlo Shapley values: average marginal contributions over random permutations.

    Each permutation π gives one marginal contribution per player; their average over ``n_permutations``
    random permutations is an unbiased estimate of φ (Castro et al. 2009). ``direction="remove"`` walks
    from the full coalition down (the Neuron Shapley paper's choice), ``"add"`` from ∅ up; without
    truncation both give the same estimator. ``truncation``: stop a permutation once the value is within
    this tolerance of where the walk ends (V(∅) when removing, V(N) when adding), for ``patience`` steps
    in a row, and count the remaining contributions as 0 (Ghorbani & Zou 2019/2020) — saves evaluations,
    adds a small bias. ``block`` permutations are scanned together; ``seed`` fixes them.
    """
    n = check_game(game)
    n_permutations = positive_int(n_permutations, "n_permutations")
    _check_walk(truncation, patience, direction, block, chunk, seed)
    start = time.time()
    gen = torch.Generator().manual_seed(seed)
    v_full, v_empty = _end_values(game, n)
    stats, evaluations, history = _Stats(n), 2, []
    active = torch.ones(n, dtype=torch.bool)
    for s in progress(range(0, n_permutations, block), enabled=show_progress, desc="permutations",
                      total=math.ceil(n_permutations / block)):
        perms = torch.stack([torch.randperm(n, generator=gen) for _ in range(min(block, n_permutations - s))])
        marg, used = _scan_permutations(game, perms, active, v_full, v_empty, truncation, patience, direction, chunk)
        stats.add(marg)
        evaluations += used
        history.append((evaluations, stats.means.clone()))
    name = "truncated Monte Carlo" if truncation is not None else "Monte Carlo"
    return ShapleyResult(stats.means, stats.stderr, stats.counts, evaluations, time.time() - start, name,
                         history, n_permutations=n_permutations)


def bernstein_bound(variances: torch.Tensor, counts: torch.Tensor, value_range: float, delta: float,
                    n_tests: int = 1) -> torch.Tensor:
    """Empirical Bernstein confidence half-width (Maurer & Pontil 2009, Theorem 4, made two-sided).

    For t i.i.d. samples in an interval of length R (``value_range``) with sample variance σ̂² (unbiased),

        b = sqrt(2 σ̂² L / t) + 7 R L / (3 (t − 1)),   L = log(4 n_tests / δ),

    and |mean − expectation| ≤ b with probability ≥ 1 − δ/n_tests (1 − δ for all ``n_tests`` intervals
    together, by the union bound). Where t ≤ 1, b = R (a mean of values in a range of length R is at most
    R from its expectation). ``variances`` and ``counts``: one entry per player; returns the half-widths.
    """
    if not isinstance(variances, torch.Tensor) or not isinstance(counts, torch.Tensor):
        raise TypeError("variances, counts: expected tensors with one entry per player")
    if counts.shape != variances.shape:
        raise ValueError(f"counts: expected the shape of variances {tuple(variances.shape)}, got {tuple(counts.shape)}")
    value_range = positive_float(value_range, "value_range", allow_zero=True)
    if not positive_float(delta, "delta") < 1:
        raise ValueError(f"delta: expected a probability in (0, 1), got {delta!r}")
    n_tests = positive_int(n_tests, "n_tests")
    t = counts.double()
    log_term = math.log(4 * n_tests / delta)
    cb = (2 * variances * log_term / t.clamp(min=1)).sqrt() + 7 * value_range * log_term / (3 * (t - 1).clamp(min=1))
    return torch.where(counts > 1, cb.clamp(max=value_range), torch.full_like(cb, float(value_range)))


def straddling(means: torch.Tensor, half_widths: torch.Tensor, k: int) -> torch.Tensor:
    """One TMAB step: which players' intervals [mean − b, mean + b] contain the top-k boundary.

    The boundary is halfway between the k-th and (k+1)-th largest ``means`` (n values, with ``half_widths``
    b, n values ≥ 0); returns a bool tensor (n,), True = still uncertain (measure it again).
    """
    if not isinstance(means, torch.Tensor) or not isinstance(half_widths, torch.Tensor):
        raise TypeError("means, half_widths: expected tensors with one entry per player")
    if means.ndim != 1 or half_widths.shape != means.shape:
        raise ValueError(f"half_widths: expected the shape of means, a vector (n,); got {tuple(means.shape)} and "
                         f"{tuple(half_widths.shape)}")
    n = len(means)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < n:
        raise ValueError(f"k: expected an int in 1..{n - 1}, got {k!r}")
    ranked = torch.sort(means, descending=True).values
    threshold = (ranked[k - 1] + ranked[k]) / 2
    return (means - half_widths <= threshold) & (means + half_widths >= threshold)


def _boundary_gap(values: torch.Tensor, k: int) -> float:
    """(k-th largest) − ((k+1)-th largest) of ``values``."""
    ranked = torch.sort(values, descending=True).values
    return float(ranked[k - 1] - ranked[k])


def tmab_shapley(game, k: int, delta: float = 0.1, value_range: float | None = None,
                 truncation: float | None = None, patience: int = 1, direction: str = "add",
                 block: int = 16, chunk: int = 4, max_permutations: int = 5000, adaptive: bool = True,
                 exact: bool | None = None, seed: int = 0, show_progress: bool = True) -> ShapleyResult:
    """Truncated multi-armed-bandit Shapley (TMAB, Ghorbani & Zou 2020): find the top-``k`` players.

    **Exact when cheaper.** Sampling may spend up to ``max_permutations`` · (n − 1) + 2 evaluations; when
    the 2^n coalitions cost less (``exact=None``, the default), every coalition is evaluated instead
    (``exact_shapley``, batched) and the top k are exact. ``exact=True`` / ``False`` forces the route.

    **Sampling.** Permutations are scanned ``block`` at a time (as in ``permutation_shapley``), but only
    the players whose interval [φ̂_i − b_i, φ̂_i + b_i] contains the boundary (halfway between the k-th and
    (k+1)-th estimates) are measured; the others are stepped over. ``b_i`` is ``bernstein_bound`` with the
    union over the n players and the K = ⌈max_permutations / block⌉ checks, so that with probability ≥ 1 − δ
    (``delta``) every interval holds at every check. (Whether a player is measured in a block is decided
    before its permutations are drawn, so its first t contributions are i.i.d. for every t; its count at a
    check is one of K values, t = block, 2·block, ..., so K intervals per player cover them all.) Then, when no interval contains the boundary
    (``result.separated`` is True), the top k returned are the true top k with probability ≥ 1 − δ.

    **The range R** of the bound must contain every marginal contribution V(S ∪ {i}) − V(S) for the
    guarantee to hold. Default: the guaranteed range derived from the game's ``value_bounds``
    (``marginal_range``: 2 for an accuracy, whose values lie in [0, 1]); a game without bounds needs
    ``value_range``. A ``value_range`` you give is *your* claim: every marginal measured is checked against
    it, and if their spread exceeds it, ``result.range_ok`` is False and nothing is certified.
    With ``truncation`` the measured contributions are biased (and depend on which players are measured),
    so the certificate is about the truncated walk, not the Shapley values; it is off by default.

    **No gap.** When the k-th and (k+1)-th players cannot be separated within ``max_permutations`` (or
    their exact values are tied), ``result.separated`` is False and ``result.stop_reason`` says "no gap at
    the boundary". ``adaptive=False`` measures every player in every permutation with the same stopping
    rule: (truncated) Monte Carlo run to the same confidence, for comparison.
    """
    n = check_game(game)
    if not positive_int(k, "k") < n:
        raise ValueError(f"k: expected an int in 1..{n - 1} (the number of top players to find), got {k!r}")
    if not positive_float(delta, "delta") < 1:
        raise ValueError(f"delta: expected a probability in (0, 1), got {delta!r}")
    if value_range is not None:
        positive_float(value_range, "value_range")
    max_permutations = positive_int(max_permutations, "max_permutations")
    check_bool(adaptive, "adaptive")
    if exact is not None:
        check_bool(exact, "exact")
    _check_walk(truncation, patience, direction, block, chunk, seed)
    budget = max_permutations * (n - 1) + 2
    if exact is None:
        exact = n <= 25 and 2 ** n <= budget
    if exact:
        result = exact_shapley(game, max_players=max(n, 20), show_progress=show_progress)
        gap = _boundary_gap(result.values, k)
        result.separated = gap > 1e-12 * max(1.0, float(result.values.abs().max()))
        result.stop_reason = (f"exact: all 2^{n} = {2 ** n} coalitions (sampling could spend up to {budget})"
                              if result.separated else
                              f"no gap at the boundary: the exact values of the {k}-th and {k + 1}-th players "
                              f"are tied ({2 ** n} coalitions)")
        return result
    guaranteed = marginal_range(game)
    if value_range is None:
        if guaranteed is None:
            raise ValueError("value_range: the game states no value_bounds, so no range of its marginal "
                             "contributions is known; pass value_range= (a bound on their spread)")
        value_range = guaranteed
    start = time.time()
    gen = torch.Generator().manual_seed(seed)
    v_full, v_empty = _end_values(game, n)
    n_checks = math.ceil(max_permutations / block)
    stats, evaluations, history, done = _Stats(n), 2, [], 0
    low = torch.full((n,), math.inf, dtype=torch.float64)
    high = torch.full((n,), -math.inf, dtype=torch.float64)
    active = torch.ones(n, dtype=torch.bool)
    everyone = torch.ones(n, dtype=torch.bool)
    separated = False
    bar = progress(range(0, max_permutations, block), enabled=show_progress, desc="TMAB permutations",
                   total=n_checks)
    for s in bar:
        perms = torch.stack([torch.randperm(n, generator=gen) for _ in range(min(block, max_permutations - s))])
        marg, used = _scan_permutations(game, perms, active if adaptive else everyone,
                                        v_full, v_empty, truncation, patience, direction, chunk)
        stats.add(marg)
        seen = ~torch.isnan(marg)
        low = torch.minimum(low, torch.where(seen, marg, torch.full_like(marg, math.inf)).min(0).values)
        high = torch.maximum(high, torch.where(seen, marg, torch.full_like(marg, -math.inf)).max(0).values)
        evaluations += used
        done += len(perms)
        history.append((evaluations, stats.means.clone()))
        bounds = bernstein_bound(stats.variances, stats.counts, value_range, delta, n_tests=n * n_checks)
        active = straddling(stats.means, bounds, k)
        if not active.any():
            separated = True
            break
    spread = float((high - low).max())
    range_ok = spread <= value_range
    straddle = active.nonzero().flatten().tolist()
    if not range_ok:
        reason = (f"range exceeded: the marginal contributions spread over {spread:.4g} > value_range "
                  f"{value_range:.4g}, so the bounds are void; nothing is certified")
    elif separated:
        reason = (f"separated: no interval contains the boundary after {done} permutations "
                  f"(top {k} correct with probability ≥ {1 - delta:g}"
                  + (", for the truncated walk)" if truncation is not None else ")"))
    else:
        reason = (f"no gap at the boundary: after {done} permutations ({evaluations} evaluations) the intervals "
                  f"of {len(straddle)} players still contain it, e.g. {straddle[:8]}")
    name = "TMAB" if adaptive else "truncated Monte Carlo (same stopping rule)"
    if truncation is None and not adaptive:
        name = "Monte Carlo (same stopping rule)"
    return ShapleyResult(stats.means, stats.stderr, stats.counts, evaluations, time.time() - start, name,
                         history, bounds=bounds, n_permutations=done, separated=separated and range_ok,
                         stop_reason=reason, value_range=value_range, range_ok=range_ok)


def evaluations_until_top(result: ShapleyResult, players) -> int | None:
    """The evaluations after which ``result``'s running estimate ranks ``players`` (a set of k indices) as
    its top k and keeps doing so to the end of its ``history``; None if its final top k differ.

    Measures what a sampler needed to *show* a ranking found by another route — in hindsight: the
    sampler itself could not have known at that point that its ranking would not change.
    """
    if not isinstance(result, ShapleyResult) or not result.history:
        raise TypeError("result: expected a ShapleyResult with a history (from permutation_shapley or tmab_shapley)")
    target = set(indices(players, len(result.values), "players", what="player").tolist())
    if not target:
        raise ValueError("players: expected at least one player")
    k = len(target)
    first = None
    for used, estimate in result.history:
        top = set(torch.argsort(estimate, descending=True, stable=True)[:k].tolist())
        if top == target:
            first = used if first is None else first
        else:
            first = None
    return first
