"""Checks for lecture 12 (concept-based explanations): a CAV from two activation sets, a TCAV score from
gradients and a CAV, the t-test over random runs, and a dataset IoU between thresholded maps and masks.
The references are ``course_utils.concepts``.

Every case is built afresh from its own generator; a wrong answer is matched against the usual mistakes
(``mistakes=``), each named only on a case where it gives a different answer from the right one.
"""
from __future__ import annotations

import math

import torch

from ..concepts import dataset_iou, directional_derivatives, fit_cav, t_test, tcav_score
from . import Case, CheckResult, compare, compare_pair, exercise_check, generator, run_check

F64 = torch.float64


# --------------------------------------------------------------------------------- exercise 1: a CAV
def _activation_sets(seed: int, n_concept: int, n_random: int, shape: tuple[int, ...], l2: float):
    """Two sets that a logistic regression and the difference of their means separate differently: the
    concept is shifted along a direction, and one feature is stretched (so the boundary tilts) — both
    sets sit away from the origin (so the bias matters)."""
    g = generator(seed)
    d = math.prod(shape)
    stretch = torch.ones(d)
    stretch[0] = 3.0                                         # a noisy feature: LR discounts it, means do not
    shift = torch.randn(d, generator=g) * 0.6
    offset = torch.randn(d, generator=g) * 0.5 + 1.0
    concept = (torch.randn(n_concept, d, generator=g) * stretch + offset + shift).view(n_concept, *shape)
    random = (torch.randn(n_random, d, generator=g) * stretch + offset).view(n_random, *shape)
    return concept, random, l2


def _cav_reference(concept, random, l2):
    return fit_cav(concept, random, l2=l2, test_fraction=0).vector


def _logistic(concept, random, l2, *, bias=True, penalize_bias=False, steps=4000):
    """The mistakes' logistic regressions (no bias, or a penalized one) by gradient descent in float64 (both
    are strongly convex: this converges), as a float32 unit vector."""
    X = torch.cat([concept.flatten(1), random.flatten(1)]).double()
    X = torch.cat([X, torch.ones(len(X), 1, dtype=F64)], 1) if bias else X
    y = torch.cat([torch.ones(len(concept)), torch.zeros(len(random))]).double()
    penalty = torch.full((X.shape[1],), l2, dtype=F64)
    if bias and not penalize_bias:
        raise ValueError("that is the correct fit")
    lr = 1.0 / (float(torch.linalg.matrix_norm(X, 2)) ** 2 / (4 * len(y)) + l2)
    w = torch.zeros(X.shape[1], dtype=F64)
    for _ in range(steps):
        w = w - lr * (X.T @ (torch.sigmoid(X @ w) - y) / len(y) + penalty * w)
    w = w[:-1] if bias else w
    return (w / w.norm()).float()


CAV_MISTAKES = {
    "the CAV points from the concept towards the random set: label the concept examples 1 and the random "
    "ones 0 (or return −w)": lambda c, r, l2: -_cav_reference(c, r, l2),
    "that is the direction between the two sets' means; the CAV is the normal of the logistic regression's "
    "boundary, which also weighs how noisy each feature is":
        lambda c, r, l2: torch.nn.functional.normalize(c.flatten(1).mean(0) - r.flatten(1).mean(0), dim=0),
    "the classifier has no bias: fit w·x + b, with b free (not penalized)":
        lambda c, r, l2: _logistic(c, r, l2, bias=False),
    "the bias was penalized too: only w pays λ/2‖w‖²": lambda c, r, l2: _logistic(c, r, l2, penalize_bias=True),
    "the loss is the *mean* log-loss over the examples plus λ/2‖w‖²; with the sum the penalty counts n times "
    "less": lambda c, r, l2: _cav_reference(c, r, l2 / (len(c) + len(r))),
}


def _unit_compare(expected: torch.Tensor, got) -> str | None:
    if isinstance(got, torch.Tensor) and got.shape != expected.shape and got.numel() == expected.numel():
        return (f"expected a flat vector of {expected.numel()} values (D = C·H·W: flatten the activations first), "
                f"got shape {tuple(got.shape)}")
    if isinstance(got, torch.Tensor) and got.shape == expected.shape and got.dtype == F64:
        return "the result is float64: return float32 like the inputs (`.float()`)"
    problem = compare(expected, got, atol=1e-4, rtol=1e-3)
    if problem and isinstance(got, torch.Tensor) and got.shape == expected.shape and got.is_floating_point():
        norm = float(got.detach().double().norm())
        if abs(norm - 1) > 1e-3 and norm > 0 and compare(expected, got.detach() / norm, atol=1e-4, rtol=1e-3) is None:
            return f"return a unit vector: divide w by its norm (yours has norm {norm:.4g})"
    return problem


