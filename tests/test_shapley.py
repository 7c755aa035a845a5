"""Neuron Shapley: exact values on games with known answers, estimators, removal, the layer game, checks."""
import itertools
import math
from collections import OrderedDict

import pytest
import torch
from torch import nn

from course_utils import shapley as sh
from course_utils.hooks import capture_activations
from course_utils.checks import shapley as ck


# ------------------------------------------------------------------------------------------ helpers
def table_game(n, seed=0):
    """A random game with V(S) from a table indexed by the bits of S."""
    table = torch.randn(2 ** n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    bits = 1 << torch.arange(n)
    return sh.FunctionGame(lambda c: table[(c.long() * bits).sum(1)], n, batched=True), table


def naive_shapley(game, n):
    """The definition: average marginal contribution over all n! orders (independent of exact_shapley)."""
    phi = torch.zeros(n, dtype=torch.float64)
    perms = list(itertools.permutations(range(n)))
    for perm in perms:
        c = torch.zeros(n, dtype=torch.bool)
        prev = float(game(c))
        for i in perm:
            c[i] = True
            cur = float(game(c))
            phi[i] += cur - prev
            prev = cur
    return phi / len(perms)


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 4, 3, padding=1)), ("bn1", nn.BatchNorm2d(4)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(4, 6, 3, padding=1)), ("relu2", nn.ReLU()),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(6, 3))])).eval()


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(40, 1, 6, 6, generator=g)
    model = tiny_model()
    with torch.no_grad():
        y = model(x).argmax(1)
    y[::4] = torch.randint(0, 3, (10,), generator=g)      # some mistakes, so accuracy is not trivially 1
    return model, x, y


# -------------------------------------------------------------------------- exact values, known games
def test_additive_game_values_are_the_weights():
    w = [0.5, -2.0, 3.0, 0.0, 1.25]
    assert torch.allclose(sh.exact_shapley(sh.additive_game(w), show_progress=False).values,
                          torch.tensor(w, dtype=torch.float64))


@pytest.mark.parametrize("left, right, expected", [
    (1, 2, [2 / 3, 1 / 6, 1 / 6]),          # the one left glove is scarce
    (2, 2, [0.5] * 4),
    (1, 1, [0.5, 0.5]),
])
def test_glove_games(left, right, expected):
    assert torch.allclose(sh.exact_shapley(sh.glove_game(left, right), show_progress=False).values,
                          torch.tensor(expected, dtype=torch.float64))


def test_weighted_voting_games():
    # weights 50/49/1, quota 51: the big player needs any one partner
    v = sh.exact_shapley(sh.voting_game([50, 49, 1], 51), show_progress=False).values
    assert torch.allclose(v, torch.tensor([2 / 3, 1 / 6, 1 / 6], dtype=torch.float64))
    # simple majority of 3 equal players
    assert torch.allclose(sh.exact_shapley(sh.voting_game([1, 1, 1], 2), show_progress=False).values,
                          torch.full((3,), 1 / 3, dtype=torch.float64))


def test_un_security_council():
    """5 permanent members (veto) and 10 others, 9 votes needed: 421/2145 and 4/2145 (Shapley & Shubik 1954)."""
    v = sh.exact_shapley(sh.voting_game([7] * 5 + [1] * 10, 39), show_progress=False).values
    assert torch.allclose(v[:5], torch.full((5,), 421 / 2145, dtype=torch.float64))
    assert torch.allclose(v[5:], torch.full((10,), 4 / 2145, dtype=torch.float64))


@pytest.mark.parametrize("n", [1, 2, 4, 6])
def test_exact_matches_definition_and_efficiency(n):
    game, table = table_game(n, seed=n)
    v = sh.exact_shapley(game, show_progress=False).values
    assert torch.allclose(v, naive_shapley(game, n))
    assert math.isclose(float(v.sum()), float(table[-1] - table[0]), abs_tol=1e-12)


def test_dummy_and_symmetric_players():
    # player 2 never changes the value; players 0 and 1 are interchangeable
    def v(c):
        return (2.0 * (c[:, 0] | c[:, 1]) + c[:, 3] * c[:, 0] + c[:, 3] * c[:, 1]).double()
    phi = sh.exact_shapley(sh.FunctionGame(v, 4, batched=True), show_progress=False).values
    assert phi[2] == 0 and torch.isclose(phi[0], phi[1])


