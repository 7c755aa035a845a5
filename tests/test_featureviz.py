"""Feature visualization: objectives on hand-made activations, ascent increases them, Fourier round trips,
transforms keep shapes, the model is restored, bad input is refused, and the lecture 08 checks work."""
import math
from collections import OrderedDict

import pytest
import torch
from torch import nn

from course_utils import featureviz as fv
from course_utils.checks import featureviz as checks
from course_utils.hooks import capture_activations, preserved_state


def n_hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def tiny_model(channels=1):
    """conv(3×3) → ReLU → conv(3×3) → ReLU → GAP → linear(2→3), seeded, with a BatchNorm to test eval mode."""
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(channels, 4, 3, padding=1)), ("bn1", nn.BatchNorm2d(4)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(4, 2, 3, padding=1)), ("relu2", nn.ReLU()),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(2, 3))]))
    with torch.no_grad():
        model.conv2.bias.fill_(0.3)
    return model.eval()


# ------------------------------------------------------------------------------- objectives, by hand
A = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)   # image n, channel c: 12n + 4c + 0..3
LOGITS = torch.tensor([[0.0, math.log(3.0), 0.0], [1.0, 2.0, 3.0]])
IMG = torch.tensor([[[[0.0, 1.0, 3.0], [2.0, 2.0, 2.0]]]])                  # 1×1×2×3
ACTS = {"a": A, fv.LOGITS: LOGITS, fv.INPUT: IMG.expand(2, 1, 2, 3)}


@pytest.mark.parametrize("objective, expected", [
    (fv.neuron("a", 1), [4 + 3, 16 + 3]),                       # centre of a 2×2 map is (1, 1): last entry
    (fv.neuron("a", [0, 2], y=0, x=1), [1, 12 + 8 + 1]),
    (fv.channel("a", 2), [8 + 1.5, 20 + 1.5]),
    (fv.channel("a", [1, 0]), [4 + 1.5, 12 + 1.5]),
    (fv.deepdream("a"), [sum(v * v for v in range(12)) / 12, sum(v * v for v in range(12, 24)) / 12]),
    (fv.class_logit(1), [math.log(3.0), 2.0]),
    (fv.class_logit([0, 2]), [0.0, 3.0]),
    (fv.class_probability(1), [3 / 5, math.exp(2) / (math.e + math.e ** 2 + math.e ** 3)]),
    (fv.class_probability([1, 0], log=True), [math.log(3 / 5), 1 - math.log(math.e + math.e ** 2 + math.e ** 3)]),
    (fv.l2(0.5), [(0.25 + 0.25 + 6.25 + 3 * 2.25) / 6] * 2),
    (fv.total_variation(), [(2 + 1 + 1) / 3 + (1 + 2 + 0 + 0) / 4] * 2),
    (fv.neuron(fv.LOGITS, 2), [0.0, 3.0]),                       # a unit of a dense (N×K) layer
])
def test_objective_values_on_hand_made_activations(objective, expected):
    torch.testing.assert_close(objective(ACTS), torch.tensor(expected, dtype=torch.float32))


def test_objectives_compose_with_plus_minus_times():
    c, n = fv.channel("a", 0), fv.neuron("a", 2)
    vc, vn = c(ACTS), n(ACTS)
    torch.testing.assert_close((2 * c - n + 1)(ACTS), 2 * vc - vn + 1)
    torch.testing.assert_close((-c)(ACTS), -vc)
    torch.testing.assert_close((c * n)(ACTS), vc * vn)
    torch.testing.assert_close((c / 4)(ACTS), vc / 4)
    torch.testing.assert_close((1 - c)(ACTS), 1 - vc)
    torch.testing.assert_close(sum([c, n, c])(ACTS), 2 * vc + vn)
    combined = c - 0.1 * fv.total_variation() + fv.class_logit(0)
    assert combined.layers == ("a", fv.INPUT, fv.LOGITS)
    assert "channel(a:0)" in repr(combined)


