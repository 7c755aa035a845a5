"""Checks for lecture 13 (model-agnostic explanations): the Shapley kernel, LIME's weighted ridge regression,
and KernelSHAP's constrained regression. The references are ``course_utils.blackbox``.

Every case is built afresh from its own generator; a wrong answer is matched against the usual mistakes
(``mistakes=``), each named only on a case where it gives a different answer from the right one.
"""
from __future__ import annotations

import math

import torch

from ..blackbox import kernel_regression, kernel_shap_coalitions, shapley_kernel, weighted_ridge
from ..shapley import FunctionGame, coalition_masks, exact_shapley, glove_game, voting_game
from . import Case, CheckResult, compare, compare_pair, exercise_check, generator, recording, run_check

F64 = torch.float64


# ------------------------------------------------------------------------------ exercise 1: the kernel
def _kernel_mistakes() -> dict:
    def ends(f):                                   # a mistake's formula, with the constraints' inf kept
        return lambda n, s: math.inf if s in (0, n) else f(n, s)
    return {
        "that is the total weight of all C(n, s) coalitions of size s, (n − 1)/(s (n − s)): one coalition gets "
        "that divided by C(n, s)": ends(lambda n, s: (n - 1) / (s * (n - s))),
        "that is the weight of a marginal contribution in the Shapley formula, s!(n − s − 1)!/n!; the "
        "regression's kernel is (n − 1)/(C(n, s) · s · (n − s))":
            ends(lambda n, s: math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)),
        "use C(n, s), the number of coalitions of size s among all n players, not C(n − 1, s)":
            ends(lambda n, s: (n - 1) / (math.comb(n - 1, s) * s * (n - s))),
        "the factor (n − 1) in the numerator is missing": ends(lambda n, s: 1 / (math.comb(n, s) * s * (n - s))),
        "the empty and the full coalition get an infinite weight (they are the two constraints): return "
        "math.inf for size 0 and size n": lambda n, s: 0.0 if s in (0, n) else None,
        "size 0 and size n must give math.inf (an infinite weight), not a large finite number":
            lambda n, s: (1e6 if s in (0, n) else None),
    }


def _compare_weight(expected: float, got) -> str | None:
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        return f"expected a float (one weight), got {type(got).__name__}"
    if math.isinf(expected):
        return None if got == math.inf else f"expected math.inf, got {got!r}"
    return compare(expected, float(got), atol=0.0, rtol=1e-9)


@exercise_check
def check_shapley_kernel(fn) -> CheckResult:
    """``fn(n_players, size) -> float``: the Shapley kernel weight of one coalition of ``size`` players."""
    cases = [Case(f"n = {n}, size {s}", (n, s)) for n, s in [(7, 3), (12, 6), (4, 2), (4, 1), (10, 9), (2, 1)]]
    cases += [Case("n = 5, size 0 (the empty coalition)", (5, 0), note="∅ is a constraint, not a sample"),
              Case("n = 6, size 6 (the full coalition)", (6, 6), note="N is a constraint, not a sample")]
    return run_check("check_shapley_kernel", fn, shapley_kernel, cases, atol=0.0, rtol=1e-9,
                     compare_fn=_compare_weight, mistakes=_kernel_mistakes(),
                     hint="π(s) = (n − 1) / (C(n, s) · s · (n − s)) with math.comb; math.inf when s is 0 or n")


# ------------------------------------------------------------------------- exercise 2: weighted ridge
def _ridge_case(seed: int, k: int, n: int, alpha: float, spread: float) -> tuple:
    g = generator(seed)
    x = (torch.rand(k, n, generator=g) < 0.5).to(F64)          # coalitions, as LIME fits them
    y = torch.randn(k, generator=g, dtype=F64) * 2 + x @ torch.randn(n, generator=g, dtype=F64) + 1.5
    w = torch.exp(-spread * torch.rand(k, generator=g, dtype=F64))    # kernel weights over orders of magnitude
    return x, y, w, alpha


def _ridge(x, y, w, alpha, *, weighted=True, centre=True, penalize_intercept=False, power=1.0,
           weighted_means=True, normalize=False, use_alpha=True, fit_power=1.0):
    """Weighted ridge and its usual mistakes: (coefficients, intercept)."""
    w = (w ** power if weighted else torch.ones_like(w))
    w = w / w.sum() if normalize else w
    alpha = alpha if use_alpha else 0.0
    n = x.shape[1]
    if penalize_intercept or not centre:
        a = torch.cat([x, torch.ones(len(x), 1, dtype=F64)], 1) if centre else x
        penalty = alpha * torch.eye(a.shape[1], dtype=F64)
        sol = torch.linalg.solve(a.T @ (w[:, None] * a) + penalty, a.T @ (w * y))
        return (sol[:n], float(sol[n])) if centre else (sol, 0.0)
    mx, my = ((w @ x / w.sum(), w @ y / w.sum()) if weighted_means else (x.mean(0), y.mean()))
    xc, yc, wf = x - mx, y - my, w ** fit_power
    beta = torch.linalg.solve(xc.T @ (wf[:, None] * xc) + alpha * torch.eye(n, dtype=F64), xc.T @ (wf * yc))
    return beta, float(my - mx @ beta)