def test_exact_is_the_same_for_every_batch_size():
    game, _ = table_game(7, 3)
    ref = sh.exact_shapley(game, show_progress=False).values
    for b in (1, 5, 128):
        assert torch.equal(sh.exact_shapley(game, batch_size=b, show_progress=False).values, ref)


def test_unbatched_function_game_counts_evaluations():
    game = sh.FunctionGame(lambda c: float(c.sum() ** 2), 4)
    res = sh.exact_shapley(game, show_progress=False)
    assert game.n_evaluations == 16 == res.n_evaluations
    assert torch.allclose(res.values, torch.full((4,), 4.0, dtype=torch.float64))   # V(N) = 16, symmetric


# ------------------------------------------------------------------------------------- estimators
@pytest.mark.parametrize("direction", ["add", "remove"])
def test_permutation_sampling_converges_and_is_efficient(direction):
    game, table = table_game(8, 11)
    exact = sh.exact_shapley(game, show_progress=False).values
    res = sh.permutation_shapley(game, 1500, direction=direction, seed=2, show_progress=False)
    assert math.isclose(float(res.values.sum()), float(table[-1] - table[0]), abs_tol=1e-9)
    assert ((res.values - exact).abs() <= 5 * res.stderr + 1e-9).all()
    assert res.n_evaluations == 2 + 1500 * 7 and (res.counts == 1500).all()
    # the error shrinks with more permutations (first vs last point of the history)
    first = (res.history[0][1] - exact).abs().max()
    last = (res.history[-1][1] - exact).abs().max()
    assert last < first / 3


def test_one_permutation_gives_its_marginal_contributions():
    game, table = table_game(4, 5)
    res = sh.permutation_shapley(game, 1, direction="add", seed=9, show_progress=False)
    perm = torch.randperm(4, generator=torch.Generator().manual_seed(9))
    c, prev, expected = torch.zeros(4, dtype=torch.bool), float(table[0]), torch.zeros(4, dtype=torch.float64)
    for i in perm:
        c[i] = True
        cur = float(game(c))
        expected[i], prev = cur - prev, cur
    assert torch.allclose(res.values, expected)


def test_estimators_are_seeded_and_block_independent():
    game, _ = table_game(6, 4)
    a = sh.permutation_shapley(game, 40, seed=3, show_progress=False).values
    assert torch.equal(a, sh.permutation_shapley(game, 40, seed=3, show_progress=False).values)
    assert not torch.equal(a, sh.permutation_shapley(game, 40, seed=4, show_progress=False).values)
    # how permutations are grouped and how many positions are evaluated per call change nothing
    for block, chunk in [(1, 1), (7, 3), (40, 6)]:
        b = sh.permutation_shapley(game, 40, seed=3, block=block, chunk=chunk, show_progress=False).values
        assert torch.allclose(a, b)


def test_truncation_saves_evaluations_with_small_bias():
    # a saturating game: the value reaches its maximum once 3 of the 10 players are in
    def v(c):
        return torch.clamp(c.double() @ torch.linspace(1, 2, 10, dtype=torch.float64), max=4.5)
    game = sh.FunctionGame(v, 10, batched=True)
    exact = sh.exact_shapley(game, show_progress=False).values
    plain = sh.permutation_shapley(game, 300, direction="add", seed=0, show_progress=False)
    trunc = sh.permutation_shapley(game, 300, truncation=1e-9, direction="add", seed=0, show_progress=False)
    assert trunc.n_evaluations < plain.n_evaluations / 2
    assert torch.allclose(trunc.values, plain.values)          # here the truncated contributions are exactly 0
    assert (trunc.values - exact).abs().max() < 0.1