def test_diversity_by_hand():
    same = torch.ones(2, 2, 3, 3)                                   # identical Gram matrices: similarity 1
    torch.testing.assert_close(fv.diversity("a")({"a": same}), torch.tensor([-1.0, -1.0]))
    apart = torch.zeros(2, 2, 3, 3)
    apart[0, 0], apart[1, 1] = 1.0, 2.0                              # Grams diag(1,0) and diag(0,4): orthogonal
    torch.testing.assert_close(fv.diversity("a")({"a": apart}), torch.tensor([0.0, 0.0]))
    three = torch.stack([apart[0], apart[1], apart[0]])             # image 0 ≈ image 2, both ⟂ image 1
    torch.testing.assert_close(fv.diversity("a")({"a": three}), torch.tensor([-0.5, 0.0, -0.5]))
    torch.testing.assert_close(fv.diversity("a")({"a": same[:1]}), torch.tensor([0.0]))
    g = fv.gram_matrices(A)
    torch.testing.assert_close(g[1, 0, 2], (A[1, 0].flatten() * A[1, 2].flatten()).mean())


def test_blur_penalty_is_zero_for_flat_images_and_positive_for_noise():
    flat = {fv.INPUT: torch.full((1, 3, 8, 8), 0.3)}
    noisy = {fv.INPUT: torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))}
    assert fv.blur_penalty(1.0)(flat).abs().max() < 1e-7
    assert fv.blur_penalty(1.0)(noisy).item() > 1e-3


# ---------------------------------------------------------------------------------- ascent increases
OBJECTIVES = [fv.neuron("relu2", 0), fv.channel("conv2", 1), fv.deepdream("relu1"), fv.class_logit(2),
              fv.class_probability(0), fv.class_probability(1, log=True), -fv.class_logit(1), fv.channel("relu2", 0) - 0.1 * fv.total_variation(),
              -fv.l2(), fv.channel("relu2", [0, 1]) + 0.2 * fv.diversity("relu1")]


@pytest.mark.parametrize("objective", OBJECTIVES, ids=lambda o: o.name)
def test_one_ascent_step_increases_the_objective(objective):
    model = tiny_model()
    image = fv.PixelImage(2, 1, 8, sd=0.5, generator=torch.Generator().manual_seed(1))
    history = []
    fv.render(model, objective, image, steps=1, lr=0.01, history=history, show_progress=False)
    after = fv.evaluate(model, objective, image())
    assert (after > history[0]).all(), (history[0], after)


def test_render_climbs_and_returns_images_in_range():
    model = tiny_model(channels=3)
    history = []
    images = fv.render(model, fv.channel("relu2", 1), size=12, batch=3, steps=25, lr=0.1,
                       transforms=[fv.jitter(1), fv.random_scale((0.9, 1.1))], history=history, show_progress=False)
    assert images.shape == (3, 3, 12, 12) and not images.requires_grad
    assert 0 <= images.min() and images.max() <= 1
    assert (history[-1] > history[0]).all()
    random_images = torch.rand(200, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    best_random = fv.evaluate(model, fv.channel("relu2", 1), random_images).max()
    assert (fv.evaluate(model, fv.channel("relu2", 1), images) > best_random).all()


def test_adam_is_torch_optim_adam_written_out():
    """render's Adam (torch.optim-free, so no torch._dynamo import) takes torch.optim.Adam's steps exactly."""
    Adam = fv.Adam
    g = torch.Generator().manual_seed(0)
    start = [torch.randn(3, 4, generator=g), torch.randn(5, generator=g)]
    ours = [x.clone().requires_grad_() for x in start]
    theirs = [x.clone().requires_grad_() for x in start]
    target = [torch.randn(3, 4, generator=g), torch.randn(5, generator=g)]
    a, b = Adam(ours, lr=0.05), torch.optim.Adam(theirs, lr=0.05)
    for _ in range(30):
        for params, opt in ((ours, a), (theirs, b)):
            opt.zero_grad()
            sum(((p - t) ** 4).sum() for p, t in zip(params, target)).backward()   # a non-quadratic loss
            opt.step()
    for p, q in zip(ours, theirs):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-6)
    assert not torch.equal(ours[0], start[0])                      # it moved
    with pytest.raises(ValueError, match="lr"):
        Adam(ours, lr=0.0)


