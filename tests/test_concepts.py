"""course_utils.concepts: CAVs and TCAV on models where the answer is known, the statistics, dissection on
hand-made masks, the textures, bad inputs, the model left as it was, and lecture 12's exercise checks."""
import math
from collections import OrderedDict
from pathlib import Path

import matplotlib
import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import concepts as cc
from course_utils import exercises as mx
from course_utils.checks import concepts as ck
from course_utils.concepts import textures

matplotlib.use("Agg")


def gen(seed):
    return torch.Generator().manual_seed(seed)


def as_images(points):
    """N points → N×D×1×1 "images" (the models below start with Flatten)."""
    return torch.as_tensor(points, dtype=torch.float32).reshape(len(points), -1, 1, 1)


def toy_relu():
    """hidden = identity on 2-d inputs; logit 0 = ReLU(h1) − ReLU(h2), logit 1 = its negative."""
    model = nn.Sequential(OrderedDict(flatten=nn.Flatten(), hidden=nn.Linear(2, 2, bias=False), relu=nn.ReLU(),
                                      out=nn.Linear(2, 2, bias=False)))
    with torch.no_grad():
        model.hidden.weight.copy_(torch.eye(2))
        model.out.weight.copy_(torch.tensor([[1.0, -1.0], [-1.0, 1.0]]))
    return model.eval()


def toy_linear(d=4, seed=0):
    """A purely linear model: hidden = A x, logits = B hidden (the gradient at hidden is B[k] everywhere)."""
    model = nn.Sequential(OrderedDict(flatten=nn.Flatten(), hidden=nn.Linear(d, d), out=nn.Linear(d, 3)))
    g = gen(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return model.eval()


def small_cnn(seed=0, channels=1):
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(channels, 4, 3, padding=1), bn1=nn.BatchNorm2d(4), relu1=nn.ReLU(),
        conv2=nn.Conv2d(4, 6, 3, padding=1), relu2=nn.ReLU(), gap=nn.AdaptiveAvgPool2d(1),
        flatten=nn.Flatten(), fc=nn.Linear(6, 3))).eval()


MIRRORED = [[1.0, 0.5], [1.0, -0.5], [2.0, 1.0], [2.0, -1.0], [1.5, 0.0]]


# ---------------------------------------------------------------------------------------- exact cases
def test_cav_and_tcav_exact_on_the_relu_toy():
    model = toy_relu()
    concept, random = as_images(MIRRORED), -as_images(MIRRORED)
    cav = cc.fit_cav(cc.layer_activations(model, "hidden", concept), cc.layer_activations(model, "hidden", random),
                     test_fraction=0)
    assert torch.allclose(cav.vector, torch.tensor([1.0, 0.0]), atol=1e-6)     # by symmetry
    assert abs(cav.bias) < 1e-8 and cav.accuracy == 1.0
    x = as_images([[0.5, 1.0], [1.0, 2.0], [2.0, -1.0], [0.3, 0.3], [1.2, 0.1], [0.1, -2.0], [-0.5, -0.4],
                   [-1.0, -1.0]])
    grads = cc.layer_gradients(model, x, 0, "hidden")
    expected = torch.stack([(x.flatten(1)[:, 0] > 0).float(), -(x.flatten(1)[:, 1] > 0).float()], 1)
    assert torch.equal(grads, expected)
    d = cc.directional_derivatives(grads, cav)
    assert cc.tcav_score(d) == 0.75 and int((d == 0).sum()) == 2          # S = 0 is not counted
    assert cc.tcav(model, x, 0, "hidden", cav) == 0.75
    assert cc.tcav(model, x, 1, model.hidden, cav) == 0.0                  # logit 1 falls along the CAV


def test_tcav_of_a_linear_model_is_the_sign_of_the_weights_along_the_cav():
    model = toy_linear()
    g = gen(1)
    x = torch.randn(30, 4, 1, 1, generator=g)
    grads = cc.layer_gradients(model, x, 2, "hidden")
    assert torch.allclose(grads, model.out.weight.detach()[2].expand(30, 4), atol=1e-6)   # the same for every input
    v = torch.randn(4, generator=g)
    expected = 1.0 if float(model.out.weight.detach()[2] @ v) > 0 else 0.0
    assert cc.tcav_score(cc.directional_derivatives(grads, v)) == expected
    assert cc.tcav_score(cc.directional_derivatives(grads, -v)) == 1.0 - expected


