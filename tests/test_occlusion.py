"""Occlusion and Bubbles (lecture 03): exact values, a naive loop, batch-size invariance, bad input,
model restoration, and the exercise checks."""
import pytest
import torch
from torch import nn

from course_utils.attribution import (apply_bubbles, bubble_masks, bubbles, bubbles_responses, diagnostic_image,
                                      grid_to_pixels, masks_from_centres, occluder_fill, occlusion, occlusion_grid,
                                      occlusion_outputs, probability, reveal, strongest_channel, unit_target,
                                      window_positions)
from course_utils.checks.occlusion import check_bubble_masks, check_diagnostic_image, check_occlusion_map


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are tiny: one thread avoids contention on a shared machine (restored afterwards)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def small_cnn(c=3, k=5, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(c, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, k)).eval()


def linear_model(weights):
    """logit 0 = Σ w·x over the image (weights C×H×W), logit 1 = 0."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(weights.numel(), 2, bias=False))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[0] = weights.flatten()
    return model.eval()


def naive_occlusion(model, x, target, window, stride, fill, score="logit"):
    """One window at a time, written independently of the library: N×C×H×W → N×H×W."""
    (wh, ww), (sh, sw) = window, stride
    n, c, h, w = x.shape

    def starts(size, k, s):
        out = list(range(0, size - k + 1, s))
        return out + [size - k] if out[-1] != size - k else out

    def f(img, t):
        out = model(img)
        if score == "probability":
            out = out.softmax(1)
        return out[0, t] if not callable(t) else t(model, img)[0]

    result = torch.zeros(n, h, w)
    count = torch.zeros(n, h, w)
    with torch.no_grad():
        for i in range(n):
            t = target if callable(target) else int(target[i])
            base = f(x[i:i + 1], t)
            for top in starts(h, wh, sh):
                for left in starts(w, ww, sw):
                    occluded = x[i:i + 1].clone()
                    occluded[..., top:top + wh, left:left + ww] = fill[i, :, top:top + wh, left:left + ww]
                    result[i, top:top + wh, left:left + ww] += base - f(occluded, t)
                    count[i, top:top + wh, left:left + ww] += 1
    return result / count


# ------------------------------------------------------------------------------------------------ geometry
def test_window_positions_cover_every_pixel():
    assert window_positions(10, 4, 3) == [0, 3, 6]
    assert window_positions(10, 4, 4) == [0, 4, 6]          # last window pushed to the border
    assert window_positions(224, 16, 8) == list(range(0, 209, 8))
    assert window_positions(5, 5, 2) == [0]
    assert window_positions(6, 1, 1) == [0, 1, 2, 3, 4, 5]


def test_grid_to_pixels_averages_covering_windows():
    grid = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])          # 2×2 windows of 2×2 on a 3×3 image, stride 1
    out = grid_to_pixels(grid, 3, 3, 2, 1)[0]
    expected = torch.tensor([[1.0, 1.5, 2.0], [2.0, 2.5, 3.0], [3.0, 3.5, 4.0]])
    torch.testing.assert_close(out, expected)
    with pytest.raises(ValueError, match="grid"):
        grid_to_pixels(torch.zeros(1, 3, 3), 3, 3, 2, 1)
    with pytest.raises(ValueError, match="mode"):
        grid_to_pixels(grid, 3, 3, 2, 1, mode="max")


def test_grid_to_pixels_nearest_keeps_categories():
    labels = torch.tensor([[3, 7], [1, 5]])                  # windows of 4 at starts 0 and 2 on a 6×6 image
    out = grid_to_pixels(labels, 6, 6, 4, 2, mode="nearest")
    assert out.dtype == labels.dtype and set(out.unique().tolist()) == {1, 3, 5, 7}
    assert out[0, 0] == 3 and out[0, 5] == 7 and out[5, 0] == 1 and out[5, 5] == 5   # centres at 1.5 and 3.5


def test_stride_larger_than_window_leaves_uncovered_pixels_at_zero():
    w = torch.ones(1, 1, 9)
    attr = occlusion(linear_model(w), torch.ones(1, 1, 1, 9), 0, window=(1, 2), stride=(1, 4))  # starts 0, 4, 7
    torch.testing.assert_close(attr[0, 0, 0], torch.tensor([2.0, 2, 0, 0, 2, 2, 0, 2, 2]))


# ---------------------------------------------------------------------------------------- exact values
def test_occlusion_exact_on_linear_model():
    # f(x) = Σ w·x with w = 0..8, x = 1: zeroing a window drops f by the sum of its weights
    w = torch.arange(9.0).view(1, 3, 3)
    attr = occlusion(linear_model(w), torch.ones(1, 1, 3, 3), 0, window=2, stride=1)
    # window sums: top-left 8, top-right 12, bottom-left 20, bottom-right 24; each pixel averages its windows
    expected = torch.tensor([[8.0, 10.0, 12.0], [14.0, 16.0, 18.0], [20.0, 22.0, 24.0]])
    assert attr.shape == (1, 1, 3, 3)
    torch.testing.assert_close(attr[0, 0], expected)


def test_baseline_image_occluder_gives_weighted_difference():
    # with a baseline image b, the drop of a 1×1 window at pixel p is w_p (x_p − b_p)
    g = torch.Generator().manual_seed(1)
    w, x, b = torch.randn(2, 4, 5, generator=g), torch.randn(1, 2, 4, 5, generator=g), torch.randn(2, 4, 5, generator=g)
    attr = occlusion(linear_model(w), x, 0, window=(4, 1), stride=1, value=b)
    expected = (w * (x[0] - b)).sum((0, 1))                    # one value per column (the window is a column)
    torch.testing.assert_close(attr[0, 0], expected.expand(4, 5))
    torch.testing.assert_close(attr[0, 1], attr[0, 0])         # same value in every channel


# ------------------------------------------------------------------------------------------ naive loop
@pytest.mark.parametrize("value", ["zero", "mean", "bright", "blur", 0.7, "channel_tensor", "image_tensor"])
def test_occlusion_equals_naive_loop(value):
    g = torch.Generator().manual_seed(2)
    model, x = small_cnn(), torch.randn(2, 3, 11, 9, generator=g)
    target = torch.tensor([1, 4])
    v = {"channel_tensor": torch.tensor([0.1, -0.2, 0.3]),
         "image_tensor": torch.randn(3, 11, 9, generator=g)}.get(value, value)
    fill = occluder_fill(x, v, blur_sigma=1.0)
    got = occlusion(model, x, target, window=(4, 3), stride=(3, 2), value=v, blur_sigma=1.0, batch_size=7)
    ref = naive_occlusion(model, x, target, (4, 3), (3, 2), fill)
    assert got.shape == x.shape
    torch.testing.assert_close(got[:, 0], ref, atol=1e-5, rtol=1e-4)


def test_occluder_fills():
    x = torch.rand(2, 3, 6, 6)
    torch.testing.assert_close(occluder_fill(x, "mean")[:, :, 2, 3], x.mean((2, 3)))
    torch.testing.assert_close(occluder_fill(x, "bright")[:, :, 0, 0], x.amax((2, 3)))
    assert occluder_fill(x, "zero").abs().sum() == 0
    flat = torch.ones(1, 1, 8, 8)
    torch.testing.assert_close(occluder_fill(flat, "blur", 2.0), flat)      # blurring a constant changes nothing


def test_probability_score_and_unit_target_equal_naive_loop():
    model, x = small_cnn(seed=3), torch.randn(1, 3, 8, 8)
    fill = torch.zeros_like(x)
    got = occlusion(model, x, probability(2), window=3, stride=2)
    torch.testing.assert_close(got[:, 0], naive_occlusion(model, x, [2], (3, 3), (2, 2), fill, "probability"),
                               atol=1e-6, rtol=1e-4)
    unit = unit_target("4", channel=5, y=2, x=1)                   # second conv, channel 5, one position
    got = occlusion(model, x, unit, window=3, stride=2)
    torch.testing.assert_close(got[:, 0], naive_occlusion(model, x, unit, (3, 3), (2, 2), fill), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("batch_size", [1, 2, 5, 13, 1000, None])
def test_identical_for_every_batch_size(batch_size):
    model, x = small_cnn(seed=4), torch.randn(2, 3, 10, 10, generator=torch.Generator().manual_seed(4))
    reference = occlusion(model, x, torch.tensor([0, 3]), window=4, stride=3, value="mean", batch_size=4)
    got = occlusion(model, x, torch.tensor([0, 3]), window=4, stride=3, value="mean", batch_size=batch_size)
    torch.testing.assert_close(got, reference, atol=1e-6, rtol=0)
    masks = bubble_masks(9, 10, 10, 3, 1.5, torch.Generator().manual_seed(0))
    r_ref = bubbles_responses(model, x, 1, masks, batch_size=4)
    torch.testing.assert_close(bubbles_responses(model, x, 1, masks, batch_size=batch_size), r_ref, atol=1e-6, rtol=0)


def test_outputs_and_grid_agree():
    model, x = small_cnn(seed=5), torch.randn(2, 3, 9, 9)
    out = occlusion_outputs(model, x, window=3, stride=3)
    assert out.shape == (2, 3, 3, 5)
    grid = occlusion_grid(model, x, torch.tensor([1, 2]), window=3, stride=3)
    torch.testing.assert_close(grid, torch.stack([out[0, ..., 1], out[1, ..., 2]]))
    # the top-left window of image 0: the same as occluding it by hand
    x0 = x[:1].clone()
    x0[..., :3, :3] = 0
    with torch.no_grad():
        torch.testing.assert_close(out[0, 0, 0], model(x0)[0], atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------------------------- bad input, restoration
@pytest.mark.parametrize("kwargs, error, words", [
    ({"window": 12}, ValueError, "window: 12×12 is larger than the image"),
    ({"window": (3, 11)}, ValueError, "larger than the image"),
    ({"stride": 0}, ValueError, "stride"),
    ({"window": 2.5}, TypeError, "window"),
    ({"value": torch.zeros(2)}, ValueError, "value: a tensor occluder must have shape"),
    ({"value": "white"}, ValueError, "value: expected one of"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"target": "softmax"}, TypeError, "target"),
    ({"target": 7}, ValueError, r"target: class indices must lie in \[0, 4\]"),
    ({"target": torch.tensor([0, 1, 2])}, ValueError, "target: expected one class index or 1"),
])
def test_bad_input_is_named(kwargs, error, words):
    args = dict(target=1, window=3, stride=2)
    args.update(kwargs)
    with pytest.raises(error, match=words):
        occlusion(small_cnn(), torch.rand(1, 3, 10, 10), **args)


def test_bad_inputs_tensor_and_bubble_arguments():
    with pytest.raises(ValueError, match="inputs: expected a 4-d tensor"):
        occlusion(small_cnn(), torch.rand(3, 10, 10), 1)
    with pytest.raises(TypeError, match="target"):
        occlusion(small_cnn(), torch.rand(1, 3, 10, 10), probability(1.0))
    with pytest.raises(ValueError, match="centres"):
        masks_from_centres(torch.zeros(4, 2), 5, 5, 1.0)
    with pytest.raises(ValueError, match="sigma"):
        masks_from_centres(torch.zeros(1, 1, 2), 5, 5, 0.0)
    with pytest.raises(ValueError, match="n_bubbles"):
        bubble_masks(3, 5, 5, n_bubbles=0)
    with pytest.raises(ValueError, match="positive sum"):
        diagnostic_image(torch.rand(3, 1, 4, 4), torch.tensor([-1.0, 0.0, 0.5]))
    with pytest.raises(ValueError, match="one response per mask"):
        diagnostic_image(torch.rand(3, 1, 4, 4), torch.rand(4))
    with pytest.raises(ValueError, match="masks"):
        apply_bubbles(torch.rand(1, 3, 4, 4), torch.rand(2, 3, 4, 4))


def test_model_restored_even_on_error():
    model = small_cnn().train()
    model[0].weight.requires_grad_(False)
    x = torch.rand(1, 3, 8, 8)
    occlusion(model, x, 1, window=3, stride=3)
    bubbles(model, x, probability(1), n_masks=4, n_bubbles=2, sigma=1.0)
    with pytest.raises(ValueError):
        occlusion(model, x, 99, window=3, stride=3)
    assert model.training and model[1].training
    assert not model[0].weight.requires_grad and model[4].weight.requires_grad
    assert all(not m._forward_hooks for m in model.modules())


# ------------------------------------------------------------------------------------------------- bubbles
def test_masks_from_centres_exact_values():
    m = masks_from_centres(torch.tensor([[[2.0, 3.0]]]), 5, 7, sigma=2.0)
    assert m.shape == (1, 1, 5, 7)
    assert m[0, 0, 2, 3] == 1.0                                               # peak at the centre (row 2, col 3)
    torch.testing.assert_close(m[0, 0, 2, 5], torch.exp(torch.tensor(-0.5)))  # one σ away along the row
    torch.testing.assert_close(m[0, 0, 4, 5], torch.exp(torch.tensor(-1.0)))  # (2, 2) away: d² = 8 = 2σ²
    two = masks_from_centres(torch.tensor([[[2.0, 2.0], [2.0, 3.0]]]), 5, 7, sigma=2.0)
    assert two.max() == 1.0 and (two[0, 0, 2, 1:5] == 1).all()                # the sum is clipped at 1


def test_bubble_masks_are_seeded_and_batched():
    a = bubble_masks(6, 9, 12, 4, 1.5, torch.Generator().manual_seed(7))
    b = bubble_masks(6, 9, 12, 4, 1.5, torch.Generator().manual_seed(7))
    c = bubble_masks(6, 9, 12, 4, 1.5, torch.Generator().manual_seed(8))
    assert a.shape == (6, 1, 9, 12) and torch.equal(a, b) and not torch.equal(a, c)
    assert 0 <= a.min() and a.max() <= 1


def test_apply_bubbles_and_reveal():
    x = torch.rand(1, 3, 4, 4)
    masks = torch.stack([torch.ones(1, 4, 4), torch.zeros(1, 4, 4), torch.full((1, 4, 4), 0.25)])
    out = apply_bubbles(x, masks, value=1.0)
    torch.testing.assert_close(out[0], x[0])
    torch.testing.assert_close(out[1], torch.ones(3, 4, 4))
    torch.testing.assert_close(out[2], 0.25 * x[0] + 0.75)
    d = torch.zeros(1, 4, 4)
    d[0, 1, 2] = 2.0
    d[0, 0, 0] = -1.0
    r = reveal(x, d)
    assert r[0, :, 1, 2].equal(x[0, :, 1, 2]) and r[0].abs().sum() == x[0, :, 1, 2].abs().sum()


def test_diagnostic_image_exact():
    m0, m1 = torch.rand(1, 5, 5), torch.rand(1, 5, 5)
    masks = torch.stack([m0, m1])
    torch.testing.assert_close(diagnostic_image(masks, torch.tensor([1.0, 0.0])), (m0 - m1) / 2)
    torch.testing.assert_close(diagnostic_image(masks, torch.tensor([3.0, 1.0]), "contrast"), m0 - m1)
    with pytest.raises(ValueError, match="method"):
        diagnostic_image(masks, torch.tensor([3.0, 1.0]), "ratio")
    assert diagnostic_image(masks, torch.tensor([0.5, 0.5])).abs().max() < 1e-7   # no information: zero map


def test_bubbles_finds_the_half_the_model_looks_at():
    # a model whose class-0 logit grows with the brightness of the left half only
    w = torch.zeros(1, 12, 12)
    w[..., :6] = 0.2
    model, x = linear_model(w), torch.ones(1, 1, 12, 12)
    d = bubbles(model, x, probability(0), n_masks=300, n_bubbles=3, sigma=1.5, seed=0)
    assert d.shape == x.shape
    left, right = d[0, 0, :, :5].mean(), d[0, 0, :, 7:].mean()
    # with a fixed number of bubbles, more visibility on the left means less on the right: negative there
    assert left > 0 > right and (d[0, 0, :, :5] > 0).float().mean() > 0.9


# ------------------------------------------------------------------- a hidden unit as the target (Fig. 7b)
def linear_conv(seed=0):
    """One 3×3 conv, 2 → 3 channels, float64: every unit is linear in the input (bias included)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1)).double().eval()


