"""course_utils.blackbox: segments, the segment game, LIME and KernelSHAP against exact Shapley values."""
import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from course_utils import blackbox as bb
from course_utils import shapley as sh
from course_utils.attribution import integrated_gradients
from course_utils.models import input_range


def table_game(n, seed):
    """A random game: V(S) read from a table indexed by the bits of S (V(∅) ≠ 0)."""
    table = torch.randn(2 ** n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    bits = 1 << torch.arange(n)
    return sh.FunctionGame(lambda c: table[(c.long() * bits).sum(1)], n, batched=True, name=f"table{n}")


def exact(game):
    return sh.exact_shapley(game, show_progress=False).values


class Linear(nn.Module):
    """A linear 'network' on 1×3×6×8 images: logits = W·x + b (every attribution method is exact on it)."""

    def __init__(self, seed=0, channels=3, h=6, w=8):
        super().__init__()
        torch.manual_seed(seed)
        self.fc = nn.Linear(channels * h * w, 4)

    def forward(self, x):
        return self.fc(x.flatten(1))


class TinyCNN(nn.Sequential):
    def __init__(self, seed=0):
        torch.manual_seed(seed)
        super().__init__(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 3))


def image(seed=0, c=3, h=6, w=8):
    return torch.rand(1, c, h, w, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------ kernel weights
def test_shapley_kernel_values():
    assert bb.shapley_kernel(4, 1) == pytest.approx(3 / (4 * 1 * 3))
    assert bb.shapley_kernel(4, 2) == pytest.approx(3 / (6 * 2 * 2))
    assert bb.shapley_kernel(4, 0) == math.inf and bb.shapley_kernel(4, 4) == math.inf
    # symmetric in s ↔ n − s, smallest in the middle
    n = 9
    w = [bb.shapley_kernel(n, s) for s in range(1, n)]
    assert w == pytest.approx(w[::-1]) and min(w) == w[n // 2 - 1]


# -------------------------------------------------------------------------------- exact values, regression
@pytest.mark.parametrize("game, expected", [
    (sh.glove_game(1, 2), [2 / 3, 1 / 6, 1 / 6]),
    (sh.additive_game([1.0, -2.0, 0.5, 3.0]), [1.0, -2.0, 0.5, 3.0]),
    (sh.voting_game([2, 1, 1], 3), [2 / 3, 1 / 6, 1 / 6]),
    (sh.FunctionGame(lambda c: float(c[0] and c[1]), 3), [0.5, 0.5, 0.0]),     # a pair, and a dummy
])
def test_kernel_shap_on_hand_made_games(game, expected):
    """KernelSHAP with every coalition gives the games' known Shapley values."""
    n = game.n_players
    result = bb.kernel_shap(game, n_samples=2 ** n, show_progress=False)
    assert torch.allclose(result.values, torch.tensor(expected, dtype=torch.float64), atol=1e-9)
    assert result.n_evaluations == 2 ** n


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 10])
def test_kernel_shap_with_all_coalitions_is_exact(n):
    game = table_game(n, 10 + n)
    result = bb.kernel_shap(game, n_samples=max(1, 2 ** n - 2), show_progress=False)
    assert (result.values - exact(game)).abs().max() < 1e-6
    assert result.intercept == pytest.approx(float(game(torch.zeros(1, n, dtype=torch.bool))[0]))


def test_kernel_regression_by_hand_on_all_coalitions():
    """The exercise's building block: all coalitions, their kernel weights → the exact values."""
    n = 6
    game = table_game(n, 3)
    z = sh.coalition_masks(n)[1:-1]
    w = torch.tensor([bb.shapley_kernel(n, int(s)) for s in z.sum(1)], dtype=torch.float64)
    v = game(z)
    ends = game(torch.stack([torch.zeros(n, dtype=torch.bool), torch.ones(n, dtype=torch.bool)]))
    phi = bb.kernel_regression(z, v, w, float(ends[0]), float(ends[1]))
    assert (phi - exact(game)).abs().max() < 1e-9
    # the constant factor of the weights does not matter
    assert torch.allclose(bb.kernel_regression(z, v, 7 * w, float(ends[0]), float(ends[1])), phi, atol=1e-12)


