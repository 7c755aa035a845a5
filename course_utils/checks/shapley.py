"""Checks for lecture 09 (Neuron Shapley): exact Shapley values, permutation sampling, mean removal, ablation,
truncated Monte Carlo and one step of the top-k bandit (TMAB).

Exercise games are plain functions ``value(coalition) -> float`` of one coalition, a bool tensor of
length n (True = the player is in). The references are ``course_utils.shapley``.
"""
from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from ..shapley import (FunctionGame, ablation_curve, additive_game, exact_shapley, glove_game, permutation_shapley,
                       removed_channels, straddling, voting_game)
from . import (Case, CheckResult, StudentError, call_student, compare, exercise_check, failed, generator,
               not_implemented, passed, run_check, seeded)


# ---------------------------------------------------------------------------------------- fresh games
def _table_game(n: int, seed: int):
    """A random game: V(S) looked up in a table indexed by the bits of S (V(∅) not 0, on purpose)."""
    table = torch.randn(2 ** n, generator=generator(seed), dtype=torch.float64)
    bits = 1 << torch.arange(n)

    def value(coalition: torch.Tensor) -> float:
        return float(table[int((coalition.long() * bits).sum())])
    return value


def _single(game: FunctionGame):
    """A one-coalition function from a batched FunctionGame (what the exercises receive)."""
    return lambda coalition: float(game(torch.as_tensor(coalition).bool()[None])[0])


def _reference_values(value, n_players) -> torch.Tensor:
    return exact_shapley(FunctionGame(value, n_players), show_progress=False).values


def _coalitions(n: int) -> torch.Tensor:
    return ((torch.arange(2 ** n)[:, None] >> torch.arange(n)) & 1).bool()


def _weighted_marginals(value, n: int, weight, empty_value=None) -> torch.Tensor:
    """Σ_S weight(|S|) · (V(S ∪ {i}) − V(S)) over the coalitions S without i (``empty_value``: V(∅) replaced)."""
    masks = _coalitions(n)
    v = torch.tensor([value(m) for m in masks], dtype=torch.float64)
    if empty_value is not None:
        v[0] = empty_value
    phi = torch.zeros(n, dtype=torch.float64)
    for s, m in enumerate(masks):
        for i in range(n):
            if not m[i]:
                phi[i] += weight(int(m.sum())) * (v[s | (1 << i)] - v[s])
    return phi


def _shapley_weight(n: int):
    return lambda s: math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)


def _ends(value, n: int) -> tuple[float, float]:
    return value(torch.ones(n, dtype=torch.bool)), value(torch.zeros(n, dtype=torch.bool))


# ---------------------------------------------------------------------------------- exercise 1: exact
@dataclass
class _Expected:
    values: torch.Tensor
    value: object
    n: int
    kind: str = "exact"
    tolerance: float = 1e-9


def _as_values(got, n: int) -> tuple[torch.Tensor | None, str | None]:
    if got is None:
        return None, "your function returned None (a missing `return`?)"
    if not isinstance(got, torch.Tensor):
        return None, f"expected a torch.Tensor of {n} values, got {type(got).__name__}"
    if got.shape != (n,):
        return None, f"expected shape ({n},) (one value per player), got {tuple(got.shape)}"
    return got.detach().double(), None