def test_render_continued_with_its_optimizer_equals_one_longer_render():
    """Two renders of 8 steps sharing the image and its Adam = one render of 16 steps (no random transforms)."""
    model, objective = tiny_model(channels=3), fv.channel("relu2", 1)
    g = torch.Generator().manual_seed(3)
    once, twice = fv.PixelImage(2, 3, 12, generator=g), fv.PixelImage(2, 3, 12)
    twice.load_state_dict(once.state_dict())
    long = fv.render(model, objective, once, steps=16, lr=0.1, show_progress=False)
    adam = fv.Adam(twice.parameters(), lr=0.1)
    fv.render(model, objective, twice, steps=8, lr=0.1, optimizer=adam, show_progress=False)
    continued = fv.render(model, objective, twice, steps=8, lr=0.1, optimizer=adam, show_progress=False)
    torch.testing.assert_close(continued, long, rtol=0, atol=0)
    with pytest.raises(ValueError, match="optimizer"):
        fv.render(model, objective, fv.PixelImage(2, 3, 12), steps=1, optimizer=adam, show_progress=False)
    with pytest.raises(TypeError, match="optimizer"):
        fv.render(model, objective, twice, steps=1, optimizer=torch.optim.SGD(twice.parameters(), lr=0.1),
                  show_progress=False)


def test_batched_render_equals_separate_renders():
    """The images of a batch do not interact (eval mode, summed objective, Adam is per parameter)."""
    model = tiny_model()
    both = fv.PixelImage(2, 1, 8, sd=0.3, generator=torch.Generator().manual_seed(2))
    singles = [fv.PixelImage(1, 1, 8) for _ in range(2)]
    for i, s in enumerate(singles):
        s.pixels.data.copy_(both.pixels.data[i:i + 1])
    kwargs = dict(steps=5, lr=0.05, transforms=[fv.jitter(2)], seed=3, show_progress=False)
    batched = fv.render(model, fv.channel("relu2", [0, 1]), both, **kwargs)
    separate = torch.cat([fv.render(model, fv.channel("relu2", c), s, **kwargs) for c, s in zip([0, 1], singles)])
    torch.testing.assert_close(batched, separate, atol=1e-6, rtol=1e-5)


def test_render_is_reproducible_with_a_seed():
    model = tiny_model()
    run = lambda seed: fv.render(model, fv.channel("relu2", 0), size=8, steps=3, seed=seed,
                                 transforms=[fv.jitter(2)], show_progress=False)
    assert torch.equal(run(5), run(5)) and not torch.equal(run(5), run(6))


def test_evaluate_matches_captured_activations_for_every_batch_size():
    model = tiny_model()
    x = torch.rand(7, 1, 8, 8, generator=torch.Generator().manual_seed(4))
    with torch.no_grad(), capture_activations(model, "relu2") as acts:
        expected = model(x)[:, 2]
        expected_channel = acts["relu2"][:, 1].mean((1, 2))
    for bs in (1, 3, 7, 100):
        torch.testing.assert_close(fv.evaluate(model, fv.class_logit(2), x, batch_size=bs), expected)
        torch.testing.assert_close(fv.evaluate(model, fv.channel("relu2", 1), x, batch_size=bs), expected_channel)


def test_forward_pass_stops_after_the_deepest_layer_needed():
    model = tiny_model()
    calls = []
    handle = model.fc.register_forward_hook(lambda *a: calls.append(1))
    fv.evaluate(model, fv.channel("relu1", 0), torch.rand(2, 1, 8, 8))
    assert calls == []
    fv.evaluate(model, fv.channel("relu1", 0) + fv.class_logit(0), torch.rand(2, 1, 8, 8))
    assert calls == [1]
    handle.remove()


def test_objectives_read_a_layer_followed_by_an_in_place_relu():
    """bn4 → ReLU(inplace=True): the objective reads bn4's output (negative values too), not relu4's."""
    torch.manual_seed(5)
    model = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 4, 3, padding=1)), ("bn4", nn.BatchNorm2d(4)), ("relu4", nn.ReLU(inplace=True)),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(4, 3))])).eval()
    with torch.no_grad():
        model.bn4.bias.copy_(torch.tensor([-0.5, -0.2, 0.1, 0.3]))
    x = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        bn4 = model.bn4(model.conv1(x))
        logits = model.fc(torch.relu(bn4).mean((2, 3)))
    assert (bn4[:, 0] < 0).any()
    objective = fv.channel("bn4", 0) + fv.class_logit(1)           # needs the whole forward pass
    torch.testing.assert_close(fv.evaluate(model, objective, x), bn4[:, 0].mean((1, 2)) + logits[:, 1])
    torch.testing.assert_close(fv.evaluate(model, fv.neuron(model.bn4, 0, y=2, x=3), x), bn4[:, 0, 2, 3])
    history = []
    fv.render(model, objective, fv.PixelImage(2, 1, 8), steps=3, lr=0.05, history=history, show_progress=False)
    assert (history[-1] > history[0]).all()


