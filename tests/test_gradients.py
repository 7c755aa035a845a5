"""Gradient attributions (lecture 04): exact values on linear models, saturation, batching, restoration,
bad input, and the exercise checks."""
import pytest
import torch
from torch import nn

from course_utils.attribution import (input_gradients, input_x_gradient, noise_scale, noisy_gradients,
                                      reduce_channels, reduce_samples, saliency, smoothgrad, unit_target)
from course_utils.checks.gradients import check_input_x_gradient, check_saliency_map, check_smoothgrad


def linear_model(seed=0, c=3, h=4, w=4, k=5):
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, k))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(k, c * h * w, generator=g))
        model[1].bias.copy_(torch.randn(k, generator=g))
    return model


def conv_net(seed=0, c=3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(c, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1),
                         nn.BatchNorm2d(6), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5))


class Saturating(nn.Module):
    """y = 1 − ReLU(1 − i1 − i2) on inputs N×1×1×2 (one output 'class')."""

    def forward(self, x):
        i = x.flatten(1)
        return (1 - torch.relu(1 - i[:, 0] - i[:, 1]))[:, None]


class SaturatingScalar(nn.Module):
    """f(x) = 1 − ReLU(1 − x) on inputs N×1×1×1."""

    def forward(self, x):
        return 1 - torch.relu(1 - x.flatten(1))


X = torch.randn(3, 3, 4, 4, generator=torch.Generator().manual_seed(1))


# ------------------------------------------------------------------------------ exact values on linear models
@pytest.mark.parametrize("target", [0, 3, torch.tensor([4, 0, 2])])
def test_linear_model_saliency_is_abs_weight(target):
    model = linear_model()
    w = model[1].weight.detach()
    t = torch.as_tensor(target).expand(3)
    expected = w[t].view(3, 3, 4, 4)
    torch.testing.assert_close(saliency(model, X, target), expected.abs())
    torch.testing.assert_close(saliency(model, X, target, abs=False), expected)
    torch.testing.assert_close(smoothgrad(model, X, target, noise_level=0.3, n_samples=4), expected, atol=1e-6, rtol=1e-5)


def test_linear_model_input_x_gradient_sums_to_score_minus_bias():
    model = linear_model(seed=2)
    ixg = input_x_gradient(model, X, 1)
    torch.testing.assert_close(ixg, X * model[1].weight[1].detach().view(3, 4, 4))
    scores = model(X)[:, 1].detach() - model[1].bias[1].detach()
    torch.testing.assert_close(ixg.flatten(1).sum(1), scores, atol=1e-5, rtol=1e-5)


def test_zero_pixels_get_zero_input_x_gradient():
    x = X.clone()
    x[:, :, :2] = 0
    assert (input_x_gradient(conv_net(), x, 2)[:, :, :2] == 0).all()


def test_reduce_channels():
    a = torch.tensor([[[[1.0, -3.0]], [[-2.0, 2.0]]]])          # 1×2×1×2
    assert reduce_channels(a).tolist() == [[[[2.0, 3.0]]]]
    assert reduce_channels(a, "sum").tolist() == [[[[-1.0, -1.0]]]]
    assert reduce_channels(a, "mean_abs").tolist() == [[[[1.5, 2.5]]]]
    with pytest.raises(ValueError, match="how"):
        reduce_channels(a, "min")


# ------------------------------------------------------------------------------------ the saturation examples
def test_saturation_scalar():
    x = torch.tensor([2.0, 0.5]).view(2, 1, 1, 1)
    g = saliency(SaturatingScalar(), x, 0, abs=False)
    assert g.flatten().tolist() == [0.0, 1.0]   # at x = 2 the output still depends on x, yet the gradient is 0


def test_saturation_two_inputs():
    x = torch.tensor([[1.0, 1.0], [0.2, 0.3]]).view(2, 1, 1, 2)
    g = saliency(Saturating(), x, 0, abs=False).view(2, 2)
    assert g.tolist() == [[0.0, 0.0], [1.0, 1.0]]
    ixg = input_x_gradient(Saturating(), x, 0).view(2, 2)
    assert ixg[0].tolist() == [0.0, 0.0]   # y(1,1) − y(0,0) = 1, but Input×Gradient gives nothing