@exercise_check
def check_exact_shapley(fn) -> CheckResult:
    """``fn(value, n_players) -> Tensor[n]``: exact Shapley values of the game ``value`` by enumeration."""
    def compare_fn(expected, got) -> str | None:
        problem = compare(expected, got, atol=1e-7, rtol=1e-6)
        if problem is None or not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            return problem
        full, empty = _ends(current["value"], len(expected))
        if not math.isclose(float(got.sum()), full - empty, abs_tol=1e-6):
            return (f"the values add up to {float(got.sum()):.4g}, but Shapley values add up to "
                    f"V(N) − V(∅) = {full - empty:.4g} (efficiency)")
        return problem

    current: dict = {}

    def reference(value, n):
        current["value"] = value
        return _reference_values(value, n)

    mistakes = {
        "these are Banzhaf values (every coalition weighted alike): weight a coalition S of size s by "
        "s!(n−s−1)!/n!": lambda v, n: _weighted_marginals(v, n, lambda s: 1 / 2 ** (n - 1)),
        "the weight of a coalition S of size s (without player i) is s!(n−s−1)!/n!: yours is off by one in "
        "the factorials": (lambda v, n: _weighted_marginals(v, n, lambda s: math.factorial(s) * math.factorial(n - s)
                                                            / math.factorial(n)),
                           lambda v, n: _weighted_marginals(v, n, lambda s: math.factorial(s + 1)
                                                            * math.factorial(n - s - 1) / math.factorial(n))),
        "each contribution is V(S ∪ {i}) − V(S): you subtracted the other way round":
            lambda v, n: -_reference_values(v, n),
        "V(∅) is not 0 in this game: use value(empty coalition) like any other (don't skip or zero it)":
            lambda v, n: _weighted_marginals(v, n, _shapley_weight(n), empty_value=0.0),
    }
    games = [
        ("3-player random game", _table_game(3, 101), 3),
        ("5-player random game (V(∅) ≠ 0)", _table_game(5, 102), 5),
        ("glove game, 2 left and 3 right gloves", _single(glove_game(2, 3)), 5),
        ("voting game, weights (4, 3, 2, 1), quota 6", _single(voting_game([4, 3, 2, 1], 6)), 4),
        ("1-player game", _table_game(1, 103), 1),
    ]
    return run_check("check_exact_shapley", fn, reference, [Case(d, (v, n)) for d, v, n in games],
                     mistakes=mistakes, compare_fn=compare_fn, atol=1e-7, rtol=1e-6,
                     hint="loop over the 2^n coalitions S (bits of an integer) and, for each player i not in S, "
                          "add weight(|S|)·(V(S ∪ {i}) − V(S))")


# ------------------------------------------------------------------------- exercise 2: permutations
def _permutation_marginals(value, n: int) -> torch.Tensor:
    """n! × n: the marginal contributions along every permutation (players joining one by one)."""
    rows = []
    for perm in itertools.permutations(range(n)):
        c = torch.zeros(n, dtype=torch.bool)
        prev, row = value(c), torch.zeros(n, dtype=torch.float64)
        for i in perm:
            c[i] = True
            cur = value(c)
            row[i], prev = cur - prev, cur
        rows.append(row)
    return torch.stack(rows)


def _compare_permutation(expected: _Expected, got) -> str | None:
    g, problem = _as_values(got, expected.n)
    if problem:
        return problem
    if torch.isnan(g).any():
        return "the result has NaN values (did you divide by a zero count?)"
    full, empty = _ends(expected.value, expected.n)
    if not math.isclose(float(g.sum()), full - empty, abs_tol=1e-6):
        return (f"the estimates add up to {float(g.sum()):.4g}, but every permutation's marginal contributions add "
                f"up to V(N) − V(∅) = {full - empty:.4g}: is each contribution V(S ∪ {{i}}) − V(S) with S the "
                "players before i, and do you divide by the number of permutations?")
    if expected.kind == "one permutation":
        rows = _permutation_marginals(expected.value, expected.n)
        if not torch.isclose(rows, g[None], atol=1e-7).all(1).any():
            return ("with n_permutations=1 the result must be the marginal contributions along one permutation, "
                    "and it is not")
        return None
    err = (g - expected.values).abs().max().item()
    if expected.kind == "exact" and err > expected.tolerance:
        return (f"on an additive game every permutation gives the exact values (the weights), yet yours are "
                f"{err:.3g} away: is each contribution V(S ∪ {{i}}) − V(S), with S the players before i?")
    if err > expected.tolerance:
        return (f"the estimates are {err:.3g} away from the exact values (allowed: {expected.tolerance:.3g} for "
                "this many permutations): are the permutations random and the contributions averaged?")
    return None