@pytest.mark.parametrize("n_samples", [1, 5, 20, 100, 500])
def test_efficiency_holds_for_any_sample_count(n_samples):
    game = table_game(10, 7)
    r = bb.kernel_shap(game, n_samples=n_samples, seed=3, show_progress=False)
    ends = game(torch.stack([torch.ones(10, dtype=torch.bool), torch.zeros(10, dtype=torch.bool)]))
    assert float(r.values.sum()) == pytest.approx(float(ends[0] - ends[1]), abs=1e-9)
    assert r.n_evaluations == n_samples + 2


def test_kernel_shap_is_exact_on_additive_games_with_few_samples():
    w = [0.3, -1.2, 2.0, 0.7, -0.4, 1.1, 0.0, 0.9]
    r = bb.kernel_shap(sh.additive_game(w), n_samples=16, seed=1, show_progress=False)
    assert torch.allclose(r.values, torch.tensor(w, dtype=torch.float64), atol=1e-9)


def test_kernel_shap_converges_and_is_seeded():
    game = table_game(10, 21)
    ex = exact(game)

    def err(k, seed):
        return float((bb.kernel_shap(game, k, seed=seed, show_progress=False).values - ex).norm() / ex.norm())
    e = {k: np.median([err(k, s) for s in range(5)]) for k in (40, 200, 1000)}
    assert e[1000] < e[200] < e[40], e
    assert err(2 ** 10 - 2, 0) < 1e-6
    a, b, c = (bb.kernel_shap(game, 100, seed=s, show_progress=False).values for s in (4, 4, 5))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_paired_sampling_helps():
    game = table_game(10, 22)
    ex = exact(game)

    def err(paired):
        return np.median([float((bb.kernel_shap(game, 150, seed=s, paired=paired, show_progress=False).values
                                 - ex).norm()) for s in range(9)])
    assert err(True) < err(False)


@pytest.mark.parametrize("n, budget", [(4, 3), (6, 30), (8, 200), (12, 300), (30, 100)])
def test_kernel_shap_coalitions_are_distinct_and_weighted(n, budget):
    z, w = bb.kernel_shap_coalitions(n, budget, torch.Generator().manual_seed(0))
    assert len(z) == min(budget, 2 ** n - 2) and len(w) == len(z)
    assert len(torch.unique(z, dim=0)) == len(z)
    sizes = z.sum(1)
    assert bool(((sizes > 0) & (sizes < n)).all())
    assert float(w.sum()) == pytest.approx(1.0) and bool((w > 0).all())


# ---------------------------------------------------------------------------------------------------- LIME
def test_weighted_ridge_matches_the_normal_equations():
    g = torch.Generator().manual_seed(0)
    x, y, w = torch.rand(40, 5, generator=g, dtype=torch.float64), torch.randn(40, generator=g,
                                                                                dtype=torch.float64), torch.rand(40, generator=g, dtype=torch.float64)
    alpha = 0.7
    coef, b = bb.weighted_ridge(x, y, w, alpha)
    a = torch.cat([x, torch.ones(40, 1, dtype=torch.float64)], 1)          # intercept last, not penalized
    penalty = torch.diag(torch.tensor([alpha] * 5 + [0.0], dtype=torch.float64))
    full = torch.linalg.solve(a.T @ (w[:, None] * a) + penalty, a.T @ (w * y))
    assert torch.allclose(coef, full[:5], atol=1e-10) and b == pytest.approx(float(full[5]))


def test_lime_recovers_the_weights_of_a_linear_game():
    w = [0.5, -1.0, 2.0, 0.0, 1.5, -0.25]
    linear = sh.FunctionGame(lambda c: 3.0 + c.double() @ torch.tensor(w, dtype=torch.float64), 6, batched=True)
    r = bb.lime(linear, n_samples=300, alpha=0.0, show_progress=False)
    assert torch.allclose(r.values, torch.tensor(w, dtype=torch.float64), atol=1e-9)
    assert r.intercept == pytest.approx(3.0)
    shrunk = bb.lime(linear, n_samples=300, alpha=50.0, show_progress=False)
    assert shrunk.values.abs().sum() < r.values.abs().sum()