def test_occlusion_of_a_unit_is_weight_times_input_on_a_linear_conv():
    # unit (channel 1, y=2, x=3): u = b + Σ_{c,i,j} W[1, c, i−y+1, j−x+1] x[c, i, j]. Hiding pixel (i, j)
    # (window 1, black) drops u by its contribution Σ_c W·x there; pixels outside the 3×3 kernel give 0.
    model, x = linear_conv(), torch.randn(1, 2, 6, 7, dtype=torch.float64)
    got = occlusion(model, x, unit_target("0", 1, 2, 3), window=1, stride=1)
    expected = torch.zeros(6, 7, dtype=torch.float64)
    w = model[0].weight[1].detach()                                        # 2×3×3
    expected[1:4, 2:5] = (w * x[0, :, 1:4, 2:5]).sum(0)
    torch.testing.assert_close(got[0, 0], expected)
    torch.testing.assert_close(got[0, 1], expected)                        # the same value in every channel


def test_occlusion_of_a_feature_map_is_the_window_sum_of_gradient_times_input():
    # the channel mean of a linear map is linear too: Δ_p = Σ_{pixels in window p} Σ_c g·x, g = ∂u/∂x
    model, x = linear_conv(1), torch.randn(1, 2, 7, 6, dtype=torch.float64)
    unit = unit_target("0", 2)                                             # channel 2, mean over positions
    g = torch.autograd.functional.jacobian(lambda v: unit(model, v), x)[0]  # 1×2×7×6, constant
    contribution = (g * x)[0].sum(0)                                       # 7×6
    grid = occlusion_grid(model, x, unit, window=(3, 2), stride=2)
    tops, lefts = window_positions(7, 3, 2), window_positions(6, 2, 2)
    expected = torch.tensor([[float(contribution[t:t + 3, l:l + 2].sum()) for l in lefts] for t in tops],
                            dtype=torch.float64)
    torch.testing.assert_close(unit(model, x) - grid[0], expected)