# --------------------------------------------------------------------------- parameterizations
@pytest.mark.parametrize("h, w", [(16, 16), (15, 16), (16, 13), (9, 9)])
def test_fourier_round_trip_and_shapes(h, w):
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(5))
    scale = fv.spectrum_scale(h, w)
    spectrum = fv.pixels_to_fourier(x, scale)
    assert spectrum.shape == (2, 3, h, w // 2 + 1, 2)
    torch.testing.assert_close(fv.fourier_to_pixels(spectrum, (h, w), scale), x, atol=1e-5, rtol=1e-5)
    image = fv.FourierImage(2, 3, h, w)
    out = image()
    assert out.shape == (2, 3, h, w) and 0 < out.min() and out.max() < 1


def test_spectrum_scale_is_one_over_f():
    scale = fv.spectrum_scale(32, 32)
    f = fv.frequency_grid(32, 32)
    assert f.shape == (32, 17) and f[0, 0] == 0 and abs(f[0, 16] - 0.5) < 1e-6 and abs(f[16, 0] - 0.5) < 1e-6
    # 1/f: doubling the frequency halves the amplitude; DC is capped at the lowest nonzero frequency's value
    torch.testing.assert_close(scale[0, 2] / scale[0, 4], torch.tensor(2.0))
    torch.testing.assert_close(scale[0, 0], scale[0, 1])
    flat = fv.spectrum_scale(8, 8, decay_power=0.0)
    torch.testing.assert_close(flat, torch.full_like(flat, flat[0, 0].item()))


@pytest.mark.parametrize("size", [16, 64])
def test_pixel_std_follows_the_coefficients_std(size):
    image = fv.FourierImage(200, 1, size, sd=1.0, generator=torch.Generator().manual_seed(6))
    corner = image.latent()[:, 0, 0, 0]               # one pixel over 200 independent draws
    assert 0.85 < corner.std().item() < 1.15


def test_colour_decorrelation_mixes_channels_by_the_imagenet_matrix():
    image = fv.PixelImage(1, 3, 4, decorrelate=True)
    z = torch.randn(1, 3, 4, 4, generator=torch.Generator().manual_seed(7))
    image.pixels.data.copy_(z)
    m = fv.IMAGENET_COLOR_SQRT / fv.IMAGENET_COLOR_SQRT.norm(dim=0).max()
    expected = torch.sigmoid(torch.einsum("rc,nchw->nrhw", m, z))
    torch.testing.assert_close(image(), expected)
    assert not fv.FourierImage(1, 1, 8).decorrelate and fv.FourierImage(1, 3, 8).decorrelate


def test_pixel_image_from_images_starts_at_the_images():
    x = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(11)) * 0.9 + 0.05
    torch.testing.assert_close(fv.PixelImage.from_images(x)(), x)
    with pytest.raises(ValueError, match="images"):
        fv.PixelImage.from_images(torch.rand(6, 6))


def test_color_correlation_sqrt_squares_to_the_covariance():
    g = torch.Generator().manual_seed(8)
    base = torch.rand(4, 1, 8, 8, generator=g)
    images = torch.cat([base, 0.8 * base + 0.1 * torch.rand(4, 1, 8, 8, generator=g), torch.rand(4, 1, 8, 8, generator=g)], 1)
    s = fv.color_correlation_sqrt(images).double()
    cov = torch.cov(images.permute(1, 0, 2, 3).reshape(3, -1).double())
    torch.testing.assert_close(s @ s.T, cov, atol=1e-6, rtol=1e-4)
    assert (s[:, 0] > 0).all()   # first column: the shared (brightness) direction, positive


# -------------------------------------------------------------------------------------- transforms
X = torch.rand(2, 3, 12, 10, generator=torch.Generator().manual_seed(9))


@pytest.mark.parametrize("transform", [fv.jitter(3), fv.random_scale(), fv.random_rotate(), fv.blur(1.0),
                                       fv.compose(fv.standard_transforms(12)[1:])],
                         ids=["jitter", "scale", "rotate", "blur", "standard-without-pad"])
def test_transforms_keep_shape_range_and_are_seeded(transform):
    out = transform(X, torch.Generator().manual_seed(1))
    assert out.shape == X.shape
    assert X.min() - 1e-6 <= out.min() and out.max() <= X.max() + 1e-6   # interpolation/averaging stay in range
    assert torch.equal(out, transform(X, torch.Generator().manual_seed(1)))