def test_lime_recovers_a_linear_model_through_the_segment_game():
    """On a model linear in its pixels, LIME (α = 0), exact Shapley, KernelSHAP and IG's segment totals all
    equal Σ over the segment's pixels of W·(x − fill)."""
    model, x = Linear(), image(1)
    segments = bb.square_patches(6, 8, 3)                                 # 2×3 = 6 segments
    fill = bb.fill_image(model, x, "grey")
    game = bb.SegmentGame(model, x, 2, segments, fill="grey")
    contribution = (model.fc.weight[2].detach().view(1, 3, 6, 8) * (x - fill))
    expected = bb.segment_totals(contribution, segments)[0]
    assert torch.allclose(bb.lime(game, 200, alpha=0.0, show_progress=False).values, expected, atol=1e-5)
    assert torch.allclose(exact(game), expected, atol=1e-5)
    assert torch.allclose(bb.kernel_shap(game, 20, show_progress=False).values, expected, atol=1e-5)
    ig = integrated_gradients(model, x, 2, baseline=fill, steps=4)
    assert torch.allclose(bb.segment_totals(ig, segments)[0], expected, atol=1e-5)


def test_lime_kernel_and_coalitions():
    z = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    k = bb.lime_kernel(z, kernel_width=0.25)
    assert k[0] == 1.0 and k[1] == pytest.approx(math.exp(-(1 - 0.5) ** 2 / 0.25 ** 2)) and k[2] < k[1]
    assert bb.lime_kernel(z, 0.25, "hamming")[1] == pytest.approx(math.exp(-0.75 ** 2 / 0.25 ** 2))
    c = bb.lime_coalitions(5, 400, torch.Generator().manual_seed(0))
    assert c.shape == (400, 5) and bool(c[0].all()) and 0.4 < c[1:].double().mean() < 0.6


def test_lime_does_not_converge_to_shapley_values():
    game = table_game(8, 5)
    ex = exact(game)
    errs = [float((bb.lime(game, k, seed=1, show_progress=False).values - ex).norm() / ex.norm())
            for k in (300, 3000)]
    assert min(errs) > 0.1


# ------------------------------------------------------------------------------------------------ segments
def test_square_patches():
    s = bb.square_patches(28, 28, 7)
    assert s.shape == (28, 28) and int(s.max()) == 15 and torch.bincount(s.flatten()).eq(49).all()
    s = bb.square_patches(28, 28, 10)
    assert int(s.max()) == 8 and torch.bincount(s.flatten()).tolist() == [100, 100, 80, 100, 100, 80, 80, 80, 64]
    assert int(bb.square_patches(28, 28, (7, 10)).max()) == 11
    assert s[0, 0] == 0 and s[0, 27] == 2 and s[27, 0] == 6


def test_slic_segments_are_consecutive_labels():
    from course_utils.data import load_image
    photo = load_image("coffee")[::8, ::8]
    s = bb.slic_segments(photo, n_segments=20)
    k = int(s.max()) + 1
    assert s.shape == photo.shape[:2] and 5 <= k <= 40 and bool((torch.bincount(s.flatten()) > 0).all())
    gray = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert bb.slic_segments(gray, n_segments=9).shape == (28, 28)


def test_paint_and_segment_totals():
    s = bb.square_patches(4, 6, 2)                                         # 2×3 segments of 4 pixels
    values = torch.arange(6, dtype=torch.float64)
    painted = bb.paint(values, s)
    assert painted.shape == (4, 6) and painted[0, 0] == 0 and painted[3, 5] == 5
    m = torch.rand(2, 3, 4, 6, dtype=torch.float64)
    totals = bb.segment_totals(m, s)
    assert totals.shape == (2, 6) and torch.allclose(totals.sum(1), m.sum((1, 2, 3)))
    assert torch.allclose(bb.segment_totals(painted, s, "mean")[0], values)