def test_truncation_patience_and_remove_direction():
    def v(c):          # removing: the value hits V(∅) = 0 once the two "key" players 0 and 1 are gone
        return (c[:, 0] | c[:, 1]).double() * (1 + 0.01 * c[:, 2:].sum(1))
    game = sh.FunctionGame(v, 8, batched=True)
    short = sh.permutation_shapley(game, 200, truncation=0.0, direction="remove", seed=1, show_progress=False)
    patient = sh.permutation_shapley(game, 200, truncation=0.0, patience=3, direction="remove", seed=1,
                                     show_progress=False)
    full = sh.permutation_shapley(game, 200, direction="remove", seed=1, show_progress=False)
    assert short.n_evaluations < patient.n_evaluations < full.n_evaluations
    assert short.top(2).sort().values.tolist() == [0, 1]


def gap_game():
    """12 players, weighted voting (values in [0, 1]): three heavy players with clearly larger values."""
    return sh.voting_game([9, 8, 7, 2, 2, 2, 1, 1, 1, 1, 1, 1], quota=18)


def test_tmab_top_k_equals_the_exact_top_k_when_there_is_a_gap():
    game = gap_game()
    exact = sh.exact_shapley(game, show_progress=False).values
    ranked = exact.sort(descending=True).values
    assert ranked[2] - ranked[3] > 0.1                      # a clear gap after the third player
    tmab = sh.tmab_shapley(game, k=3, exact=False, block=32, chunk=12, seed=0, show_progress=False)
    same_rule = sh.tmab_shapley(game, k=3, exact=False, adaptive=False, block=32, chunk=12, seed=0,
                                show_progress=False)
    for r in (tmab, same_rule):
        assert r.separated and r.range_ok and "separated" in r.stop_reason
        assert set(r.top(3).tolist()) == set(torch.argsort(exact, descending=True)[:3].tolist()) == {0, 1, 2}
        assert r.value_range == 2.0                          # guaranteed: values in [0, 1] → marginals in [−1, 1]
    assert tmab.n_evaluations < same_rule.n_evaluations
    assert same_rule.n_evaluations == 2 + 11 * same_rule.n_permutations     # every player, every permutation
    assert tmab.counts.min() < tmab.counts.max()            # players far from the boundary stopped early
    # the certificate is honest: every final interval contains the exact value
    assert ((tmab.values - exact).abs() <= tmab.bounds).all()


def test_tmab_reports_no_gap_on_tied_values():
    game = sh.voting_game([1] * 8, quota=5)                  # symmetric: every exact value is 1/8
    ex = sh.tmab_shapley(game, k=3, show_progress=False)     # 2^8 coalitions: the exact route
    assert ex.method == "exact" and ex.separated is False and "no gap at the boundary" in ex.stop_reason
    sampled = sh.tmab_shapley(game, k=3, exact=False, max_permutations=256, block=64, show_progress=False)
    assert sampled.separated is False and sampled.stop_reason.startswith("no gap at the boundary")
    assert sampled.n_permutations == 256                     # ran to its cap


def test_tmab_takes_the_exact_route_when_cheaper():
    game, table = table_game(10, 21)
    exact = sh.exact_shapley(game, show_progress=False)
    game.n_evaluations = 0
    res = sh.tmab_shapley(game, k=3, value_range=50.0, show_progress=False)   # budget 5000·9 + 2 ≫ 1024
    assert res.method == "exact" and res.n_evaluations == 1024 == game.n_evaluations and res.separated
    assert torch.equal(res.values, exact.values) and torch.equal(res.top(3), exact.top(3))
    # a budget below 2^10 = 1024 coalitions: sampling (100 · 9 + 2 = 902 evaluations at most)
    small_budget = sh.tmab_shapley(game, k=3, value_range=50.0, max_permutations=100, show_progress=False)
    assert small_budget.method == "TMAB" and small_budget.n_evaluations <= 902
    assert sh.tmab_shapley(game, k=3, value_range=50.0, exact=True, max_permutations=1,
                           show_progress=False).method == "exact"


def test_tmab_checks_the_range_it_is_given():
    game = gap_game()
    res = sh.tmab_shapley(game, k=3, exact=False, value_range=0.5, max_permutations=64, show_progress=False)
    assert res.range_ok is False and res.separated is False and "range exceeded" in res.stop_reason
    with pytest.raises(ValueError, match="value_range"):          # a game without bounds needs a range
        sh.tmab_shapley(sh.FunctionGame(lambda c: c.sum(1).double(), 30, batched=True), k=2, show_progress=False)


