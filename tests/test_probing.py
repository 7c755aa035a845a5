"""course_utils.probing (lectures 01–02) and its exercise checks: exact values on hand-weighted models,
naive-loop references, batch-size invariance, bad input, model restoration."""
from collections import OrderedDict

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from course_utils.checks import probing as checks
from course_utils.hooks import receptive_field_step
from course_utils.models import efficientnet_lite0, fashion_cnn
from course_utils.probing import (StreamingTopK, accuracy, argmax_locations, class_extremes, class_templates,
                                  confused_pairs, confusion_matrix, crop_patch, gradient_support,
                                  layer_receptive_field, normalize_filters, photo_crops, pool_spatial,
                                  receptive_field_box, receptive_field_patches, show_examples,
                                  show_feature_maps, show_filters, show_patch_grid, top_k_examples,
                                  train_linear_classifier)

matplotlib.use("Agg")


def n_hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def plus_minus_model():
    """conv 1×1 with weights +1 / −1 (channel 0 = x, channel 1 = −x), then ReLU, then a dense head."""
    conv = nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).view(2, 1, 1, 1))
    head = nn.Linear(2 * 4 * 4, 3)
    return nn.Sequential(OrderedDict([("conv", conv), ("relu", nn.ReLU()), ("flat", nn.Flatten()),
                                      ("head", head)]))


# ------------------------------------------------------------------------------------------ top-K
def test_pool_spatial_exact_and_errors():
    acts = torch.arange(2 * 2 * 2 * 3, dtype=torch.float).view(2, 2, 2, 3)
    assert torch.equal(pool_spatial(acts, "max"), torch.tensor([[5.0, 11.0], [17.0, 23.0]]))
    assert torch.equal(pool_spatial(acts, "mean"), torch.tensor([[2.5, 8.5], [14.5, 20.5]]))
    assert torch.equal(pool_spatial(torch.ones(3, 4), "max"), torch.ones(3, 4))   # dense: as is
    with pytest.raises(ValueError, match="reduce"):
        pool_spatial(acts, "sum")
    with pytest.raises(ValueError, match="acts"):
        pool_spatial(torch.ones(2, 3, 4), "max")
    assert argmax_locations(acts).tolist() == [[[1, 2], [1, 2]], [[1, 2], [1, 2]]]


@pytest.mark.parametrize("largest", [True, False])
def test_streaming_top_k_matches_topk_for_every_cut(largest):
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(23, 4, generator=g)
    ref = scores.t().topk(5, dim=1, largest=largest)
    for cut in [1, 2, 5, 23]:
        s = StreamingTopK(5, largest=largest)
        for start in range(0, 23, cut):
            s.update(scores[start:start + cut], extra=scores[start:start + cut, :, None] * 10)
        assert torch.equal(s.values, ref.values) and torch.equal(s.indices, ref.indices)
        assert torch.equal(s.extra[..., 0], ref.values * 10)


def test_streaming_top_k_ties_go_to_the_earlier_item():
    scores = torch.tensor([[0.0], [1.0], [0.0], [1.0], [0.0], [0.0]])
    for cut in [1, 2, 4, 6]:
        top, bottom = StreamingTopK(3, True), StreamingTopK(3, False)
        for start in range(0, 6, cut):
            top.update(scores[start:start + cut])
            bottom.update(scores[start:start + cut])
        assert top.indices.tolist() == [[1, 3, 0]] and bottom.indices.tolist() == [[0, 2, 4]]