# ---------------------------------------------------------------------------------------------- the game
def test_segment_game_values_and_fills():
    model, x = TinyCNN(), image(2)
    s = bb.square_patches(6, 8, (3, 4))
    for fill in ("grey", "black", "mean", "blur", 0.25, torch.tensor([0.1, 0.2, 0.3])):
        game = bb.SegmentGame(model, x, 1, s, fill=fill)
        f = bb.fill_image(model, x, fill)
        with torch.no_grad():
            assert game.full_value == pytest.approx(float(model(x)[0, 1]), abs=1e-6)
            assert game.empty_value == pytest.approx(float(model(f)[0, 1]), abs=1e-6)
        c = torch.tensor([[True, False, False, True]])
        naive = x.clone()
        naive[..., :3, 4:] = f[..., :3, 4:]
        naive[..., 3:, :4] = f[..., 3:, :4]
        assert torch.equal(game.images(c), naive)
        assert torch.equal(bb.apply_coalitions(x, s, c, f), naive)
    lo, hi = input_range(model, 3)
    assert torch.allclose(bb.fill_image(model, x, "grey")[0, :, 0, 0], (lo + hi) / 2)
    assert torch.allclose(bb.fill_image(model, x, "black")[0, :, 0, 0], lo)


def test_segment_game_batches_and_cache():
    model, x = TinyCNN(), image(3)
    s = bb.square_patches(6, 8, 2)                                         # 12 segments
    masks = sh.coalition_masks(12)[::7]
    a = bb.SegmentGame(model, x, 0, s, batch_size=1000)(masks)
    game = bb.SegmentGame(model, x, 0, s, batch_size=7)
    b = game(masks)
    assert torch.allclose(a, b, atol=1e-6)
    run = game.n_forward
    assert torch.equal(game(masks.flip(0)), b.flip(0)) and game.n_forward == run    # all from the cache
    fresh = bb.SegmentGame(model, x, 0, s, cache=False)
    fresh(masks); fresh(masks)
    assert fresh.n_forward == 2 + 2 * len(masks)


def test_exact_shapley_of_a_segment_game_is_efficient():
    model, x = TinyCNN(1), image(4)
    game = bb.SegmentGame(model, x, 2, bb.square_patches(6, 8, 3), fill="blur")
    phi = exact(game)
    assert float(phi.sum()) == pytest.approx(game.full_value - game.empty_value, abs=1e-6)
    assert (bb.kernel_shap(game, 62, show_progress=False).values - phi).abs().max() < 1e-6


def test_model_state_is_restored_even_on_error():
    model, x = TinyCNN(), image(5)
    model.train()
    model[0].weight.requires_grad_(False)
    game = bb.SegmentGame(model, x, 1, bb.square_patches(6, 8, 3))
    bb.kernel_shap(game, 10, show_progress=False)
    assert model.training and not model[0].weight.requires_grad and model[4].weight.requires_grad
    with pytest.raises(ValueError, match="target"):
        bb.SegmentGame(model, x, 7, bb.square_patches(6, 8, 3))            # 3 classes
    assert model.training and not model[0].weight.requires_grad and model[4].weight.requires_grad
    assert all(not m._forward_hooks for m in model.modules())


def test_plots_return_axes():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    s = bb.square_patches(6, 8, 3)
    x = image(0)
    assert bb.plot_segments(x, s, numbers=True) is not None
    assert bb.plot_segment_values(torch.zeros(6), s, image=x) is not None          # all-zero map: no division by 0
    assert bb.plot_convergence([10, 100], {"a": torch.tensor([[1.0, 0.1], [0.5, 0.2]])}) is not None
    plt.close("all")


def test_plot_segment_values_limit_sets_the_colour_scale():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    s, x = bb.square_patches(6, 8, 3), image(0)
    values = torch.tensor([0.5, -2.0, 1.0, 0.0, 0.25, -0.75])
    own = bb.plot_segment_values(values, s, image=x).images[1]           # [0]: the image, [1]: the map
    assert own.get_clim() == pytest.approx((-2.0, 2.0))                   # its own scale: the largest |value|
    shared = bb.plot_segment_values(values, s, image=x, limit=5).images[1]
    assert shared.get_clim() == pytest.approx((-5.0, 5.0))
    assert shared.colorbar.mappable is shared                             # the colour bar shows that scale
    assert np.allclose(shared.get_array()[:3, :3], 0.5) and np.allclose(shared.get_array()[:3, 3:6], -2.0)
    for bad, error in ((0, ValueError), (-1.0, ValueError), (float("nan"), ValueError), (float("inf"), ValueError),
                       (True, TypeError), ("2", TypeError)):
        with pytest.raises(error, match="limit"):
            bb.plot_segment_values(values, s, limit=bad)
    plt.close("all")