def test_bubbles_responses_of_a_unit_are_linear_in_the_mask():
    # with the black background, the image seen through mask M is M·x, so a linear unit responds
    # b + Σ g·M·x: the response of every mask is known exactly
    model, x = linear_conv(2), torch.rand(1, 2, 6, 6, dtype=torch.float64)
    unit = unit_target("0", 0, 3, 3)
    masks = bubble_masks(7, 6, 6, n_bubbles=2, sigma=1.0, generator=torch.Generator().manual_seed(0)).double()
    g = torch.autograd.functional.jacobian(lambda v: unit(model, v), x)[0, 0]   # 2×6×6
    bias = unit(model, torch.zeros_like(x))
    expected = bias + torch.einsum("chw,mhw->m", g * x[0], masks[:, 0])
    torch.testing.assert_close(bubbles_responses(model, x, unit, masks)[0], expected)


def test_bubbles_on_a_unit_stays_inside_its_receptive_field():
    # a unit of a 3×3 conv sees a 3×3 box; visibility outside it cannot change the response, so the
    # diagnostic image is positive only there (one-pixel "bubbles": each mask shows a single pixel)
    model = linear_conv(3)
    with torch.no_grad():
        model[0].weight.abs_()                                             # positive weights: seeing helps
    x, unit = torch.rand(1, 2, 5, 5, dtype=torch.float64) + 0.5, unit_target("0", 1, 2, 2)
    masks = torch.eye(25, dtype=torch.float64).view(25, 1, 5, 5)           # mask k shows pixel k only
    r = bubbles_responses(model, x, unit, masks)[0] - unit(model, torch.zeros_like(x))  # drop the bias
    d = diagnostic_image(masks, r)[0]
    assert (d[1:4, 1:4] > 0).all()
    inside = torch.zeros(5, 5, dtype=torch.bool)
    inside[1:4, 1:4] = True
    torch.testing.assert_close(d[~inside], torch.full((16,), -1 / 25, dtype=torch.float64))  # −mean mask