def test_top_k_examples_exact_on_hand_weighted_model():
    model = plus_minus_model()
    g = torch.Generator().manual_seed(1)
    images = torch.randn(11, 1, 4, 4, generator=g)
    peak = images.flatten(1).amax(1)          # channel 0 after ReLU = relu(x): global max = max pixel (> 0)
    trough = (-images).flatten(1).amax(1)     # channel 1 = relu(−x)
    res = top_k_examples(model, "relu", images, k=3, batch_size=4, keep_scores=True, progress=False)
    assert res.shape == (2, 4, 4) and res.n_images == 11
    assert torch.equal(res.top.indices[0], peak.topk(3).indices)
    assert torch.equal(res.top.indices[1], trough.topk(3).indices)
    assert torch.allclose(res.bottom.values[0], peak.clamp(min=0).topk(3, largest=False).values)
    best = res.top.indices[0, 0]
    flat = images[best, 0].flatten().argmax()
    assert res.top.locations[0, 0].tolist() == [int(flat // 4), int(flat % 4)]
    assert torch.allclose(res.scores, torch.stack([peak, trough], 1).clamp(min=0))
    mean = top_k_examples(model, "relu", images, k=2, reduce="mean", progress=False)
    assert torch.allclose(mean.top.values[0], images.relu().mean(dim=(1, 2, 3)).topk(2).values)


def test_top_k_examples_identical_for_every_batch_size_and_dense_layers():
    model = fashion_cnn(pretrained=False)
    images = torch.rand(37, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    runs = [top_k_examples(model, ["relu2", "fc"], images, k=4, batch_size=b, progress=False) for b in (1, 8, 37)]
    for r in runs[1:]:
        for name in ["relu2", "fc"]:
            for which in ["top", "bottom"]:
                a, b = getattr(runs[0][name], which), getattr(r[name], which)
                assert torch.equal(a.indices, b.indices) and torch.allclose(a.values, b.values, atol=1e-5)
    assert runs[0]["fc"].top.locations is None and runs[0]["fc"].shape == (10,)
    assert runs[0]["relu2"].top.locations.shape == (64, 4, 2)
    # naive reference for the dense head: the logits of all images, then topk
    with torch.no_grad():
        logits = model(images)
    assert torch.equal(runs[0]["fc"].top.indices, logits.t().topk(4, dim=1).indices)


def test_top_k_stops_after_the_deepest_requested_layer_and_restores_the_model():
    model = fashion_cnn(pretrained=False).train()
    model.conv2.weight.requires_grad_(False)
    calls = []
    handle = model.conv3.register_forward_hook(lambda m, i, o: calls.append(1))
    top_k_examples(model, ["relu1", "conv2"], torch.rand(6, 1, 28, 28), k=2, batch_size=3, progress=False)
    handle.remove()
    assert calls == [] and n_hooks(model) == 0
    assert model.training and model.bn1.training
    assert not model.conv2.weight.requires_grad and model.conv1.weight.requires_grad
    with pytest.raises(ValueError, match="images"):      # 3 channels into a 1-channel conv: named up front
        top_k_examples(model, "relu1", torch.rand(4, 3, 28, 28), k=2, progress=False)
    with pytest.raises(ValueError, match="NaN"):         # a model that produces NaN: fails after its forward
        nan_model = fashion_cnn(pretrained=False).train()
        with torch.no_grad():
            nan_model.conv2.weight[0, 0, 0, 0] = float("nan")
        top_k_examples(nan_model, "relu2", torch.rand(4, 1, 28, 28), k=2, progress=False)
    assert n_hooks(nan_model) == 0 and nan_model.training
    assert n_hooks(model) == 0 and model.training and model.conv1.weight.requires_grad


def test_top_k_records_the_layer_before_an_in_place_relu():
    # the torchvision pattern bn → ReLU(inplace=True): probing "bn" must see bn's signed outputs, not relu(bn)
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict([("conv", nn.Conv2d(1, 3, 3, padding=1)), ("bn", nn.BatchNorm2d(3)),
                                       ("relu", nn.ReLU(inplace=True)), ("gap", nn.AdaptiveAvgPool2d(1)),
                                       ("flat", nn.Flatten()), ("fc", nn.Linear(3, 2))])).eval()
    images = torch.randn(7, 1, 6, 6, generator=torch.Generator().manual_seed(6))
    res = top_k_examples(model, ["bn", model.relu], images, k=7, reduce="mean", keep_scores=True, progress=False)
    with torch.no_grad():
        bn = model.bn(model.conv(images))
    assert torch.allclose(res["bn"].scores, bn.mean((2, 3)), atol=1e-6) and (res["bn"].scores < 0).any()
    assert torch.allclose(res["relu"].scores, bn.relu().mean((2, 3)), atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(layers="conv9"), "no submodule"),
    (dict(layers=[]), "at least one"),
    (dict(k=11), "at most the number of images"),
    (dict(k=0), "k: expected an int ≥ 1"),
    (dict(reduce="median"), "reduce"),
    (dict(batch_size=0), "batch_size"),
    (dict(images=torch.rand(1, 4, 4)), "4-d"),
    (dict(images=torch.ones(2, 1, 4, 4, dtype=torch.long)), "float tensor"),
])
def test_top_k_examples_bad_input(kwargs, match):
    args = dict(model=plus_minus_model(), layers="relu", images=torch.rand(10, 1, 4, 4), k=2, progress=False)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        top_k_examples(**args)