RIDGE_MISTAKES = {
    "the weights were ignored: every sample counted alike; weight each squared residual by w_k":
        lambda x, y, w, a: _ridge(x, y, w, a, weighted=False),
    "the intercept was penalized too: only the coefficients pay α‖β‖² (centre X and y on their weighted means "
    "first, or leave the intercept out of the penalty)": lambda x, y, w, a: _ridge(x, y, w, a, penalize_intercept=True),
    "there is no intercept: the surrogate is b + x·β (centre X and y on their weighted means, or add a column "
    "of ones)": lambda x, y, w, a: _ridge(x, y, w, a, centre=False),
    "the weights were squared: to use lstsq on weighted rows, multiply the rows of X and y by √w, not by w":
        lambda x, y, w, a: _ridge(x, y, w, a, power=2.0),
    "the weights were squared in the fit (rows multiplied by w instead of √w after centring on the weighted "
    "means): weighted least squares by lstsq scales each row by √w":
        lambda x, y, w, a: _ridge(x, y, w, a, fit_power=2.0),
    "α was ignored: add α to the diagonal of XcᵀWXc (for the coefficients only)":
        lambda x, y, w, a: _ridge(x, y, w, a, use_alpha=False),
    "centre X and y on their *weighted* means, Σ w_k x_k / Σ w_k, not their plain means":
        lambda x, y, w, a: _ridge(x, y, w, a, weighted_means=False),
    "the weights were normalized to sum to 1, which changes what α means: α counts against their sum, as in "
    "scikit-learn's Ridge with sample_weight": lambda x, y, w, a: _ridge(x, y, w, a, normalize=True),
}


def _compare_ridge(expected, got) -> str | None:
    if isinstance(got, (tuple, list)) and len(got) == 2:
        coef, b = got
        if isinstance(coef, torch.Tensor) and coef.shape == expected[0].shape and coef.dtype != F64:
            got = (coef.double(), b)        # float32 is fine if the values agree
    return compare_pair(expected, got, ("coefficients", "intercept"), ((1e-6, 1e-6), (1e-6, 1e-6)))


@exercise_check
def check_weighted_ridge(fn) -> CheckResult:
    """``fn(features K×n, targets K, weights K, alpha) -> (coefficients n, intercept)``: weighted ridge."""
    cases = [Case("40 coalitions of 4 segments, α = 0.5", _ridge_case(1301, 40, 4, 0.5, 3.0)),
             Case("60 coalitions of 6 segments, α = 0 (weighted least squares)", _ridge_case(1302, 60, 6, 0.0, 5.0),
                  note="α = 0: plain weighted least squares"),
             Case("25 coalitions of 3 segments, α = 4 (strong ridge)", _ridge_case(1303, 25, 3, 4.0, 2.0)),
             Case("200 coalitions of 8 segments, α = 1", _ridge_case(1304, 200, 8, 1.0, 6.0))]
    return run_check("check_weighted_ridge", fn, lambda x, y, w, a: _ridge(x, y, w, a), cases,
                     atol=1e-6, rtol=1e-6, compare_fn=_compare_ridge, mistakes=RIDGE_MISTAKES,
                     hint="x̄ = Σw x/Σw, ȳ = Σw y/Σw; β = solve(XcᵀWXc + αI, XcᵀW yc); b = ȳ − x̄·β")


# ------------------------------------------------------------------- exercise 3: the KernelSHAP solve
def _all_coalitions(game, n: int) -> tuple:
    z = coalition_masks(n)[1:-1].clone()
    w = torch.tensor([shapley_kernel(n, int(s)) for s in z.sum(1)], dtype=F64)
    ends = game(torch.stack([torch.zeros(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)]))
    return z, game(z), w, float(ends[0]), float(ends[1])


def _table_game(n: int, seed: int) -> FunctionGame:
    table = torch.randn(2 ** n, generator=generator(seed), dtype=F64) + 0.5
    bits = 1 << torch.arange(n)
    return FunctionGame(lambda c: table[(c.long() * bits).sum(1)], n, batched=True)


def _sampled(n: int, k: int, seed: int, paired: bool = True) -> tuple:
    game = _table_game(n, seed)
    z, w = kernel_shap_coalitions(n, k, generator(seed + 1), paired=paired)
    ends = game(torch.stack([torch.zeros(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)]))
    return z, game(z), w, float(ends[0]), float(ends[1])


def _lstsq(a, b, w):
    r = w.sqrt()[:, None]
    return torch.linalg.lstsq(r * a, r[:, 0] * b, driver="gelsd").solution