def test_marginal_range_is_guaranteed(data):
    model, x, y = data
    assert sh.marginal_range(sh.LayerGame(model, "relu2", x, y)) == 2.0
    assert sh.marginal_range(sh.LayerGame(model, "relu2", x, y, metric="log_prob")) is None
    assert sh.marginal_range(sh.additive_game([1.0, -2.0, 0.5])) == 2 * 3.5
    # every marginal contribution of a game with bounds lies within the range (all coalitions of a glove game)
    game = sh.glove_game(2, 3)
    masks = sh.coalition_masks(5)
    v = game(masks)
    marg = torch.stack([v[masks[:, i].logical_not().nonzero().flatten() | (1 << i)]
                        - v[masks[:, i].logical_not().nonzero().flatten()] for i in range(5)])
    assert float(marg.max() - marg.min()) <= sh.marginal_range(game)


def test_bernstein_bound_formula_and_coverage():
    var = torch.full((3,), 0.04, dtype=torch.float64)
    b = sh.bernstein_bound(var, torch.tensor([1, 10, 1000]), 1.0, 0.2)
    assert b[0] == 1.0 and b[1] > b[2] > 0
    L = math.log(4 / 0.2)
    assert math.isclose(float(b[2]), math.sqrt(2 * 0.04 * L / 1000) + 7 * L / (3 * 999), rel_tol=1e-12)
    assert sh.bernstein_bound(var, torch.tensor([1, 10, 1000]), 1.0, 0.2, n_tests=5)[2] > b[2]
    # coverage: 2,000 means of 50 Bernoulli(0.1) samples; the interval misses 0.1 in at most δ of them
    g = torch.Generator().manual_seed(0)
    samples = (torch.rand(2000, 50, generator=g) < 0.1).double()
    half = sh.bernstein_bound(samples.var(1), torch.full((2000,), 50), 1.0, 0.2)
    assert ((samples.mean(1) - 0.1).abs() > half).double().mean() <= 0.2


def test_evaluations_until_top():
    est = [torch.tensor(v, dtype=torch.float64) for v in ([3., 1, 2], [1., 3, 2], [3., 2, 1], [3., 2.5, 1])]
    res = sh.ShapleyResult(est[-1], torch.zeros(3), torch.ones(3), 40, 0.0, "test",
                           history=list(zip([10, 20, 30, 40], est)))
    assert sh.evaluations_until_top(res, [0, 1]) == 30        # shown from the third point on, for good
    assert sh.evaluations_until_top(res, [0, 2]) is None      # not the final ranking
    assert sh.evaluations_until_top(res, [0]) == 30


def test_ablation_curves():
    game, table = table_game(5, 8)
    curve = sh.ablation_curve(game, [3, 1, 4, 0, 2])
    assert curve[0] == table[-1] and curve[-1] == table[0]
    assert curve[2] == table[0b10101]                       # players 0, 2, 4 left
    assert sh.ablation_curve(game, [3, 1], max_removed=1).shape == (2,)
    curves = sh.random_ablation_curves(game, n_orders=4, max_removed=3, seed=0)
    assert curves.shape == (4, 4) and (curves[:, 0] == table[-1]).all()


# -------------------------------------------------------------------------------------- removal
def test_removed_channels_zero_and_mean(data):
    model, x, _ = data
    with capture_activations(model, ["relu2", "relu1"]) as acts:
        model(x)
    plain = acts["relu2"].clone()
    means = sh.channel_means(model, "relu2", x)
    assert means.shape == (6, 6, 6) and torch.allclose(means, plain.mean(0), atol=1e-6)
    assert sh.channel_means(model, "relu2", x, spatial=False).shape == (6,)
    with sh.removed_channels(model, "relu2", [1, 4]), capture_activations(model, "relu2") as acts:
        model(x)
    assert (acts["relu2"][:, [1, 4]] == 0).all() and torch.equal(acts["relu2"][:, [0, 2, 3, 5]], plain[:, [0, 2, 3, 5]])
    mask = torch.tensor([False, True, False, False, True, False])
    with sh.removed_channels(model, "relu2", mask, replacement=means), capture_activations(model, "relu2") as acts:
        model(x)
    assert torch.equal(acts["relu2"][:, 1], means[1].expand(40, 6, 6))
    with sh.removed_channels(model, "relu2", 4, replacement=means.flatten(1).mean(1)), \
            capture_activations(model, "relu2") as acts:
        model(x)
    assert torch.allclose(acts["relu2"][:, 4], means[4].mean().expand(40, 6, 6))