# --------------------------------------------------------------------------------- receptive fields
def test_layer_receptive_field_follows_the_last_conv():
    model = fashion_cnn(pretrained=False)
    rf = {n: layer_receptive_field(model, n, (1, 28, 28)) for n in ["conv1", "relu1", "pool1", "relu2", "relu4"]}
    assert (rf["relu1"].size, rf["relu1"].jump, rf["relu1"].kind) == (5, 1, "ReLU")
    assert (rf["pool1"].size, rf["pool1"].jump, rf["pool1"].start) == (6, 2, 0.5)
    assert (rf["relu2"].size, rf["relu4"].size, rf["relu4"].jump, rf["relu4"].out_size) == (10, 28, 4, 7)
    with pytest.raises(ValueError, match="spatial"):
        layer_receptive_field(model, "gap", (1, 28, 28))
    with pytest.raises(ValueError, match="no spatial output"):
        layer_receptive_field(model, "fc", (1, 28, 28))
    with pytest.raises(ValueError, match="no submodule"):
        layer_receptive_field(model, "relu9", (1, 28, 28))


def test_receptive_field_box_by_hand():
    model = fashion_cnn(pretrained=False)
    pool1 = layer_receptive_field(model, "pool1", (1, 28, 28))
    assert receptive_field_box(pool1, 0, 0) == (-2, -2, 6)       # pool unit 0 covers conv1 rows 0, 1
    assert receptive_field_box(pool1, 3, 5) == (4, 8, 6)
    with pytest.raises(ValueError, match="row"):
        receptive_field_box(pool1, 14, 0)


@pytest.mark.parametrize("layer, row, col", [("relu2", 7, 6), ("relu2", 0, 13), ("relu3", 3, 3), ("relu3", 6, 0)])
def test_receptive_field_box_matches_gradient_support(layer, row, col):
    model = fashion_cnn(pretrained=False)
    rf = layer_receptive_field(model, layer, (1, 28, 28))
    top, left, size = receptive_field_box(rf, row, col)
    inputs = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    expected = (max(top, 0), min(top + size - 1, 27), max(left, 0), min(left + size - 1, 27))
    assert gradient_support(model, layer, inputs, row, col) == expected
    assert n_hooks(model) == 0 and all(p.requires_grad for p in model.parameters())


def test_lite0_block_receptive_field_matches_gradient_support():
    model = efficientnet_lite0(pretrained=False)
    rf = layer_receptive_field(model, "_blocks.3", (3, 64, 64))
    assert (rf.size, rf.jump) == (35, 8)
    top, left, size = receptive_field_box(rf, 4, 4)
    inputs = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    assert gradient_support(model, "_blocks.3", inputs, 4, 4) == (top, top + size - 1, left, left + size - 1)


def test_crop_patch_exact_at_borders():
    image = torch.arange(1, 17, dtype=torch.float).view(1, 4, 4)
    assert torch.equal(crop_patch(image, 1, 1, 2), torch.tensor([[[6.0, 7.0], [10.0, 11.0]]]))
    out = crop_patch(image, -1, -2, 3, fill=-1.0)
    assert torch.equal(out, torch.tensor([[[-1.0, -1, -1], [-1, -1, 1], [-1, -1, 5]]]))
    out = crop_patch(image, 3, 2, 3, fill=0.0)
    assert torch.equal(out, torch.tensor([[[15.0, 16, 0], [0, 0, 0], [0, 0, 0]]]))
    assert torch.equal(crop_patch(image, -2, -2, 8)[:, 2:6, 2:6], image)       # larger than the image
    assert torch.equal(crop_patch(image, 9, 9, 2, fill=3.0), torch.full((1, 2, 2), 3.0))
    with pytest.raises(ValueError, match="image"):
        crop_patch(image[0], 0, 0, 2)
    with pytest.raises(ValueError, match="size"):
        crop_patch(image, 0, 0, 0)