def test_logistic_regression_is_the_exact_minimizer():
    g = gen(2)
    X = torch.randn(40, 300, generator=g) + 0.3                # D ≫ N and separable: the penalty matters
    y = (torch.arange(40) < 17).float()
    X[y == 1, :5] += 1.0
    w, b = cc.logistic_regression(X, y, l2=0.05)
    wd = w.double().requires_grad_(True)
    bd = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    f = X.double() @ wd + bd
    loss = (F.softplus(f) - y.double() * f).mean() + 0.025 * (wd * wd).sum()
    gw, gb = torch.autograd.grad(loss, [wd, bd])
    assert float(gw.abs().max()) < 1e-6 and abs(float(gb)) < 1e-6        # the gradient vanishes
    # and the same as a primal L-BFGS solve
    w2 = torch.zeros(300, dtype=torch.float64, requires_grad=True)
    b2 = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w2, b2], max_iter=500, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        f2 = X.double() @ w2 + b2
        out = (F.softplus(f2) - y.double() * f2).mean() + 0.025 * (w2 * w2).sum()
        out.backward()
        return out
    opt.step(closure)
    assert torch.allclose(w.double(), w2.detach(), atol=1e-5) and abs(b - float(b2.detach())) < 1e-5


def test_a_planted_concept_direction_is_recovered():
    """Random activations vs the same kind of activations shifted along u: the CAV finds u."""
    g = gen(3)
    d = 40
    u = F.normalize(torch.randn(d, generator=g), dim=0)
    random = torch.randn(150, d, generator=g)
    concept = torch.randn(150, d, generator=g) + 4.0 * u
    cav = cc.fit_cav(concept.view(150, 10, 2, 2), random.view(150, 10, 2, 2), l2=0.01, seed=0)
    assert float(cav.vector @ u) > 0.9 and cav.accuracy >= 0.95
    # at a real layer: the concept is a pattern planted in the input of a linear "layer"
    model = toy_linear(d=8, seed=4)
    with torch.no_grad():                       # an orthogonal layer: the activations' noise stays isotropic
        model.hidden.weight.copy_(torch.linalg.qr(model.hidden.weight)[0])
    a = model.hidden.weight.detach()
    planted = torch.randn(8, generator=g)
    base = torch.randn(80, 8, generator=g)
    concept_x, random_x = (base[:40] + 2 * planted).view(40, 8, 1, 1), base[40:].view(40, 8, 1, 1)
    runs = cc.fit_cav_runs(cc.layer_activations(model, "hidden", concept_x),
                           cc.layer_activations(model, "hidden", random_x), n_runs=5, set_size=15)
    direction = F.normalize(a @ planted, dim=0)                         # where the plant moves the activation
    assert all(float(c.vector @ direction) > 0.8 for c in runs.concept)


def test_batch_size_does_not_change_activations_or_gradients():
    model = small_cnn()
    x = torch.rand(7, 1, 6, 6, generator=gen(5))
    a1 = cc.layer_activations(model, ["relu1", "relu2"], x, batch_size=1)
    a7 = cc.layer_activations(model, ["relu1", "relu2"], x, batch_size=7)
    assert all(torch.allclose(a1[k], a7[k], atol=1e-6) for k in a1)
    g1 = cc.layer_gradients(model, x, torch.tensor([0, 1, 2, 0, 1, 2, 0]), ["relu1", "relu2"], batch_size=1)
    g7 = cc.layer_gradients(model, x, torch.tensor([0, 1, 2, 0, 1, 2, 0]), ["relu1", "relu2"], batch_size=3)
    assert all(torch.allclose(g1[k], g7[k], atol=1e-6) for k in g1)
    # the gradient at relu1 of input 0 equals one computed by hand with autograd
    xi = x[:1].clone().requires_grad_(True)
    h = model.relu1(model.bn1(model.conv1(xi)))
    logit = model.fc(model.flatten(model.gap(model.relu2(model.conv2(h)))))[0, 0]
    (gh,) = torch.autograd.grad(logit, h)
    assert torch.allclose(g1["relu1"][:1], gh, atol=1e-6)


# ------------------------------------------------------------------------------------------- statistics
def test_t_test_matches_scipy_and_handles_constant_lists():
    from scipy import stats
    g = gen(6)
    for na, nb in [(20, 20), (7, 30), (3, 2)]:
        a, b = torch.rand(na, generator=g, dtype=torch.float64), torch.rand(nb, generator=g, dtype=torch.float64) * 0.7
        t, p = cc.t_test(a, b)
        ref = stats.ttest_ind(a.numpy(), b.numpy())
        assert math.isclose(t, ref.statistic, rel_tol=1e-10) and math.isclose(p, ref.pvalue, rel_tol=1e-9)
    assert cc.t_test([1.0, 1.0, 1.0], [1.0, 1.0]) == (0.0, 1.0)
    assert cc.t_test([1.0, 1.0, 1.0], [0.0, 0.0]) == (math.inf, 0.0)
    assert cc.t_test([0.0, 0.0], [1.0, 1.0, 1.0]) == (-math.inf, 0.0)


def test_t_test_behaviour_distinct_lists_significant_same_ones_not():
    g = gen(7)
    null_p = [cc.t_test(torch.rand(20, generator=g), torch.rand(20, generator=g))[1] for _ in range(200)]
    rejected = sum(p < 0.05 for p in null_p) / len(null_p)
    assert 0.01 <= rejected <= 0.1                                    # about 5 % under the null
    assert cc.t_test(torch.full((20,), 1.0) - 0.01 * torch.rand(20, generator=g), torch.rand(20, generator=g))[1] < 1e-6