def test_transform_specifics():
    shifted = fv.jitter(3)(X, torch.Generator().manual_seed(2))
    assert any(torch.equal(shifted, torch.roll(X, (dy, dx), (2, 3))) for dy in range(-3, 4) for dx in range(-3, 4))
    assert torch.equal(fv.jitter(0)(X), X)
    torch.testing.assert_close(fv.random_scale((1.0,))(X), X, atol=1e-5, rtol=0)
    torch.testing.assert_close(fv.random_rotate((0,))(X), X, atol=1e-5, rtol=0)
    half_turn = fv.random_rotate((180,))(X[..., :10, :])              # square input: exact 180° turn
    torch.testing.assert_close(half_turn, X[..., :10, :].flip(2, 3), atol=1e-5, rtol=0)
    assert fv.pad(4)(X).shape == (2, 3, 20, 18)
    padded = fv.pad(2, mode="constant", value=0.5)(X)
    assert (padded[..., :2, :] == 0.5).all() and torch.equal(padded[..., 2:-2, 2:-2], X)
    flat = torch.full((1, 1, 9, 9), 0.7)
    torch.testing.assert_close(fv.blur(2.0)(flat), flat)
    torch.testing.assert_close(fv.gaussian_kernel(1.5).sum(), torch.tensor(1.0))


# ----------------------------------------------------------------------------- high-frequency energy
def test_high_frequency_energy():
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    checker = ((yy + xx) % 2).view(1, 1, 32, 32)
    smooth = torch.sin(2 * math.pi * xx / 16).view(1, 1, 32, 32)
    flat = torch.full((1, 1, 32, 32), 0.4)
    noise = torch.rand(8, 1, 64, 64, generator=torch.Generator().manual_seed(10))
    values = fv.high_frequency_energy(torch.cat([checker, smooth, flat]))
    torch.testing.assert_close(values, torch.tensor([1.0, 0.0, 0.0]), atol=1e-6, rtol=0)
    # white noise spreads its power evenly over the [-0.5, 0.5]² frequency square
    assert abs(fv.high_frequency_energy(noise).mean().item() - (1 - math.pi * 0.25 ** 2)) < 0.02


# ------------------------------------------------------------------------------ model restoration
def test_model_restored_and_no_hooks_left_even_on_error():
    model = tiny_model().train()
    model.conv1.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fv.render(model, fv.channel("relu2", 0) + fv.class_logit(1), size=8, steps=2, show_progress=False)
    fv.evaluate(model, fv.neuron("relu1", 3), torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="channel"):
        fv.render(model, fv.channel("relu2", 5), size=8, steps=2, show_progress=False)   # relu2 has 2 channels
    assert n_hooks(model) == 0 and model.training and model.bn1.training
    assert not model.conv1.weight.requires_grad and model.conv2.weight.requires_grad
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "BatchNorm statistics changed"
    assert all(p.grad is None for p in model.parameters())