# ----------------------------------------------------------------------------------------------- bad inputs
def _model():
    return TinyCNN()


S = bb.square_patches(6, 8, 3)
GAME = table_game(4, 0)
nan_image = image(0).clone()
nan_image[0, 0, 0, 0] = float("nan")

BAD = [
    # (call, error type, the argument the message must name)
    (lambda: bb.SegmentGame(_model(), nan_image, 0, S), ValueError, "inputs"),
    (lambda: bb.SegmentGame(_model(), image(0)[0], 0, S), ValueError, "inputs"),                 # rank 3
    (lambda: bb.SegmentGame(_model(), image(0, c=1), 0, S), ValueError, "inputs"),               # channels
    (lambda: bb.SegmentGame(_model(), image(0)[:0], 0, S), ValueError, "inputs"),                # empty
    (lambda: bb.SegmentGame(_model(), image(0).expand(2, -1, -1, -1), 0, S), ValueError, "inputs"),  # 2 images
    (lambda: bb.SegmentGame(_model(), image(0).to(torch.uint8), 0, S), TypeError, "inputs"),
    (lambda: bb.SegmentGame(_model(), image(0), 5, S), ValueError, "target"),                    # out of range
    (lambda: bb.SegmentGame(_model(), image(0), True, S), TypeError, "target"),
    (lambda: bb.SegmentGame(_model(), image(0), 0, S[:5]), ValueError, "segments"),              # wrong shape
    (lambda: bb.SegmentGame(_model(), image(0), 0, S[None]), ValueError, "segments"),
    (lambda: bb.SegmentGame(_model(), image(0), 0, S.float()), TypeError, "segments"),
    (lambda: bb.SegmentGame(_model(), image(0), 0, S.bool()), TypeError, "segments"),
    (lambda: bb.SegmentGame(_model(), image(0), 0, S - 1), ValueError, "segments"),              # negative
    (lambda: bb.SegmentGame(_model(), image(0), 0, S * 2), ValueError, "segments"),              # unused labels
    (lambda: bb.SegmentGame(_model(), image(0), 0, [[0]]), TypeError, "segments"),
    (lambda: bb.SegmentGame(_model(), image(0), 0, S, fill="white"), ValueError, "fill"),
    (lambda: bb.SegmentGame(_model(), image(0), 0, S, fill=float("nan")), ValueError, "fill"),
    (lambda: bb.SegmentGame(_model(), image(0), 0, S, fill=True), TypeError, "fill"),
    (lambda: bb.SegmentGame(_model(), image(0), 0, S, fill=torch.zeros(2)), ValueError, "fill"),
    (lambda: bb.SegmentGame(_model(), image(0), 0, S, batch_size=0), ValueError, "batch_size"),
    (lambda: bb.SegmentGame(_model(), image(0), 0, S, batch_size=True), TypeError, "batch_size"),
    (lambda: bb.SegmentGame(_model(), image(0), 0, S, cache=1), TypeError, "cache"),
    (lambda: bb.SegmentGame(lambda x: x, image(0), 0, S), TypeError, "model"),
    (lambda: bb.SegmentGame(_model(), image(0), 0, S)(torch.ones(1, 5, dtype=torch.bool)), ValueError, "coalitions"),
    (lambda: bb.SegmentGame(_model(), image(0), 0, S)(torch.rand(1, 6)), TypeError, "coalitions"),
    (lambda: bb.kernel_shap(GAME, n_samples=0), ValueError, "n_samples"),
    (lambda: bb.kernel_shap(GAME, n_samples=True), TypeError, "n_samples"),
    (lambda: bb.kernel_shap(GAME, n_samples=10.0), TypeError, "n_samples"),
    (lambda: bb.kernel_shap(GAME, seed=-1), ValueError, "seed"),
    (lambda: bb.kernel_shap(GAME, paired="yes"), TypeError, "paired"),
    (lambda: bb.kernel_shap(GAME, batch_size=0), ValueError, "batch_size"),
    (lambda: bb.kernel_shap(lambda c: c, 10), TypeError, "game"),
    (lambda: bb.kernel_shap(sh.FunctionGame(lambda c: float("nan"), 3), 4), ValueError, "game"),
    (lambda: bb.lime(GAME, n_samples=0), ValueError, "n_samples"),
    (lambda: bb.lime(GAME, kernel_width=0), ValueError, "kernel_width"),
    (lambda: bb.lime(GAME, kernel_width=float("inf")), ValueError, "kernel_width"),
    (lambda: bb.lime(GAME, alpha=-1), ValueError, "alpha"),
    (lambda: bb.lime(GAME, distance="l2"), ValueError, "distance"),
    (lambda: bb.lime(GAME, seed=False), TypeError, "seed"),
    (lambda: bb.shapley_kernel(4, 5), ValueError, "size"),
    (lambda: bb.shapley_kernel(4, -1), ValueError, "size"),
    (lambda: bb.shapley_kernel(0, 0), ValueError, "n_players"),
    (lambda: bb.shapley_kernel(True, 1), TypeError, "n_players"),
    (lambda: bb.shapley_kernel(4, 1.0), TypeError, "size"),
    (lambda: bb.kernel_regression(torch.ones(3, 2, dtype=torch.bool), torch.ones(2), torch.ones(3), 0.0, 1.0),
     ValueError, "values"),
    (lambda: bb.kernel_regression(torch.ones(3, 2), torch.ones(3), -torch.ones(3), 0.0, 1.0), ValueError, "weights"),
    (lambda: bb.kernel_regression(torch.ones(3, 2), torch.ones(3), torch.ones(3), float("nan"), 1.0),
     ValueError, "v_empty"),
    (lambda: bb.kernel_regression(torch.ones(3), torch.ones(3), torch.ones(3), 0.0, 1.0), ValueError, "coalitions"),
    (lambda: bb.weighted_ridge(torch.ones(3, 2), torch.ones(3), torch.zeros(3)), ValueError, "weights"),
    (lambda: bb.weighted_ridge(torch.ones(3, 2), torch.tensor([1.0, float("nan"), 0.0]), torch.ones(3)),
     ValueError, "targets"),
    (lambda: bb.weighted_ridge(torch.ones(3, 2), torch.ones(4), torch.ones(3)), ValueError, "targets"),
    (lambda: bb.weighted_ridge(torch.ones(0, 2), torch.ones(0), torch.ones(0)), ValueError, "features"),
    (lambda: bb.weighted_ridge(torch.ones(3, 2), torch.ones(3), torch.ones(3), alpha=-0.5), ValueError, "alpha"),
    (lambda: bb.lime_kernel(torch.ones(3, 2), 0.25), TypeError, "coalitions"),
    (lambda: bb.square_patches(28, 28, 0), ValueError, "size"),
    (lambda: bb.square_patches(28, 28, 29), ValueError, "size"),
    (lambda: bb.square_patches(28, 28, True), TypeError, "size"),
    (lambda: bb.square_patches(28.0, 28, 7), TypeError, "height"),
    (lambda: bb.slic_segments(np.zeros((4, 4, 3), dtype=np.int32)), TypeError, "image"),
    (lambda: bb.slic_segments(np.full((8, 8, 3), 2.0)), ValueError, "image"),
    (lambda: bb.slic_segments(torch.rand(2, 3, 8, 8)), ValueError, "image"),
    (lambda: bb.slic_segments(torch.randn(3, 8, 8) * 5), ValueError, "image"),
    (lambda: bb.slic_segments(np.zeros((8, 8, 3)), n_segments=0), ValueError, "n_segments"),
    (lambda: bb.slic_segments([[0.0]]), TypeError, "image"),
    (lambda: bb.paint(torch.ones(5), S), ValueError, "values"),
    (lambda: bb.paint(torch.ones(6), S[None]), ValueError, "segments"),
    (lambda: bb.segment_totals(torch.ones(1, 3, 5, 8), S), ValueError, "segments"),
    (lambda: bb.segment_totals(torch.ones(6, 8), S, reduce="max"), ValueError, "reduce"),
    (lambda: bb.apply_coalitions(image(0), S, torch.ones(1, 6, dtype=torch.bool), torch.zeros(1, 3, 6, 7)),
     ValueError, "fill"),
    (lambda: bb.Explanation(torch.zeros(3), 0.0, 1, 0.0, "x").top(0), ValueError, "k"),
]