def test_removal_restores_the_model_even_on_error(data):
    model, x, _ = data
    model.train()
    model.fc.weight.requires_grad_(False)
    before = model(x).detach()
    with pytest.raises(RuntimeError, match="boom"):
        with sh.removed_channels(model, "relu1", [0]):
            assert not torch.allclose(model(x), before)
            raise RuntimeError("boom")
    assert all(not m._forward_hooks for m in model.modules())
    assert model.training and not model.fc.weight.requires_grad and model.conv1.weight.requires_grad
    with pytest.raises(ValueError, match="channels"):
        with sh.removed_channels(model, "relu1", [9]):      # relu1 has 4 channels: fails at the forward pass
            model(x)
    assert all(not m._forward_hooks for m in model.modules())
    model.eval()
    game = sh.LayerGame(model, "relu1", x, torch.zeros(40, dtype=torch.long))
    game(torch.ones(2, 4, dtype=torch.bool))
    assert not model.training and all(not m._forward_hooks for m in model.modules())


# ------------------------------------------------------------------------------------ layer game
@pytest.mark.parametrize("removal", ["mean", "zero"])
@pytest.mark.parametrize("metric", ["accuracy", "log_prob"])
def test_cached_game_equals_a_full_forward_pass(data, removal, metric):
    model, x, y = data
    game = sh.LayerGame(model, "relu1", x, y, removal=removal, metric=metric, batch_size=100)
    coalitions = torch.rand(6, 4, generator=torch.Generator().manual_seed(0)) < 0.5
    coalitions[0], coalitions[1] = True, False
    values = game(coalitions)
    for c, v in zip(coalitions, values):
        with sh.removed_channels(model, "relu1", ~c, replacement=game.fill), torch.no_grad():
            logits = model(x)
        full = (logits.argmax(1) == y).double().mean() if metric == "accuracy" else \
            logits.double().log_softmax(1).gather(1, y[:, None]).mean()
        assert math.isclose(float(v), float(full), abs_tol=1e-6)
    assert game.n_evaluations == 6


def test_game_value_is_the_same_for_every_batch_size(data):
    model, x, y = data
    coalitions = torch.rand(9, 6, generator=torch.Generator().manual_seed(2)) < 0.5
    ref = sh.LayerGame(model, "relu2", x, y, metric="log_prob")(coalitions)
    for b in (1, 7, 40, 10_000):
        assert torch.allclose(sh.LayerGame(model, "relu2", x, y, metric="log_prob", batch_size=b)(coalitions), ref)


def test_removing_before_or_after_global_pooling_is_the_same_game(data):
    model, x, y = data
    coalitions = torch.rand(8, 6, generator=torch.Generator().manual_seed(3)) < 0.5
    before = sh.LayerGame(model, "relu2", x, y, metric="log_prob")(coalitions)
    after = sh.LayerGame(model, "gap", x, y, metric="log_prob")(coalitions)
    assert torch.allclose(before, after, atol=1e-6)


def test_players_subset_restrict_and_custom_metric(data):
    model, x, y = data
    game = sh.LayerGame(model, "relu2", x, y, players=[5, 1])
    full = sh.LayerGame(model, "relu2", x, y)
    keep = torch.ones(6, dtype=torch.bool)
    keep[5] = False
    assert float(game(torch.tensor([False, True]))) == float(full(keep))
    assert game.value_without([0]) == float(full(keep))
    alone = sh.LayerGame(model, "relu2", x, y, players=[5, 1], others="remove")
    only_1 = torch.zeros(6, dtype=torch.bool)
    only_1[1] = True
    assert float(alone(torch.tensor([False, True]))) == float(full(only_1))
    with capture_activations(model, "relu2") as acts:
        model(x)
    shared = sh.LayerGame(model, "relu2", None, y, activations=acts["relu2"], players=[5, 1])
    assert torch.equal(shared(torch.tensor([[False, True], [True, True]])), game(torch.tensor([[False, True], [True, True]])))
    cls = game.restrict(y == 2)
    direct = sh.LayerGame(model, "relu2", x[y == 2], y[y == 2], removal=full.fill, players=[5, 1])
    c = torch.tensor([[True, False], [False, False]])
    assert torch.equal(cls(c), direct(c))
    errors = sh.LayerGame(model, "relu2", x, y, metric=lambda logits, labels: (logits.argmax(-1) != labels).sum(1))
    assert float(errors(torch.ones(1, 6, dtype=torch.bool))) == float((1 - full(torch.ones(1, 6, dtype=torch.bool))) * 40)