# ------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call, error, words", [
    (lambda m: fv.render(m, "relu2", size=8), TypeError, "objective"),
    (lambda m: fv.render(m, fv.channel("relu9", 0), size=8, steps=1), ValueError, "layer"),
    (lambda m: fv.render(m, fv.channel("relu2", 0), size=8, steps=0), ValueError, "steps"),
    (lambda m: fv.render(m, fv.channel("relu2", 0), size=8, lr=-1.0), ValueError, "lr"),
    (lambda m: fv.render(m, fv.channel("relu2", 0), fv.PixelImage(1, 3, 8)), ValueError, "image"),
    (lambda m: fv.render(m, fv.channel("relu2", 0), torch.rand(1, 1, 8, 8)), TypeError, "image"),
    (lambda m: fv.render(m, fv.channel("relu2", [0, 1, 0]), size=8, batch=2, steps=1), ValueError, "3 indices"),
    (lambda m: fv.evaluate(m, fv.class_logit(3), torch.rand(1, 1, 8, 8)), ValueError, "target"),
    (lambda m: fv.evaluate(m, fv.neuron("relu2", 0, y=9), torch.rand(1, 1, 8, 8)), ValueError, "y, x"),
    (lambda m: fv.evaluate(m, fv.channel("relu2", 0), torch.rand(1, 8, 8)), ValueError, "images"),
    (lambda m: fv.evaluate(m, fv.channel("relu2", 0), torch.rand(1, 1, 8, 8), batch_size=0), ValueError, "batch_size"),
    (lambda m: fv.channel("relu2", -1), ValueError, "channel"),
    (lambda m: fv.channel("relu2", "one"), TypeError, "channel"),
    (lambda m: fv.channel(3, 0), TypeError, "layer"),
    (lambda m: fv.channel("relu2", 0) / 0, TypeError, "divided"),
    (lambda m: fv.jitter(-1), ValueError, "max_shift"),
    (lambda m: fv.pad(2, mode="wrap"), ValueError, "mode"),
    (lambda m: fv.blur(0), ValueError, "sigma"),
    (lambda m: fv.random_scale((1.0, -1.0)), ValueError, "scales"),
    (lambda m: fv.FourierImage(0, 3, 8), ValueError, "batch"),
    (lambda m: fv.PixelImage(1, 1, 8, decorrelate=True), ValueError, "decorrelate"),
    (lambda m: fv.total_variation(torch.rand(3, 8, 8)), ValueError, "x"),
    (lambda m: fv.high_frequency_energy(torch.rand(1, 1, 8, 8), cutoff=0.9), ValueError, "cutoff"),
    (lambda m: fv.high_frequency_energy([[0.0]]), TypeError, "images"),
    (lambda m: fv.color_correlation_sqrt(torch.rand(1, 1, 4, 4)), ValueError, "3 channel"),
])
def test_bad_input(call, error, words):
    model = tiny_model()
    with pytest.raises(error, match=words):
        call(model)
    assert n_hooks(model) == 0 and not model.training


# -------------------------------------------------------------------------------- exercise checks
def tv_solution(x):
    return ((x[:, :, 1:] - x[:, :, :-1]).abs().mean((1, 2, 3)) + (x[..., 1:] - x[..., :-1]).abs().mean((1, 2, 3)))


def jitter_solution(x, max_shift, generator):
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def no_eval_mode(model, layer, channel, x, steps, lr):
    """Gradient ascent on a channel's mean, in whatever mode the model is (the mistake)."""
    x = x.detach().clone()
    for _ in range(steps):
        x.requires_grad_(True)
        with capture_activations(model, layer, detach=False) as acts:
            model(x)
        (grad,) = torch.autograd.grad(acts[layer][:, channel].mean((1, 2)).sum(), x)
        x = (x + lr * grad).detach()
    return x


def ascent_solution(model, layer, channel, x, steps, lr):
    with preserved_state(model):
        return no_eval_mode(model, layer, channel, x, steps, lr)


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write it")


@pytest.mark.parametrize("check, solution", [(checks.check_total_variation, tv_solution),
                                             (checks.check_jitter, jitter_solution),
                                             (checks.check_gradient_ascent, ascent_solution)])
def test_checks_pass_on_solution_and_say_not_implemented_on_stub(check, solution):
    result = check(solution)
    assert result.passed, result.message
    assert check(stub).status == "not implemented"


@pytest.mark.parametrize("mistake, words", [
    (lambda x: (x[:, :, 1:] - x[:, :, :-1]).pow(2).mean((1, 2, 3)) + (x[..., 1:] - x[..., :-1]).pow(2).mean((1, 2, 3)),
     "squared"),
    (lambda x: (x[:, :, 1:] - x[:, :, :-1]).abs().mean((1, 2, 3)), "only the vertical"),
    (lambda x: (x[:, :, 1:] - x[:, :, :-1]).abs().sum((1, 2, 3)) + (x[..., 1:] - x[..., :-1]).abs().sum((1, 2, 3)),
     "summed"),
    (lambda x: tv_solution(x).mean(), "one value per image"),
])
def test_total_variation_check_names_the_mistake(mistake, words):
    result = checks.check_total_variation(mistake)
    assert not result.passed and words in result.message, result.message


@pytest.mark.parametrize("mistake, words", [
    (lambda x, m, g: torch.roll(x, torch.randint(-m, m, (2,), generator=g).tolist(), (2, 3)), "exclusive"),
    (lambda x, m, g: torch.roll(x, torch.randint(0, m + 1, (2,), generator=g).tolist(), (2, 3)), "one way"),
    (lambda x, m, g: torch.roll(x, torch.randint(-m, m + 1, (2,)).tolist(), (2, 3)), "generator"),
    (lambda x, m, g: torch.roll(x, torch.randint(-m, m + 1, (2,), generator=g).tolist(), (1, 2)), "not a shifted"),
    (lambda x, m, g: torch.nn.functional.pad(x, (m,) * 4), "shape changed"),
])
def test_jitter_check_names_the_mistake(mistake, words):
    result = checks.check_jitter(mistake)
    assert not result.passed and words in result.message, result.message


