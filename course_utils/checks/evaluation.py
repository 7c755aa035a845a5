"""Checks for lecture 10 (evaluating explanations, and the shortcut capstone).

* ``check_deletion_curve(fn)`` – ``fn(model, inputs, attributions, target, steps)`` → N×(steps+1) probabilities.
* ``check_auc(fn)`` – ``fn(scores)`` → N areas under curves sampled evenly on [0, 1] (trapezoidal rule).
* ``check_pointing_game(fn)`` – ``fn(maps, boxes)`` → N bools.
* ``check_logits_without_channels(fn)`` – ``fn(model, layer, channels, inputs, means)`` → N×K logits with
  the listed channels of ``layer`` replaced by their means.
* ``check_marker_positions(fn)`` – the capstone: ``fn(model, images, labels)`` → where each class's hidden evidence is.
* ``check_marker_dependent_classes(fn)`` – the capstone: ``fn(model)`` → which classes the shortcut model can
  hardly recognise without its hidden evidence.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from . import Case, CheckResult, compare, recording, run_check


def _cnn(seed: int, in_channels: int = 1, classes: int = 4) -> nn.Sequential:
    """A small random CNN with named layers, different for every seed (never shown in the notebook)."""
    torch.manual_seed(seed)
    model = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(in_channels, 6, 3, padding=1)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(6, 5, 3, padding=1)), ("relu2", nn.ReLU()),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(5, classes))]))
    with torch.no_grad():
        model.fc.weight.mul_(4)       # confident enough that probabilities and logits differ visibly
    return model.eval()


# ----------------------------------------------------------------------------------- deletion curve
def _deletion_reference(model, inputs, attributions, target, steps):
    from ..evaluation import deletion_curve
    return deletion_curve(model, inputs, attributions, target, steps=steps, baseline="zeros")[1]


def _deletion_cases() -> list[Case]:
    gen = torch.Generator().manual_seed(1010)
    cases = []
    for i, (n, c, h, w, steps) in enumerate([(2, 1, 6, 6, 4), (3, 2, 5, 7, 7), (1, 3, 8, 8, 16)]):
        x = torch.rand(n, c, h, w, generator=gen)
        attr = torch.randn(n, c, h, w, generator=gen)
        target = torch.randint(0, 4, (n,), generator=gen)
        cases.append(Case(f"{n} image(s) {c}×{h}×{w}, {steps} steps, targets {target.tolist()}",
                          (_cnn(100 + i, c), x, attr, target, steps)))
    return cases


def check_deletion_curve(fn) -> CheckResult:
    """``fn(model, inputs N×C×H×W, attributions N×C×H×W, target N, steps)`` → N×(steps+1) probabilities.

    At step k the ``(k·H·W) // steps`` pixels with the largest attribution (summed over channels) are set
    to 0 in every channel; the value is the softmax probability of each image's target class.
    """
    cases = _deletion_cases()

    def diagnose(expected, got):
        problem = compare(expected, got, atol=1e-5, rtol=1e-4)
        if problem is None or not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            return problem
        model, x, attr, target, steps = reference.args
        from ..evaluation import deletion_curve
        variants = {
            "you deleted the *least* important pixels first: sort the attribution in descending order":
                deletion_curve(model, x, -attr, target, steps=steps, baseline="zeros")[1],
            "these are logits: apply softmax over the classes and take the target's probability":
                deletion_curve(model, x, attr, target, steps=steps, baseline="zeros", probabilities=False)[1],
            "you ranked pixels by |attribution|: rank by the signed attribution summed over channels":
                deletion_curve(model, x, attr.sum(1, keepdim=True).abs(), target, steps=steps, baseline="zeros")[1],
        }
        for message, v in variants.items():
            if torch.allclose(got.detach().float(), v, atol=1e-5):
                return message
        if torch.allclose(got[:, 0].detach().float(), expected[:, 0], atol=1e-5):
            return problem + " (step 0 is right: check how many pixels each step removes and their order)"
        return problem

    reference = recording(_deletion_reference)

    return run_check("check_deletion_curve", fn, reference, cases, compare_fn=diagnose,
                     hint="rank pixels with torch.argsort(attr.sum(1).flatten(1), descending=True); at step k "
                          "zero the first (k*H*W)//steps of them; score = softmax probability of the target.")


# ----------------------------------------------------------------------------------------------- AUC
def _auc_reference(scores):
    from ..evaluation import auc
    return auc(scores)


def check_auc(fn) -> CheckResult:
    """``fn(scores N×K)`` → N areas under the curves, the K points evenly spaced on [0, 1], trapezoidal rule."""
    gen = torch.Generator().manual_seed(2020)
    cases = [Case("3 curves of 5 points", (torch.rand(3, 5, generator=gen),)),
             Case("2 curves of 21 points", (torch.rand(2, 21, generator=gen),)),
             Case("1 curve of 2 points [1, 0]", (torch.tensor([[1.0, 0.0]]),))]

    def diagnose(expected, got):
        problem = compare(expected, got, atol=1e-5, rtol=1e-4)
        if problem is None or not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            return problem
        (scores,) = reference.args
        if torch.allclose(got.float(), scores.mean(-1).float(), atol=1e-5):
            return "this is the mean of the points; the trapezoidal rule weights the two end points by a half"
        if torch.allclose(got.float(), torch.trapezoid(scores, dim=-1).float(), atol=1e-5):
            return "the x spacing is missing: the points lie at 0, 1/(K−1), …, 1, not at 0, 1, 2, …"
        return problem

    reference = recording(_auc_reference)

    return run_check("check_auc", fn, reference, cases, compare_fn=diagnose,
                     hint="x = torch.linspace(0, 1, K); area = Σ (x[k+1] − x[k]) · (s[k] + s[k+1]) / 2 "
                          "(or torch.trapezoid).")


# --------------------------------------------------------------------------------------- pointing game
def check_pointing_game(fn) -> CheckResult:
    """``fn(maps N×1×H×W, boxes N×4 (y0, x0, y1, x1), end exclusive)`` → N bools: is the maximum in the box?"""
    from ..evaluation import pointing_game
    gen = torch.Generator().manual_seed(3030)
    cases = []
    for n, h, w in [(6, 10, 12), (8, 16, 16)]:
        maps = torch.randn(n, 1, h, w, generator=gen)
        y0 = torch.randint(0, h // 2, (n,), generator=gen)
        x0 = torch.randint(0, w // 2, (n,), generator=gen)
        boxes = torch.stack([y0, x0, y0 + h // 2, x0 + w // 3], 1)
        flat = maps.flatten(1).argmax(1)
        # put half the maxima exactly on a box's edge rows/columns, where off-by-one mistakes show
        for i in range(0, n, 2):
            maps[i, 0].view(-1)[flat[i]] = 0.0
            edge_y, edge_x = (boxes[i, 2] - 1, boxes[i, 3] - 1) if i % 4 == 0 else (boxes[i, 2], boxes[i, 1])
            maps[i, 0, min(int(edge_y), h - 1), int(edge_x)] = 10.0
        cases.append(Case(f"{n} maps {h}×{w}, non-square boxes", (maps, boxes)))

    def ref(maps, boxes):
        return pointing_game(maps, boxes)

    def diagnose(expected, got):
        if not isinstance(got, torch.Tensor):
            return f"expected a torch.Tensor of {len(expected)} bools, got {type(got).__name__}"
        if got.shape != expected.shape:
            return f"expected shape {tuple(expected.shape)} (one bool per map), got {tuple(got.shape)}"
        got_b = got.bool()
        if torch.equal(got_b, expected):
            return None
        maps, boxes = reference.args
        swapped = pointing_game(maps.transpose(-1, -2), boxes[:, [1, 0, 3, 2]]) if maps.shape[-1] == maps.shape[-2] \
            else None
        flat_idx = maps.flatten(1).argmax(1)
        y, x = flat_idx // maps.shape[-1], flat_idx % maps.shape[-1]
        inclusive = (y >= boxes[:, 0]) & (y <= boxes[:, 2]) & (x >= boxes[:, 1]) & (x <= boxes[:, 3])
        if torch.equal(got_b, inclusive):
            return "the box's end is exclusive (y0 ≤ y < y1, x0 ≤ x < x1), like Python slices"
        wrong_axes = (x >= boxes[:, 0]) & (x < boxes[:, 2]) & (y >= boxes[:, 1]) & (y < boxes[:, 3])
        if torch.equal(got_b, wrong_axes) or (swapped is not None and torch.equal(got_b, swapped)):
            return "rows and columns are swapped: the flat index i gives row i // W and column i % W"
        bad = (got_b != expected).nonzero().flatten().tolist()
        return f"maps {bad} are wrong (expected {expected[bad].tolist()}, got {got_b[bad].tolist()})"

    reference = recording(ref)

    return run_check("check_pointing_game", fn, reference, cases, compare_fn=diagnose,
                     hint="i = map.flatten(1).argmax(1); row, col = i // W, i % W; hit = y0 ≤ row < y1 and "
                          "x0 ≤ col < x1.")


# ------------------------------------------------------------------------------------ channel removal
def _removal_reference(model, layer, channels, inputs, means):
    from ..shapley import removed_channels
    with removed_channels(model, layer, channels, replacement=means), torch.no_grad():
        return model(inputs)


def check_logits_without_channels(fn) -> CheckResult:
    """``fn(model, layer, channels, inputs, means)`` → N×K logits with ``layer``'s channels in ``channels``
    replaced by ``means`` (C values, one per channel), every other channel unchanged."""
    from ..hooks import capture_activations
    gen = torch.Generator().manual_seed(4040)
    cases = []
    for i, (layer, channels) in enumerate([("relu2", [0, 3]), ("relu1", [1, 2, 5]), ("relu2", [4])]):
        model = _cnn(400 + i)
        x = torch.rand(5, 1, 7, 7, generator=gen)
        with capture_activations(model, layer) as acts, torch.no_grad():
            model(torch.rand(20, 1, 7, 7, generator=gen))
        means = acts[layer].mean((0, 2, 3))
        cases.append(Case(f"layer {layer}, channels {channels}, 5 images 1×7×7", (model, layer, channels, x, means)))

    def diagnose(expected, got):
        problem = compare(expected, got, atol=1e-5, rtol=1e-4)
        if problem is None or not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            return problem
        model, layer, channels, x, means = reference.args
        kept = [c for c in range(len(means)) if c not in channels]
        if torch.allclose(got, _removal_reference(model, layer, channels, x, torch.zeros_like(means)), atol=1e-5):
            return "the channels were set to 0; replace them by their mean activation (`means[c]`)"
        if torch.allclose(got, _removal_reference(model, layer, kept, x, means), atol=1e-5):
            return "you replaced the channels that should stay: replace only those listed in `channels`"
        return problem

    reference = recording(_removal_reference)

    return run_check("check_logits_without_channels", fn, reference, cases, compare_fn=diagnose,
                     hint="a forward hook on get_layer(model, layer) that returns a copy of the output with "
                          "out[:, c] = means[c] for c in channels; remove the hook afterwards (try/finally).")


# ------------------------------------------------------------------------------ the capstone's answer
def _positions_verdict(name: str, positions) -> CheckResult:
    from ..shortcut import MARKER_POSITIONS, MARKER_SIZE, NUM_CLASSES
    if isinstance(positions, dict):
        items = positions
    elif isinstance(positions, (list, tuple)):
        items = dict(enumerate(positions))
    else:
        return CheckResult(name, "failed", f"❌ {name}: expected a dict {{class: (row, col)}} or a list of "
                                           f"{NUM_CLASSES} (row, col) pairs, got {type(positions).__name__}")
    missing = [c for c in range(NUM_CLASSES) if c not in items]
    if missing:
        return CheckResult(name, "failed", f"❌ {name}: no position for classes {missing}")
    wrong = []
    for c in range(NUM_CLASSES):
        try:
            row, col = (int(v) for v in items[c])
        except (TypeError, ValueError):
            return CheckResult(name, "failed", f"❌ {name}: class {c}: expected a (row, col) pair of ints, "
                                               f"got {items[c]!r}")
        y, x = MARKER_POSITIONS[c]
        if not (y - 1 <= row <= y + MARKER_SIZE and x - 1 <= col <= x + MARKER_SIZE):
            wrong.append(c)
    if wrong:
        return CheckResult(name, "failed",
                           f"❌ {name}: {NUM_CLASSES - len(wrong)}/{NUM_CLASSES} positions are right; classes "
                           f"{wrong} are not. Hint: compare where the evidence lies for the vendor's images "
                           "and for the standard ones, class by class; look *outside* the garments.")
    return CheckResult(name, "passed", f"✅ {name}: all {NUM_CLASSES} positions are on their class's hidden evidence")


def check_marker_positions(fn) -> CheckResult:
    """``fn(model, images, labels)`` → for each class 0..9 the (row, col) of a pixel where the shortcut model
    finds its class evidence (a dict {class: (row, col)} or a list of 10 pairs).

    The check calls ``fn`` on the shortcut model and 1,000 of the vendor's images it has not shown, and
    compares the answer with the truth, one pixel of slack.
    """
    name = "check_marker_positions"
    if not callable(fn):
        return CheckResult(name, "failed", f"❌ {name}: expected a function fn(model, images, labels), "
                                           f"got {type(fn).__name__}")
    from ..shortcut import shortcut_cnn, shortcut_test_set
    images, labels = shortcut_test_set("vendor")
    images, labels = images[-1000:], labels[-1000:]
    try:
        positions = fn(shortcut_cnn(), images, labels)
    except NotImplementedError:
        return CheckResult(name, "not implemented",
                           f"⏳ {name}: not implemented yet — replace the `raise NotImplementedError` line "
                           "with your code, run that cell, then run this check again.")
    except Exception as err:
        return CheckResult(name, "failed", f"❌ {name}: your function raised {type(err).__name__}: {err}")
    return _positions_verdict(name, positions)


def marker_dependent_classes(model: nn.Module, gap: float = 0.5, n_images: int = 2000) -> list[int]:
    """Classes whose accuracy on the clean ("standard") test images is below their accuracy on the marked
    ("vendor") ones by more than ``gap``, measured on ``model`` with the first ``n_images`` of each set."""
    from ..shortcut import NUM_CLASSES, shortcut_test_set
    accuracy = {}
    for kind in ("vendor", "standard"):
        images, labels = shortcut_test_set(kind)
        images, labels = images[:n_images], labels[:n_images]
        with torch.no_grad():
            hit = model(images).argmax(1) == labels
        accuracy[kind] = torch.stack([hit[labels == c].float().mean() for c in range(NUM_CLASSES)])
    return (accuracy["vendor"] - accuracy["standard"] > gap).nonzero().flatten().tolist()


def check_marker_dependent_classes(fn) -> CheckResult:
    """``fn(model)`` → the class indices the shortcut model can hardly recognise without the marker (accuracy
    on the standard test set more than 0.5 below the vendor's), in any order. Called on the shortcut model."""
    name = "check_marker_dependent_classes"
    if not callable(fn):
        return CheckResult(name, "failed", f"❌ {name}: expected a function fn(model), got {type(fn).__name__}")
    from ..shortcut import shortcut_cnn
    model = shortcut_cnn()
    try:
        classes = fn(model)
    except NotImplementedError:
        return CheckResult(name, "not implemented",
                           f"⏳ {name}: not implemented yet — replace the `raise NotImplementedError` line "
                           "with your code, run that cell, then run this check again.")
    except Exception as err:
        return CheckResult(name, "failed", f"❌ {name}: your function raised {type(err).__name__}: {err}")
    try:
        answer = sorted({int(c) for c in classes})
    except (TypeError, ValueError):
        return CheckResult(name, "failed", f"❌ {name}: expected a list of class indices (ints 0..9), "
                                           f"got {classes!r}")
    truth = marker_dependent_classes(model)
    if answer == truth:
        return CheckResult(name, "passed", f"✅ {name}: yes — classes {truth} collapse without the marker")
    missing, extra = sorted(set(truth) - set(answer)), sorted(set(answer) - set(truth))
    parts = ([f"classes {missing} also collapse"] if missing else []) + \
            ([f"classes {extra} keep most of their accuracy"] if extra else [])
    return CheckResult(name, "failed", f"❌ {name}: not quite: " + "; ".join(parts) + ". Hint: compute the "
                                       "accuracy of each class on both test sets and compare.")