def test_layer_game_with_a_tail_for_a_non_sequential_model(data):
    model, x, y = data

    class Wrapped(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, z):
            return self.inner(z)

    wrapped = Wrapped(model)
    with pytest.raises(ValueError, match="tail"):
        sh.LayerGame(wrapped, "inner.relu2", x, y)
    game = sh.LayerGame(wrapped, "inner.relu2", x, y, tail=nn.Sequential(model.gap, model.flatten, model.fc))
    assert torch.equal(game(torch.ones(1, 6, dtype=torch.bool)), sh.LayerGame(model, "relu2", x, y)(torch.ones(1, 6, dtype=torch.bool)))


def inplace_model():
    """conv → ReLU(inplace) → conv4 → bn4 → ReLU(inplace=True) → GAP → fc: the torchvision pattern, where the
    ReLU overwrites bn4's output in place. BatchNorm statistics are set so bn4's output has both signs."""
    torch.manual_seed(5)
    model = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 4, 3, padding=1)), ("relu1", nn.ReLU(inplace=True)),
        ("conv4", nn.Conv2d(4, 6, 3, padding=1)), ("bn4", nn.BatchNorm2d(6)), ("relu4", nn.ReLU(inplace=True)),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(6, 3))]))
    with torch.no_grad():
        model.bn4.running_mean.uniform_(0.0, 0.3)
        model.bn4.running_var.uniform_(0.01, 0.05)
        model.bn4.weight.uniform_(0.5, 1.5)
        model.bn4.bias.uniform_(-0.5, 0.5)
    return model.eval()


def bn4_by_hand(model, x):
    with torch.no_grad():
        return model.bn4(model.conv4(torch.relu(model.conv1(x))))


def logits_by_hand(model, bn4):
    """The rest of the network after bn4, written out (ReLU not in place)."""
    with torch.no_grad():
        return model.fc(torch.relu(bn4).mean((2, 3)))


@pytest.mark.parametrize("removal", ["mean", "zero"])
def test_layer_game_on_bn4_removes_bn4_channels_not_relu4s(removal):
    model = inplace_model()
    x = torch.rand(30, 1, 6, 6, generator=torch.Generator().manual_seed(7))
    a = bn4_by_hand(model, x)
    assert (a < 0).float().mean() > 0.2, "the test needs bn4 outputs of both signs"
    y = logits_by_hand(model, a).argmax(1)
    y[::3] = (y[::3] + 1) % 3
    game = sh.LayerGame(model, "bn4", x, y, removal=removal, metric="log_prob")
    fill = a.mean(0) if removal == "mean" else torch.zeros(6, 1, 1)
    torch.testing.assert_close(game.fill, fill.expand_as(game.fill) if removal == "zero" else fill)
    coalitions = torch.rand(8, 6, generator=torch.Generator().manual_seed(8)) < 0.5
    coalitions[0], coalitions[1] = True, False
    for c, v in zip(coalitions, game(coalitions)):
        kept = torch.where(c.view(1, 6, 1, 1), a, fill)
        expected = logits_by_hand(model, kept).double().log_softmax(1).gather(1, y[:, None]).mean()
        assert math.isclose(float(v), float(expected), abs_tol=1e-6), (c, float(v), float(expected))
    # the same numbers by the forward-hook route, and from the layer given as a module
    with sh.removed_channels(model, model.bn4, ~coalitions[2], replacement=game.fill), torch.no_grad():
        hooked = model(x).double().log_softmax(1).gather(1, y[:, None]).mean()
    assert math.isclose(float(game(coalitions[2])), float(hooked), abs_tol=1e-6)
    assert torch.equal(sh.LayerGame(model, model.bn4, x, y, removal=removal, metric="log_prob")(coalitions),
                       game(coalitions))
    torch.testing.assert_close(sh.channel_means(model, "bn4", x), a.mean(0))