# --------------------------------------------------------------------------------------------- SmoothGrad
def naive_noisy_gradients(model, x, target, noise_level, n_samples, seed):
    """One noisy copy at a time, noise drawn image by image from one generator: N×S×C×H×W."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(len(x)):
        xi = x[i:i + 1]
        sigma = noise_level * (xi.max() - xi.min())
        noise = torch.randn((n_samples, *x.shape[1:]), generator=gen)
        t = target if isinstance(target, int) else target[i:i + 1]
        out.append(torch.cat([input_gradients(model, xi + sigma * noise[s:s + 1], t)[0] for s in range(n_samples)]))
    return torch.stack(out)


def naive_smoothgrad(model, x, target, noise_level, n_samples, seed):
    return naive_noisy_gradients(model, x, target, noise_level, n_samples, seed).mean(1)


def test_smoothgrad_matches_naive_loop():
    model, target = conv_net(3), torch.tensor([1, 4, 0])
    expected = naive_smoothgrad(model, X, target, 0.2, 5, seed=7)
    got = smoothgrad(model, X, target, noise_level=0.2, n_samples=5, seed=7, batch_size=4)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(smoothgrad(model, X, target, noise_level=0.2, n_samples=5, seed=7, abs=True),
                               expected.abs(), atol=1e-6, rtol=1e-4)


def test_smoothgrad_zero_noise_is_the_gradient_and_seed_matters():
    model = conv_net(4)
    torch.testing.assert_close(smoothgrad(model, X, 2, noise_level=0.0, n_samples=3),
                               saliency(model, X, 2, abs=False), atol=1e-6, rtol=1e-5)
    a = smoothgrad(model, X, 2, n_samples=3, seed=1)
    assert torch.equal(a, smoothgrad(model, X, 2, n_samples=3, generator=torch.Generator().manual_seed(1)))
    assert not torch.allclose(a, smoothgrad(model, X, 2, n_samples=3, seed=2))


def naive_statistic(samples, statistic):
    """Per entry, over the S samples, with Python floats: mean, mean of squares, population variance."""
    n, S = samples.shape[:2]
    flat = samples.reshape(n, S, -1)
    out = torch.zeros(n, flat.shape[2], dtype=torch.float64)
    for i in range(n):
        for j in range(flat.shape[2]):
            values = [float(flat[i, s, j]) for s in range(S)]
            mean = sum(values) / S
            out[i, j] = {"mean": mean, "mean_square": sum(v * v for v in values) / S,
                         "variance": sum((v - mean) ** 2 for v in values) / S}[statistic]
    return out.view(n, *samples.shape[2:]).float()


@pytest.mark.parametrize("statistic", ["mean", "mean_square", "variance"])
def test_smoothgrad_statistics_match_naive_loop(statistic):
    model, target = conv_net(3), torch.tensor([1, 4, 0])
    samples = naive_noisy_gradients(model, X, target, 0.2, 5, seed=7)
    expected = naive_statistic(samples, statistic)
    got = smoothgrad(model, X, target, noise_level=0.2, n_samples=5, seed=7, batch_size=3, statistic=statistic)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(reduce_samples(samples, statistic), expected, atol=1e-6, rtol=1e-4)
    if statistic != "mean":
        assert (got >= 0).all()


def test_noisy_gradients_are_the_samples_smoothgrad_reduces():
    model, target = conv_net(2), torch.tensor([0, 2, 3])
    samples = noisy_gradients(model, X, target, noise_level=0.3, n_samples=4, seed=5, batch_size=3)
    assert samples.shape == (len(X), 4, *X.shape[1:])
    torch.testing.assert_close(samples, naive_noisy_gradients(model, X, target, 0.3, 4, seed=5), atol=1e-6, rtol=1e-4)
    torch.testing.assert_close(samples.mean(1), smoothgrad(model, X, target, noise_level=0.3, n_samples=4, seed=5))
    # the three statistics are tied: mean of squares = square of the mean + variance
    torch.testing.assert_close(reduce_samples(samples, "mean_square"),
                               reduce_samples(samples, "mean") ** 2 + reduce_samples(samples, "variance"),
                               atol=1e-7, rtol=1e-5)


def test_on_a_linear_model_every_noisy_gradient_is_the_weight():
    """S(x) = w·x + b has gradient w everywhere: SmoothGrad = w, SmoothGrad² = w², VarGrad = 0 exactly."""
    model = linear_model(3)
    x = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    w = model[1].weight[2].detach().view(1, 3, 4, 4).expand(2, -1, -1, -1)
    kwargs = dict(noise_level=0.5, n_samples=6, seed=3)
    torch.testing.assert_close(smoothgrad(model, x, 2, **kwargs), w, atol=1e-6, rtol=0)
    torch.testing.assert_close(smoothgrad(model, x, 2, statistic="mean_square", **kwargs), w ** 2, atol=1e-5, rtol=1e-6)
    torch.testing.assert_close(smoothgrad(model, x, 2, statistic="variance", **kwargs), torch.zeros_like(x),
                               atol=1e-10, rtol=0)


@pytest.mark.parametrize("statistic", ["mean_square", "variance"])
def test_smoothgrad_statistics_identical_for_every_batch_size(statistic):
    model, target = conv_net(5), torch.tensor([0, 1, 2])
    results = [smoothgrad(model, X, target, n_samples=3, batch_size=b, statistic=statistic) for b in (1, 2, 4, 64)]
    for r in results[1:]:
        torch.testing.assert_close(r, results[0], atol=1e-7, rtol=1e-5)


def test_noise_scale_is_a_fraction_of_each_inputs_range():
    x = torch.stack([torch.zeros(1, 2, 2), torch.full((1, 2, 2), 3.0)])
    x[0, 0, 0, 0], x[1, 0, 0, 0] = 2.0, -1.0
    assert noise_scale(x, 0.5).flatten().tolist() == [1.0, 2.0]


# -------------------------------------------------------------------------------- batching and unit targets
@pytest.mark.parametrize("method, kwargs", [(saliency, {}), (saliency, {"abs": False}), (input_x_gradient, {}),
                                            (smoothgrad, {"n_samples": 3})])
def test_identical_for_every_batch_size(method, kwargs):
    model, target = conv_net(5), torch.tensor([0, 1, 2])
    results = [method(model, X, target, batch_size=b, **kwargs) for b in (1, 2, 5, 64)]
    for r in results[1:]:
        torch.testing.assert_close(r, results[0], atol=1e-6, rtol=1e-5)


def test_inner_unit_saliency_stays_in_its_receptive_field():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 2, 3, padding=1))
    x = torch.rand(1, 1, 12, 12) + 0.1
    with torch.no_grad():   # make every first-layer unit active so the whole 5×5 field can show up
        model[0].bias.fill_(5.0)
    g = saliency(model, x, unit_target("2", 1, 6, 4))[0, 0]
    nonzero = g.nonzero()
    assert nonzero[:, 0].min() >= 4 and nonzero[:, 0].max() <= 8
    assert nonzero[:, 1].min() >= 2 and nonzero[:, 1].max() <= 6
    assert len(nonzero) == 25


# ----------------------------------------------------------------------------------- restoration, bad input
def test_model_restored_even_on_error():
    model = conv_net(6)
    model.train()
    model[0].weight.requires_grad_(False)
    with pytest.raises(ValueError, match="target"):
        smoothgrad(model, X, 99, n_samples=2)
    saliency(model, X, 1)
    assert model.training and all(m.training for m in model.modules())
    assert not model[0].weight.requires_grad and model[3].weight.requires_grad
    assert all(p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks or m._backward_hooks or m._forward_pre_hooks for m in model.modules())


def test_eval_mode_inside():
    model = conv_net(7).train()
    bn_out = saliency(model, X, 0)
    assert torch.allclose(bn_out, saliency(model.eval(), X, 0))


@pytest.mark.parametrize("call, error, words", [
    (lambda m: saliency(m, X[0], 0), ValueError, r"inputs\[None\]"),
    (lambda m: saliency(m, X.long(), 0), TypeError, "float"),
    (lambda m: saliency(m, X.numpy(), 0), TypeError, "torch.Tensor"),
    (lambda m: saliency(m, X, 5), ValueError, "target"),
    (lambda m: saliency(m, X, 1.5), TypeError, "target"),
    (lambda m: input_x_gradient(m, X, 0, batch_size=0), ValueError, "batch_size"),
    (lambda m: smoothgrad(m, X, 0, n_samples=0), ValueError, "n_samples"),
    (lambda m: smoothgrad(m, X, 0, noise_level=-0.1), ValueError, "noise_level"),
    (lambda m: smoothgrad(m, X, 0, generator=3), TypeError, "generator"),
    (lambda m: smoothgrad(m, X, 0, statistic="median"), ValueError, "statistic"),
    (lambda m: smoothgrad(m, X, 0, statistic=None), ValueError, "statistic"),
    (lambda m: noisy_gradients(m, X, 0, n_samples=True), TypeError, "n_samples"),
    (lambda m: noisy_gradients(m, X, 0, batch_size=0), ValueError, "batch_size"),
    (lambda m: noisy_gradients(m, X, 0, noise_level=float("inf")), ValueError, "noise_level"),
    (lambda m: noisy_gradients(m, X[:0], 0), ValueError, "inputs"),
    (lambda m: reduce_samples(torch.zeros(2, 3, 4, 4), "mean"), ValueError, "noisy"),
    (lambda m: reduce_samples(torch.zeros(2, 3, 1, 4, 4, dtype=torch.long), "mean"), TypeError, "noisy"),
    (lambda m: reduce_samples(torch.full((2, 3, 1, 4, 4), float("nan")), "mean"), ValueError, "noisy"),
    (lambda m: reduce_samples([[1.0]], "mean"), TypeError, "noisy"),
    (lambda m: reduce_samples(torch.zeros(2, 3, 1, 4, 4), "max"), ValueError, "statistic"),
])
def test_bad_input(call, error, words):
    with pytest.raises(error, match=words):
        call(conv_net(8))


# ------------------------------------------------------------------------------------------------ checks
def ref_saliency_map(model, x, target):
    return reduce_channels(saliency(model, x, target), "max")


def ref_ixg(model, x, target):
    return input_x_gradient(model, x, target)


def ref_smoothgrad(model, x, target, noise_level, noise):
    sigma = noise_scale(x, noise_level)
    return torch.stack([saliency(model, x + sigma * noise[:, s], target, abs=False)
                        for s in range(noise.shape[1])]).mean(0)


def stub(*args):
    raise NotImplementedError("Exercise: write it")


@pytest.mark.parametrize("check, reference", [(check_saliency_map, ref_saliency_map),
                                              (check_input_x_gradient, ref_ixg),
                                              (check_smoothgrad, ref_smoothgrad)])
def test_checks_pass_on_reference_and_wait_for_stub(check, reference):
    assert check(reference).passed, check(reference).message
    result = check(stub)
    assert result.status == "not implemented" and "not implemented yet" in result.message


@pytest.mark.parametrize("mistake, words", [
    (lambda m, x, t: reduce_channels(saliency(m, x, t), "sum"), "summed"),
    (lambda m, x, t: saliency(m, x, t, abs=False).amax(1, keepdim=True), "signed gradient"),
    (lambda m, x, t: saliency(m, x, t), "reduce over the channel dimension"),
])
def test_saliency_check_names_the_mistake(mistake, words):
    result = check_saliency_map(mistake)
    assert not result.passed and words in result.message, result.message


def test_saliency_check_spots_probability():
    def prob_saliency(m, x, t):
        t = torch.as_tensor(t).expand(len(x))
        target = lambda mm, xx: mm(xx).softmax(1).gather(1, t.view(-1, 1)).squeeze(1)
        return reduce_channels(saliency(m, x, target), "max")
    result = check_saliency_map(prob_saliency)
    assert not result.passed and "probability" in result.message, result.message


def test_other_checks_name_the_mistake():
    r = check_input_x_gradient(lambda m, x, t: x * saliency(m, x, t))
    assert not r.passed and "|gradient|" in r.message, r.message
    unscaled = lambda m, x, t, lvl, noise: torch.stack([saliency(m, x + lvl * noise[:, s], t, abs=False)
                                                        for s in range(noise.shape[1])]).mean(0)
    r = check_smoothgrad(unscaled)
    assert not r.passed and "max − min" in r.message, r.message
    summed = lambda m, x, t, lvl, noise: ref_smoothgrad(m, x, t, lvl, noise) * noise.shape[1]
    r = check_smoothgrad(summed)
    assert not r.passed and "times the expected" in r.message, r.message


def test_unit_target_on_bn4_differentiates_bn4_not_the_inplace_relu_after_it():
    from course_utils.attribution import unit_target
    from course_utils.models import fashion_cnn
    torch.manual_seed(0)
    model = fashion_cnn(pretrained=False)
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = True
    with torch.no_grad():
        model.bn4.running_mean.fill_(5.0)          # bn4 negative almost everywhere: relu4 would be 0
    model.eval()
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    got = saliency(model, x, unit_target("bn4", 2), abs=False)
    xr = x.clone().requires_grad_(True)
    h = xr
    for name, m in model.named_children():
        h = m(h)
        if name == "bn4":
            break
    (expected,) = torch.autograd.grad(h[0, 2].mean(), xr)
    assert expected.abs().sum() > 0
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(saliency(model, x, unit_target(model.bn4, 2), abs=False), got)


def test_probability_target_is_the_softmax():
    from course_utils.attribution import probability, target_scores
    model = tiny_model() if "tiny_model" in globals() else nn.Sequential(nn.Flatten(), nn.Linear(16, 4)).eval()
    x = torch.rand(3, 1, 4, 4)
    t = torch.tensor([0, 3, 1])
    with torch.no_grad():
        p = model(x).softmax(1).gather(1, t[:, None])[:, 0]
        torch.testing.assert_close(target_scores(model, x, probability(t)), p)
        torch.testing.assert_close(probability(t)(model, x), p)
        torch.testing.assert_close(target_scores(model, x, 2), model(x)[:, 2])
    with pytest.raises(ValueError, match="model: the model gave a non-finite score"):
        broken = nn.Sequential(nn.Flatten(), nn.Linear(16, 4))
        with torch.no_grad():
            broken[1].bias[1] = float("nan")
        target_scores(broken, x, 1)