@exercise_check
def check_permutation_shapley(fn) -> CheckResult:
    """``fn(value, n_players, n_permutations, seed) -> Tensor[n]``: Monte Carlo Shapley values.

    Checks: exact on an additive game; one permutation gives one permutation's marginal contributions;
    efficiency; within 5 standard errors of the exact values; the same seed gives the same result.
    """
    name = "check_permutation_shapley"
    add = additive_game([0.5, -1.0, 2.0, 0.25, 1.5])

    def ref(value, n, n_permutations, seed):
        exact = _reference_values(value, n)
        if n_permutations == 1:
            return _Expected(exact, value, n, "one permutation")
        if n_permutations == 6:                     # six samples: only efficiency can be asked of them
            return _Expected(exact, value, n, "efficiency", math.inf)
        if n_permutations == 500:                   # statistical case: 5 standard errors of the estimate
            sd = _permutation_marginals(value, n).std(0, unbiased=False).max().item()
            return _Expected(exact, value, n, "statistical", 5 * sd / math.sqrt(n_permutations))
        return _Expected(exact, value, n, "exact", 1e-7)

    cases = [Case("additive game, 5 players, 3 permutations (any permutation is exact)", (_single(add), 5, 3, 0)),
             Case("4-player random game, 1 permutation", (_table_game(4, 201), 4, 1, 7)),
             Case("4-player random game, 6 permutations (efficiency)", (_table_game(4, 201), 4, 6, 3)),
             Case("5-player random game, 500 permutations", (_table_game(5, 202), 5, 500, 11))]
    hint = ("for each random permutation, add the players one by one and record V(S ∪ {i}) − V(S); average over "
            "the permutations")
    result = run_check(name, fn, ref, cases, compare_fn=_compare_permutation, hint=hint,
                       slow_hint="evaluate each coalition once per permutation step, without recomputing V(S)")
    if not result.passed:
        return result
    game = _table_game(5, 202)
    try:
        (a, _), (b, _), (c, _) = (call_student(fn, game, 5, 20, seed) for seed in (5, 5, 6))
    except StudentError as err:
        return failed(name, f"20 permutations of a 5-player game raised {err}", hint)
    if not torch.equal(torch.as_tensor(a), torch.as_tensor(b)):
        return failed(name, "two calls with the same seed gave different results: draw the permutations from "
                            "torch.Generator().manual_seed(seed)", hint)
    if torch.equal(torch.as_tensor(a), torch.as_tensor(c)):
        return failed(name, "seeds 5 and 6 gave identical results: use the seed", hint)
    notice = result.message.partition("\n")[2]          # run_check's note on a slow function, if any
    return passed(name, f"passed {len(cases) + 1}/{len(cases) + 1} cases (including reproducibility with a seed)",
                  "\n" + notice if notice else "")


# ----------------------------------------------------------------------- exercise 3: removal hook
def _tiny_model(seed: int) -> nn.Sequential:
    return seeded(nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(2, 6, 3, padding=1)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(6, 5, 3, padding=1)), ("relu2", nn.ReLU()),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(5, 3))])), seed).eval()


def _removed(model, layer, channels, replacement, x):
    with removed_channels(model, layer, channels, replacement=replacement), torch.no_grad():
        return model(x)


_IN_PLACE = "__in_place__"
_RETURNED_NONE = "__returned_none__"


