"""Integrated gradients: exact values on linear models, completeness, convergence of every rule, batching,
baselines, bad input, model restoration, and the lecture-06 exercise checks."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from course_utils.attribution import integrated_gradients, make_baseline, quadrature, unit_target
from course_utils.attribution.integrated import RULES, gaussian_blur
from course_utils.models import input_range
from course_utils.checks.integrated import (check_completeness_gap, check_integrated_gradients,
                                            check_riemann_nodes, small_model)
from course_utils.models import efficientnet_lite0, fashion_cnn


def smooth_model(seed=0, channels=3):
    return small_model(seed, channels=channels, classes=4)


def naive_ig(model, x, target, baseline, steps, rule):
    """One image and one path point at a time: the definition, written as a plain loop."""
    alphas, weights = quadrature(steps, rule)
    out = torch.zeros_like(x)
    for n in range(len(x)):
        total = torch.zeros_like(x[n])
        for a, w in zip(alphas.tolist(), weights.tolist()):
            p = (baseline[n] + a * (x[n] - baseline[n]))[None].requires_grad_(True)
            (g,) = torch.autograd.grad(model(p)[0, target], p)
            total += w * g[0]
        out[n] = (x[n] - baseline[n]) * total
    return out


# --------------------------------------------------------------------------------------- quadrature
@pytest.mark.parametrize("rule, exact_degree", [("left", 0), ("right", 0), ("midpoint", 1), ("trapezoid", 1),
                                                ("gauss_legendre", None)])
def test_quadrature_integrates_polynomials_exactly(rule, exact_degree):
    for m in (1, 2, 5):
        alphas, weights = quadrature(m, rule)
        assert math.isclose(weights.sum().item(), 1.0, rel_tol=1e-14)
        assert ((alphas >= 0) & (alphas <= 1)).all()
        degree = 2 * m - 1 if exact_degree is None else exact_degree
        for d in range(degree + 1):
            assert math.isclose((weights * alphas ** d).sum().item(), 1 / (d + 1), rel_tol=1e-12), (rule, m, d)
        # one degree more is not exact (so the test would notice a rule that is too good to be true)
        d = degree + 1
        assert not math.isclose((weights * alphas ** d).sum().item(), 1 / (d + 1), rel_tol=1e-9)


def test_quadrature_nodes_by_hand():
    assert quadrature(4, "left")[0].tolist() == [0, 0.25, 0.5, 0.75]
    assert quadrature(4, "right")[0].tolist() == [0.25, 0.5, 0.75, 1]
    assert quadrature(2, "midpoint")[0].tolist() == [0.25, 0.75]
    assert quadrature(2, "trapezoid")[1].tolist() == [0.25, 0.5, 0.25]
    a, w = quadrature(2, "gauss_legendre")
    assert np.allclose(a.numpy(), [0.5 - 0.5 / math.sqrt(3), 0.5 + 0.5 / math.sqrt(3)]) and np.allclose(w, 0.5)


# --------------------------------------------------------------------------------------- exact values
@pytest.mark.parametrize("rule", RULES)
def test_linear_model_gives_input_minus_baseline_times_weight(rule):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 5)).double()
    x = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    baseline = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    target = torch.tensor([4, 0, 2])
    got, err = integrated_gradients(model, x, target, baseline=baseline, steps=3, rule=rule, return_error=True)
    w = model[1].weight.detach()[target].view(3, 2, 3, 3)
    assert torch.allclose(got, (x - baseline) * w, rtol=0, atol=1e-14)
    assert err.abs().max() < 1e-13


def test_saturated_relu_gets_full_credit():
    """f(x) = 1 − ReLU(1 − x) at x = 2: the gradient is 0, yet IG from 0 gives the whole change f(2) − f(0)."""
    class Saturating(nn.Module):
        def forward(self, x):
            return (1 - torch.relu(1 - x.flatten(1).sum(1, keepdim=True)))
    x = torch.full((1, 1, 1, 1), 2.0, dtype=torch.float64)
    ig = integrated_gradients(Saturating(), x, 0, baseline="zeros", steps=64, rule="midpoint")
    assert math.isclose(ig.item(), 1.0, rel_tol=1e-12)


def test_two_implementations_of_one_function_get_the_same_attributions():
    """Implementation invariance (the paper's example): two ways of writing one function get the same IG."""
    class F1(nn.Module):
        def forward(self, x):
            x1, x2 = x[:, 0, 0, 0], x[:, 1, 0, 0]
            return torch.relu(torch.relu(x1) - 1 - torch.relu(x2))[:, None]

    class F2(nn.Module):
        def forward(self, x):
            x1, x2 = x[:, 0, 0, 0], x[:, 1, 0, 0]
            return torch.relu(torch.relu(x1 - 1) - torch.relu(x2))[:, None]
    x = torch.tensor([3.0, 1.0], dtype=torch.float64).view(1, 2, 1, 1)
    a1 = integrated_gradients(F1(), x, 0, baseline="zeros", steps=64, rule="midpoint")
    a2 = integrated_gradients(F2(), x, 0, baseline="zeros", steps=64, rule="midpoint")
    assert torch.equal(a1, a2) and torch.allclose(a1.flatten(), torch.tensor([1.5, -0.5], dtype=torch.float64))


@pytest.mark.parametrize("rule", RULES)
def test_matches_naive_loop(rule):
    model = smooth_model(1)
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    baseline = make_baseline("blur", x, model, blur_sigma=1.0)
    got = integrated_gradients(model, x, 2, baseline=baseline, steps=5, rule=rule, batch_size=4)
    assert torch.allclose(got, naive_ig(model, x, 2, baseline, 5, rule), rtol=1e-12, atol=1e-14)


def test_identical_for_every_batch_size():
    model = smooth_model(2)
    x = torch.randn(3, 3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    target = torch.tensor([0, 3, 1])
    results = [integrated_gradients(model, x, target, baseline="noise", n_baselines=2, steps=7, rule="trapezoid",
                                    batch_size=bs) for bs in (1, 3, 8, 100, None)]
    for r in results[1:]:
        assert torch.allclose(r, results[0], rtol=1e-13, atol=1e-15)


def test_automatic_batch_size_fits_the_input_size():
    from course_utils.attribution import auto_batch_size
    assert auto_batch_size(None, (3, 224, 224)) == 4          # the fastest on 2 cores for Lite0 (benchmark)
    assert auto_batch_size(None, (1, 28, 28)) == 256        # capped: 790 rows fit, but 256 a pass are faster
    assert auto_batch_size(None, (1, 56, 56)) == 197        # 620,000 values / 3,136 per row
    assert auto_batch_size(None, (3, 1024, 1024)) == 1
    assert auto_batch_size(7, (3, 224, 224)) == 7
    with pytest.raises(ValueError, match="batch_size"):
        auto_batch_size(0, (1, 28, 28))


# --------------------------------------------------------------------------------------- completeness
def test_completeness_to_tight_tolerance_on_a_smooth_model():
    model = smooth_model(3)
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    attr, err = integrated_gradients(model, x, 1, baseline="zeros", steps=48, return_error=True)
    with torch.no_grad():
        change = model(x)[:, 1] - model(torch.zeros_like(x))[:, 1]
    assert err.abs().max() < 1e-12 * change.abs().max()
    assert torch.allclose(attr.flatten(1).sum(1), change, rtol=1e-12)


@pytest.mark.parametrize("rule, order", [("left", 1), ("right", 1), ("midpoint", 2), ("trapezoid", 2)])
def test_riemann_rules_converge_at_their_order(rule, order):
    """Quadrupling the steps divides the completeness error by about 4 (first order) or 16 (second order)."""
    model = smooth_model(4)
    x = torch.randn(1, 3, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    errs = [integrated_gradients(model, x, 0, baseline="zeros", steps=m, rule=rule, batch_size=257,
                                 return_error=True)[1].abs().item() for m in (16, 64, 256)]
    for coarse, fine in zip(errs, errs[1:]):
        assert 0.6 * 4 ** order < coarse / fine < 1.6 * 4 ** order, errs


def test_gauss_legendre_converges_fastest():
    model = smooth_model(4)
    x = torch.randn(1, 3, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    err = {rule: integrated_gradients(model, x, 0, baseline="zeros", steps=8, rule=rule,
                                      return_error=True)[1].abs().item() for rule in RULES}
    assert err["gauss_legendre"] < 1e-2 * min(err[r] for r in RULES if r != "gauss_legendre")


def test_completeness_on_fashion_cnn():
    model = fashion_cnn()
    from course_utils.data import load_fashion_mnist
    x, y = load_fashion_mnist("test")
    x, y = x[:3], y[:3]
    _, err = integrated_gradients(model, x, y, baseline="black", steps=128, rule="midpoint", batch_size=384,
                                  return_error=True)
    with torch.no_grad():
        change = model(x).gather(1, y[:, None])[:, 0] - model(torch.zeros_like(x)).gather(1, y[:, None])[:, 0]
    assert (err.abs() / change.abs()).max() < 0.02      # ReLUs and max-pools: kinks slow the convergence


def test_completeness_on_efficientnet_lite0():
    """The cat photo at 48×48 keeps it fast; 64 Gauss–Legendre steps bring the error within the paper's 5 %."""
    from course_utils.data import load_image
    from course_utils.models import preprocess
    model = efficientnet_lite0()
    x = preprocess(load_image("cat"), model, size=48)
    attr, err = integrated_gradients(model, x, 285, baseline="black", steps=64, batch_size=64, return_error=True)
    with torch.no_grad():
        change = (model(x) - model(-torch.ones_like(x)))[0, 285]
    assert attr.shape == x.shape and abs(change.item()) > 1
    assert abs(err.item()) < 0.05 * abs(change.item())


def test_path_holds_scores_and_slopes():
    """The weighted slopes add up to Σ IG; the scores at the trapezoid's ends are F(x') and F(x)."""
    model = smooth_model(8)
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    attr, err, path = integrated_gradients(model, x, 1, baseline="zeros", steps=6, rule="trapezoid",
                                           return_error=True, return_path=True)
    assert path.scores.shape == path.slopes.shape == (2, 1, 7)
    assert torch.equal(path.alphas, quadrature(6, "trapezoid")[0])
    assert torch.allclose((path.slopes[:, 0] * path.weights).sum(1), attr.flatten(1).sum(1), rtol=1e-12)
    with torch.no_grad():
        assert torch.allclose(path.scores[:, 0, -1], model(x)[:, 1]) and torch.allclose(
            path.scores[:, 0, 0], model(torch.zeros_like(x))[:, 1])
    assert torch.allclose(err, attr.flatten(1).sum(1) - (path.scores[:, 0, -1] - path.scores[:, 0, 0]))
    only_path = integrated_gradients(model, x, 1, baseline="zeros", steps=6, rule="trapezoid", return_path=True)
    assert len(only_path) == 2 and torch.equal(only_path[0], attr)


# --------------------------------------------------------------------------------------- baselines, targets
def test_baselines():
    cnn, lite = fashion_cnn(pretrained=False), efficientnet_lite0(pretrained=False)
    x = torch.rand(2, 3, 16, 16)
    assert torch.equal(make_baseline("black", x, lite), -torch.ones_like(x))          # (0 − 0.5) / 0.5
    assert torch.equal(make_baseline("black", x[:, :1], cnn), torch.zeros_like(x[:, :1]))
    assert torch.equal(make_baseline(0.25, x), torch.full_like(x, 0.25))
    noise = make_baseline("noise", x, lite, generator=torch.Generator().manual_seed(0))
    assert noise.min() >= -1 and noise.max() <= 1 and noise.std() > 0.4
    lo, hi = input_range(nn.Identity(), 3)
    assert lo.tolist() == [0, 0, 0] and hi.tolist() == [1, 1, 1]
    blurred = make_baseline("blur", x, lite, blur_sigma=2.0)
    assert blurred.std() < x.std() and torch.allclose(blurred.mean((2, 3)), x.mean((2, 3)), atol=0.05)
    const = torch.full((1, 2, 9, 9), 3.0)
    assert torch.allclose(gaussian_blur(const, 2.0), const)


def test_averaging_over_baselines():
    model = smooth_model(6)
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    b1, b2 = torch.zeros_like(x), 0.5 * torch.ones_like(x)
    avg, err = integrated_gradients(model, x, 3, baseline=[b1, b2], steps=16, return_error=True)
    one = integrated_gradients(model, x, 3, baseline=b1, steps=16)
    two = integrated_gradients(model, x, 3, baseline=b2, steps=16)
    assert torch.allclose(avg, (one + two) / 2, rtol=1e-12) and err.abs().max() < 1e-8
    gen = torch.Generator().manual_seed(11)
    noises = [make_baseline("noise", x, model, generator=gen) for _ in range(3)]
    assert torch.allclose(integrated_gradients(model, x, 3, baseline="noise", n_baselines=3, seed=11, steps=8),
                          integrated_gradients(model, x, 3, baseline=noises, steps=8), rtol=1e-12)


def test_callable_target_for_an_inner_unit():
    model = fashion_cnn(pretrained=False)
    x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(7))
    target = unit_target("conv3", 5)
    attr, err = integrated_gradients(model, x, target, baseline="black", steps=64, rule="midpoint",
                                     batch_size=128, return_error=True)
    with torch.no_grad():
        change = target(model, x) - target(model, torch.zeros_like(x))
    assert attr.shape == x.shape and (err.abs() / change.abs()).max() < 1e-2


# --------------------------------------------------------------------------------------- errors, state
@pytest.mark.parametrize("kwargs, error, words", [
    (dict(inputs=torch.rand(1, 28, 28)), ValueError, "inputs"),
    (dict(inputs=torch.ones(1, 1, 28, 28, dtype=torch.long)), TypeError, "float"),
    (dict(steps=0), ValueError, "steps"),
    (dict(steps=2.5), TypeError, "steps"),
    (dict(rule="simpson"), ValueError, "rule"),
    (dict(baseline="grey"), ValueError, "baseline"),
    (dict(baseline=torch.zeros(1, 1, 14, 14)), ValueError, "baseline"),
    (dict(baseline=[]), ValueError, "baseline"),
    (dict(n_baselines=0), ValueError, "n_baselines"),
    (dict(n_baselines=3, baseline="blur"), ValueError, "noise"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(target=10), ValueError, "target"),
    (dict(target=torch.tensor([1, 2, 3])), ValueError, "target"),
])
def test_bad_input(kwargs, error, words):
    model = fashion_cnn(pretrained=False)
    args = dict(inputs=torch.rand(2, 1, 28, 28), target=3)
    args.update(kwargs)
    with pytest.raises(error, match=words):
        integrated_gradients(model, args.pop("inputs"), args.pop("target"), **args)


def test_model_restored_after_success_and_error():
    model = fashion_cnn(pretrained=False).train()
    model.conv2.weight.requires_grad_(False)
    flags = [m.training for m in model.modules()], [p.requires_grad for p in model.parameters()]
    integrated_gradients(model, torch.rand(2, 1, 28, 28), 1, steps=4, return_error=True)
    with pytest.raises(ValueError):
        integrated_gradients(model, torch.rand(2, 1, 28, 28), 99, steps=4)
    assert ([m.training for m in model.modules()], [p.requires_grad for p in model.parameters()]) == flags
    assert all(p.grad is None for p in model.parameters())
    assert sum(len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules()) == 0


# --------------------------------------------------------------------------------------- exercise checks
def ref_nodes(steps, rule):
    return quadrature(steps, rule)


def ref_ig(model, inputs, target, baseline, steps):
    alphas = torch.arange(1, steps + 1, dtype=inputs.dtype) / steps
    points = baseline[:, None] + alphas.view(1, -1, 1, 1, 1) * (inputs - baseline)[:, None]
    points = points.flatten(0, 1).requires_grad_(True)
    t = torch.as_tensor(target).expand(len(inputs)).repeat_interleave(steps)
    (g,) = torch.autograd.grad(model(points).gather(1, t[:, None]).sum(), points)
    return (inputs - baseline) * g.view(len(inputs), steps, *inputs.shape[1:]).mean(1)


def ref_gap(model, inputs, target, baseline, attributions):
    t = torch.as_tensor(target).expand(len(inputs))
    with torch.no_grad():
        change = model(inputs).gather(1, t[:, None])[:, 0] - model(baseline).gather(1, t[:, None])[:, 0]
    return attributions.flatten(1).sum(1) - change


def stub(*args):
    raise NotImplementedError("Exercise: write it")


@pytest.mark.parametrize("check, reference", [(check_riemann_nodes, ref_nodes), (check_integrated_gradients, ref_ig),
                                              (check_completeness_gap, ref_gap)])
def test_checks_pass_on_reference_and_wait_for_stub(check, reference):
    result = check(reference)
    assert result.passed, result.message
    assert check(stub).status == "not implemented"


def test_check_diagnoses_typical_mistakes():
    def trapezoid_not_halved(steps, rule):
        a, w = quadrature(steps, rule)
        return (a, torch.full_like(w, 1 / steps)) if rule == "trapezoid" else (a, w)
    assert "halves the weights" in check_riemann_nodes(trapezoid_not_halved).message

    def right_from_zero(steps, rule):
        return quadrature(steps, "left" if rule == "right" else rule)
    assert "left rule" in check_riemann_nodes(right_from_zero).message

    def no_delta(model, inputs, target, baseline, steps):
        delta = inputs - baseline
        return torch.where(delta != 0, ref_ig(model, inputs, target, baseline, steps) / delta, torch.zeros_like(delta))
    assert "multiply it by (x − baseline)" in check_integrated_gradients(no_delta).message

    def from_zero(model, inputs, target, baseline, steps):
        return ref_ig(model, inputs, target, baseline, steps) * steps
    assert "without dividing" in check_integrated_gradients(from_zero).message

    def forgot_baseline(model, inputs, target, baseline, attributions):
        t = torch.as_tensor(target).expand(len(inputs))
        return attributions.flatten(1).sum(1) - model(inputs).gather(1, t[:, None])[:, 0].detach()
    assert "F(baseline)" in check_completeness_gap(forgot_baseline).message

    def graph_attached(model, inputs, target, baseline, attributions):
        t = torch.as_tensor(target).expand(len(inputs))
        return ref_gap(model, inputs, target, baseline, attributions) + 0 * model(inputs).gather(1, t[:, None])[:, 0]
    assert "autograd graph" in check_completeness_gap(graph_attached).message


# --------------------------------------------------------------------------------------- adaptive rule
from course_utils.attribution import adaptive_quadrature, adaptive_rule, gauss_legendre_pieces  # noqa: E402


def piecewise_poly(alpha, edges, coefficients):
    """Σ_d c_{p,d} α^d on interval p of edges (a different polynomial on each piece, jumps allowed)."""
    piece = torch.bucketize(alpha, edges[1:-1], right=True)
    powers = alpha[..., None] ** torch.arange(coefficients.shape[1], dtype=torch.float64)
    return (coefficients[piece] * powers).sum(-1)


def piecewise_poly_integral(edges, coefficients):
    d = torch.arange(coefficients.shape[1], dtype=torch.float64)
    antiderivative = lambda t: (coefficients * t[:, None] ** (d + 1) / (d + 1)).sum(1)   # noqa: E731
    return (antiderivative(edges[1:]) - antiderivative(edges[:-1])).sum()


@pytest.mark.parametrize("q", [1, 2, 3, 5])
def test_pieces_integrate_piecewise_polynomials_exactly(q):
    edges = torch.tensor([0.0, 0.05, 0.3, 0.31, 1.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(q)
    alphas, weights = gauss_legendre_pieces(edges, q)
    assert alphas.shape == weights.shape == (4 * q,)
    assert math.isclose(weights.sum().item(), 1.0, rel_tol=1e-14)
    assert bool((alphas.diff() > 0).all())
    for p in range(4):   # q nodes inside each interval, weights adding up to its length
        inside = (alphas > edges[p]) & (alphas < edges[p + 1])
        assert int(inside.sum()) == q
        assert math.isclose(weights[inside].sum().item(), (edges[p + 1] - edges[p]).item(), rel_tol=1e-12)
    exact = torch.randn(4, 2 * q, dtype=torch.float64, generator=gen)         # degree 2q − 1 on each piece
    got = (weights * piecewise_poly(alphas, edges, exact)).sum()
    assert math.isclose(got.item(), piecewise_poly_integral(edges, exact).item(), rel_tol=1e-12, abs_tol=1e-13)
    one_more = torch.zeros(4, 2 * q + 1, dtype=torch.float64)
    one_more[1, -1] = 1.0                                                     # α^{2q} on the second piece only
    assert not math.isclose((weights * piecewise_poly(alphas, edges, one_more)).sum().item(),
                            piecewise_poly_integral(edges, one_more).item(), rel_tol=1e-9)


def test_pieces_with_counts_per_interval_and_batched_edges():
    a, w = gauss_legendre_pieces([0, 0.25, 1], [2, 3])                        # the two-interval rule
    gl2, gl3 = quadrature(2, "gauss_legendre"), quadrature(3, "gauss_legendre")
    assert torch.allclose(a, torch.cat([0.25 * gl2[0], 0.25 + 0.75 * gl3[0]]), atol=1e-15)
    assert torch.allclose(w, torch.cat([0.25 * gl2[1], 0.75 * gl3[1]]), atol=1e-15)
    edges = torch.tensor([[0, 0.5, 1], [0, 0.1, 1]], dtype=torch.float64)
    ab, wb = gauss_legendre_pieces(edges, 2)
    for row in range(2):
        ar, wr = gauss_legendre_pieces(edges[row], 2)
        assert torch.equal(ab[row], ar) and torch.equal(wb[row], wr)
    # one interval [0, 1] is plain Gauss–Legendre
    assert torch.allclose(gauss_legendre_pieces([0.0, 1.0], 7)[0], quadrature(7, "gauss_legendre")[0], atol=1e-15)


def sigmoid_scan(scan_steps, beta=300.0, where=0.03, height=10.0):
    alpha = torch.linspace(0, 1, scan_steps + 1, dtype=torch.float64)
    return height * torch.sigmoid(beta * (alpha - where))


def test_adaptive_nodes_follow_the_change_of_F():
    alphas, weights = adaptive_quadrature(sigmoid_scan(32), steps=64, nodes_per_interval=2, concentration=0.75)
    assert alphas.shape == weights.shape == (64,)
    assert math.isclose(weights.sum().item(), 1.0, rel_tol=1e-13) and bool((weights > 0).all())
    assert bool((alphas.diff() > 0).all()) and 0 < alphas[0] and alphas[-1] < 1
    early = int((alphas < 2 / 32).sum())      # F rises in the first two scan cells: most nodes go there
    assert early >= 0.7 * 64, early
    # a flat path gets equal intervals: composite Gauss–Legendre on 32 equal pieces
    flat_a, flat_w = adaptive_quadrature(torch.full((33,), 2.5, dtype=torch.float64), steps=64)
    edges = torch.linspace(0, 1, 33, dtype=torch.float64)
    ref_a, ref_w = gauss_legendre_pieces(edges, 2)
    assert torch.allclose(flat_a, ref_a, atol=1e-14) and torch.allclose(flat_w, ref_w, atol=1e-14)
    # concentration 0: the scan is ignored
    assert torch.allclose(adaptive_quadrature(sigmoid_scan(32), 64, concentration=0.0)[0], ref_a, atol=1e-14)


def test_adaptive_steps_not_divisible_and_batched_rows():
    scans = torch.stack([sigmoid_scan(16), sigmoid_scan(16, where=0.6), torch.zeros(17, dtype=torch.float64)])
    alphas, weights = adaptive_quadrature(scans, steps=11, nodes_per_interval=4)
    assert alphas.shape == weights.shape == (3, 11)
    assert torch.allclose(weights.sum(1), torch.ones(3, dtype=torch.float64), rtol=1e-13)
    for row in range(3):
        a, w = adaptive_quadrature(scans[row], steps=11, nodes_per_interval=4)
        assert torch.equal(a, alphas[row]) and torch.equal(w, weights[row])
    assert alphas[0].median() < 0.2 and (alphas[1].median() - 0.6).abs() < 0.2


class SteepSigmoid(nn.Module):
    """F(x) = 10 σ(β (w·x − z0)): along the path from 0 to an x with w·x = 1, F(α) = 10 σ(β (α − z0)).
    IG is exact by hand: IG_i = w_i x_i / (w·x) · (F(x) − F(0))."""
    def __init__(self, w, beta=300.0, z0=0.03):
        super().__init__()
        self.register_buffer("w", w)
        self.beta, self.z0 = beta, z0

    def forward(self, x):
        return 10 * torch.sigmoid(self.beta * ((x.flatten(1) * self.w).sum(1) - self.z0))[:, None]


def steep_case(n=1, z0=0.03):
    gen = torch.Generator().manual_seed(5)
    w = torch.randn(2 * 3 * 3, dtype=torch.float64, generator=gen)
    x = torch.randn(n, 2, 3, 3, dtype=torch.float64, generator=gen)
    x = x / (x.flatten(1) @ w).view(n, 1, 1, 1)                                # w·x = 1 for every input
    return SteepSigmoid(w, z0=z0).double(), x


@pytest.mark.parametrize("steps", [16, 32, 64])
def test_adaptive_beats_uniform_at_equal_budget_on_a_steep_sigmoid(steps):
    model, x = steep_case()
    err = {rule: integrated_gradients(model, x, 0, baseline="zeros", steps=steps, rule=rule,
                                      return_error=True)[1].abs().item() for rule in ("gauss_legendre", "trapezoid")}
    ig, err["adaptive"] = integrated_gradients(model, x, 0, baseline="zeros", steps=steps, rule="adaptive",
                                               return_error=True)
    with torch.no_grad():
        change = (model(x) - model(torch.zeros_like(x)))[0, 0]
    exact = model.w.view(1, 2, 3, 3) * x * change                             # w·x = 1
    assert err["adaptive"].abs().item() < 0.1 * min(err["gauss_legendre"], err["trapezoid"]), err
    assert err["adaptive"].abs().item() < 0.01 * change.item(), err
    assert torch.allclose(ig, exact * (1 + err["adaptive"] / change), rtol=1e-9)   # IG ∝ w ⊙ x on this model


def test_adaptive_batched_equals_per_image_and_every_batch_size():
    model, x = steep_case(3)
    x = x * torch.tensor([1.0, 0.2, 3.0], dtype=torch.float64).view(3, 1, 1, 1)   # three different paths
    kw = dict(baseline="zeros", steps=12, rule="adaptive", scan_steps=8, return_error=True, return_path=True)
    attr, err, path = integrated_gradients(model, x, 0, **kw)
    assert path.alphas.shape == path.weights.shape == (3, 1, 12) and path.scan_scores.shape == (3, 1, 9)
    assert path.gradient_evaluations == 12 and path.forward_evaluations == 9
    assert not torch.allclose(path.alphas[0], path.alphas[1])                 # each input its own nodes
    for i in range(3):
        a, e, p = integrated_gradients(model, x[i:i + 1], 0, **kw)
        assert torch.allclose(a, attr[i:i + 1], rtol=1e-13, atol=1e-15) and torch.allclose(e, err[i:i + 1])
        assert torch.allclose(p.alphas[0], path.alphas[i], rtol=1e-13)
    for bs in (1, 5, 100):
        assert torch.allclose(integrated_gradients(model, x, 0, batch_size=bs, **kw)[0], attr, rtol=1e-13, atol=1e-15)


def test_adaptive_matches_naive_loop_on_its_own_nodes():
    model = smooth_model(9)
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    target = torch.tensor([1, 3])
    alphas, weights, scan = adaptive_rule(model, x, target, baseline="zeros", steps=10, scan_steps=6)
    assert alphas.shape == weights.shape == (2, 10) and scan.shape == (2, 7)
    with torch.no_grad():
        assert torch.allclose(scan[:, 0], model(torch.zeros_like(x)).gather(1, target[:, None])[:, 0])
        assert torch.allclose(scan[:, -1], model(x).gather(1, target[:, None])[:, 0])
    naive = torch.zeros_like(x)
    for n in range(2):
        for a, w in zip(alphas[n].tolist(), weights[n].tolist()):
            p = (a * x[n])[None].requires_grad_(True)
            (g,) = torch.autograd.grad(model(p)[0, target[n]], p)
            naive[n] += w * g[0] * x[n]
    got = integrated_gradients(model, x, target, baseline="zeros", steps=10, rule="adaptive", scan_steps=6)
    assert torch.allclose(got, naive, rtol=1e-12, atol=1e-14)


def test_adaptive_with_several_baselines_and_smooth_models():
    model = smooth_model(10)
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(10))
    b1, b2 = torch.zeros_like(x), 0.5 * torch.ones_like(x)
    kw = dict(steps=16, rule="adaptive", scan_steps=8)
    avg, err = integrated_gradients(model, x, 2, baseline=[b1, b2], return_error=True, **kw)
    one, two = (integrated_gradients(model, x, 2, baseline=b, **kw) for b in (b1, b2))
    assert torch.allclose(avg, (one + two) / 2, rtol=1e-12)
    # on a smooth path, two Gauss–Legendre nodes per interval converge faster than any second-order rule:
    # 4× the steps divide the error by more than 16 (4th order would be 256 in the limit)
    fine = integrated_gradients(model, x, 2, baseline=[b1, b2], return_error=True, **{**kw, "steps": 64})[1]
    assert (fine.abs() < err.abs() / 20).all(), (err, fine)


def test_adaptive_is_exact_on_a_linear_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 5)).double()
    x, baseline = torch.randn(3, 2, 3, 3, dtype=torch.float64), torch.randn(3, 2, 3, 3, dtype=torch.float64)
    got, err = integrated_gradients(model, x, 4, baseline=baseline, steps=5, rule="adaptive", return_error=True)
    assert torch.allclose(got, (x - baseline) * model[1].weight.detach()[4].view(2, 3, 3), atol=1e-14)
    assert err.abs().max() < 1e-13


@pytest.mark.parametrize("call, error, words", [
    (lambda: integrated_gradients(fashion_cnn(False), torch.rand(1, 1, 28, 28), 3, rule="adaptive", scan_steps=0),
     ValueError, "scan_steps"),
    (lambda: integrated_gradients(fashion_cnn(False), torch.rand(1, 1, 28, 28), 3, rule="adaptive",
                                  scan_steps=True), TypeError, "scan_steps"),
    (lambda: integrated_gradients(fashion_cnn(False), torch.rand(1, 1, 28, 28), 3, rule="adaptive",
                                  scan_steps=8.0), TypeError, "scan_steps"),
    (lambda: integrated_gradients(fashion_cnn(False), torch.rand(1, 1, 28, 28), 3, rule="midpoint", scan_steps=8),
     ValueError, "scan_steps"),
    (lambda: integrated_gradients(fashion_cnn(False), torch.rand(1, 1, 28, 28), 3, rule="adaptive",
                                  nodes_per_interval=0), ValueError, "nodes_per_interval"),
    (lambda: integrated_gradients(fashion_cnn(False), torch.rand(1, 1, 28, 28), 3, rule=None), TypeError, "rule"),
    (lambda: quadrature(8, "adaptive"), ValueError, "rule"),
    (lambda: adaptive_quadrature([0.0, 1.0], 4), TypeError, "scan_scores"),
    (lambda: adaptive_quadrature(torch.zeros(1, dtype=torch.float64), 4), ValueError, "scan_scores"),
    (lambda: adaptive_quadrature(torch.tensor([0.0, float("nan")]), 4), ValueError, "scan_scores"),
    (lambda: adaptive_quadrature(torch.tensor([0, 1]), 4), TypeError, "scan_scores"),
    (lambda: adaptive_quadrature(torch.zeros(5), 0), ValueError, "steps"),
    (lambda: adaptive_quadrature(torch.zeros(5), 4, concentration=1.0), ValueError, "concentration"),
    (lambda: adaptive_quadrature(torch.zeros(5), 4, concentration=-0.1), ValueError, "concentration"),
    (lambda: gauss_legendre_pieces([0.1, 1.0], 2), ValueError, "edges"),
    (lambda: gauss_legendre_pieces([0.0, 0.6, 0.4, 1.0], 2), ValueError, "edges"),
    (lambda: gauss_legendre_pieces([0.0, 0.5, 1.0], [2]), ValueError, "nodes_per_interval"),
    (lambda: gauss_legendre_pieces([0.0, 0.5, 1.0], [2, True]), TypeError, "nodes_per_interval"),
    (lambda: gauss_legendre_pieces("0 1", 2), TypeError, "edges"),
    (lambda: adaptive_rule(fashion_cnn(False), torch.rand(1, 1, 28, 28), 3, baseline="noise", scan_steps=-1),
     ValueError, "scan_steps"),
])
def test_adaptive_bad_input(call, error, words):
    with pytest.raises(error, match=words):
        call()



# ------------------------------------------------------------------------------ adaptive Simpson
from course_utils.attribution import simpson_errors, simpson_pieces, split_points  # noqa: E402
import course_utils.attribution.integrated as integrated_module  # noqa: E402


def test_simpson_pieces_are_composite_simpson_exact_for_piecewise_cubics():
    edges = torch.tensor([0.0, 0.1, 0.15, 0.6, 1.0], dtype=torch.float64)
    alphas, weights = simpson_pieces(edges)
    assert alphas.shape == weights.shape == (9,)
    assert torch.equal(alphas[::2], edges) and torch.allclose(alphas[1::2], (edges[1:] + edges[:-1]) / 2)
    h = edges.diff()
    assert torch.allclose(weights[1::2], 4 * h / 6)                            # midpoints: 4h/6
    assert torch.allclose(weights[2:-1:2], (h[:-1] + h[1:]) / 6)               # shared edges: both h/6
    assert math.isclose(weights.sum().item(), 1.0, rel_tol=1e-14)
    # a continuous piecewise cubic (a cubic plus a kink (α − 0.15)³₊ at an edge): integrated exactly
    c = torch.randn(5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    f = lambda t: c[0] + c[1] * t + c[2] * t ** 2 + c[3] * t ** 3 + c[4] * (t - 0.15).clamp_min(0) ** 3  # noqa: E731
    exact = c[0] + c[1] / 2 + c[2] / 3 + c[3] / 4 + c[4] * 0.85 ** 4 / 4
    assert math.isclose((weights * f(alphas)).sum().item(), exact.item(), rel_tol=1e-12)
    kink_inside = lambda t: (t - 0.3).clamp_min(0) ** 3                     # noqa: E731  (0.3 is no edge)
    assert not math.isclose((weights * kink_inside(alphas)).sum().item(), 0.7 ** 4 / 4, rel_tol=1e-6)
    ab, wb = simpson_pieces(torch.stack([edges, torch.tensor([0, 0.5, 0.7, 0.9, 1.0], dtype=torch.float64)]))
    assert torch.equal(ab[0], alphas) and torch.equal(wb[0], weights) and ab.shape == (2, 9)


def test_simpson_errors_are_the_exact_error_of_each_interval():
    alphas, weights = simpson_pieces([0.0, 0.5, 1.0])
    F, g = alphas ** 5 / 5, alphas ** 4                                       # g = dF/dα, a quartic
    err = simpson_errors(alphas, F, g)
    # Simpson on [a, b] for t⁴ errs by h⁵/2880 · 24 = h⁵/120 (the fourth derivative is 24)
    assert torch.allclose(err, torch.full((2,), 0.5 ** 5 / 120, dtype=torch.float64), rtol=1e-12)
    assert math.isclose(err.sum().item(), ((weights * g).sum() - (F[-1] - F[0])).item(), rel_tol=1e-12)
    assert torch.allclose(simpson_errors(alphas, alphas ** 4 / 4, alphas ** 3), torch.zeros(2, dtype=torch.float64),
                          atol=1e-16)                                          # cubics: exact


def test_split_points_bisect_the_worst_intervals():
    alphas, _ = simpson_pieces([0.0, 0.25, 0.5, 1.0])
    errors = torch.tensor([0.1, -0.3, 0.2], dtype=torch.float64)
    assert torch.allclose(split_points(alphas, errors, 1), torch.tensor([0.3125, 0.4375], dtype=torch.float64))
    two = split_points(alphas, errors, 2)
    assert torch.allclose(two.sort().values, torch.tensor([0.3125, 0.4375, 0.625, 0.875], dtype=torch.float64))


@pytest.mark.parametrize("rule, used", [("adaptive_simpson", 11), ("adaptive_trapezoid", 12)])
def test_bisection_rules_are_exact_on_a_linear_model_and_use_their_budget(rule, used):
    """Adaptive Simpson uses the largest odd number of gradients within the budget, adaptive trapezoid all."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 5)).double()
    x, baseline = torch.randn(3, 2, 3, 3, dtype=torch.float64), torch.randn(3, 2, 3, 3, dtype=torch.float64)
    got, err, path = integrated_gradients(model, x, 4, baseline=baseline, steps=12, rule=rule,
                                          return_error=True, return_path=True)
    assert torch.allclose(got, (x - baseline) * model[1].weight.detach()[4].view(2, 3, 3), atol=1e-14)
    assert err.abs().max() < 1e-13
    assert path.gradient_evaluations == used and path.forward_evaluations == 0 and path.alphas.shape == (3, 1, used)
    assert torch.allclose(path.weights.sum(-1), torch.ones(3, 1, dtype=torch.float64))


def test_adaptive_simpson_bisects_where_the_error_is_and_beats_uniform_on_a_steep_sigmoid():
    model, x = steep_case()
    with torch.no_grad():
        change = (model(x) - model(torch.zeros_like(x)))[0, 0].item()
    errors = {}
    for steps in (32, 64):
        ig, e, path = integrated_gradients(model, x, 0, baseline="zeros", steps=steps, rule="adaptive_simpson",
                                           return_error=True, return_path=True)
        errors[steps] = abs(e.item())
        gl = integrated_gradients(model, x, 0, baseline="zeros", steps=steps, rule="gauss_legendre",
                                  return_error=True)[1].abs().item()
        assert errors[steps] < 0.1 * gl, (steps, errors[steps], gl)
        exact = model.w.view(1, 2, 3, 3) * x * change                         # w·x = 1
        assert torch.allclose(ig, exact * (1 + e / change), rtol=1e-9)
        # the completeness error is the sum of the intervals' errors, and the nodes crowd round α = 0.03
        per_interval = simpson_errors(path.alphas[0, 0].double(), path.scores[0, 0].double(),
                                      path.slopes[0, 0].double())
        assert math.isclose(per_interval.sum().item(), e.item(), rel_tol=1e-6, abs_tol=1e-12)
        assert int(((path.alphas - 0.03).abs() < 0.02).sum()) > steps / 4          # 4 % of the path
    assert errors[64] < 0.001 * change and errors[64] < errors[32]


def assert_each_path_on_its_own(model, x, target, kw, attr, path, monkeypatch):
    """A bisection rule's maps and nodes (``attr``, ``path`` from ``integrated_gradients(model, x, target, **kw)``)
    do not depend on the other inputs, the batch size or how many paths are done at once; several baselines
    get a path each."""
    for i in range(len(x)):
        a, _, p = integrated_gradients(model, x[i:i + 1], target, **kw)
        assert torch.allclose(a, attr[i:i + 1], rtol=1e-12, atol=1e-15) and torch.allclose(p.alphas[0], path.alphas[i])
    for bs in (1, 5, 7):
        assert torch.allclose(integrated_gradients(model, x, target, batch_size=bs, **kw)[0], attr, rtol=1e-12,
                              atol=1e-15)
    monkeypatch.setattr(integrated_module, "GRADIENT_VALUES", 1)               # one path at a time
    assert torch.allclose(integrated_gradients(model, x, target, **kw)[0], attr, rtol=1e-12, atol=1e-15)
    noisy = integrated_gradients(smooth_model(4), torch.rand(2, 3, 5, 5, dtype=torch.float64), 1, baseline="noise",
                                 n_baselines=2, steps=9, rule=kw["rule"], return_path=True)[1]
    assert noisy.alphas.shape == (2, 2, 9)                                     # every baseline its own path


def test_adaptive_simpson_batched_chunked_and_per_image_agree_with_a_naive_loop(monkeypatch):
    model, x = steep_case(3)
    x = x * torch.tensor([1.0, 0.2, 3.0], dtype=torch.float64).view(3, 1, 1, 1)   # three different paths
    kw = dict(baseline="zeros", steps=20, rule="adaptive_simpson", return_error=True, return_path=True)
    attr, err, path = integrated_gradients(model, x, 0, **kw)
    assert not torch.allclose(path.alphas[0], path.alphas[1])                 # each input its own nodes
    naive = torch.zeros_like(x)
    for n in range(3):
        for a, w in zip(path.alphas[n, 0].tolist(), path.weights[n, 0].tolist()):
            p = (a * x[n])[None].requires_grad_(True)
            (g,) = torch.autograd.grad(model(p)[0, 0], p)
            naive[n] += w * g[0] * x[n]
    assert torch.allclose(attr, naive, rtol=1e-12, atol=1e-15)
    assert_each_path_on_its_own(model, x, 0, kw, attr, path, monkeypatch)


@pytest.mark.parametrize("call, error, words", [
    (lambda: integrated_gradients(fashion_cnn(False), torch.rand(1, 1, 28, 28), 3, rule="adaptive_simpson", steps=2),
     ValueError, "steps"),
    (lambda: integrated_gradients(fashion_cnn(False), torch.rand(1, 1, 28, 28), 3, rule="adaptive_simpson",
                                  scan_steps=8), ValueError, "scan_steps"),
    (lambda: quadrature(8, "adaptive_simpson"), ValueError, "rule"),
    (lambda: simpson_pieces([0.0, 0.7, 0.5, 1.0]), ValueError, "edges"),
    (lambda: simpson_errors(torch.zeros(4), torch.zeros(4), torch.zeros(4)), ValueError, "alphas"),
    (lambda: simpson_errors([0.0, 0.5, 1.0], torch.zeros(3), torch.zeros(3)), TypeError, "alphas"),
    (lambda: simpson_errors(torch.zeros(3), torch.zeros(5), torch.zeros(3)), ValueError, "scores"),
    (lambda: simpson_errors(torch.zeros(3), torch.zeros(3), [0, 0, 0]), TypeError, "slopes"),
    (lambda: split_points(torch.zeros(5), torch.zeros(3), 1), ValueError, "errors"),
    (lambda: split_points(torch.zeros(5), torch.zeros(2), 3), ValueError, "k"),
    (lambda: split_points(torch.zeros(5), torch.zeros(2), True), TypeError, "k"),
])
def test_adaptive_simpson_bad_input(call, error, words):
    with pytest.raises(error, match=words):
        call()


# ------------------------------------------------------------------------------------- adaptive trapezoid
from course_utils.attribution import trapezoid_pieces  # noqa: E402


def test_trapezoid_pieces_are_exact_for_piecewise_linear_functions():
    edges = torch.tensor([0.0, 0.1, 0.15, 0.6, 1.0], dtype=torch.float64)
    weights = trapezoid_pieces(edges)
    assert torch.allclose(weights, torch.tensor([0.05, 0.075, 0.25, 0.425, 0.2], dtype=torch.float64))
    f = lambda a: torch.where(a < 0.15, 3 * a, 0.45 - 2 * (a - 0.15))         # linear on each interval
    exact = 0.5 * 0.15 * 0.45 + 0.85 * 0.45 - 0.85 ** 2                          # ∫₀¹ f
    assert math.isclose(float((weights * f(edges)).sum()), exact, rel_tol=1e-12)
    batched = trapezoid_pieces(torch.stack([edges, torch.linspace(0, 1, 5, dtype=torch.float64)]))
    assert torch.allclose(batched[0], weights) and torch.allclose(batched[1], quadrature(4, "trapezoid")[1])
    assert torch.allclose(trapezoid_pieces([0.0, 0.5, 1.0]), torch.tensor([0.25, 0.5, 0.25], dtype=torch.float64))


def naive_adaptive_trapezoid(model, x, target, baseline, steps, start=4, splits=4):
    """The rule as a plain loop, one image and one gradient at a time: (attributions, nodes per image)."""
    out, all_nodes = torch.zeros_like(x), []
    for n in range(len(x)):
        delta, grads = x[n] - baseline[n], {}

        def grad(a):
            if a not in grads:
                p = (baseline[n] + a * delta)[None].requires_grad_(True)
                grads[a] = torch.autograd.grad(model(p)[0, target], p)[0][0]
            return grads[a]

        nodes = [k / start for k in range(start + 1)]
        while len(nodes) < steps:
            change = [(b - a) * float(((grad(b) - grad(a)) * delta).norm()) for a, b in zip(nodes, nodes[1:])]
            length = [b - a for a, b in zip(nodes, nodes[1:])]
            change = [c if c > 1e-12 * max(change) else 0.0 for c in change]     # last-bit noise is no change
            worst = sorted(range(len(change)), key=lambda j: (-change[j], -length[j], j))[:min(splits, steps - len(nodes))]
            nodes = sorted(nodes + [(nodes[j] + nodes[j + 1]) / 2 for j in worst])
        weights = [(b - a) / 2 for a, b in zip(nodes, nodes[1:])]
        weights = [w0 + w1 for w0, w1 in zip([0.0] + weights, weights + [0.0])]
        out[n] = delta * sum(w * grad(a) for a, w in zip(nodes, weights))
        all_nodes.append(nodes)
    return out, torch.tensor(all_nodes, dtype=torch.float64)


def kinks_early(n=2, hidden=48, seed=3):
    """A ReLU network whose units all switch on for α < 0.05 along the path from 0 to each input: every pixel's
    integrand is a step function with its steps crowded at the start of the path."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, 3, 3, dtype=torch.float64, generator=gen) + 0.5
    w = torch.randn(hidden, 18, dtype=torch.float64, generator=gen)
    w = w * torch.sign(w @ x[0].flatten())[:, None]                      # every unit rises along path 0
    switch = 0.05 * torch.rand(hidden, dtype=torch.float64, generator=gen)
    hidden_layer = nn.Linear(18, hidden).double()
    with torch.no_grad():
        hidden_layer.weight.copy_(w)
        hidden_layer.bias.copy_(-switch * (w @ x[0].flatten()))          # unit j switches at α = switch_j
    head = nn.Linear(hidden, 3).double()
    return nn.Sequential(nn.Flatten(), hidden_layer, nn.ReLU(), head), x


def test_adaptive_trapezoid_with_two_gradients_is_the_trapezoid_rule_on_0_1():
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 5)).double()
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    _, path = integrated_gradients(model, x, 4, baseline="zeros", steps=2, rule="adaptive_trapezoid", return_path=True)
    assert torch.allclose(path.alphas[0, 0], torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert torch.allclose(path.weights[0, 0], torch.tensor([0.5, 0.5], dtype=torch.float64))


def test_adaptive_trapezoid_matches_a_naive_loop_batched_chunked_and_per_image(monkeypatch):
    model, x = kinks_early(3)
    baseline = torch.zeros_like(x)
    kw = dict(baseline="zeros", steps=21, rule="adaptive_trapezoid", return_error=True, return_path=True)
    attr, err, path = integrated_gradients(model, x, 1, **kw)
    naive, nodes = naive_adaptive_trapezoid(model, x, 1, baseline, 21)
    assert torch.allclose(path.alphas[:, 0], nodes, rtol=0, atol=1e-15)
    assert torch.allclose(attr, naive, rtol=1e-12, atol=1e-14)
    assert not torch.allclose(path.alphas[0], path.alphas[2])                 # each input its own nodes
    assert_each_path_on_its_own(model, x, 1, kw, attr, path, monkeypatch)


def test_adaptive_trapezoid_puts_its_nodes_where_the_pixels_change_and_beats_uniform_maps():
    model, x = kinks_early(1)
    reference = integrated_gradients(model, x, 1, baseline="zeros", steps=4096, rule="trapezoid")

    def distance(rule):
        maps, path = integrated_gradients(model, x, 1, baseline="zeros", steps=32, rule=rule, return_path=True)
        return float((maps - reference).norm() / reference.norm()), path

    adaptive, path = distance("adaptive_trapezoid")
    for rule in ("trapezoid", "gauss_legendre"):                              # 2 and 4 nodes below α = 0.05
        uniform, uniform_path = distance(rule)
        assert adaptive < 0.5 * uniform and int((path.alphas < 0.05).sum()) > 3 * int((uniform_path.alphas < 0.05).sum())


@pytest.mark.parametrize("call, error, words", [
    (lambda: integrated_gradients(fashion_cnn(False), torch.rand(1, 1, 28, 28), 3, rule="adaptive_trapezoid", steps=1),
     ValueError, "steps"),
    (lambda: integrated_gradients(fashion_cnn(False), torch.rand(1, 1, 28, 28), 3, rule="adaptive_trapezoid",
                                  scan_steps=8), ValueError, "scan_steps"),
    (lambda: quadrature(8, "adaptive_trapezoid"), ValueError, "trapezoid_pieces"),
    (lambda: trapezoid_pieces([0.0, 0.7, 0.5, 1.0]), ValueError, "edges"),
    (lambda: trapezoid_pieces([0.1, 1.0]), ValueError, "edges"),
    (lambda: trapezoid_pieces("0, 1"), TypeError, "edges"),
])
def test_adaptive_trapezoid_bad_input(call, error, words):
    with pytest.raises(error, match=words):
        call()