def test_fit_cav_runs_sets_reuse_and_determinism():
    g = gen(8)
    pool = torch.randn(120, 3, 2, 2, generator=g)
    concept = torch.randn(20, 3, 2, 2, generator=g) + 1.0
    runs = cc.fit_cav_runs(concept, pool, n_runs=6, seed=3)
    assert runs.random_sets.shape == (6, 20) == runs.reference_sets.shape
    for s, r in zip(runs.random_sets, runs.reference_sets):
        assert len(set(s.tolist())) == 20 and not set(s.tolist()) & set(r.tolist())    # R_i and R'_i disjoint
    again = cc.fit_cav_runs(concept, pool, n_runs=6, seed=3)
    pairs = zip(runs.concept + runs.random, again.concept + again.random)
    assert all(torch.equal(a.vector, b.vector) for a, b in pairs)
    other = cc.fit_cav_runs(concept * 2 - 0.5, pool, reuse=runs)
    assert torch.equal(other.random_sets, runs.random_sets) and all(a is b for a, b in zip(other.random, runs.random))
    assert 0.3 <= float(runs.random_accuracies.mean()) <= 0.7 and float(runs.accuracies.mean()) > 0.8
    # the CAVs of fit_cav_runs are the CAVs fit_cav gives on the same sets (the batched solver is the same fit)
    batched = cc.fit_cav_runs(concept, pool, n_runs=2, test_fraction=0)
    single = cc.fit_cav(concept, pool[batched.random_sets[0]], test_fraction=0)
    assert torch.allclose(single.vector, batched.concept[0].vector, atol=1e-5)
    grads = torch.randn(9, 3, 2, 2, generator=g)
    result = cc.tcav_test(grads, runs, "blob", "class 1", "layer")
    assert result.scores.shape == (6,) and result.random_scores.shape == (6,)
    assert result.p_value == cc.t_test(result.scores, result.random_scores)[1]
    assert "blob" in repr(result) and result.significant(1.0) and not result.significant(1e-300)


def test_tcav_experiment_on_a_small_cnn_leaves_the_model_as_it_was():
    model = small_cnn().train()
    model.conv1.weight.requires_grad_(False)
    g = gen(9)
    x = torch.rand(10, 1, 6, 6, generator=g)
    concept = torch.rand(12, 1, 6, 6, generator=g) + 0.5
    pool = torch.rand(40, 1, 6, 6, generator=g)
    flags = {n: m.training for n, m in model.named_modules()}
    grads_flags = {n: p.requires_grad for n, p in model.named_parameters()}
    result = cc.tcav_experiment(model, x, 1, "relu1", concept, pool, n_runs=4)
    assert result.layer == "relu1" and len(result.scores) == 4
    assert flags == {n: m.training for n, m in model.named_modules()}
    assert grads_flags == {n: p.requires_grad for n, p in model.named_parameters()}
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    with pytest.raises(ValueError, match="layer"):
        cc.layer_gradients(model, x, 0, "nope")
    with pytest.raises(ValueError, match="target"):
        cc.layer_gradients(model, x, 7, "relu1")                    # out of range: raised while hooks are on
    assert flags == {n: m.training for n, m in model.named_modules()}
    assert all(not m._forward_hooks for m in model.modules())


# ------------------------------------------------------------------------------------------- dissection
def test_dataset_iou_on_hand_made_masks():
    active = torch.zeros(2, 4, 4, dtype=torch.bool)
    masks = torch.zeros(2, 4, 4, dtype=torch.bool)
    active[0, :2, :2] = True              # 4 pixels
    masks[0, :2, :3] = True               # 6 pixels, 4 shared
    active[1, 3, 3] = True                # 1 pixel, no mask: only the union grows
    assert cc.dataset_iou(active, masks) == 4 / 7
    assert cc.dataset_iou(torch.zeros(1, 3, 3, dtype=torch.bool), torch.zeros(1, 3, 3, dtype=torch.bool)) == 0.0
    assert cc.dataset_iou(masks, masks) == 1.0


def test_unit_thresholds_and_active_regions():
    acts = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)
    t = cc.unit_thresholds(acts, 0.75)            # 8 values per unit: the 6th smallest
    values = acts.transpose(0, 1).flatten(1)
    assert torch.equal(t, values.sort(1).values[:, 5])
    regions = cc.active_regions(acts, t, (8, 6))
    up = F.interpolate(acts, size=(8, 6), mode="bilinear", align_corners=False)
    clear = (up - t.view(1, -1, 1, 1)).abs() > 1e-4            # away from ties, the same as F.interpolate
    assert regions.shape == (2, 3, 8, 6) and torch.equal(regions[clear], (up > t.view(1, -1, 1, 1))[clear])


class IdentityNet(nn.Module):
    """Two "units" whose maps are given by hand: unit 0 = the image, unit 1 = its mirror image."""

    def __init__(self):
        super().__init__()
        self.units = nn.Identity()

    def forward(self, x):
        return self.units(torch.cat([x, x.flip(-1)], 1))