@exercise_check
def check_cav_direction(fn) -> CheckResult:
    """``fn(concept_acts, random_acts, l2) -> Tensor D``: the unit CAV of an L2-regularized logistic regression
    (mean log-loss + l2/2‖w‖², free bias) fitted on all examples, pointing towards the concept."""
    specs = [(41, 14, 16, (6,), 0.1, "14 concept and 16 random activations of 6 values, λ = 0.1"),
             (42, 10, 12, (2, 2, 2), 0.1, "activations N×2×2×2 (flatten them: D = 8), λ = 0.1"),
             (43, 20, 8, (5,), 0.2, "20 concept against 8 random activations, λ = 0.2"),
             (44, 12, 12, (3, 1, 3), 0.3, "activations N×3×1×3, λ = 0.3")]
    cases = [Case(text, _activation_sets(seed, nc, nr, shape, l2)) for seed, nc, nr, shape, l2, text in specs]
    return run_check("check_cav_direction", fn, _cav_reference, cases, compare_fn=_unit_compare,
                     mistakes=CAV_MISTAKES, atol=1e-4, rtol=1e-3,
                     hint="X = both sets flattened (N×D), y = 1 for the concept and 0 for random; gradient descent "
                          "from w = 0, b = 0 on mean(log(1 + e^(−s(x·w + b)))) + λ/2‖w‖² (3,000 steps of size "
                          "1/L, L = ‖X‖²/(4n) + 1/4 + λ, are enough here); return (w / ‖w‖).float()")


# --------------------------------------------------------------------------- exercise 2: a TCAV score
def _tcav_case(seed: int, n: int, shape: tuple[int, ...], dead: int, cav_norm: float):
    """Gradients of n inputs (``dead`` of them all zeros: every ReLU off) and a CAV of length ``cav_norm``."""
    g = generator(seed)
    d = math.prod(shape)
    cav = torch.randn(d, generator=g)
    cav = cav / cav.norm() * cav_norm
    common = torch.randn(d, generator=g)            # gradients share a direction, as a class's often do
    grads = (0.8 * common + torch.randn(n, d, generator=g)).view(n, *shape)
    grads[torch.randperm(n, generator=g)[:dead]] = 0.0
    return grads, cav


def _derivatives(grads, cav):
    return grads.flatten(1).double() @ cav.double()


TCAV_MISTAKES = {
    "an input whose gradient is all zeros (every ReLU off) has S = 0, and S = 0 is not positive: count S > 0, "
    "not S ≥ 0": lambda g, v: float((_derivatives(g, v) >= 0).double().mean()),
    "the TCAV score is the *fraction* of inputs with S > 0, not the mean of S":
        lambda g, v: float(_derivatives(g, v).mean()),
    "you counted the inputs with S < 0: the score is the share whose logit *grows* along the CAV":
        lambda g, v: float((_derivatives(g, v) < 0).double().mean()),
    "divide the count by the number of inputs: the score is a fraction in [0, 1]":
        lambda g, v: float((_derivatives(g, v) > 0).double().sum()),
    "the score uses the sign of each input's directional derivative S = gradient · CAV (the sum over all D "
    "values), not of each gradient value": lambda g, v: float((g.flatten(1) * v > 0).double().mean()),
}


@exercise_check
def check_tcav_score(fn) -> CheckResult:
    """``fn(gradients, cav) -> float``: the share of inputs whose directional derivative gradient·cav is > 0."""
    specs = [(51, 20, (8,), 4, 1.0, "20 gradients of 8 values, 4 of them all zeros"),
             (52, 15, (2, 3, 3), 3, 1.0, "15 gradients N×2×3×3 (flatten them), 3 all zeros"),
             (53, 30, (12,), 0, 2.5, "30 gradients, a CAV of length 2.5 (the sign does not depend on it)"),
             (54, 9, (4, 1, 1), 9, 1.0, "9 gradients that are all zeros: nothing grows")]
    cases = [Case(text, _tcav_case(*spec)) for *spec, text in specs]
    reference = lambda g, v: float(tcav_score(directional_derivatives(g, v)))       # noqa: E731
    return run_check("check_tcav_score", fn, reference, cases, mistakes=TCAV_MISTAKES, atol=1e-6, rtol=1e-6,
                     hint="S = gradients.flatten(1) @ cav (one number per input); return (S > 0).float().mean().item()")