def test_strongest_channel_is_the_argmax_of_the_feature_maps():
    model, x = small_cnn(seed=6), torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        a = model[:6](x)[0]                                                # the second ReLU's output, 8×4×4
    assert strongest_channel(model, x, "5") == int(a.mean((1, 2)).argmax())
    assert strongest_channel(model, x, model[5], reduce="max") == int(a.amax((1, 2)).argmax())
    with pytest.raises(ValueError, match="inputs"):
        strongest_channel(model, x.repeat(2, 1, 1, 1), "5")
    with pytest.raises(ValueError, match="inputs"):
        strongest_channel(model, x[0], "5")
    with pytest.raises(ValueError, match="reduce"):
        strongest_channel(model, x, "5", reduce="sum")
    with pytest.raises(ValueError, match="layer"):
        strongest_channel(model, x, "relu9")
    with pytest.raises(TypeError, match="model"):
        strongest_channel(lambda v: v, x, "5")


# ------------------------------------------------------------------------------------------------ checks
def occlusion_map_reference(model, image, target, window, stride, value):
    return occlusion(model, image[None], target, window, stride, value=value)[0, 0]


def stub(*args):
    raise NotImplementedError("Exercise: write it")


def test_check_occlusion_map():
    assert check_occlusion_map(occlusion_map_reference).passed
    assert check_occlusion_map(stub).status == "not implemented"

    def summed(model, image, target, window, stride, value):        # forgot to divide by the coverage
        h, w = image.shape[1:]
        count = torch.zeros(h, w)
        for top in window_positions(h, window, stride):
            for left in window_positions(w, window, stride):
                count[top:top + window, left:left + window] += 1
        return occlusion_map_reference(model, image, target, window, stride, value) * count

    result = check_occlusion_map(summed)
    assert not result.passed and "divide each pixel by the number of windows" in result.message, result.message
    flipped = check_occlusion_map(lambda *a: -occlusion_map_reference(*a))
    assert "wrong sign" in flipped.message