@pytest.mark.parametrize("call, error, name", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_inputs_give_clear_errors(call, error, name):
    with pytest.raises(error, match=name):
        call()


# ---------------------------------------------------------------------------------- the exercise checks
from pathlib import Path  # noqa: E402

import nbformat  # noqa: E402

from course_utils import exercises as mx  # noqa: E402
from course_utils.checks import blackbox as ck  # noqa: E402

SOLUTION = Path(__file__).resolve().parent.parent / "solutions" / "13_model_agnostic.ipynb"


def _from_solution(name: str, stub: bool = False):
    """The function ``name`` as the solution notebook defines it (or as the exercise's stub)."""
    nb = nbformat.read(SOLUTION, as_version=4)
    (source,) = [c.source for c in nb.cells if c.cell_type == "code" and f"def {name}(" in c.source]
    namespace = {"math": math, "torch": torch}
    exec(mx.stub_source(source, "test") if stub else source, namespace)
    return namespace[name]


CHECKS = [(ck.check_shapley_kernel, "shapley_kernel_weight"), (ck.check_weighted_ridge, "weighted_ridge"),
          (ck.check_kernel_shap_solve, "kernel_shap_solve")]


@pytest.mark.parametrize("check, name", CHECKS, ids=[n for _, n in CHECKS])
def test_checks_pass_on_the_solution_and_wait_for_the_stub(check, name):
    assert check(_from_solution(name)).passed, check(_from_solution(name)).message
    result = check(_from_solution(name, stub=True))
    assert result.status == "not implemented" and "not implemented yet" in result.message


def test_checks_pass_on_the_library():
    assert ck.check_shapley_kernel(bb.shapley_kernel).passed
    assert ck.check_weighted_ridge(bb.weighted_ridge).passed
    assert ck.check_kernel_shap_solve(bb.kernel_regression).passed


# Wrong student functions, written as a student would (not the check's own mistake formulas).
def kernel_total_of_size(n, s):
    return math.inf if s in (0, n) else (n - 1) / (s * (n - s))


def kernel_shapley_formula(n, s):
    return math.inf if s in (0, n) else math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)


