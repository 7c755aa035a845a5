"""Checks for lecture 09 (Neuron Shapley): exact Shapley values, permutation sampling, mean removal, ablation.

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

from ..shapley import (FunctionGame, ablation_curve, additive_game, exact_shapley, glove_game,
                       removed_channels, voting_game)
from . import Case, CheckResult, compare, run_check


# ---------------------------------------------------------------------------------------- fresh games
def _table_game(n: int, seed: int):
    """A random game: V(S) looked up in a table indexed by the bits of S (V(∅) not 0, on purpose)."""
    table = torch.randn(2 ** n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    bits = 1 << torch.arange(n)

    def value(coalition: torch.Tensor) -> float:
        return float(table[int((coalition.long() * bits).sum())])
    return value


def _single(game: FunctionGame):
    """A one-coalition function from a batched FunctionGame (what the exercises receive)."""
    return lambda coalition: float(game(torch.as_tensor(coalition).bool()[None])[0])


def _reference_values(value, n_players) -> torch.Tensor:
    return exact_shapley(FunctionGame(value, n_players), show_progress=False).values


def _banzhaf(value, n: int) -> torch.Tensor:
    """Every coalition weighted alike: the usual mistake of forgetting the Shapley weights."""
    masks = ((torch.arange(2 ** n)[:, None] >> torch.arange(n)) & 1).bool()
    v = torch.tensor([value(m) for m in masks], dtype=torch.float64)
    ints = torch.arange(2 ** n)
    return torch.stack([(v[ints[~masks[:, i]] | (1 << i)] - v[ints[~masks[:, i]]]).mean() for i in range(n)])


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
    if not isinstance(got, torch.Tensor):
        return None, f"expected a torch.Tensor of {n} values, got {type(got).__name__}"
    if got.shape != (n,):
        return None, f"expected shape ({n},) (one value per player), got {tuple(got.shape)}"
    return got.detach().double(), None


def _compare_exact(expected: _Expected, got) -> str | None:
    g, problem = _as_values(got, expected.n)
    if problem:
        return problem
    if torch.isnan(g).any():
        return "the result has NaN values"
    if torch.allclose(g, expected.values, atol=1e-7, rtol=1e-6):
        return None
    full, empty = _ends(expected.value, expected.n)
    if torch.allclose(g, _banzhaf(expected.value, expected.n), atol=1e-7):
        return ("these are Banzhaf values (every coalition weighted alike): weight a coalition S of size s "
                "by s!(n−s−1)!/n!")
    if not math.isclose(float(g.sum()), full - empty, abs_tol=1e-6):
        return (f"the values add up to {float(g.sum()):.4g}, but Shapley values add up to "
                f"V(N) − V(∅) = {full - empty:.4g} (efficiency)")
    return compare(expected.values, g, atol=1e-7, rtol=1e-6)


def check_exact_shapley(fn) -> CheckResult:
    """``fn(value, n_players) -> Tensor[n]``: exact Shapley values of the game ``value`` by enumeration."""
    games = [
        ("3-player random game", _table_game(3, 101), 3),
        ("5-player random game (V(∅) ≠ 0)", _table_game(5, 102), 5),
        ("glove game, 2 left and 3 right gloves", _single(glove_game(2, 3)), 5),
        ("voting game, weights (4, 3, 2, 1), quota 6", _single(voting_game([4, 3, 2, 1], 6)), 4),
        ("1-player game", _table_game(1, 103), 1),
    ]
    cases = [Case(d, (v, n)) for d, v, n in games]
    return run_check("check_exact_shapley", fn, lambda v, n: _Expected(_reference_values(v, n), v, n), cases,
                     hint="loop over the 2^n coalitions S (bits of an integer) and, for each player i not in S, "
                          "add weight(|S|)·(V(S ∪ {i}) − V(S))",
                     compare_fn=_compare_exact)


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


def check_permutation_shapley(fn) -> CheckResult:
    """``fn(value, n_players, n_permutations, seed) -> Tensor[n]``: Monte Carlo Shapley values.

    Checks: exact on an additive game; one permutation gives one permutation's marginal contributions;
    efficiency; within 5 standard errors of the exact values; the same seed gives the same result.
    """
    add = additive_game([0.5, -1.0, 2.0, 0.25, 1.5])
    rnd4, rnd5 = _table_game(4, 201), _table_game(5, 202)

    def ref(value, n, n_permutations, seed):
        exact = _reference_values(value, n)
        if n_permutations == 1:
            return _Expected(exact, value, n, "one permutation")
        if n_permutations == 6:                     # six samples: only efficiency can be asked of them
            return _Expected(exact, value, n, "efficiency", math.inf)
        if n_permutations == 2000:                  # statistical case: 5 standard errors of the estimate
            sd = _permutation_marginals(value, n).std(0, unbiased=False).max().item()
            return _Expected(exact, value, n, "statistical", 5 * sd / math.sqrt(n_permutations))
        return _Expected(exact, value, n, "exact", 1e-7)

    cases = [Case("additive game, 5 players, 3 permutations (any permutation is exact)", (_single(add), 5, 3, 0)),
             Case("4-player random game, 1 permutation", (rnd4, 4, 1, 7)),
             Case("4-player random game, 6 permutations (efficiency)", (rnd4, 4, 6, 3)),
             Case("5-player random game, 2000 permutations", (rnd5, 5, 2000, 11))]

    result = run_check("check_permutation_shapley", fn, ref, cases, compare_fn=_compare_permutation,
                       hint="for each random permutation, add the players one by one and record V(S ∪ {i}) − V(S); "
                            "average over the permutations")
    if not result.passed:
        return result
    a, b = fn(rnd5, 5, 20, 5), fn(rnd5, 5, 20, 5)
    if not torch.equal(torch.as_tensor(a), torch.as_tensor(b)):
        return CheckResult("check_permutation_shapley", "failed",
                           "❌ check_permutation_shapley: two calls with the same seed gave different results: draw "
                           "the permutations from torch.Generator().manual_seed(seed)")
    if torch.equal(torch.as_tensor(a), torch.as_tensor(fn(rnd5, 5, 20, 6))):
        return CheckResult("check_permutation_shapley", "failed",
                           "❌ check_permutation_shapley: seeds 5 and 6 gave identical results: use the seed")
    return CheckResult("check_permutation_shapley", "passed",
                       f"✅ check_permutation_shapley: passed {len(cases) + 1}/{len(cases) + 1} cases "
                       "(including reproducibility with a seed)")


# ----------------------------------------------------------------------- exercise 3: removal hook
def _tiny_model(seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    model = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(2, 6, 3, padding=1)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(6, 5, 3, padding=1)), ("relu2", nn.ReLU()),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(5, 3))]))
    return model.eval()


def _run_with_hook(make_hook, model, layer, channels, means, x):
    """Register the student's hook on ``layer``, run the model, always remove the hook."""
    handle = model.get_submodule(layer).register_forward_hook(make_hook(channels, means))
    try:
        with torch.no_grad():
            return model(x)
    finally:
        handle.remove()