def _free(z, v, w, v0, v1):             # ordinary weighted regression with an intercept: no constraint at all
    return _lstsq(torch.cat([z.double(), torch.ones(len(z), 1, dtype=F64)], 1), v, w)[:-1]


def _intercept_only(z, v, w, v0, v1):   # φ₀ = V(∅) fixed, efficiency not imposed
    return _lstsq(z.double(), v - v0, w)


def _shifted(z, v, w, v0, v1):          # efficiency forced afterwards, by an equal shift
    phi = _intercept_only(z, v, w, v0, v1)
    return phi + (v1 - v0 - phi.sum()) / len(phi)


def _no_subtract(z, v, w, v0, v1):      # efficiency imposed, but V(∅) not subtracted from the values
    z = z.double()
    delta = v1 - v0
    head = _lstsq(z[:, :-1] - z[:, -1:], v - z[:, -1] * delta, w)
    return torch.cat([head, (delta - head.sum())[None]])


KERNEL_SHAP_MISTAKES = {
    "no constraint was imposed: KernelSHAP fixes φ₀ = v_empty and Σφ = v_full − v_empty; substitute "
    "φ_n = (v_full − v_empty) − Σ_{i<n} φ_i and regress on the other n − 1 values": _free,
    "you fixed φ₀ = v_empty but not efficiency: the values must add up to v_full − v_empty — substitute "
    "φ_n = (v_full − v_empty) − Σ_{i<n} φ_i into the regression": _intercept_only,
    "forcing the sum afterwards (an equal shift of every value) is not the constrained least-squares "
    "solution: substitute the constraint into the regression instead": _shifted,
    "subtract v_empty from the values before the regression (the surrogate is v_empty + z·φ)": _no_subtract,
    "the Shapley kernel weights were ignored (every coalition counted alike): weight each squared residual by "
    "its kernel weight": lambda z, v, w, v0, v1: kernel_regression(z, v, torch.ones_like(w), v0, v1),
    "the weights were squared: to use lstsq on weighted rows, multiply the rows by √w, not by w":
        lambda z, v, w, v0, v1: kernel_regression(z, v, w ** 2, v0, v1),
}


_reference = recording(kernel_regression)


def _compare_phi(expected: torch.Tensor, got) -> str | None:
    problem = compare(expected, got.double() if isinstance(got, torch.Tensor) and got.shape == expected.shape
                      else got, atol=1e-6, rtol=1e-6)
    if problem is None or not isinstance(got, torch.Tensor) or got.shape != expected.shape:
        return problem
    args = _reference.args                          # the case being checked (run_check calls the reference first)
    delta = args[4] - args[3]
    total = float(got.detach().double().sum())
    if not math.isclose(total, delta, abs_tol=1e-6):
        return (f"the values add up to {total:.6g}, but KernelSHAP's add up to v_full − v_empty = {delta:.6g} "
                "(efficiency is a constraint of the regression)")
    return problem


@exercise_check
def check_kernel_shap_solve(fn) -> CheckResult:
    """``fn(coalitions K×n bool, values K, weights K, v_empty, v_full) -> Tensor[n]``: KernelSHAP's
    constrained weighted least squares. With every coalition it must give the exact Shapley values."""
    glove, voting = glove_game(1, 2), voting_game([3, 2, 1, 1], 4)
    cases = [Case("glove game (1 left, 2 right), all 6 coalitions: Shapley values (2/3, 1/6, 1/6)",
                  _all_coalitions(glove, 3)),
             Case("4-player random game (V(∅) ≠ 0), all 14 coalitions", _all_coalitions(_table_game(4, 1311), 4)),
             Case("voting game, weights (3, 2, 1, 1), quota 4, all 14 coalitions", _all_coalitions(voting, 4)),
             Case("7-player random game, 40 sampled coalitions", _sampled(7, 40, 1312),
                  note="a sample: the answer is the regression's solution, not the exact values"),
             Case("6-player random game, 30 coalitions sampled without complements", _sampled(6, 30, 1313, False),
                  note="the first case whose coalitions do not come in complementary pairs")]
    result = run_check("check_kernel_shap_solve", fn, _reference, cases, atol=1e-6, rtol=1e-6,
                       compare_fn=_compare_phi, mistakes=KERNEL_SHAP_MISTAKES,
                       hint="y' = values − v_empty − z[:, −1]·Δ, X' = z[:, :−1] − z[:, −1:], solve the weighted least "
                            "squares for φ_1..φ_{n−1} (rows × √w, torch.linalg.lstsq), then φ_n = Δ − their sum")
    if result.passed:
        exact = exact_shapley(glove, show_progress=False).values
        got = fn(*_all_coalitions(glove, 3))
        result.message += (f" — on the glove game your values are {[round(v, 4) for v in got.double().tolist()]}, "
                           f"the exact Shapley values {[round(v, 4) for v in exact.tolist()]}")
    return result