@exercise_check
def check_mean_removal_hook(fn) -> CheckResult:
    """``fn(channels, means) -> hook``: a forward hook returning a copy of the layer's output with ``channels``
    replaced by ``means[channels]`` (means: C×H×W)."""
    def student(model, layer, channels, means, x):
        hook = fn(channels, means)
        if not callable(hook):
            return ("not callable", hook)
        module = model.get_submodule(layer)
        seen = {}
        probe = module.register_forward_hook(lambda m, i, o: seen.update(inputs=i, output=o.clone()))
        try:
            with torch.no_grad():
                model(x)
        finally:
            probe.remove()
        output = seen["output"].clone()
        returned = hook(module, seen["inputs"], output)      # called directly: does it copy, does it return?
        if not torch.equal(output, seen["output"]):
            return _RETURNED_NONE if returned is None else _IN_PLACE
        if returned is None:
            return (_RETURNED_NONE, "unchanged")
        handle = module.register_forward_hook(hook)
        try:
            with torch.no_grad():
                return model(x)
        finally:
            handle.remove()

    def compare_fn(expected, got):
        if got == _RETURNED_NONE:
            return ("your hook modified the output in place and returned None: the exercise asks for a modified "
                    "copy — out = output.clone(), change out, return out")
        if got == _IN_PLACE:
            return "your hook modified `output` in place: clone it first (out = output.clone()) and return the copy"
        if isinstance(got, tuple) and got and got[0] == _RETURNED_NONE:
            return ("your hook returned None and the output did not change: return the modified copy of `output` "
                    "(a forward hook's return value replaces the output)")
        if isinstance(got, tuple) and got and got[0] == "not callable":
            return f"mean_removal_hook must return a function hook(module, inputs, output), got {type(got[1]).__name__}"
        return compare(expected, got, atol=1e-6)

    def kept(channels, c):
        return [k for k in range(c) if k not in channels]

    mistakes = {
        "you set the channels to zero; replace them by their means (means[channels])":
            lambda m, layer, ch, means, x: _removed(m, layer, ch, torch.zeros_like(means), x),
        "you replaced the other channels (the ones that should stay)":
            lambda m, layer, ch, means, x: _removed(m, layer, kept(ch, len(means)), means, x),
        "you replaced every channel: only those listed in `channels` change":
            lambda m, layer, ch, means, x: _removed(m, layer, list(range(len(means))), means, x),
        "means[c] is a whole H×W map: copy it, means[channels], not its spatial average":
            lambda m, layer, ch, means, x: _removed(m, layer, ch, means.mean((1, 2)), x),
    }
    cases = []
    for i, (layer, channels, c) in enumerate([("relu1", [0, 3], 6), ("conv2", [4], 5), ("relu2", [1, 2, 3], 5)]):
        g = generator(310 + i)
        x = torch.rand(4, 2, 6, 6, generator=g)
        means = torch.rand(c, 6, 6, generator=g) + 0.5
        cases.append(Case(f"channels {channels} of {layer!r} ({c} channels, 6×6), 4 inputs",
                          (_tiny_model(300 + i), layer, channels, means, x)))
    return run_check("check_mean_removal_hook", student, lambda m, layer, ch, means, x: _removed(m, layer, ch, means, x),
                     cases, mistakes=mistakes, compare_fn=compare_fn,
                     hint="inside hook(module, inputs, output): out = output.clone(); "
                          "out[:, channels] = means[channels]; return out")