# ------------------------------------------------------------------------------ exercise 3: the t-test
def _scores_case(seed: int, n_a: int, n_b: int, mean_a: float, mean_b: float, sd_a: float, sd_b: float):
    g = generator(seed)
    a = (mean_a + sd_a * torch.randn(n_a, generator=g, dtype=F64)).clamp(0, 1)
    b = (mean_b + sd_b * torch.randn(n_b, generator=g, dtype=F64)).clamp(0, 1)
    return a, b


def _pieces(a, b):
    a, b = a.double(), b.double()
    return a, b, len(a), len(b), float(a.mean() - b.mean())


def _p_from_t(t: float, df: float) -> float:
    from scipy.special import stdtr
    return float(2 * stdtr(df, -abs(t)))


def _pooled_t(a, b, ddof: int = 1) -> float:
    a, b, na, nb, diff = _pieces(a, b)
    va, vb = a.var(correction=ddof), b.var(correction=ddof)
    pooled = ((na - 1) * va + (nb - 1) * vb) / (na + nb - 2)
    return diff / float((pooled * (1 / na + 1 / nb)).sqrt())


def _welch(a, b) -> tuple[float, float]:
    a, b, na, nb, diff = _pieces(a, b)
    sa, sb = float(a.var()) / na, float(b.var()) / nb
    t = diff / math.sqrt(sa + sb)
    df = (sa + sb) ** 2 / (sa ** 2 / (na - 1) + sb ** 2 / (nb - 1))
    return t, _p_from_t(t, df)


def _normal_p(a, b) -> tuple[float, float]:
    t = _pooled_t(a, b)
    return t, math.erfc(abs(t) / math.sqrt(2))


T_MISTAKES = {
    "the p-value is one-sided: a two-sided test doubles the tail probability, p = 2·P(T > |t|)":
        lambda a, b: (t_test(a, b)[0], t_test(a, b)[1] / 2),
    "that is Welch's test (separate variances); Kim et al. use Student's t-test with the pooled variance "
    "s_p² = ((n_a − 1)s_a² + (n_b − 1)s_b²)/(n_a + n_b − 2), as scipy.stats.ttest_ind does by default": _welch,
    "use the unbiased variances (divide by n − 1: torch.var's default, NumPy's ddof=1)":
        lambda a, b: (lambda t: (t, _p_from_t(t, len(a) + len(b) - 2)))(_pooled_t(a, b, ddof=0)),
    "the t distribution has n_a + n_b − 2 degrees of freedom":
        lambda a, b: (t_test(a, b)[0], _p_from_t(t_test(a, b)[0], len(a) + len(b) - 1)),
    "the p-value comes from the t distribution (scipy.special.stdtr or scipy.stats.t), not the normal one":
        _normal_p,
    "t = (mean of the concept scores − mean of the random scores) / standard error: yours has the wrong sign":
        lambda a, b: (-t_test(a, b)[0], t_test(a, b)[1]),
}


def _compare_test(expected, got) -> str | None:
    return compare_pair(expected, got, ("t", "p"), ((1e-9, 1e-7), (1e-12, 1e-6)))


@exercise_check
def check_t_test(fn) -> CheckResult:
    """``fn(concept_scores, random_scores) -> (t, p)``: two-sided Student's t-test with pooled variance."""
    specs = [(61, 20, 20, 0.75, 0.5, 0.15, 0.25, "20 and 20 scores, the concept's higher"),
             (62, 12, 30, 0.45, 0.5, 0.30, 0.10, "12 concept and 30 random scores, unequal spreads"),
             (63, 25, 8, 0.2, 0.55, 0.1, 0.3, "25 against 8 scores, the concept's lower"),
             (64, 40, 40, 0.52, 0.5, 0.2, 0.2, "40 and 40 scores that hardly differ")]
    cases = [Case(text, _scores_case(*spec)) for *spec, text in specs]
    return run_check("check_t_test", fn, t_test, cases, compare_fn=_compare_test, mistakes=T_MISTAKES,
                     match=lambda x, y: _compare_test(x, y) is None,
                     hint="s_p² = ((n_a−1)·var(a) + (n_b−1)·var(b)) / (n_a+n_b−2); t = (mean a − mean b) / "
                          "(s_p·√(1/n_a + 1/n_b)); p = 2·stdtr(n_a+n_b−2, −|t|) with scipy.special.stdtr")