def test_check_occlusion_map_catches_missing_border_window():
    def short(model, image, target, window, stride, value):
        h, w = image.shape[1:]
        out, cnt = torch.zeros(h, w), torch.zeros(h, w)
        with torch.no_grad():
            base = model(image[None])[0, target]
            for top in range(0, h - window + 1, stride):
                for left in range(0, w - window + 1, stride):
                    occ = image.clone()
                    occ[:, top:top + window, left:left + window] = value
                    out[top:top + window, left:left + window] += base - model(occ[None])[0, target]
                    cnt[top:top + window, left:left + window] += 1
        return out / cnt                                     # NaN where no window reached
    result = check_occlusion_map(short)
    assert not result.passed and "S − window" in result.message, result.message


def test_check_bubble_masks():
    assert check_bubble_masks(lambda c, h, w, s: masks_from_centres(c, h, w, s)).passed
    assert check_bubble_masks(stub).status == "not implemented"

    def no_clip(c, h, w, s):
        i, j = torch.arange(h)[:, None], torch.arange(w)[None]
        d2 = (i - c[:, :, 0, None, None]) ** 2 + (j - c[:, :, 1, None, None]) ** 2
        return torch.exp(-d2 / (2 * s ** 2)).sum(1, keepdim=True)
    assert "clip the sum at 1" in check_bubble_masks(no_clip).message
    swapped = check_bubble_masks(lambda c, h, w, s: masks_from_centres(c.flip(-1), h, w, s))
    assert "rows and columns are swapped" in swapped.message, swapped.message


def test_check_diagnostic_image():
    assert check_diagnostic_image(lambda m, r: diagnostic_image(m, r)).passed
    assert check_diagnostic_image(stub).status == "not implemented"
    result = check_diagnostic_image(lambda m, r: (r.view(-1, 1, 1, 1) * m).sum(0) / r.sum())
    assert "subtract the plain average mask" in result.message