def test_dissect_on_hand_made_maps_and_masks():
    model = IdentityNet()
    x = torch.zeros(4, 1, 4, 4)
    x[:, 0, 1:3, 0:2] = 1.0                       # every image bright on the left
    labels = torch.tensor([0, 0, 1, 1])
    masks = torch.zeros(4, 4, 4, dtype=torch.bool)
    masks[:2, 1:3, 0:2] = True                    # class 0's object: exactly where the images are bright
    masks[2:, :, 2:] = True                       # class 1's object: the right half
    d = cc.dissect(model, "units", x, labels, masks, n_classes=2, quantile=0.5)
    assert torch.equal(d.thresholds, torch.zeros(2))       # half of each unit's values are 0
    # unit 0 is on at the left blob of all 4 images (16 pixels); class 0's masks are 8 of them
    assert math.isclose(float(d.iou[0, 0]), 8 / 16) and float(d.iou[0, 1]) == 0.0
    # unit 1 (mirrored) is on at the right blob (16 pixels); class 1's masks (16 pixels) share 8 of them
    assert math.isclose(float(d.iou[1, 1]), 8 / 24, rel_tol=1e-6) and float(d.iou[1, 0]) == 0.0
    assert d.best()[0].tolist() == [0, 1] and d.detectors(0.4) == [(0, 0, pytest.approx(0.5))]
    assert torch.allclose(d.coverage, torch.full((2,), 0.25))
    both = cc.dissect(model, ["units"], x, labels, masks, quantile=0.5)
    assert torch.equal(both["units"].iou, d.iou)


# ------------------------------------------------------------------------------------------- textures
@pytest.mark.parametrize("kind", cc.TEXTURES)
def test_textures_are_deterministic_images_in_range(kind):
    a = cc.texture_images(kind, 5, size=32, channels=3, seed=1)
    assert a.shape == (5, 3, 32, 32) and a.dtype == torch.float32 and 0 <= a.min() and a.max() <= 1
    assert torch.equal(a, cc.texture_images(kind, 5, size=32, channels=3, seed=1))
    assert not torch.equal(a, cc.texture_images(kind, 5, size=32, channels=3, seed=2))
    assert float(a.std((1, 2, 3)).min()) > 0.05                       # a pattern, not a flat image
    assert cc.texture_images(kind, 2, size=28, channels=1).shape == (2, 1, 28, 28)


def test_photo_textures_offline_and_their_fallback(monkeypatch):
    found = cc.photo_textures(3, size=24, seed=0)
    assert set(found) <= set(cc.PHOTO_TEXTURES)
    for v in found.values():
        assert v.shape == (3, 3, 24, 24) and 0 <= v.min() and v.max() <= 1
    monkeypatch.setattr(textures, "_load_photo", lambda name: None)   # scikit-image's files missing
    assert cc.photo_textures(3, size=24) == {}


# ------------------------------------------------------------------------------------------- plots
def test_plots_return_axes():
    g = gen(10)
    runs = cc.fit_cav_runs(torch.randn(10, 4, generator=g) + 1, torch.randn(40, 4, generator=g), n_runs=3)
    result = cc.tcav_test(torch.randn(6, 4, generator=g), runs)
    assert cc.plot_tcav([result, result]).get_ylabel() == "TCAV score"
    assert cc.plot_runs(result).get_ylabel() == "TCAV score"
    d = cc.Dissection("units", torch.rand(5, 3), torch.zeros(5), 0.99, torch.zeros(5))
    assert cc.plot_iou(d, ["a", "b", "c"], top=3) is not None
    with pytest.raises(TypeError, match="results"):
        cc.plot_tcav([])
    with pytest.raises(ValueError, match="labels"):
        cc.plot_tcav(result, labels=["a", "b"])
    with pytest.raises(ValueError, match="class_names"):
        cc.plot_iou(d, ["a"])
    import matplotlib.pyplot as plt
    plt.close("all")