def kernel_zero_at_ends(n, s):
    return 0.0 if s in (0, n) else (n - 1) / (math.comb(n, s) * s * (n - s))


def kernel_comb_n_minus_1(n, s):
    return math.inf if s in (0, n) else (n - 1) / (math.comb(n - 1, s) * s * (n - s))


def ridge_unweighted(x, y, w, alpha):
    xm, ym = x.mean(0), y.mean()
    beta = torch.linalg.solve((x - xm).T @ (x - xm) + alpha * torch.eye(x.shape[1], dtype=x.dtype), (x - xm).T @ (y - ym))
    return beta, float(ym - xm @ beta)


def ridge_penalized_intercept(x, y, w, alpha):
    a = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    sol = torch.linalg.solve(a.T @ (w[:, None] * a) + alpha * torch.eye(a.shape[1], dtype=x.dtype), a.T @ (w * y))
    return sol[:-1], float(sol[-1])


def ridge_no_intercept(x, y, w, alpha):
    beta = torch.linalg.solve(x.T @ (w[:, None] * x) + alpha * torch.eye(x.shape[1], dtype=x.dtype), x.T @ (w * y))
    return beta, 0.0


def ridge_lstsq_rows_times_w(x, y, w, alpha):
    xm, ym = (w @ x) / w.sum(), (w @ y) / w.sum()
    a = torch.cat([w[:, None] * (x - xm), alpha ** 0.5 * torch.eye(x.shape[1], dtype=x.dtype)])
    b = torch.cat([w * (y - ym), torch.zeros(x.shape[1], dtype=x.dtype)])
    beta = torch.linalg.lstsq(a, b).solution
    return beta, float(ym - xm @ beta)