def descent(model, layer, channel, x, steps, lr):
    return ascent_solution(model, layer, channel, x, steps, -lr)




def hook_left_behind(model, layer, channel, x, steps, lr):
    out = ascent_solution(model, layer, channel, x, steps, lr)
    dict(model.named_modules())[layer].register_forward_hook(lambda *a: None)
    return out


def in_place(model, layer, channel, x, steps, lr):
    out = ascent_solution(model, layer, channel, x, steps, lr)
    x.data.copy_(out)
    return out


@pytest.mark.parametrize("mistake, words", [(descent, "downhill"), (no_eval_mode, "training mode"),
                                            (hook_left_behind, "hook"), (in_place, "in place")])
def test_gradient_ascent_check_names_the_mistake(mistake, words):
    result = checks.check_gradient_ascent(mistake)
    assert not result.passed and words in result.message, result.message


def hf_solution(x, cutoff=0.25):
    x = x - x.mean(dim=(2, 3), keepdim=True)
    power = torch.fft.fft2(x).abs().pow(2).sum(dim=1)
    h, w = x.shape[-2:]
    f = torch.sqrt(torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.fftfreq(w)[None, :] ** 2)
    total = power.sum(dim=(1, 2))
    return torch.where(total > 0, (power * (f > cutoff)).sum(dim=(1, 2)) / total.clamp(min=1e-30), torch.zeros_like(total))


def test_high_frequency_check():
    assert checks.check_high_frequency_energy(hf_solution).passed
    assert checks.check_high_frequency_energy(stub).status == "not implemented"

    def no_mean_removal(x, cutoff=0.25):
        power = torch.fft.fft2(x).abs().pow(2).sum(dim=1)
        h, w = x.shape[-2:]
        f = torch.sqrt(torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.fftfreq(w)[None, :] ** 2)
        return (power * (f > cutoff)).sum(dim=(1, 2)) / power.sum(dim=(1, 2))

    result = checks.check_high_frequency_energy(no_mean_removal)
    assert not result.passed and "means were not removed" in result.message, result.message
    def below_cutoff(x, cutoff=0.25):
        return hf_solution(x, cutoff=-1.0) - hf_solution(x, cutoff)     # power at f <= cutoff

    result = checks.check_high_frequency_energy(below_cutoff)
    assert not result.passed and "below" in result.message, result.message


def test_image_from_spectrum_check_against_hand_computed_waves():
    """The exercise's reference (and the check built on it): a lone coefficient gives a wave computed by hand."""
    from course_utils.checks.featureviz import _reference_spectrum_image
    h, w = 6, 7                                              # odd width, not square: the floor is 1/max(H, W) = 1/7
    dc = torch.zeros(1, 1, h, w // 2 + 1, 2)
    dc[0, 0, 0, 0, 0] = 1.0                                  # the mean: f = 0, floored to 1/7, so scale 7
    assert torch.allclose(_reference_spectrum_image(dc, h, w), torch.full((1, 1, h, w), 7 / math.sqrt(h * w)))
    wave = torch.zeros(1, 1, h, w // 2 + 1, 2)
    wave[0, 0, 0, 2, 0] = 1.0                                # cos(2π·2x/7), f = 2/7, scale (7/2)^1.5
    x = torch.arange(w, dtype=torch.float32)
    expected = 2 * (3.5 ** 1.5) * torch.cos(2 * math.pi * 2 * x / w) / math.sqrt(h * w)   # the ± frequency pair
    assert torch.allclose(_reference_spectrum_image(wave, h, w, decay_power=1.5)[0, 0], expected.expand(h, w), atol=1e-5)
    param = fv.FourierImage(2, 1, h, w, sd=1.0, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ratio = param.latent() / _reference_spectrum_image(param.spectrum, h, w)
    assert torch.allclose(ratio, ratio.flatten()[0].expand_as(ratio), rtol=1e-4)   # FourierImage: one constant more


def test_image_from_spectrum_check():
    from course_utils.checks.featureviz import _reference_spectrum_image
    assert checks.check_image_from_spectrum(_reference_spectrum_image).passed
    assert checks.check_image_from_spectrum(stub).status == "not implemented"