def test_receptive_field_patches_equal_crops():
    model = fashion_cnn(pretrained=False)
    rf = layer_receptive_field(model, "relu2", (1, 28, 28))
    images = torch.rand(3, 1, 28, 28)
    patches = receptive_field_patches(images, rf, [0, 5, 13], [13, 5, 0])
    assert patches.shape == (3, 1, 10, 10)
    for i, (r, c) in enumerate([(0, 13), (5, 5), (13, 0)]):
        top, left, size = receptive_field_box(rf, r, c)
        assert torch.equal(patches[i], crop_patch(images[i], top, left, size))
    with pytest.raises(ValueError, match="rows, cols"):
        receptive_field_patches(images, rf, [0], [0])


# ----------------------------------------------------------------------------- weights and filters
def test_normalize_filters_modes_exact():
    w = torch.tensor([[[[-1.0, 1.0]]], [[[0.0, 4.0]]], [[[2.0, 2.0]]]])      # 3×1×1×2, the last constant
    assert torch.equal(normalize_filters(w, "each"), torch.tensor([[[[0.0, 1.0]]], [[[0.0, 1.0]]], [[[0.0, 0.0]]]]))
    assert torch.allclose(normalize_filters(w, "all"), (w + 1) / 5)
    assert torch.equal(normalize_filters(w, "symmetric"),
                       torch.tensor([[[[0.0, 1.0]]], [[[0.5, 1.0]]], [[[1.0, 1.0]]]]))
    assert torch.allclose(normalize_filters(w, "symmetric_all"), 0.5 + w / 8)
    assert torch.equal(normalize_filters(torch.zeros(2, 1, 3, 3), "symmetric"), torch.full((2, 1, 3, 3), 0.5))
    with pytest.raises(ValueError, match="mode"):
        normalize_filters(w, "per-pixel")
    with pytest.raises(ValueError, match="weights"):
        normalize_filters(w[0], "each")


def test_linear_classifier_templates_separate_two_blobs():
    g = torch.Generator().manual_seed(5)
    labels = torch.arange(200) % 2
    images = torch.rand(200, 1, 4, 4, generator=g) * 0.2
    images[labels == 0, :, :2] += 0.8        # class 0 bright at the top, class 1 at the bottom
    images[labels == 1, :, 2:] += 0.8
    model = train_linear_classifier(images, labels, epochs=20, batch_size=50, lr=0.05)
    assert accuracy(model, images, labels) == 1.0 and not model.training
    templates = class_templates(model, (4, 4))
    assert templates.shape == (2, 4, 4) and torch.equal(templates.flatten(1), model.fc.weight)
    assert templates[0, :2].mean() > templates[0, 2:].mean() and templates[1, 2:].mean() > templates[1, :2].mean()
    again = train_linear_classifier(images, labels, epochs=20, batch_size=50, lr=0.05)
    assert torch.equal(again.fc.weight, model.fc.weight)          # seeded: reproducible
    with pytest.raises(ValueError, match="labels"):
        train_linear_classifier(images, labels[:10])
    with pytest.raises(ValueError, match="shape"):
        class_templates(model, (5, 5))


# ---------------------------------------------------------------------------------- classifier head
def test_confusion_matrix_pairs_and_extremes():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    preds = torch.tensor([0, 1, 1, 1, 2, 0, 2, 1, 0])
    cm = confusion_matrix(preds, labels, 3)
    assert cm.tolist() == [[1, 2, 0], [0, 1, 1], [2, 1, 1]]
    assert confused_pairs(cm, 3) == [(0, 1, 2), (2, 0, 2), (1, 2, 1)]
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    best, worst = class_extremes(probs, torch.tensor([0, 1, 0, 0, 1]), 0, k=2)
    assert best.tolist() == [0, 2] and worst.tolist() == [3, 2]
    with pytest.raises(ValueError, match="k"):
        class_extremes(probs, torch.tensor([0, 1, 0, 0, 1]), 1, k=3)
    with pytest.raises(ValueError, match="labels"):
        confusion_matrix(preds, labels + 1, 3)