# ------------------------------------------------------------------------ exercise 4: ablation curve
@exercise_check
def check_ablation_curve(fn) -> CheckResult:
    """``fn(value, n_players, order) -> Tensor[len(order) + 1]``: V(N ∖ first k of order) for k = 0..len(order)."""
    def ref(value, n, order):
        if not order:
            return torch.tensor([value(torch.ones(n, dtype=torch.bool))], dtype=torch.float64)
        return ablation_curve(FunctionGame(value, n), order)

    def only(value, n, players, keep=False):
        c = torch.zeros(n, dtype=torch.bool) if keep else torch.ones(n, dtype=torch.bool)
        c[list(players)] = keep
        return value(c)

    mistakes = {
        "remove the players cumulatively: after k steps the first k players of `order` are all out (you put "
        "each one back before removing the next)":
            lambda v, n, order: torch.tensor([only(v, n, [])] + [only(v, n, [i]) for i in order], dtype=torch.float64),
        "start with every player in and remove them one by one (you started from the empty coalition and "
        "added them)": lambda v, n, order: torch.tensor([only(v, n, order[:k], keep=True)
                                                          for k in range(len(order) + 1)], dtype=torch.float64),
        "remove the players in the given order, order[0] first": lambda v, n, order: ref(v, n, order[::-1]),
    }

    def compare_case(expected, got):
        if isinstance(got, torch.Tensor) and got.ndim == 1 and len(got) == len(expected) - 1:
            return (f"expected {len(expected)} values (k = 0..{len(expected) - 1} players removed, k = 0 included), "
                    f"got {len(got)}")
        if isinstance(got, torch.Tensor) and got.shape == expected.shape and not torch.isclose(
                got[0].double(), expected[0]):
            return ("the first value must be V(N), with every player kept "
                    f"(expected {expected[0].item():.4g}, got {got[0].item():.4g})")
        return compare(expected, got, atol=1e-9)

    add = additive_game([3.0, 1.0, 2.0, 0.5])
    cases = [Case("5-player random game, order [4, 0, 2]", (_table_game(5, 401), 5, [4, 0, 2])),
             Case("additive game (3, 1, 2, 0.5), order [2, 0, 3, 1]", (_single(add), 4, [2, 0, 3, 1])),
             Case("5-player random game, order [] (nothing removed)", (_table_game(5, 401), 5, []))]
    return run_check("check_ablation_curve", fn, ref, cases, compare_fn=compare_case, mistakes=mistakes, atol=1e-9,
                     hint="start from a coalition with everyone in; record V, then remove order[0], record V, ...")


# --------------------------------------------------------------- exercise 5: truncated Monte Carlo
def _truncated_walks(value, n: int, n_permutations: int, tolerance: float, seed: int, target: str = "full",
                     record_last: bool = True, per_count: bool = False, truncate: bool = True) -> torch.Tensor:
    """Typical variants of truncated Monte Carlo (the reference is ``permutation_shapley``)."""
    gen = torch.Generator().manual_seed(seed)
    full, empty = _ends(value, n)
    end = full if target == "full" else empty
    phi = torch.zeros(n, dtype=torch.float64)
    counts = torch.zeros(n, dtype=torch.float64)
    for _ in range(n_permutations):
        c = torch.zeros(n, dtype=torch.bool)
        prev = value(c)
        for i in torch.randperm(n, generator=gen).tolist():
            c[i] = True
            cur = value(c)
            close = truncate and abs(cur - end) <= tolerance
            if record_last or not close:
                phi[i] += cur - prev
                counts[i] += 1
            prev = cur
            if close:
                break
    return phi / counts.clamp(min=1) if per_count else phi / n_permutations


@exercise_check
def check_truncated_shapley(fn) -> CheckResult:
    """``fn(value, n_players, n_permutations, tolerance, seed) -> Tensor[n]``: truncated Monte Carlo.

    The reference is ``permutation_shapley(..., truncation=tolerance, direction="add")`` with the
    permutations drawn in order from ``torch.Generator().manual_seed(seed)``.
    """
    def ref(value, n, n_permutations, tolerance, seed):
        return permutation_shapley(FunctionGame(value, n), n_permutations, truncation=tolerance, direction="add",
                                   seed=seed, show_progress=False).values

    mistakes = {
        "you stopped when V(S) came close to V(∅): when adding players the walk ends at V(N), so truncate once "
        "|V(S) − V(N)| ≤ tolerance": lambda v, n, p, t, s: _truncated_walks(v, n, p, t, s, target="empty"),
        "the player whose arrival brought V(S) within the tolerance still gets its contribution "
        "V(S ∪ {i}) − V(S): record it, then stop": lambda v, n, p, t, s: _truncated_walks(v, n, p, t, s,
                                                                                      record_last=False),
        "the players after the stop contribute 0 in that permutation: divide every sum by n_permutations, not "
        "by how often each player was measured": lambda v, n, p, t, s: _truncated_walks(v, n, p, t, s,
                                                                                     per_count=True),
        "you never stopped a walk: once |V(S) − V(N)| ≤ tolerance, the remaining players get 0 and no more "
        "coalitions are evaluated": lambda v, n, p, t, s: _truncated_walks(v, n, p, t, s, truncate=False),
    }

    def saturating(cap: float):
        return lambda c: float(min(float(c.sum()), cap))

    cases = [Case("5-player random game, tolerance 0.5, 40 permutations", (_table_game(5, 501), 5, 40, 0.5, 3)),
             Case("saturating game min(|S|, 3) with 7 players, tolerance 0, 30 permutations",
                  (saturating(3.0), 7, 30, 0.0, 1)),
             Case("6-player random game, tolerance 0.8, 25 permutations", (_table_game(6, 502), 6, 25, 0.8, 9)),
             Case("saturating game min(|S|, 2.5) with 6 players, tolerance 0.6, 20 permutations",
                  (saturating(2.5), 6, 20, 0.6, 4))]
    return run_check("check_truncated_shapley", fn, ref, cases, mistakes=mistakes, atol=1e-9, rtol=1e-9,
                     hint="as in exercise 2, but compute V(N) first and, after recording a player's contribution, "
                          "stop the walk if |V(S) − V(N)| ≤ tolerance; divide by n_permutations")