# ------------------------------------------------------------------------------------------- bad inputs
def _bad_inputs():
    cnn = small_cnn()
    x = torch.rand(4, 1, 6, 6)
    acts = torch.rand(6, 5)
    grads = torch.rand(4, 5)
    runs = cc.fit_cav_runs(torch.rand(5, 5) + 1, torch.rand(20, 5), n_runs=2)
    masks = torch.zeros(4, 6, 6, dtype=torch.bool)
    nan = acts.clone()
    nan[0, 0] = float("nan")
    return [
        # layer_activations
        (lambda: cc.layer_activations(cnn, "relu1", x[0]), ValueError, "inputs"),                 # wrong rank
        (lambda: cc.layer_activations(cnn, "relu1", torch.rand(2, 3, 6, 6)), ValueError, "channel"),
        (lambda: cc.layer_activations(cnn, "relu1", torch.rand(0, 1, 6, 6)), ValueError, "inputs"),   # empty
        (lambda: cc.layer_activations(cnn, "relu1", x.clone().fill_(float("nan"))), ValueError, "inputs"),
        (lambda: cc.layer_activations(cnn, "nope", x), ValueError, "layers"),
        (lambda: cc.layer_activations(cnn, [], x), ValueError, "layers"),
        (lambda: cc.layer_activations(cnn, "relu1", x, batch_size=True), TypeError, "batch_size"),     # bool for int
        (lambda: cc.layer_activations(cnn, "relu1", x, batch_size=0), ValueError, "batch_size"),
        (lambda: cc.layer_activations(lambda t: t, "relu1", x), TypeError, "model"),
        (lambda: cc.layer_activations(cnn, "relu1", x.numpy()), TypeError, "inputs"),
        (lambda: cc.layer_activations(cnn, "relu1", (x * 255).byte()), TypeError, "inputs"),
        # layer_gradients
        (lambda: cc.layer_gradients(cnn, x, 3, "relu1"), ValueError, "target"),                       # out of range
        (lambda: cc.layer_gradients(cnn, x, -1, "relu1"), ValueError, "target"),
        (lambda: cc.layer_gradients(cnn, x, True, "relu1"), TypeError, "target"),                     # bool
        (lambda: cc.layer_gradients(cnn, x, 1.0, "relu1"), TypeError, "target"),
        (lambda: cc.layer_gradients(cnn, x, torch.tensor([0, 1]), "relu1"), ValueError, "target"),    # wrong count
        (lambda: cc.layer_gradients(cnn, x, 0, 5), TypeError, "layer"),
        (lambda: cc.layer_gradients(cnn, x[:, :, :, :, None], 0, "relu1"), ValueError, "inputs"),
        (lambda: cc.layer_gradients(cnn, x, 0, "relu1", batch_size=1.5), TypeError, "batch_size"),
        (lambda: cc.layer_gradients(cnn, x, 0, "relu1", show_progress="yes"), TypeError, "show_progress"),
        # logistic_regression / fit_cav
        (lambda: cc.logistic_regression(nan, torch.tensor([1, 1, 1, 0, 0, 0])), ValueError, "X"),
        (lambda: cc.logistic_regression(acts, torch.ones(6)), ValueError, "y"),                       # one class
        (lambda: cc.logistic_regression(acts, torch.tensor([0, 1, 2, 0, 1, 0])), ValueError, "y"),
        (lambda: cc.logistic_regression(acts, torch.tensor([0, 1])), ValueError, "y"),
        (lambda: cc.logistic_regression(acts, torch.tensor([1, 1, 1, 0, 0, 0]), l2=0), ValueError, "l2"),
        (lambda: cc.logistic_regression(acts[0], torch.tensor([1])), ValueError, "X"),
        (lambda: cc.fit_cav(nan, acts), ValueError, "concept_acts"),
        (lambda: cc.fit_cav(acts, torch.rand(6, 4)), ValueError, "random_acts"),                     # other layer
        (lambda: cc.fit_cav(acts, acts[:0]), ValueError, "random_acts"),                             # empty
        (lambda: cc.fit_cav(acts[:1], acts), ValueError, "concept_acts"),                # nothing to hold out
        (lambda: cc.fit_cav(acts, acts + 1, test_fraction=1.0), ValueError, "test_fraction"),
        (lambda: cc.fit_cav(acts, acts + 1, test_fraction=-0.1), ValueError, "test_fraction"),
        (lambda: cc.fit_cav(acts, acts + 1, seed=True), TypeError, "seed"),
        (lambda: cc.fit_cav(torch.ones(6, 5), torch.ones(6, 5)), ValueError, "identical"),
        (lambda: cc.fit_cav(acts.numpy(), acts + 1), TypeError, "concept_acts"),
        (lambda: cc.fit_cav(acts.long(), acts + 1), TypeError, "concept_acts"),
        (lambda: cc.fit_cav(torch.rand(6, 2, 2, 2, 2), acts), ValueError, "concept_acts"),          # rank 5
        # directional derivatives / scores
        (lambda: cc.directional_derivatives(grads, torch.rand(4)), ValueError, "cavs"),             # wrong D
        (lambda: cc.directional_derivatives(grads, torch.zeros(5)), ValueError, "cavs"),
        (lambda: cc.directional_derivatives(grads, []), TypeError, "cavs"),
        (lambda: cc.directional_derivatives(grads, [1, 2]), TypeError, "cavs"),
        (lambda: cc.directional_derivatives(grads[0], torch.rand(5)), ValueError, "gradients"),
        (lambda: cc.directional_derivatives(nan, torch.rand(5)), ValueError, "gradients"),
        (lambda: cc.tcav_score(torch.rand(3, 4, 5)), ValueError, "derivatives"),
        (lambda: cc.tcav_score(torch.tensor([])), ValueError, "derivatives"),
        (lambda: cc.tcav_score(torch.tensor([True, False])), TypeError, "derivatives"),
        # statistics
        (lambda: cc.t_test([0.5], [0.1, 0.2]), ValueError, "a"),
        (lambda: cc.t_test([0.5, float("nan")], [0.1, 0.2]), ValueError, "a"),
        (lambda: cc.t_test([0.5, 0.4], torch.rand(2, 2)), ValueError, "b"),
        (lambda: cc.t_test([True, False], [0.1, 0.2]), TypeError, "a"),
        (lambda: cc.t_test("scores", [0.1, 0.2]), TypeError, "a"),
        (lambda: cc.fit_cav_runs(acts, torch.rand(8, 5)), ValueError, "random_acts"),               # pool too small
        (lambda: cc.fit_cav_runs(acts, torch.rand(40, 5), n_runs=1), ValueError, "n_runs"),
        (lambda: cc.fit_cav_runs(acts, torch.rand(40, 5), n_runs=True), TypeError, "n_runs"),
        (lambda: cc.fit_cav_runs(acts, torch.rand(40, 5), set_size=1), ValueError, "set_size"),
        (lambda: cc.fit_cav_runs(acts, torch.rand(40, 5), reuse="runs"), TypeError, "reuse"),
        (lambda: cc.fit_cav_runs(torch.rand(5, 5), torch.rand(30, 5), reuse=runs), ValueError, "reuse"),
        (lambda: cc.tcav_test(grads, "runs"), TypeError, "runs"),
        (lambda: cc.tcav_test(torch.rand(4, 6), runs), ValueError, "cavs"),
        (lambda: cc.tcav_test(grads, runs).significant(0), ValueError, "alpha"),
        (lambda: cc.tcav_test(grads, runs).significant(0.05, n_tests=0), ValueError, "n_tests"),
        (lambda: cc.tcav_experiment(cnn, x, 5, "relu1", x, torch.rand(20, 1, 6, 6)), ValueError, "target"),
        (lambda: cc.tcav_experiment(cnn, x, 1, "relu1", torch.rand(4, 3, 6, 6), torch.rand(20, 1, 6, 6)),
         ValueError, "concept_inputs"),
        (lambda: cc.tcav_experiment(cnn, x, 1, "relu1", x, torch.rand(20, 6, 6)), ValueError, "random_inputs"),
        (lambda: cc.tcav_experiment(cnn, x[0], 1, "relu1", x, torch.rand(20, 1, 6, 6)), ValueError, "class_inputs"),
        (lambda: cc.tcav_experiment(cnn, x, 1.5, "relu1", x, torch.rand(20, 1, 6, 6)), TypeError, "target"),
        # dissection
        (lambda: cc.dataset_iou(masks.float(), masks), TypeError, "active"),
        (lambda: cc.dataset_iou(masks, masks[:2]), ValueError, "masks"),
        (lambda: cc.dataset_iou(masks[0], masks[0]), ValueError, "active"),
        (lambda: cc.dataset_iou(masks[:0], masks[:0]), ValueError, "active"),
        (lambda: cc.dataset_iou("masks", masks), TypeError, "active"),
        (lambda: cc.unit_thresholds(torch.rand(3, 4), 0.9), ValueError, "acts"),
        (lambda: cc.unit_thresholds(torch.rand(3, 4, 2, 2), 1.0), ValueError, "quantile"),
        (lambda: cc.unit_thresholds(torch.rand(3, 4, 2, 2), True), TypeError, "quantile"),
        (lambda: cc.unit_thresholds(torch.rand(3, 4, 2, 2).fill_(float("inf")), 0.5), ValueError, "acts"),
        (lambda: cc.active_regions(torch.rand(2, 3, 2, 2), torch.rand(2), 8), ValueError, "thresholds"),
        (lambda: cc.active_regions(torch.rand(2, 3, 2, 2), torch.rand(3), 0), ValueError, "size"),
        (lambda: cc.active_regions(torch.rand(2, 3, 2, 2), torch.rand(3), (4, 4, 4)), ValueError, "size"),
        (lambda: cc.dissect(cnn, "relu1", x, torch.tensor([0, 1, 2, 0]), masks[:3]), ValueError, "masks"),
        (lambda: cc.dissect(cnn, "relu1", x, torch.tensor([0, 1, 2, 0]), masks.float()), TypeError, "masks"),
        (lambda: cc.dissect(cnn, "relu1", x, torch.tensor([0, 1, 2, 9]), masks, n_classes=3), ValueError, "labels"),
        (lambda: cc.dissect(cnn, "relu1", x, torch.tensor([0, 1, 2]), masks), ValueError, "labels"),
        (lambda: cc.dissect(cnn, "relu1", x, torch.tensor([0.0, 1, 2, 0]), masks), TypeError, "labels"),
        (lambda: cc.dissect(cnn, "relu1", x, torch.tensor([0, 1, 2, 0]), masks, n_classes=True), TypeError,
         "n_classes"),
        (lambda: cc.dissect(cnn, "fc", x, torch.tensor([0, 1, 2, 0]), masks), ValueError, "layer"),   # not a conv map
        (lambda: cc.dissect(cnn, "relu1", torch.rand(4, 2, 6, 6), torch.tensor([0, 1, 2, 0]), masks), ValueError,
         "images"),
        (lambda: cc.dissect(cnn, "relu1", x, torch.tensor([0, 1, 2, 0]), masks, quantile=0), ValueError, "quantile"),
        # textures
        (lambda: cc.texture_images("plaid", 3), ValueError, "kind"),
        (lambda: cc.texture_images("dots", 0), ValueError, "n"),
        (lambda: cc.texture_images("dots", True), TypeError, "n"),
        (lambda: cc.texture_images("dots", 3, size=4), ValueError, "size"),
        (lambda: cc.texture_images("dots", 3, channels=2), ValueError, "channels"),
        (lambda: cc.texture_images("dots", 3, seed=1.5), TypeError, "seed"),
        (lambda: cc.photo_textures(2, names="brick"), TypeError, "names"),
        (lambda: cc.photo_textures(2, names=["marble"]), ValueError, "names"),
        (lambda: cc.photo_textures(2, channels=4), ValueError, "channels"),
    ]