def test_photo_crops_shapes_and_seed():
    model = fashion_cnn(pretrained=False)
    x, names = photo_crops(model, ["cat", "coffee"], crops_per_image=2, seed=1)
    assert x.shape == (6, 1, 28, 28) and names[:3] == ["cat", "cat crop 1", "cat crop 2 (flip)"]
    assert torch.equal(x, photo_crops(model, ["cat", "coffee"], crops_per_image=2, seed=1)[0])


def test_figures_are_returned_and_titled():
    model = plus_minus_model()
    images = torch.rand(6, 1, 4, 4)
    res = top_k_examples(model, "relu", images, k=3, progress=False)
    rf = layer_receptive_field(model, "relu", (1, 4, 4))
    figs = [show_filters(torch.randn(6, 3, 3, 3), "each", title="t"), show_filters(torch.randn(4, 1, 3, 3), "symmetric"),
            show_feature_maps(torch.randn(1, 5, 4, 4), title="maps"),
            show_examples(res, images, 1, rf, which="bottom"), show_patch_grid(res, images, rf, [0, 1], k=2)]
    assert all(isinstance(f, plt.Figure) for f in figs)
    assert "relu channel 1: bottom-3 of 6" in figs[3]._suptitle.get_text()
    with pytest.raises(ValueError, match="channel"):
        show_examples(res, images, 2)
    plt.close("all")


def _panels(fig):
    """What show_examples drew, per axes: image arrays and extents, outlines, titles, label; and the suptitle."""
    return [([(im.get_array().tolist(), im.get_extent()) for im in ax.images],
             [p.get_bbox().bounds for p in ax.patches], ax.get_title(), ax.get_ylabel(), ax.get_xlim(), ax.get_ylim())
            for ax in fig.axes], fig._suptitle.get_text()


def test_show_examples_into_an_earlier_figure_draws_what_a_new_one_draws():
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict([("conv1", nn.Conv2d(1, 3, 3, padding=1)), ("relu1", nn.ReLU()),
                                       ("conv2", nn.Conv2d(3, 3, 3, padding=1)), ("relu2", nn.ReLU())]))
    images = torch.rand(7, 1, 8, 8)
    res = top_k_examples(model, ["relu1", "relu2"], images, k=4, progress=False)
    rfs = {n: layer_receptive_field(model, n, (1, 8, 8)) for n in ("relu1", "relu2")}
    assert rfs["relu1"].size != rfs["relu2"].size                  # the patches change size between layers
    titles = [f"image {i}" for i in range(7)]
    kept = show_examples(res["relu1"], images, 0, rfs["relu1"], titles=titles)
    n_axes = len(kept.axes)
    for layer, channel, which in [("relu2", 2, "bottom"), ("relu1", 1, "top"), ("relu2", 0, "top")]:
        again = show_examples(res[layer], images, channel, rfs[layer], which=which, titles=titles, fig=kept)
        fresh = show_examples(res[layer], images, channel, rfs[layer], which=which, titles=titles)
        assert again is kept and len(kept.axes) == n_axes                # no new axes
        assert _panels(kept) == _panels(fresh)
        plt.close(fresh)
    with pytest.raises(ValueError, match="fig"):
        show_examples(res["relu1"], images, 0, rfs["relu1"], k=3, fig=kept)       # 2×3 panels asked, 2×4 given
    with pytest.raises(TypeError, match="fig"):
        show_examples(res["relu1"], images, 0, rfs["relu1"], fig=kept.axes[0])
    plt.close("all")


# --------------------------------------------------------------------------------------------- checks
def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write it")


def ref_record(model, layer_names, x):
    modules, store, handles = dict(model.named_modules()), {}, []
    for name in layer_names:
        handles.append(modules[name].register_forward_hook(
            lambda m, i, o, name=name: store.__setitem__(name, o.detach())))
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    return store