# --------------------------------------------------------------------------------- exercise 4: the IoU
def _iou_case(seed: int, n: int, size: int, levels: int, empty_masks: int):
    """Maps on a coarse grid of values (so some equal the threshold exactly), the threshold, and box masks
    (``empty_masks`` images show no object of the class)."""
    g = generator(seed)
    maps = torch.randint(0, levels, (n, size, size), generator=g).double() / levels
    threshold = float(torch.quantile(maps.flatten(), 0.8))
    masks = torch.zeros(n, size, size, dtype=torch.bool)
    for i in range(n - empty_masks):
        y0, x0 = (int(v) for v in torch.randint(0, size // 2, (2,), generator=g))
        h, w = (int(v) for v in torch.randint(2, size // 2 + 1, (2,), generator=g))
        masks[i, y0:y0 + h, x0:x0 + w] = True
    maps[0, masks[0]] += 0.5                       # the unit fires more inside the first image's mask
    return maps, threshold, masks


def _iou_parts(maps, threshold, masks, op=torch.gt):
    active = op(maps, threshold)
    return active, masks, (active & masks).flatten(1).sum(1).double(), (active | masks).flatten(1).sum(1).double()


def _per_image(maps, threshold, masks):
    _, _, inter, union = _iou_parts(maps, threshold, masks)
    keep = union > 0
    return float((inter[keep] / union[keep]).mean()) if bool(keep.any()) else 0.0


def _ratio(numerator, denominator):
    """A mistake's ratio, or None (not applicable) where its denominator is 0."""
    return float(numerator) / float(denominator) if float(denominator) > 0 else None


IOU_MISTAKES = {
    "pixels *at* the threshold are not active: the unit is on where map > T, not ≥ T":
        lambda m, t, k: dataset_iou(m >= t, k),
    "sum |M ∩ L| and |M ∪ L| over the whole dataset first, then divide once (Bau et al.): averaging per-image "
    "IoUs weighs an image with a tiny union as much as one with a large union": _per_image,
    "that is the Dice coefficient 2|M ∩ L| / (|M| + |L|); the IoU divides by |M ∪ L|":
        lambda m, t, k: _ratio(2 * (m > t)[k].sum(), (m > t).sum() + k.sum()),
    "|M ∪ L| = |M| + |L| − |M ∩ L|: the intersection was counted twice":
        lambda m, t, k: _ratio((m > t)[k].sum(), (m > t).sum() + k.sum()),
    "the unit's region is where the map is *above* the threshold: map > T": lambda m, t, k: dataset_iou(m < t, k),
}


def _compare_iou(expected: float, got) -> str | None:
    if isinstance(got, float) and math.isnan(got) and not math.isnan(expected):
        return "got NaN: when nothing is active and no mask is set anywhere, the union is empty; return 0.0"
    return compare(expected, got, atol=1e-9, rtol=1e-9)


@exercise_check
def check_iou(fn) -> CheckResult:
    """``fn(maps, threshold, masks) -> float``: Σ|(maps > T) ∩ masks| / Σ|(maps > T) ∪ masks| over the dataset."""
    specs = [(71, 6, 8, 5, 2, "6 maps 8×8, values on a grid of fifths (some equal T), 2 images without the class"),
             (72, 10, 12, 4, 4, "10 maps 12×12, 4 images without the class"),
             (73, 4, 6, 10, 0, "4 maps 6×6, every image shows the class")]
    cases = [Case(text, _iou_case(*spec)) for *spec, text in specs]
    cases.append(Case("3 maps 5×5 never above T, and no mask anywhere (an empty union)",
                      (torch.zeros(3, 5, 5, dtype=F64), 0.5, torch.zeros(3, 5, 5, dtype=torch.bool)),
                      note="nothing is active and no mask is set: the IoU is 0"))
    reference = lambda m, t, k: dataset_iou(m > t, k)       # noqa: E731
    return run_check("check_iou", fn, reference, cases, compare_fn=_compare_iou, mistakes=IOU_MISTAKES,
                     atol=1e-9, rtol=1e-9,
                     hint="active = maps > threshold; inter = (active & masks).sum(); union = (active | masks).sum(); "
                          "return inter / union as a float, or 0.0 when union is 0")