BAD = _bad_inputs()


@pytest.mark.parametrize("index", range(len(BAD)))
def test_bad_input_gives_a_clear_error_naming_the_argument(index):
    call, error, words = BAD[index]
    with pytest.raises(error, match=words):
        call()


def test_bad_inputs_count():
    assert len(BAD) >= 90


# ------------------------------------------------------------------------------------------- checks
SOLUTION = Path(__file__).resolve().parent.parent / "solutions" / "12_concepts.ipynb"


def _from_solution(name, stub=False):
    nb = nbformat.read(SOLUTION, as_version=4)
    (source,) = [c.source for c in nb.cells if c.cell_type == "code" and f"def {name}(" in c.source]
    from scipy.special import stdtr
    namespace = {"math": math, "torch": torch, "stdtr": stdtr}
    exec(mx.stub_source(source, "test") if stub else source, namespace)
    return namespace[name]


CHECKS = [(ck.check_cav_direction, "cav_direction"), (ck.check_tcav_score, "tcav_score"),
          (ck.check_t_test, "tcav_t_test"), (ck.check_iou, "iou")]


@pytest.mark.parametrize("check, name", CHECKS, ids=[n for _, n in CHECKS])
def test_checks_pass_on_the_solution_and_wait_for_the_stub(check, name):
    result = check(_from_solution(name))
    assert result.passed, result.message
    result = check(_from_solution(name, stub=True))
    assert result.status == "not implemented" and "not implemented yet" in result.message


