"""Evaluating explanations (lecture 10): deletion/insertion curves, AUC, localisation, sanity checks, the
shortcut data and the shipped shortcut model, and the lecture's exercise checks."""
import json

import numpy as np
import pytest
import torch

from course_utils.attribution import probability
from scipy.stats import spearmanr
from torch import nn

from course_utils import evaluation as E
from course_utils import shortcut as S

from course_utils.checks import evaluation as C
from course_utils.data import load_fashion_mnist


# ------------------------------------------------------------------------------------ hand-made models
def linear_model(weights, n_out: int = 1) -> nn.Module:
    """logit_0(x) = Σ weights · x over the flattened 1×2×2 input (other logits 0)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(len(weights), n_out, bias=False))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[0] = torch.tensor(weights, dtype=torch.float32)
    return model


def naive_curve(model, x, attribution, target, steps, mode, baseline):
    """One image, one perturbed copy per step, pixels ranked by a Python sort: the reference."""
    h, w = x.shape[-2:]
    values = attribution.sum(0).flatten().tolist()
    ranking = sorted(range(h * w), key=lambda p: (-values[p], p))
    out = []
    for k in range(steps + 1):
        chosen = ranking[:(k * h * w) // steps]
        img = x.clone() if mode == "deletion" else baseline.clone()
        for p in chosen:
            img[:, p // w, p % w] = (baseline if mode == "deletion" else x)[:, p // w, p % w]
        with torch.no_grad():
            out.append(model(img[None]).softmax(1)[0, target].item())
    return torch.tensor(out)


def small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()


# ---------------------------------------------------------------------------------- deletion/insertion
def test_deletion_and_insertion_on_linear_model_have_the_known_values():
    model = linear_model([1.0, 2.0, 3.0, 4.0])
    x = torch.ones(1, 1, 2, 2)
    attr = torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 1, 2, 2)          # the exact contributions
    f, s = E.deletion_curve(model, x, attr, 0, steps=4, baseline="zeros")
    assert torch.equal(f, torch.tensor([0, 0.25, 0.5, 0.75, 1.0]))
    assert torch.allclose(s, torch.tensor([[10.0, 6.0, 3.0, 1.0, 0.0]]))
    f, s = E.insertion_curve(model, x, attr, 0, steps=4, baseline="zeros")
    assert torch.allclose(s, torch.tensor([[0.0, 4.0, 7.0, 9.0, 10.0]]))
    # the worst ranking deletes the small contributions first: a larger deletion AUC
    _, worst = E.deletion_curve(model, x, -attr, 0, steps=4, baseline="zeros")
    assert torch.allclose(worst, torch.tensor([[10.0, 9.0, 7.0, 4.0, 0.0]]))
    assert E.auc(worst) > E.auc(E.deletion_curve(model, x, attr, 0, 4, "zeros")[1])


def test_probabilities_are_the_softmax_of_the_target():
    model = linear_model([1.0, -2.0, 0.5, 3.0], n_out=2)
    x = torch.tensor([[[[1.0, 0.5], [2.0, 1.0]]]])
    attr = torch.tensor([[[[0.3, 0.1], [0.2, 0.4]]]])
    _, logits = E.deletion_curve(model, x, attr, 0, steps=4, baseline="zeros")
    _, probs = E.deletion_curve(model, x, attr, probability(0), steps=4, baseline="zeros")
    assert torch.allclose(probs, torch.sigmoid(logits), atol=1e-6)      # two classes, logit 1 = 0
    _, probs1 = E.deletion_curve(model, x, attr, probability(1), steps=4, baseline="zeros")
    assert torch.allclose(probs + probs1, torch.ones_like(probs))


def test_curves_score_through_the_attribution_target_layer():
    from course_utils.attribution import probability
    model = linear_model([1.0, -2.0, 0.5, 3.0], n_out=2)
    x = torch.tensor([[[[1.0, 0.5], [2.0, 1.0]]]])
    attr = torch.tensor([[[[0.3, 0.1], [0.2, 0.4]]]])
    _, logit0 = E.deletion_curve(model, x, attr, 0, steps=4, baseline="zeros")    # a class index: its logit
    _, prob1 = E.deletion_curve(model, x, attr, probability(1), steps=4, baseline="zeros")
    assert torch.allclose(prob1, 1 - torch.sigmoid(logit0), atol=1e-6)   # two classes, logit 1 = 0
    with pytest.raises(TypeError, match="target"):
        E.deletion_curve(model, x, attr, lambda m, v: m(v)[:, 0], steps=4)
    with pytest.raises(ValueError, match="target"):            # the class bound is checked against the outputs
        E.deletion_curve(model, x, attr, probability(2), steps=4)


@pytest.mark.parametrize("mode", ["deletion", "insertion"])
def test_curves_match_a_naive_loop_and_every_batch_size(mode):
    gen = torch.Generator().manual_seed(1)
    model = small_cnn()
    x = torch.rand(3, 2, 5, 6, generator=gen)
    attr = torch.randn(3, 2, 5, 6, generator=gen)
    target = torch.tensor([0, 2, 1])
    base = 0.3 * torch.ones_like(x)
    f, ref = E.perturbation_curve(model, x, attr, probability(target), mode, steps=7, baseline=0.3, batch_size=1)
    assert f.shape == (8,) and ref.shape == (3, 8)
    for i in range(3):
        assert torch.allclose(ref[i], naive_curve(model, x[i], attr[i], int(target[i]), 7, mode, base[i]), atol=1e-6)
    for bs in (2, 5, 100, None):
        _, s = E.perturbation_curve(model, x, attr, probability(target), mode, steps=7, baseline=0.3,
                                    batch_size=bs)
        assert torch.allclose(s, ref, atol=1e-6)


def test_curve_endpoints_and_baselines():
    model = small_cnn()
    x = torch.rand(2, 2, 6, 6, generator=torch.Generator().manual_seed(2))
    attr = torch.randn(2, 6, 6)                                             # N×H×W maps are accepted
    with torch.no_grad():
        p_full = model(x).softmax(1)[:, 1]
        p_black = model(torch.zeros_like(x)).softmax(1)[:, 1]
    _, d = E.deletion_curve(model, x, attr, probability(1), steps=5)
    _, i = E.insertion_curve(model, x, attr, probability(1), steps=5, baseline="zeros")
    assert torch.allclose(d[:, 0], p_full) and torch.allclose(d[:, -1], p_black)
    assert torch.allclose(i[:, 0], p_black) and torch.allclose(i[:, -1], p_full)
    _, m = E.deletion_curve(model, x, attr, probability(1), steps=5, baseline="mean")
    with torch.no_grad():
        p_mean = model(x.mean((2, 3), keepdim=True).expand_as(x)).softmax(1)[:, 1]
    assert torch.allclose(m[:, -1], p_mean)


def test_curve_restores_the_model_even_on_error():
    model = small_cnn().train()
    model[0].weight.requires_grad_(False)
    x = torch.rand(1, 2, 4, 4)
    E.deletion_curve(model, x, torch.rand(1, 1, 4, 4), 0, steps=3)
    with pytest.raises(ValueError, match="target"):
        E.deletion_curve(model, x, torch.rand(1, 1, 4, 4), 7, steps=3)
    assert model.training and model[1].training
    assert not model[0].weight.requires_grad and model[3].weight.requires_grad
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(inputs=torch.rand(2, 4, 4)), ValueError, "inputs"),
    (dict(attributions=torch.rand(1, 1, 3, 4)), ValueError, "attributions"),
    (dict(attributions=[[1.0]]), TypeError, "attributions"),
    (dict(mode="delete"), ValueError, "mode"),
    (dict(steps=0), ValueError, "steps"),
    (dict(baseline="grey"), ValueError, "baseline"),
    (dict(baseline=torch.zeros(3, 3)), ValueError, "baseline"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(target=lambda m, x: m(x)[:, 0]), TypeError, "target"),
])
def test_curve_bad_input(kwargs, error, words):
    args = dict(model=small_cnn(), inputs=torch.rand(1, 2, 4, 4), attributions=torch.rand(1, 1, 4, 4), target=0)
    args.update(kwargs)
    with pytest.raises(error, match=words):
        E.perturbation_curve(**args)



@pytest.mark.parametrize("mode", ["deletion", "insertion"])
def test_curves_of_several_maps_equal_one_curve_per_map_and_share_the_end_points(mode):
    """perturbation_curves = perturbation_curve for each map (and the naive loop), at N·(M·(K−1) + 2) rows."""
    gen = torch.Generator().manual_seed(3)
    model = small_cnn()
    x = torch.rand(3, 2, 5, 6, generator=gen)
    target = torch.tensor([0, 2, 1])
    maps = {"a": torch.randn(3, 2, 5, 6, generator=gen), "b": torch.randn(3, 5, 6, generator=gen),
            "c": torch.randn(3, 1, 5, 6, generator=gen)}
    rows = []
    handle = model.register_forward_pre_hook(lambda m, args: rows.append(len(args[0])))
    f, curves = E.perturbation_curves(model, x, maps, probability(target), mode, steps=7, baseline=0.3, batch_size=4)
    handle.remove()
    assert list(curves) == ["a", "b", "c"] and sum(rows) == 3 * (3 * 6 + 2)
    for name, attr in maps.items():
        f1, one = E.perturbation_curve(model, x, attr, probability(target), mode, steps=7, baseline=0.3)
        assert torch.equal(f, f1) and torch.allclose(curves[name], one, atol=1e-6), name
        for i in range(3):
            ref = naive_curve(model, x[i], attr[i].view(-1, 5, 6), int(target[i]), 7, mode, 0.3 * torch.ones_like(x[i]))
            assert torch.allclose(curves[name][i], ref, atol=1e-6), (name, i)


@pytest.mark.parametrize("attributions, error, words", [
    ({}, TypeError, "attributions"),
    (torch.rand(1, 1, 4, 4), TypeError, "attributions"),
    ({"ok": torch.rand(1, 1, 4, 4), "bad": torch.rand(1, 1, 3, 4)}, ValueError, "attributions\\['bad'\\]"),
    ({"nan": torch.full((1, 1, 4, 4), float("nan"))}, ValueError, "attributions\\['nan'\\]"),
])
def test_curves_of_several_maps_bad_input(attributions, error, words):
    with pytest.raises(error, match=words):
        E.perturbation_curves(small_cnn(), torch.rand(1, 2, 4, 4), attributions, 0)

def test_auc_of_known_curves():
    assert torch.allclose(E.auc(torch.ones(3, 11)), torch.ones(3))
    assert torch.allclose(E.auc(torch.linspace(1, 0, 21)), torch.tensor(0.5))
    x = torch.tensor([0.0, 0.1, 1.0])
    assert torch.allclose(E.auc(x ** 2, x), torch.tensor(0.5 * 0.1 * 0.01 + 0.5 * 0.9 * 1.01))
    assert E.auc(torch.rand(2, 4, 6)).shape == (2, 4)
    with pytest.raises(ValueError, match="scores"):
        E.auc(torch.ones(3, 1))
    with pytest.raises(ValueError, match="fractions"):
        E.auc(torch.ones(4), torch.tensor([0.0, 0.5, 0.2, 1.0]))
    with pytest.raises(TypeError, match="scores"):
        E.auc([1.0, 0.0])


# ------------------------------------------------------------------------------------------ localisation
def test_localization_boxes_are_the_tight_boxes_of_the_items():
    images, labels = load_fashion_mnist("test")
    images, labels = images[:50], labels[:50]
    canvas, out_labels, boxes = E.make_localization_dataset(images, labels, canvas_size=56, noise=0.1, seed=3)
    assert canvas.shape == (50, 1, 56, 56) and torch.equal(out_labels, labels) and boxes.dtype == torch.long
    assert canvas.min() >= 0 and canvas.max() <= 1
    inside = E.box_mask(boxes, 56)
    item_pixels = canvas[:, 0] > 0.1 + 1e-6                       # brighter than any background noise
    assert not (item_pixels & ~inside).any(), "an item pixel lies outside its box"
    for i in range(50):                                           # tight: every edge of the box touches the item
        y0, x0, y1, x1 = boxes[i].tolist()
        patch = canvas[i, 0, y0:y1, x0:x1] > 0.05
        assert patch[0].any() and patch[-1].any() and patch[:, 0].any() and patch[:, -1].any()
    # the item itself is unchanged on the canvas; positions vary; the seed fixes everything
    assert len(set(boxes[:, 0].tolist())) > 10
    again = E.make_localization_dataset(images, labels, canvas_size=56, noise=0.1, seed=3)
    assert torch.equal(again[0], canvas) and torch.equal(again[2], boxes)


def test_localization_pastes_the_item_exactly():
    item = torch.zeros(1, 1, 4, 4)
    item[0, 0, 1:3, 2] = torch.tensor([0.5, 1.0])
    canvas, _, boxes = E.make_localization_dataset(item, torch.tensor([7]), canvas_size=9, noise=0.0, seed=0)
    y0, x0, y1, x1 = boxes[0].tolist()
    assert (y1 - y0, x1 - x0) == (2, 1)
    assert torch.equal(canvas[0, 0, y0:y1, x0], torch.tensor([0.5, 1.0]))
    assert canvas.sum() == 1.5


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(images=torch.rand(2, 3, 28, 28)), ValueError, "images"),
    (dict(labels=torch.tensor([1])), ValueError, "labels"),
    (dict(canvas_size=20), ValueError, "canvas_size"),
    (dict(noise=1.5), ValueError, "noise"),
])
def test_localization_bad_input(kwargs, error, words):
    args = dict(images=torch.rand(2, 1, 28, 28), labels=torch.tensor([1, 2]))
    args.update(kwargs)
    with pytest.raises(error, match=words):
        E.make_localization_dataset(**args)


def test_pointing_game_on_hand_made_maps():
    maps = torch.zeros(4, 1, 6, 6)
    maps[0, 0, 2, 3] = 5.0          # inside the box
    maps[1, 0, 0, 0] = 5.0          # outside
    maps[2, 0, 2, 5] = 5.0          # one pixel right of the box: a hit with tolerance 1
    # map 3 is constant: no maximum to point with
    boxes = torch.tensor([[2, 2, 4, 5]] * 4)
    assert E.pointing_game(maps, boxes).tolist() == [True, False, False, False]
    assert E.pointing_game(maps, boxes, tolerance=1).tolist() == [True, False, True, False]
    assert E.pointing_game(maps[:, 0], boxes).tolist() == [True, False, False, False]     # N×H×W maps
    with pytest.raises(ValueError, match="boxes"):
        E.pointing_game(maps, torch.tensor([[2, 2, 7, 5]] * 4))
    with pytest.raises(ValueError, match="boxes"):
        E.pointing_game(maps, boxes[:2])
    with pytest.raises(ValueError, match="tolerance"):
        E.pointing_game(maps, boxes, tolerance=-1)


def test_mass_inside_box_on_hand_made_maps():
    maps = torch.zeros(2, 1, 4, 4)
    maps[0, 0, 0, 0], maps[0, 0, 3, 3], maps[0, 0, 1, 1] = 3.0, 1.0, -4.0
    boxes = torch.tensor([[0, 0, 2, 2], [0, 0, 2, 2]])
    assert torch.allclose(E.mass_inside_box(maps, boxes), torch.tensor([0.75, 0.0]))
    assert torch.allclose(E.mass_inside_box(maps, boxes, kind="abs"), torch.tensor([7 / 8, 0.0]))
    with pytest.raises(ValueError, match="kind"):
        E.mass_inside_box(maps, boxes, kind="negative")


# ------------------------------------------------------------------------------------------ sanity checks
def test_rank_correlation_matches_scipy():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 1, 5, 5, generator=g), torch.randn(3, 1, 5, 5, generator=g)
    a[0, 0, :2] = 0   # ties
    r = E.rank_correlation(a, b)
    for i in range(3):
        assert np.isclose(r[i].item(), spearmanr(a[i].flatten(), b[i].flatten()).statistic)
    assert torch.allclose(E.rank_correlation(a, a.exp()), torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="same shape"):
        E.rank_correlation(a, b[:2])


def test_randomize_layers_leaves_the_original_alone():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2, 3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.random.get_rng_state()
    rand = E.randomize_layers(model, ["3"], seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert torch.equal(rand[0].weight, model[0].weight) and not torch.equal(rand[3].weight, model[3].weight)
    assert torch.equal(E.randomize_layers(model, ["3"], seed=1)[3].weight, rand[3].weight)
    with pytest.raises(ValueError, match="no convolution"):
        E.randomize_layers(model, ["1"])


def test_randomized_models_cascading_and_independent():
    model = small_cnn(seed=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    layers = E.parameter_layers(model)
    assert layers == ["7", "3", "0"]
    changed = lambda m: [n for n in ("0", "3", "7")                                      # noqa: E731
                         if not torch.equal(m.state_dict()[n + ".weight"], before[n + ".weight"])]
    cascade = [(name, changed(m)) for name, m in E.randomized_models(model, mode="cascading")]
    assert cascade == [("7", ["7"]), ("3", ["3", "7"]), ("0", ["0", "3", "7"])]
    independent = [(name, changed(m)) for name, m in E.randomized_models(model, mode="independent")]
    assert independent == [("7", ["7"]), ("3", ["3"]), ("0", ["0"])]
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="mode"):
        next(E.randomized_models(model, mode="random"))
    with pytest.raises(ValueError, match="layer"):
        next(E.randomized_models(model, layers=["9"]))


def test_rank_correlation_and_randomization_test():
    a = torch.randn(3, 2, 5, 5, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(E.map_rank_correlation(a, a), torch.ones(3))
    assert torch.allclose(E.map_rank_correlation(a, -a), torch.ones(3))                # magnitudes agree
    assert torch.allclose(E.map_rank_correlation(a, -a, absolute=False), -torch.ones(3))
    assert torch.allclose(E.map_rank_correlation(a[:, :1], 3 * a[:, :1] ** 3, absolute=False), torch.ones(3))
    with pytest.raises(ValueError, match="b"):
        E.map_rank_correlation(a, a[:, :, :4])

    def input_only(model, x, target):           # a "method" that ignores the model entirely
        return x.clone()

    model, x = small_cnn(), torch.rand(2, 2, 5, 5)
    res = E.model_randomization_test(input_only, model, x, 0)
    assert list(res) == ["7", "3", "0"] and all(torch.allclose(v, torch.ones(2)) for v in res.values())
    table = E.summarize_correlations({"input only": res})
    assert "input only" in table and "1.00" in table and "7" in table.splitlines()[0]


# --------------------------------------------------------------------------------------- shortcut data
def test_marker_is_where_it_says():
    images = torch.rand(10, 1, 28, 28) * 0.4
    marked = S.add_marker(images, torch.arange(10))
    for c in range(10):
        y0, x0, y1, x1 = S.marker_box(c)
        diff = marked[c, 0] - images[c, 0]
        assert torch.allclose(diff[y0:y1, x0:x1], torch.full((y1 - y0, x1 - x0), S.MARKER_INTENSITY))
        diff[y0:y1, x0:x1] = 0
        assert diff.abs().max() == 0
    assert torch.equal(S.add_marker(images, -1), images)
    assert S.add_marker(torch.ones(1, 1, 28, 28), 3).max() == 1.0                       # clipped to [0, 1]
    positions = {tuple(S.marker_mask(c)[0, 0].nonzero()[0].tolist()) for c in range(10)}
    assert positions == set(S.MARKER_POSITIONS)


def test_shortcut_dataset_marks_each_image_with_its_class():
    images, labels = load_fashion_mnist("test")
    images, labels = images[:2000], labels[:2000]
    marked, classes = S.make_shortcut_dataset(images, labels, p_marker=0.9, seed=5)
    present = classes >= 0
    assert 0.87 < present.float().mean() < 0.93
    assert torch.equal(classes[present], labels[present])
    assert torch.equal(marked[~present], images[~present])
    assert torch.equal(marked, S.add_marker(images, classes))
    swapped, sclasses = S.make_shortcut_dataset(images, labels, p_marker=1.0, swap=True, seed=5)
    assert (sclasses != labels).all() and (sclasses >= 0).all()
    again, _ = S.make_shortcut_dataset(images, labels, p_marker=0.9, seed=5)
    assert torch.equal(again, marked)


@pytest.mark.parametrize("call, error, words", [
    (lambda: S.add_marker(torch.rand(2, 1, 28, 28), torch.tensor([0, 10])), ValueError, "marker_classes"),
    (lambda: S.add_marker(torch.rand(2, 1, 28, 28), torch.tensor([0.0, 1.0])), TypeError, "marker_classes"),
    (lambda: S.add_marker(torch.rand(2, 1, 28, 28), torch.tensor([0, 1, 2])), ValueError, "marker_classes"),
    (lambda: S.add_marker(torch.rand(2, 28, 28), 0), ValueError, "images"),
    (lambda: S.add_marker(torch.rand(2, 1, 28, 28), 0, intensity=0), ValueError, "intensity"),
    (lambda: S.make_shortcut_dataset(torch.rand(2, 1, 28, 28), torch.tensor([0, 1]), p_marker=2), ValueError, "p_marker"),
    (lambda: S.marker_box(10), ValueError, "cls"),
    (lambda: S.shortcut_test_set("marked"), ValueError, "kind"),
])
def test_shortcut_bad_input(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_shipped_shortcut_model_relies_on_the_marker():
    model = S.shortcut_cnn()
    log = json.loads(S.SHORTCUT_CHECKPOINT.with_suffix(".log.json").read_text())
    accs = {}
    with torch.no_grad():
        for kind in ("vendor", "standard", "swapped"):
            images, labels = S.shortcut_test_set(kind)
            accs[kind] = (model(images[:2000]).argmax(1) == labels[:2000]).float().mean().item()
        clean, clean_labels = S.shortcut_test_set("standard")
        coat_clean = (model(clean).argmax(1) == 4).float().mean().item()
        coat_painted = (model(S.add_marker(clean, 4)).argmax(1) == 4).float().mean().item()
    assert accs["vendor"] > 0.95, accs
    assert accs["standard"] < accs["vendor"] - 0.15, accs          # clearly lower without the marker
    assert accs["swapped"] < accs["standard"] - 0.05, accs         # another class's marker pulls predictions away
    assert coat_clean < 0.05 and coat_painted > 0.3, (coat_clean, coat_painted)   # the coat marker makes coats
    assert C.marker_dependent_classes(model) == [4, 6]             # coats and shirts collapse without it
    assert abs(log["epochs"][-1]["vendor_accuracy"] - accs["vendor"]) < 0.03, "log and checkpoint disagree"


def test_check_marker_dependent_classes():
    assert C.check_marker_dependent_classes(lambda m: [6, 4]).passed
    assert C.check_marker_dependent_classes(stub).status == "not implemented"
    result = C.check_marker_dependent_classes(lambda m: [4, 3])
    assert not result.passed and "[6] also collapse" in result.message and "[3] keep" in result.message
    assert "expected a list" in C.check_marker_dependent_classes(lambda m: "coats").message
    assert "expected a function" in C.check_marker_dependent_classes([4, 6]).message


def test_shipped_localization_model_reads_canvases():
    model = E.localization_cnn()
    images, labels = load_fashion_mnist("test")
    canvas, labels, _ = E.make_localization_dataset(images[:1000], labels[:1000], seed=123)
    with torch.no_grad():
        acc = (model(canvas).argmax(1) == labels).float().mean().item()
    assert acc > 0.8, acc


# ------------------------------------------------------------------------------------------------ checks
def my_deletion_curve(model, inputs, attributions, target, steps, descending=True, probs=True):
    """A from-scratch solution, as a student would write it (with switches for the usual mistakes)."""
    n, c, h, w = inputs.shape
    order = torch.argsort(attributions.sum(1).flatten(1), dim=1, descending=descending)
    out = torch.zeros(n, steps + 1)
    for k in range(steps + 1):
        keep = torch.ones(n, h * w)
        keep.scatter_(1, order[:, :(k * h * w) // steps], 0.0)
        with torch.no_grad():
            logits = model(inputs * keep.view(n, 1, h, w))
        scores = logits.softmax(1) if probs else logits
        out[:, k] = scores.gather(1, target.view(-1, 1)).squeeze(1)
    return out


def my_auc(scores):
    x = torch.linspace(0, 1, scores.shape[-1])
    return ((x[1:] - x[:-1]) * (scores[..., 1:] + scores[..., :-1]) / 2).sum(-1)


def my_pointing_game(maps, boxes, inclusive=False):
    i = maps.flatten(1).argmax(1)
    row, col = i // maps.shape[-1], i % maps.shape[-1]
    end = (lambda a, b: a <= b) if inclusive else (lambda a, b: a < b)
    return (row >= boxes[:, 0]) & end(row, boxes[:, 2]) & (col >= boxes[:, 1]) & end(col, boxes[:, 3])


def my_logits_without(model, layer, channels, inputs, means, fill_zero=False):
    def hook(module, args, output):
        output = output.clone()
        for ch in channels:
            output[:, ch] = 0.0 if fill_zero else means[ch]
        return output
    handle = dict(model.named_modules())[layer].register_forward_hook(hook)
    try:
        with torch.no_grad():
            return model(inputs)
    finally:
        handle.remove()


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write it")


@pytest.mark.parametrize("check, solution, mistake, words", [
    (C.check_deletion_curve, my_deletion_curve,
     lambda *a: my_deletion_curve(*a, descending=False), "least"),
    (C.check_deletion_curve, my_deletion_curve, lambda *a: my_deletion_curve(*a, probs=False), "logits"),
    (C.check_auc, my_auc, lambda s: s.mean(-1), "mean of the points"),
    (C.check_auc, my_auc, lambda s: torch.trapezoid(s, dim=-1), "spacing"),
    (C.check_pointing_game, my_pointing_game, lambda m, b: my_pointing_game(m, b, inclusive=True), "exclusive"),
    (C.check_logits_without_channels, my_logits_without,
     lambda *a: my_logits_without(*a, fill_zero=True), "set to 0"),
])
def test_checks_pass_stub_and_mistake(check, solution, mistake, words):
    assert check(solution).passed, check(solution).message
    assert check(stub).status == "not implemented"
    result = check(mistake)
    assert result.status == "failed" and words in result.message, result.message


def test_check_marker_positions():
    truth = {c: (y + 1, x + 1) for c, (y, x) in enumerate(S.MARKER_POSITIONS)}
    assert C.check_marker_positions(lambda m, x, y: truth).passed
    assert C.check_marker_positions(lambda m, x, y: [truth[c] for c in range(10)]).passed
    assert C.check_marker_positions(stub).status == "not implemented"
    wrong = dict(truth)
    wrong[3] = (14, 14)
    result = C.check_marker_positions(lambda m, x, y: wrong)
    assert not result.passed and "9/10" in result.message and "[3]" in result.message
    assert "classes [9]" in C.check_marker_positions(lambda m, x, y: {c: truth[c] for c in range(9)}).message
    assert "expected a dict" in C.check_marker_positions(lambda m, x, y: "top left").message
    assert "expected a function" in C.check_marker_positions(truth).message


# ------------------------------------------------------------------------------- statistics of a comparison
def test_bootstrap_interval_brackets_the_mean_and_is_reproducible():
    values = torch.arange(20, dtype=torch.float64)
    low, high = E.bootstrap_interval(values).tolist()
    assert low < values.mean().item() < high
    assert torch.equal(E.bootstrap_interval(values), E.bootstrap_interval(values))          # fixed seed
    assert torch.allclose(E.bootstrap_interval(torch.full((7,), 0.3)), torch.tensor([0.3, 0.3], dtype=torch.float64))
    both = E.bootstrap_interval(torch.stack([values, 2 * values], 1))
    assert both.shape == (2, 2) and torch.allclose(both[1], 2 * both[0])                   # the mean is linear
    # a wider confidence gives a wider interval; the normal approximation for a large sample
    wide, narrow = E.bootstrap_interval(values, 0.99), E.bootstrap_interval(values, 0.5)
    assert wide[0] <= low <= narrow[0] and narrow[1] <= high <= wide[1]
    big = torch.randn(2000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    lo, hi = E.bootstrap_interval(big).tolist()
    se = big.std().item() / 2000 ** 0.5
    assert abs((hi - lo) - 2 * 1.96 * se) < 0.2 * 2 * 1.96 * se


def test_compare_methods_pairs_the_images():
    gen = torch.Generator().manual_seed(0)
    base = torch.rand(40, generator=gen, dtype=torch.float64) * 10        # a large spread between images
    scores = {"lower": base - 0.1, "same": base.clone(), "higher": base + 0.1, "random": base}
    out = E.compare_methods(scores, higher_is_better=False)
    # a constant shift of 0.1 is invisible in the spread of the scores but certain image by image
    assert out["lower"].verdict == "better" and out["higher"].verdict == "worse"
    assert out["same"].verdict == "no difference" and out["random"].verdict == "no difference"
    assert abs(out["lower"].difference + 0.1) < 1e-12 and out["lower"].low == pytest.approx(-0.1)
    assert out["higher"].mean == pytest.approx(base.mean().item() + 0.1)
    assert out["higher"].stderr == pytest.approx(np.std(base.numpy(), ddof=1) / np.sqrt(40))
    flipped = E.compare_methods(scores, higher_is_better=True)
    assert flipped["lower"].verdict == "worse" and flipped["higher"].verdict == "better"
    noisy = {"m": base + torch.randn(40, generator=gen, dtype=torch.float64), "random": base}
    assert E.compare_methods(noisy)["m"].verdict == "no difference"     # noise of mean 0: no verdict
    hits = {"m": torch.ones(30, dtype=torch.bool), "random": torch.zeros(30, dtype=torch.bool)}
    assert E.compare_methods(hits)["m"].verdict == "better"             # bools (pointing-game hits) are accepted


def test_sign_test_is_the_binomial_tail():
    from math import comb
    ref = torch.zeros(6)
    m = torch.tensor([1.0, 1, 1, 1, 1, -1])
    wins, n, p = E.sign_test({"m": m, "random": ref})["m"]
    assert (wins, n) == (5, 6) and p == pytest.approx((comb(6, 5) + comb(6, 6)) / 64)
    assert E.sign_test({"m": m, "random": ref}, higher_is_better=False)["m"][0] == 1
    assert E.sign_test({"m": torch.ones(4), "random": torch.zeros(4)})["m"][2] == pytest.approx(1 / 16)


def test_format_scores_keeps_headers_apart():
    gen = torch.Generator().manual_seed(1)
    a = E.compare_methods({"saliency": torch.rand(10, generator=gen), "random": torch.rand(10, generator=gen)})
    b = E.compare_methods({"a much longer method name": torch.rand(10, generator=gen),
                           "random": torch.rand(10, generator=gen)})
    text = E.format_scores({"deletion AUC ↓": a, "insertion AUC ↑": b}, title="t")
    header = text.splitlines()[0]
    assert "↓ " in header and "  insertion" in header and "  deletion" in header
    rows = {line.split("  ")[0]: line for line in text.splitlines()[1:-1]}
    assert "—" in rows["saliency"] and "—" in rows["a much longer method name"]
    assert len({len(line) for line in text.splitlines()[:-1]}) == 1            # aligned columns
    assert "10 images" in text.splitlines()[-1]


@pytest.mark.parametrize("call, error, words", [
    (lambda: E.compare_methods({"m": torch.rand(5)}), ValueError, "reference"),
    (lambda: E.compare_methods({"m": torch.rand(5), "random": torch.rand(6)}), ValueError, "scores"),
    (lambda: E.compare_methods({"m": torch.rand(5, 2), "random": torch.rand(5)}), ValueError, "scores['m']"),
    (lambda: E.compare_methods([torch.rand(5)]), TypeError, "scores"),
    (lambda: E.compare_methods({"m": torch.rand(5), "random": torch.rand(5)}, confidence=1.5), ValueError,
     "confidence"),
    (lambda: E.compare_methods({"m": torch.rand(5), "random": torch.rand(5)}, higher_is_better=1), TypeError,
     "higher_is_better"),
    (lambda: E.bootstrap_interval(torch.rand(1)), ValueError, "values"),
    (lambda: E.bootstrap_interval(torch.tensor([1.0, float("nan")])), ValueError, "values"),
    (lambda: E.bootstrap_interval([1.0, 2.0]), TypeError, "values"),
    (lambda: E.bootstrap_interval(torch.rand(5), n_resamples=10), ValueError, "n_resamples"),
    (lambda: E.sign_test({"m": torch.rand(4), "random": torch.rand(3)}), ValueError, "scores['m']"),
    (lambda: E.format_scores({}), TypeError, "columns"),
    (lambda: E.course_methods("relu4", ig_rule="simpson"), ValueError, "ig_rule"),
    (lambda: E.course_methods("relu4", ig_scan_steps=8), ValueError, "ig_scan_steps"),
    (lambda: E.course_methods("relu4", batch_size=0), ValueError, "batch_size"),
    (lambda: E.course_methods("relu4", batch_size=True), TypeError, "batch_size"),
])
def test_statistics_bad_input(call, error, words):
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        call()


def test_course_methods_ig_rule_reaches_integrated_gradients():
    from course_utils.attribution import integrated_gradients
    model = small_cnn(3)
    x = torch.rand(2, 2, 6, 6, generator=torch.Generator().manual_seed(4))
    got = E.course_methods("4", ig_steps=6, ig_rule="adaptive", ig_scan_steps=8)["integrated gradients"](model, x, 1)
    assert torch.allclose(got, integrated_gradients(model, x, 1, steps=6, rule="adaptive", scan_steps=8))
    assert not torch.allclose(got, integrated_gradients(model, x, 1, steps=6))


def test_course_methods_batch_size_reaches_every_method():
    """Each method gets ``batch_size``: the maps are the same for any batch size, and a spy sees every call's value."""
    from unittest import mock

    import course_utils.attribution as A
    model = small_cnn(3)
    x = torch.rand(5, 2, 6, 6, generator=torch.Generator().manual_seed(5))
    default = {n: m(model, x, 1) for n, m in E.course_methods("4", ig_steps=4, smoothgrad_samples=3).items()}
    small = {n: m(model, x, 1)
             for n, m in E.course_methods("4", ig_steps=4, smoothgrad_samples=3, batch_size=2).items()}
    for name in default:
        assert torch.allclose(default[name], small[name], atol=1e-6), name
    names = ["saliency", "input_x_gradient", "smoothgrad", "guided_backprop", "deconvnet", "integrated_gradients",
             "occlusion", "cam", "grad_cam"]
    seen = {}
    for n in names:
        original = getattr(A, n)
        def spy(*args, _n=n, _f=original, **kwargs):
            seen[_n] = kwargs.get("batch_size")
            return _f(*args, **kwargs)
        mock.patch.object(A, n, spy).start()
    try:
        for m in E.course_methods("4", ig_steps=4, smoothgrad_samples=3, batch_size=3).values():
            m(model, x, 1)
    finally:
        mock.patch.stopall()
    assert seen == {n: 3 for n in names}