# -------------------------------------------------------------------------------------- bad input
def test_bad_input(data):
    model, x, y = data
    game, _ = table_game(4)
    with pytest.raises(ValueError, match="max_players"):
        sh.exact_shapley(sh.additive_game(torch.ones(21)), show_progress=False)
    with pytest.raises(TypeError, match="game"):
        sh.exact_shapley(lambda c: c.sum(1), show_progress=False)
    with pytest.raises(ValueError, match="n_permutations"):
        sh.permutation_shapley(game, 0)
    with pytest.raises(ValueError, match="direction"):
        sh.permutation_shapley(game, 5, direction="sideways")
    with pytest.raises(ValueError, match="truncation"):
        sh.permutation_shapley(game, 5, truncation=-1)
    with pytest.raises(ValueError, match="k:"):
        sh.tmab_shapley(game, k=4)
    with pytest.raises(ValueError, match="delta"):
        sh.tmab_shapley(game, k=1, delta=1.5)
    with pytest.raises(ValueError, match="coalitions"):
        game(torch.ones(2, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="coalitions"):
        game(torch.rand(2, 4))
    with pytest.raises(ValueError, match="order"):
        sh.ablation_curve(game, [0, 0])
    with pytest.raises(ValueError, match="labels"):
        sh.LayerGame(model, "relu2", x, y[:5])
    with pytest.raises(ValueError, match="metric"):
        sh.LayerGame(model, "relu2", x, y, metric="f1")
    with pytest.raises(ValueError, match="removal"):
        sh.LayerGame(model, "relu2", x, y, removal="median")
    with pytest.raises(ValueError, match="removal"):
        sh.LayerGame(model, "relu2", x, y, removal=torch.zeros(5))
    with pytest.raises(ValueError, match="players"):
        sh.LayerGame(model, "relu2", x, y, players=[1, 1])
    with pytest.raises(ValueError, match="players"):
        sh.LayerGame(model, "relu2", x, y, players=[6])
    with pytest.raises(TypeError, match="activations"):
        sh.LayerGame(model, "relu2", None, y, activations=y)
    with pytest.raises(ValueError, match="activations"):
        sh.LayerGame(model, "relu2", x, y, activations=torch.zeros(3, 6, 6, 6))
    with pytest.raises(ValueError, match="others"):
        sh.LayerGame(model, "relu2", x, y, others="drop")
    with pytest.raises(ValueError, match="layer"):
        sh.LayerGame(model, "relu9", x, y)
    with pytest.raises(ValueError, match="batch_size"):
        sh.LayerGame(model, "relu2", x, y, batch_size=0)
    with pytest.raises(TypeError, match="inputs"):
        sh.LayerGame(model, "relu2", x.numpy(), y)
    with pytest.raises(TypeError, match="channels"):
        with sh.removed_channels(model, "relu2", [0.5]):
            model(x)
    with pytest.raises(ValueError, match="replacement"):
        with sh.removed_channels(model, "relu2", [0], replacement=torch.zeros(6, 2, 2)):
            model(x)
    with pytest.raises(ValueError, match="channels"):
        with sh.removed_channels(model, "relu2", [7], replacement=torch.zeros(6)):
            pass


# ------------------------------------------------------------------------------------------ checks
def ref_exact(value, n):
    phi = torch.zeros(n, dtype=torch.float64)
    for s in range(2 ** n):
        c = torch.tensor([(s >> j) & 1 for j in range(n)], dtype=torch.bool)
        for i in range(n):
            if not c[i]:
                w = math.factorial(int(c.sum())) * math.factorial(n - int(c.sum()) - 1) / math.factorial(n)
                with_i = c.clone()
                with_i[i] = True
                phi[i] += w * (value(with_i) - value(c))
    return phi


def banzhaf(value, n):
    phi = torch.zeros(n, dtype=torch.float64)
    for s in range(2 ** n):
        c = torch.tensor([(s >> j) & 1 for j in range(n)], dtype=torch.bool)
        for i in range(n):
            if not c[i]:
                with_i = c.clone()
                with_i[i] = True
                phi[i] += (value(with_i) - value(c)) / 2 ** (n - 1)
    return phi


def ref_permutation(value, n, n_permutations, seed):
    gen = torch.Generator().manual_seed(seed)
    phi = torch.zeros(n, dtype=torch.float64)
    for _ in range(n_permutations):
        c = torch.zeros(n, dtype=torch.bool)
        prev = value(c)
        for i in torch.randperm(n, generator=gen).tolist():
            c[i] = True
            cur = value(c)
            phi[i] += cur - prev
            prev = cur
    return phi / n_permutations


def ref_hook(channels, means):
    def hook(module, inputs, output):
        out = output.clone()
        out[:, channels] = means[channels]
        return out
    return hook


def ref_ablation(value, n, order):
    c = torch.ones(n, dtype=torch.bool)
    out = [value(c)]
    for i in order:
        c[i] = False
        out.append(value(c))
    return torch.tensor(out, dtype=torch.float64)


def stub(*args):
    raise NotImplementedError("Exercise: write it")


def ref_truncated(value, n, n_permutations, tolerance, seed):
    """Truncated Monte Carlo written from the definition (walks adding players, stop once within tolerance)."""
    gen = torch.Generator().manual_seed(seed)
    full = value(torch.ones(n, dtype=torch.bool))
    phi = torch.zeros(n, dtype=torch.float64)
    for _ in range(n_permutations):
        c = torch.zeros(n, dtype=torch.bool)
        prev = value(c)
        for i in torch.randperm(n, generator=gen).tolist():
            c[i] = True
            cur = value(c)
            phi[i] += cur - prev
            prev = cur
            if abs(cur - full) <= tolerance:
                break
    return phi / n_permutations


def ref_tmab_step(means, half_widths, k):
    ranked = sorted(means.tolist(), reverse=True)
    boundary = (ranked[k - 1] + ranked[k]) / 2
    return torch.tensor([m - b <= boundary <= m + b for m, b in zip(means.tolist(), half_widths.tolist())])


@pytest.mark.parametrize("check, reference", [
    (ck.check_exact_shapley, ref_exact), (ck.check_permutation_shapley, ref_permutation),
    (ck.check_mean_removal_hook, ref_hook), (ck.check_ablation_curve, ref_ablation),
    (ck.check_truncated_shapley, ref_truncated), (ck.check_tmab_step, ref_tmab_step)])
def test_checks_pass_on_reference_and_wait_for_stub(check, reference):
    result = check(reference)
    assert result.passed, result.message
    assert check(stub).status == "not implemented"


@pytest.mark.parametrize("check, mistake, words", [
    (ck.check_exact_shapley, banzhaf, "Banzhaf"),
    (ck.check_exact_shapley, lambda v, n: ref_exact(v, n) * 2, "efficiency"),
    (ck.check_permutation_shapley, lambda v, n, p, s: ref_permutation(v, n, p, s) * p / (p + 1), "add up"),
    (ck.check_permutation_shapley, lambda v, n, p, s: ref_permutation(v, n, p, torch.randint(0, 10**6, ()).item()),
     "same seed"),
    (ck.check_permutation_shapley, lambda v, n, p, s: torch.full((n,), (v(torch.ones(n, dtype=torch.bool))
                                                                        - v(torch.zeros(n, dtype=torch.bool))) / n),
     "additive"),
    (ck.check_mean_removal_hook, lambda ch, m: ref_hook(ch, torch.zeros_like(m)), "zero"),
    (ck.check_mean_removal_hook, lambda ch, m: (lambda mod, i, o: None), "did not change"),
    (ck.check_ablation_curve, lambda v, n, order: ref_ablation(v, n, order)[1:], "k = 0"),
])
def test_checks_diagnose_typical_mistakes(check, mistake, words):
    result = check(mistake)
    assert not result.passed and words in result.message, result.message