# ------------------------------------------------------------------- exercise 6: one TMAB step
def _intervals_case(n: int, seed: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    g = generator(seed)
    means = torch.rand(n, generator=g, dtype=torch.float64)
    return means, scale * torch.rand(n, generator=g, dtype=torch.float64)


@exercise_check
def check_tmab_step(fn) -> CheckResult:
    """``fn(means, half_widths, k) -> bool Tensor[n]``: which players' intervals contain the top-k boundary
    (halfway between the k-th and (k+1)-th largest means)."""
    def boundary_at(value_of):
        def wrong(means, half_widths, k):
            ranked = torch.sort(means, descending=True).values
            t = value_of(ranked, k)
            return (means - half_widths <= t) & (means + half_widths >= t)
        return wrong

    def ascending(means, half_widths, k):
        ranked = torch.sort(means).values
        t = (ranked[k - 1] + ranked[k]) / 2
        return (means - half_widths <= t) & (means + half_widths >= t)

    def top_k(means, half_widths, k):
        mask = torch.zeros(len(means), dtype=torch.bool)
        mask[torch.argsort(means, descending=True)[:k]] = True
        return mask

    mistakes = {
        "the boundary is halfway between the k-th and (k+1)-th largest means, not the k-th mean itself":
            boundary_at(lambda r, k: r[k - 1]),
        "the boundary is halfway between the k-th and (k+1)-th largest means, not the (k+1)-th mean itself":
            boundary_at(lambda r, k: r[k]),
        "sort the means in descending order: the top k are the largest": ascending,
        "return the players still uncertain (interval containing the boundary), not the settled ones":
            lambda m, h, k: ~straddling(m, h, k),
        "return the players whose interval [mean − b, mean + b] contains the boundary, not the current top k":
            top_k,
    }

    def compare_fn(expected, got):
        if isinstance(got, torch.Tensor) and got.shape == expected.shape and got.dtype != torch.bool:
            return f"expected a bool tensor (True = still uncertain), got {got.dtype}"
        return compare(expected, got)

    cases = []
    for i, (n, k, scale) in enumerate([(8, 3, 0.15), (12, 2, 0.1), (20, 5, 0.05), (6, 1, 0.3)]):
        means, half = _intervals_case(n, 601 + i, scale)
        cases.append(Case(f"{n} players, top {k}, half-widths up to {scale}", (means, half, k)))
    return run_check("check_tmab_step", fn, straddling, cases, mistakes=mistakes, compare_fn=compare_fn,
                     hint="ranked = means.sort(descending=True).values; boundary = (ranked[k-1] + ranked[k]) / 2; "
                          "uncertain = (means - half_widths <= boundary) & (means + half_widths >= boundary)")