def ridge_plain_means(x, y, w, alpha):
    xm, ym = x.mean(0), y.mean()
    xc, yc = x - xm, y - ym
    beta = torch.linalg.solve(xc.T @ (w[:, None] * xc) + alpha * torch.eye(x.shape[1], dtype=x.dtype), xc.T @ (w * yc))
    return beta, float(ym - xm @ beta)


def solve_without_constraint(z, v, w, v0, v1):
    a = torch.cat([z.double(), torch.ones(len(z), 1, dtype=torch.float64)], 1) * w.sqrt()[:, None]
    return torch.linalg.lstsq(a, v * w.sqrt()).solution[:-1]


def solve_intercept_only(z, v, w, v0, v1):
    return torch.linalg.lstsq(z.double() * w.sqrt()[:, None], (v - v0) * w.sqrt()).solution


def solve_then_rescale(z, v, w, v0, v1):
    phi = solve_intercept_only(z, v, w, v0, v1)
    return phi + (v1 - v0 - phi.sum()) / len(phi)


def solve_unweighted(z, v, w, v0, v1):
    z = z.double()
    d = v1 - v0
    head = torch.linalg.lstsq(z[:, :-1] - z[:, -1:], v - v0 - z[:, -1] * d).solution
    return torch.cat([head, (d - head.sum()).reshape(1)])


def solve_forgets_v_empty(z, v, w, v0, v1):
    z = z.double()
    d = v1 - v0
    r = w.sqrt()[:, None]
    head = torch.linalg.lstsq(r * (z[:, :-1] - z[:, -1:]), r[:, 0] * (v - z[:, -1] * d)).solution
    return torch.cat([head, (d - head.sum()).reshape(1)])


WRONG = [
    (ck.check_shapley_kernel, kernel_total_of_size, "divided by C(n, s)"),
    (ck.check_shapley_kernel, kernel_shapley_formula, "Shapley formula"),
    (ck.check_shapley_kernel, kernel_zero_at_ends, "math.inf"),
    (ck.check_shapley_kernel, kernel_comb_n_minus_1, "not C(n − 1, s)"),
    (ck.check_shapley_kernel, lambda n, s: None, "returned None"),
    (ck.check_weighted_ridge, ridge_unweighted, "weights were ignored"),
    (ck.check_weighted_ridge, ridge_penalized_intercept, "intercept was penalized"),
    (ck.check_weighted_ridge, ridge_no_intercept, "no intercept"),
    (ck.check_weighted_ridge, ridge_lstsq_rows_times_w, "weights were squared"),
    (ck.check_weighted_ridge, ridge_plain_means, "*weighted* means"),
    (ck.check_weighted_ridge, lambda x, y, w, a: ridge_no_intercept(x, y, w, a)[0], "pair (coefficients, intercept)"),
    (ck.check_kernel_shap_solve, solve_without_constraint, "no constraint"),
    (ck.check_kernel_shap_solve, solve_intercept_only, "not efficiency"),
    (ck.check_kernel_shap_solve, solve_then_rescale, "forcing the sum afterwards"),
    (ck.check_kernel_shap_solve, solve_unweighted, "kernel weights were ignored"),
    (ck.check_kernel_shap_solve, solve_forgets_v_empty, "subtract v_empty"),
    (ck.check_kernel_shap_solve, lambda *a: bb.kernel_regression(*a).float().requires_grad_(), "autograd graph"),
]


@pytest.mark.parametrize("check, student, phrase", WRONG, ids=[f"{c.__name__}-{s.__name__}" for c, s, _ in WRONG])
def test_checks_name_the_mistake(check, student, phrase):
    result = check(student)
    assert result.status == "failed" and phrase in result.message, result.message


def test_checks_leave_the_global_random_state_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    for check, name in CHECKS:
        check(_from_solution(name))
    assert torch.equal(torch.get_rng_state(), before)