def test_checks_pass_on_the_library():
    assert ck.check_cav_direction(lambda c, r, l2: cc.fit_cav(c, r, l2=l2, test_fraction=0).vector).passed
    assert ck.check_tcav_score(lambda g, v: cc.tcav_score(cc.directional_derivatives(g, v))).passed
    assert ck.check_t_test(cc.t_test).passed
    assert ck.check_iou(lambda m, t, k: cc.dataset_iou(m > t, k)).passed


# Wrong student functions, written as a student would.
def _design(c, r):
    X = torch.cat([c.flatten(1), r.flatten(1)]).double()
    return X, torch.cat([torch.ones(len(c)), torch.zeros(len(r))]).double()


def cav_flipped(c, r, l2):
    return -_from_solution("cav_direction")(c, r, l2)


def cav_means(c, r, l2):
    d = c.flatten(1).mean(0) - r.flatten(1).mean(0)
    return d / d.norm()


def cav_no_bias(c, r, l2):
    X, y = _design(c, r)
    w = torch.zeros(X.shape[1], dtype=torch.float64)
    for _ in range(5000):
        w = w - 0.05 * (X.T @ (torch.sigmoid(X @ w) - y) / len(y) + l2 * w)
    return (w / w.norm()).float()


def cav_penalized_bias(c, r, l2):
    X, y = _design(c, r)
    w, b = torch.zeros(X.shape[1], dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    lr = 1 / (float(torch.linalg.matrix_norm(X, 2)) ** 2 / (4 * len(y)) + 0.25 + l2)
    for _ in range(4000):
        p = torch.sigmoid(X @ w + b)
        w, b = w - lr * (X.T @ (p - y) / len(y) + l2 * w), b - lr * ((p - y).mean() + l2 * b)
    return (w / w.norm()).float()


def cav_sum_loss(c, r, l2):
    X, y = _design(c, r)
    w, b = torch.zeros(X.shape[1], dtype=torch.float64), torch.zeros((), dtype=torch.float64)
    lr = 1 / (float(torch.linalg.matrix_norm(X, 2)) ** 2 / 4 + 0.25 * len(y) + l2)
    for _ in range(20000):
        p = torch.sigmoid(X @ w + b)
        w, b = w - lr * (X.T @ (p - y) + l2 * w), b - lr * (p - y).sum()
    return (w / w.norm()).float()


def tcav_ge(g, v):
    return ((g.flatten(1) @ v) >= 0).float().mean().item()


def tcav_mean(g, v):
    return (g.flatten(1) @ v).mean().item()


def tcav_negative(g, v):
    return ((g.flatten(1) @ v) < 0).float().mean().item()


def tcav_count(g, v):
    return int(((g.flatten(1) @ v) > 0).sum())


def tcav_elementwise(g, v):
    return ((g.flatten(1) * v) > 0).float().mean().item()


def t_one_sided(a, b):
    t, p = cc.t_test(a, b)
    return t, p / 2


def t_welch(a, b):
    from scipy import stats
    r = stats.ttest_ind(a.numpy(), b.numpy(), equal_var=False)
    return float(r.statistic), float(r.pvalue)


def t_biased_variance(a, b):
    from scipy.special import stdtr
    na, nb = len(a), len(b)
    pooled = ((na - 1) * a.var(unbiased=False) + (nb - 1) * b.var(unbiased=False)) / (na + nb - 2)
    t = float((a.mean() - b.mean()) / (pooled * (1 / na + 1 / nb)).sqrt())
    return t, float(2 * stdtr(na + nb - 2, -abs(t)))


def t_degrees(a, b):
    from scipy.special import stdtr
    t, _ = cc.t_test(a, b)
    return t, float(2 * stdtr(len(a) + len(b) - 1, -abs(t)))


def t_normal(a, b):
    t, _ = cc.t_test(a, b)
    return t, math.erfc(abs(t) / math.sqrt(2))


def t_swapped(a, b):
    return cc.t_test(b, a)[0], cc.t_test(a, b)[1]


def iou_ge(m, t, k):
    a = m >= t
    u = int((a | k).sum())
    return int((a & k).sum()) / u if u else 0.0


def iou_per_image(m, t, k):
    a = m > t
    vals = [int((a[i] & k[i]).sum()) / int((a[i] | k[i]).sum()) for i in range(len(m)) if (a[i] | k[i]).any()]
    return sum(vals) / len(vals) if vals else 0.0


def iou_dice(m, t, k):
    a = m > t
    return 2 * int((a & k).sum()) / (int(a.sum()) + int(k.sum()))


def iou_union_without_overlap(m, t, k):
    a = m > t
    return int((a & k).sum()) / (int(a.sum()) + int(k.sum()))


def iou_nan(m, t, k):
    a = m > t
    u = int((a | k).sum())
    return int((a & k).sum()) / u if u else float("nan")


WRONG = [
    (ck.check_cav_direction, cav_flipped, "towards the random set"),
    (ck.check_cav_direction, cav_means, "two sets' means"),
    (ck.check_cav_direction, cav_no_bias, "no bias"),
    (ck.check_cav_direction, cav_penalized_bias, "bias was penalized"),
    (ck.check_cav_direction, cav_sum_loss, "*mean* log-loss"),
    (ck.check_cav_direction, lambda c, r, l2: 3.7 * cc.fit_cav(c, r, l2=l2, test_fraction=0).vector, "unit vector"),
    (ck.check_cav_direction, lambda c, r, l2: cc.fit_cav(c, r, l2=l2, test_fraction=0).vector.double(), "float64"),
    (ck.check_cav_direction, lambda c, r, l2: cc.fit_cav(c, r, l2=l2, test_fraction=0).vector.view(c.shape[1:]),
     "flatten"),
    (ck.check_cav_direction, lambda c, r, l2: None, "returned None"),
    (ck.check_tcav_score, tcav_ge, "not S ≥ 0"),
    (ck.check_tcav_score, tcav_mean, "not the mean of S"),
    (ck.check_tcav_score, tcav_negative, "S < 0"),
    (ck.check_tcav_score, tcav_count, "divide the count"),
    (ck.check_tcav_score, tcav_elementwise, "not of each gradient value"),
    (ck.check_t_test, t_one_sided, "one-sided"),
    (ck.check_t_test, t_welch, "Welch"),
    (ck.check_t_test, t_biased_variance, "unbiased variances"),
    (ck.check_t_test, t_degrees, "degrees of freedom"),
    (ck.check_t_test, t_normal, "not the normal"),
    (ck.check_t_test, t_swapped, "wrong sign"),
    (ck.check_t_test, lambda a, b: cc.t_test(a, b)[1], "pair (t, p)"),
    (ck.check_iou, iou_ge, "not ≥ T"),
    (ck.check_iou, iou_per_image, "whole dataset first"),
    (ck.check_iou, iou_dice, "Dice"),
    (ck.check_iou, iou_union_without_overlap, "counted twice"),
    (ck.check_iou, iou_nan, "NaN"),
    (ck.check_iou, lambda m, t, k: cc.dataset_iou(m < t, k), "*above* the threshold"),
]


@pytest.mark.parametrize("check, fn, phrase", WRONG, ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(WRONG)])
def test_wrong_student_gets_the_specific_message(check, fn, phrase):
    result = check(fn)
    assert result.status == "failed", result.message
    assert phrase in result.message.split("\n   Hint:")[0], result.message


def test_checks_keep_the_global_random_state():
    state = torch.get_rng_state()
    for check, name in CHECKS:
        check(_from_solution(name))
    assert torch.equal(state, torch.get_rng_state())
