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
    assert auto_batch_size(None, (1, 28, 28)) == 790
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