def leaky_record(model, layer_names, x):          # forgets to remove its hooks
    modules, store = dict(model.named_modules()), {}
    for name in layer_names:
        modules[name].register_forward_hook(lambda m, i, o, name=name: store.__setitem__(name, o.detach()))
    model(x)
    return store


def ref_stack(layers):
    out, r, j, s = [], 1, 1, 0.0
    for k, st, p in layers:
        r, j, s = receptive_field_step(r, j, s, k, st, p)
        out.append((r, j, s))
    return out


def no_jump_stack(layers):
    out, r, j, s = [], 1, 1, 0.0
    for k, st, p in layers:
        r, s, j = r + k - 1, s + ((k - 1) / 2 - p) * j, j * st
        out.append((r, j, s))
    return out


def ref_streaming(batches, k):
    top = StreamingTopK(k)
    for b in batches:
        top.update(b)
    return top.values, top.indices


def relative_streaming(batches, k):
    best_v = best_i = None
    for b in batches:
        v, i = b.t(), torch.arange(len(b)).expand(b.shape[1], -1)     # positions within the batch only
        if best_v is not None:
            v, i = torch.cat([best_v, v], 1), torch.cat([best_i, i], 1)
        top = v.topk(k, dim=1)
        best_v, best_i = top.values, i.gather(1, top.indices)
    return best_v, best_i


def clamped_crop(image, top, left, size, fill):
    h, w = image.shape[1:]
    return crop_patch(image, min(max(top, 0), max(h - size, 0)), min(max(left, 0), max(w - size, 0)), size, fill)


def diagonal_pairs(predictions, labels, n_classes, n):
    cm = confusion_matrix(predictions, labels, n_classes)
    pairs = sorted(((int(cm[t, p]), t, p) for t in range(n_classes) for p in range(n_classes)), reverse=True)
    return [(t, p, c) for c, t, p in pairs[:n]]


def exclusive_support(model, layer, inputs, row, col):
    t, b, l, r = gradient_support(model, layer, inputs, row, col)
    return t, b + 1, l, r + 1


CHECKS = [
    (checks.check_normalize_filters, lambda w: normalize_filters(w, "each"), lambda w: normalize_filters(w, "all"),
     "own min and max"),
    (checks.check_record_activations, ref_record, leaky_record, "still registered"),
    (checks.check_stack_receptive_field, ref_stack, no_jump_stack, "(kernel − 1) · jump"),
    (checks.check_gradient_support, gradient_support, exclusive_support, "inclusive"),
    (checks.check_channel_scores, pool_spatial, lambda a, r: pool_spatial(a, "mean" if r == "max" else "max"),
     "you computed the global mean"),
    (checks.check_streaming_top_k, ref_streaming, relative_streaming, "restart at 0"),
    (checks.check_crop_patch, crop_patch, clamped_crop, "moved back inside"),
    (checks.check_confused_pairs, lambda p, l, c, n: confused_pairs(confusion_matrix(p, l, c), n), diagonal_pairs,
     "correct predictions"),
]


@pytest.mark.parametrize("check, reference, mistake, words", CHECKS, ids=[c[0].__name__ for c in CHECKS])
def test_check_passes_reference_stub_and_mistake(check, reference, mistake, words):
    passed = check(reference)
    assert passed.passed, passed.message
    assert check(stub).status == "not implemented"
    wrong = check(mistake)
    assert wrong.status == "failed" and words in wrong.message, wrong.message


def test_check_normalize_filters_catches_in_place_and_nan():
    def in_place(w):
        lo, hi = w.amin(dim=(1, 2, 3), keepdim=True), w.amax(dim=(1, 2, 3), keepdim=True)
        w -= lo
        return w / torch.where(hi > lo, hi - lo, torch.ones_like(hi))

    def divides_by_zero(w):
        lo, hi = w.amin(dim=(1, 2, 3), keepdim=True), w.amax(dim=(1, 2, 3), keepdim=True)
        return (w - lo) / (hi - lo)
    assert "in place" in checks.check_normalize_filters(in_place).message
    assert "NaN" in checks.check_normalize_filters(divides_by_zero).message