def _reference_removal(model, layer, channels, means, x):
    with removed_channels(model, layer, channels, replacement=means), torch.no_grad():
        return model(x)


def check_mean_removal_hook(fn) -> CheckResult:
    """``fn(channels, means) -> hook``: a forward hook replacing ``channels`` of a layer by ``means`` (C×H×W)."""
    cases = []
    for i, (layer, channels, c) in enumerate([("relu1", [0, 3], 6), ("conv2", [4], 5), ("relu2", [1, 2, 3], 5)]):
        model = _tiny_model(300 + i)
        g = torch.Generator().manual_seed(310 + i)
        x = torch.rand(4, 2, 6, 6, generator=g)
        means = torch.rand(c, 6, 6, generator=g) + 0.5
        cases.append(Case(f"channels {channels} of {layer!r} ({c} channels, 6×6), 4 inputs", (model, layer, channels, means, x)))

    def student(model, layer, channels, means, x):
        return _run_with_hook(fn, model, layer, channels, means, x)

    def compare_case(expected, got):
        problem = compare(expected[0], got)
        if problem is None:
            return None
        model, layer, channels, means, x = expected[1]
        if torch.allclose(got, _reference_removal(model, layer, channels, torch.zeros_like(means), x), atol=1e-6):
            return "you set the channels to zero; replace them by their means (means[channels])"
        with torch.no_grad():
            if torch.allclose(got, model(x), atol=1e-6):
                return "the output did not change: the hook must return the modified output (or modify it in place)"
        keep = [k for k in range(means.shape[0]) if k not in channels]
        if torch.allclose(got, _reference_removal(model, layer, keep, means, x), atol=1e-6):
            return "you replaced the other channels (the ones that should stay)"
        return problem

    return run_check("check_mean_removal_hook", student,
                     lambda *a: (_reference_removal(*a), a), cases, compare_fn=compare_case,
                     hint="inside hook(module, inputs, output): out = output.clone(); "
                          "out[:, channels] = means[channels]; return out")


# ------------------------------------------------------------------------ exercise 4: ablation curve
def check_ablation_curve(fn) -> CheckResult:
    """``fn(value, n_players, order) -> Tensor[len(order) + 1]``: V(N ∖ first k of order) for k = 0..len(order)."""
    rnd = _table_game(5, 401)
    add = additive_game([3.0, 1.0, 2.0, 0.5])
    cases = [Case("5-player random game, order [4, 0, 2]", (rnd, 5, [4, 0, 2])),
             Case("additive game (3, 1, 2, 0.5), order [2, 0, 3, 1]", (_single(add), 4, [2, 0, 3, 1])),
             Case("5-player random game, order [] (nothing removed)", (rnd, 5, []))]

    def ref(value, n, order):
        if not order:
            return torch.tensor([value(torch.ones(n, dtype=torch.bool))], dtype=torch.float64)
        return ablation_curve(FunctionGame(value, n), order)

    def compare_case(expected, got):
        if isinstance(got, torch.Tensor) and got.ndim == 1 and len(got) == len(expected) - 1:
            return (f"expected {len(expected)} values (k = 0..{len(expected) - 1} players removed, k = 0 included), "
                    f"got {len(got)}")
        if isinstance(got, torch.Tensor) and got.shape == expected.shape and not torch.isclose(
                got[0].double(), expected[0]):
            return ("the first value must be V(N), with every player kept "
                    f"(expected {expected[0].item():.4g}, got {got[0].item():.4g})")
        return compare(expected, got.double() if isinstance(got, torch.Tensor) else got, atol=1e-9)

    return run_check("check_ablation_curve", fn, ref, cases, compare_fn=compare_case,
                     hint="start from a coalition with everyone in; record V, then remove order[0], record V, ...")
