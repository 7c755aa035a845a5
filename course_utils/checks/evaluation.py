"""Checks for lecture 10 (evaluating explanations, and the shortcut capstone).

* ``check_deletion_curve(fn)`` – ``fn(model, inputs, attributions, target, steps)`` → N×(steps+1) probabilities.
* ``check_auc(fn)`` – ``fn(scores)`` → N areas under curves sampled evenly on [0, 1] (trapezoidal rule).
* ``check_insertion_curve(fn)`` – ``fn(model, inputs, attributions, target, steps, baseline)`` → N×(steps+1)
  probabilities as the top-ranked pixels are put back into the baseline.
* ``check_cascading_randomization(fn)`` – ``fn(method, model, inputs, target, layers)`` → len(layers)×N
  Spearman correlations between the trained model's |maps| and those of cascading randomized copies.
* ``check_pointing_game(fn)`` – ``fn(maps, boxes)`` → N bools.
* ``check_logits_without_channels(fn)`` – ``fn(model, layer, channels, inputs, means)`` → N×K logits with
  the listed channels of ``layer`` replaced by their means.
* ``check_marker_positions(fn)`` – the capstone: ``fn(model, images, labels)`` → where each class's hidden evidence is.
* ``check_marker_dependent_classes(fn)`` – the capstone: ``fn(model)`` → which classes the shortcut model can
  hardly recognise without its hidden evidence.
"""
from __future__ import annotations

import functools
import math
from collections import OrderedDict

import torch
from torch import nn

from ..attribution import batches
from . import (Case, CheckResult, StudentError, call_student, compare, exercise_check, failed, generator,
               not_a_function, not_implemented, passed, run_check, seeded, slow_notice)


CAPSTONE_SECONDS = 60.0     # the capstone's answers run a real model on thousands of images: seconds are normal


def _cnn(seed: int, in_channels: int = 1, classes: int = 4) -> nn.Sequential:
    """A small random CNN with named layers, different for every seed (never shown in the notebook)."""
    model = seeded(nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(in_channels, 6, 3, padding=1)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(6, 5, 3, padding=1)), ("relu2", nn.ReLU()),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(5, classes))])), seed)
    with torch.no_grad():
        model.fc.weight.mul_(4)       # confident enough that probabilities and logits differ visibly
    return model.eval()


# ----------------------------------------------------------------------------------- deletion curve
def _deletion(model, inputs, attributions, target, steps, count=lambda k, hw, steps: (k * hw) // steps,
              descending=True, probabilities=True, rank=lambda a: a.sum(1)):
    """The deletion curve written out, with switches reproducing the usual mistakes."""
    n, c, h, w = inputs.shape
    order = torch.argsort(rank(attributions).flatten(1), dim=1, descending=descending)
    curve = torch.zeros(n, steps + 1)
    for k in range(steps + 1):
        keep = torch.ones(n, h * w)
        keep.scatter_(1, order[:, :count(k, h * w, steps)], 0.0)
        with torch.no_grad():
            out = model(inputs * keep.view(n, 1, h, w))
        out = out.softmax(1) if probabilities else out
        curve[:, k] = out.gather(1, target.view(-1, 1)).squeeze(1)
    return curve


def _deletion_reference(model, inputs, attributions, target, steps):
    from ..attribution import probability
    from ..evaluation import deletion_curve
    return deletion_curve(model, inputs, attributions, probability(target), steps=steps,
                          baseline="zeros")[1].to(inputs.dtype)


@exercise_check
def check_deletion_curve(fn) -> CheckResult:
    """``fn(model, inputs N×C×H×W, attributions N×C×H×W, target N, steps)`` → N×(steps+1) probabilities.

    At step k the ``(k·H·W) // steps`` pixels with the largest attribution (summed over channels) are set
    to 0 in every channel; the value is the softmax probability of each image's target class.
    """
    mistakes = {
        "you deleted the *least* important pixels first: sort the attribution in descending order":
            lambda *a: _deletion(*a, descending=False),
        "these are logits: apply softmax over the classes and take the target's probability":
            lambda *a: _deletion(*a, probabilities=False),
        "you ranked pixels by |attribution|: rank by the signed attribution summed over channels":
            lambda *a: _deletion(*a, rank=lambda attr: attr.sum(1).abs()),
        "the number of pixels deleted at step k is ⌊k·H·W / steps⌋, (k * H * W) // steps: you rounded it":
            (lambda *a: _deletion(*a, count=lambda k, hw, steps: round(k * hw / steps)),
             lambda *a: _deletion(*a, count=lambda k, hw, steps: math.ceil(k * hw / steps))),
        "rank the pixels by the attribution summed over channels (you used channel 0 only)":
            lambda *a: _deletion(*a, rank=lambda attr: attr[:, 0]),
    }

    def diagnose(expected, got):
        problem = compare(expected, got, atol=1e-5, rtol=1e-4)
        if problem and isinstance(got, torch.Tensor) and got.shape == expected.shape and torch.allclose(
                got[:, 0].detach().double(), expected[:, 0].double(), atol=1e-5):
            return problem + " (step 0 is right: check how many pixels each step removes and their order)"
        return problem

    gen = generator(1010)
    cases = []
    for i, (n, c, h, w, steps) in enumerate([(2, 1, 6, 6, 4), (2, 1, 5, 7, 4), (3, 2, 5, 7, 7), (1, 3, 8, 8, 16)]):
        x = torch.rand(n, c, h, w, generator=gen)
        attr = torch.randn(n, c, h, w, generator=gen)
        target = torch.randint(0, 4, (n,), generator=gen)
        cases.append(Case(f"{n} image(s) {c}×{h}×{w}, {steps} steps, targets {target.tolist()}",
                          (_cnn(100 + i, c), x, attr, target, steps),
                          note=f"H·W = {h * w} is not a multiple of {steps} steps" if (h * w) % steps else ""))
    return run_check("check_deletion_curve", fn, _deletion_reference, cases, mistakes=mistakes, compare_fn=diagnose,
                     hint="rank pixels with torch.argsort(attr.sum(1).flatten(1), descending=True); at step k "
                          "zero the first (k*H*W)//steps of them; score = softmax probability of the target.",
                     slow_hint="run the model once per step on all N images (or once on all the steps' images)")


# ----------------------------------------------------------------------------------------------- AUC
@exercise_check
def check_auc(fn) -> CheckResult:
    """``fn(scores N×K)`` → N areas under the curves, the K points evenly spaced on [0, 1], trapezoidal rule."""
    from ..evaluation import auc
    mistakes = {
        "this is the mean of the points; the trapezoidal rule weights the two end points by a half":
            lambda s: s.mean(-1),
        "the x spacing is missing: the points lie at 0, 1/(K−1), …, 1, not at 0, 1, 2, …":
            lambda s: torch.trapezoid(s, dim=-1),
        "that is a left Riemann sum (the last point left out): the trapezoidal rule averages each pair of "
        "neighbours, (s[k] + s[k+1]) / 2": lambda s: s[..., :-1].mean(-1),
        "that is a right Riemann sum (the first point left out): the trapezoidal rule averages each pair of "
        "neighbours, (s[k] + s[k+1]) / 2": lambda s: s[..., 1:].mean(-1),
        "the points are spaced 1/(K−1) apart, not 1/K (K points span K − 1 intervals)":
            lambda s: torch.trapezoid(s, dx=1 / s.shape[-1], dim=-1),
    }
    gen = generator(2020)
    cases = [Case("3 curves of 5 points", (torch.rand(3, 5, generator=gen),)),
             Case("2 curves of 21 points", (torch.rand(2, 21, generator=gen),)),
             Case("1 curve of 2 points [1, 0]", (torch.tensor([[1.0, 0.0]]),))]

    def compare_fn(expected, got):
        if isinstance(got, torch.Tensor) and got.ndim == 0 and expected.ndim == 1:
            return (f"expected one area per curve (shape {tuple(expected.shape)}), got a single number: integrate "
                    "along the last dimension only")
        return compare(expected, got)

    return run_check("check_auc", fn, lambda s: auc(s).to(s.dtype), cases, mistakes=mistakes, compare_fn=compare_fn,
                     hint="x = torch.linspace(0, 1, K); area = Σ (x[k+1] − x[k]) · (s[k] + s[k+1]) / 2 "
                          "(or torch.trapezoid).")


# ---------------------------------------------------------------------------------------- insertion curve
def _insertion(model, inputs, attributions, target, steps, baseline, count=lambda k, hw, steps: (k * hw) // steps,
               descending=True, probabilities=True, rank=lambda a: a.sum(1), delete=False, first_step=0):
    """The insertion curve written out, with switches reproducing the usual mistakes (``delete``: a deletion
    curve into the baseline; ``first_step=1``: step 0 left out)."""
    n, c, h, w = inputs.shape
    order = torch.argsort(rank(attributions).flatten(1), dim=1, descending=descending)
    curve = torch.zeros(n, steps + 1 - first_step)
    for k in range(first_step, steps + 1):
        chosen = torch.zeros(n, h * w, dtype=torch.bool)
        chosen.scatter_(1, order[:, :count(k, h * w, steps)], True)
        chosen = chosen.view(n, 1, h, w)
        x = torch.where(chosen, baseline, inputs) if delete else torch.where(chosen, inputs, baseline)
        with torch.no_grad():
            out = model(x)
        out = out.softmax(1) if probabilities else out
        curve[:, k - first_step] = out.gather(1, target.view(-1, 1)).squeeze(1)
    return curve


def _insertion_reference(model, inputs, attributions, target, steps, baseline):
    from ..attribution import probability
    from ..evaluation import insertion_curve
    return insertion_curve(model, inputs, attributions, probability(target), steps=steps,
                           baseline=baseline)[1].to(inputs.dtype)


@exercise_check
def check_insertion_curve(fn) -> CheckResult:
    """``fn(model, inputs N×C×H×W, attributions N×C×H×W, target N, steps, baseline N×C×H×W)`` → N×(steps+1).

    At step k the image is ``baseline`` with the ``(k·H·W) // steps`` pixels of largest attribution (summed
    over channels) put back from ``inputs`` in every channel; the value is the softmax probability of each
    image's target class. Step 0 is the baseline itself, step ``steps`` the input.
    """
    mistakes = {
        "you *deleted* pixels (replaced the input's pixels by the baseline's): insertion starts from the baseline "
        "and puts the input's top-ranked pixels back":
            lambda *a: _insertion(*a, delete=True),
        "you inserted the *least* important pixels first: sort the attribution in descending order":
            lambda *a: _insertion(*a, descending=False),
        "these are logits: apply softmax over the classes and take the target's probability":
            lambda *a: _insertion(*a, probabilities=False),
        "the number of pixels inserted at step k is ⌊k·H·W / steps⌋, (k * H * W) // steps: you rounded it":
            (lambda *a: _insertion(*a, count=lambda k, hw, steps: round(k * hw / steps)),
             lambda *a: _insertion(*a, count=lambda k, hw, steps: math.ceil(k * hw / steps))),
        "rank the pixels by the attribution you are given, summed over channels (you used channel 0 only)":
            lambda *a: _insertion(*a, rank=lambda attr: attr[:, 0]),
        "you ranked pixels by |attribution|: rank by the attribution you are given, summed over channels (a "
        "protocol such as |map| is applied before the call)":
            lambda *a: _insertion(*a, rank=lambda attr: attr.sum(1).abs()),
        "the curve has steps + 1 points: step 0 (the baseline, nothing inserted yet) is missing":
            lambda *a: _insertion(*a, first_step=1),
        "start from the `baseline` you are given, not from a black (all-zero) image":
            lambda m, x, attr, t, steps, base: _insertion(m, x, attr, t, steps, torch.zeros_like(base)),
    }
    gen = generator(1515)
    cases = []
    for i, (n, c, h, w, steps) in enumerate([(2, 1, 6, 6, 4), (3, 2, 5, 7, 7), (1, 3, 8, 8, 16)]):
        x = torch.rand(n, c, h, w, generator=gen)
        attr = torch.randn(n, c, h, w, generator=gen)
        target = torch.randint(0, 4, (n,), generator=gen)
        base = 0.5 * x + 0.25 * torch.rand(n, c, h, w, generator=gen)       # a blurred-looking start, not zeros
        cases.append(Case(f"{n} image(s) {c}×{h}×{w}, {steps} steps, targets {target.tolist()}",
                          (_cnn(150 + i, c), x, attr, target, steps, base),
                          note=f"H·W = {h * w} is not a multiple of {steps} steps" if (h * w) % steps else ""))
    return run_check("check_insertion_curve", fn, _insertion_reference, cases, mistakes=mistakes,
                     hint="rank pixels with torch.argsort(attr.sum(1).flatten(1), descending=True); at step k "
                          "the first (k*H*W)//steps of them come from the input, all others from the baseline "
                          "(torch.where on a mask); score = softmax probability of the target.",
                     slow_hint="run the model once per step on all N images (or once on all the steps' images)")


# --------------------------------------------------------------------------------------- pointing game
def _hits(maps, boxes, inclusive=False, swap=False, argmin=False, flat_over_batch=False):
    flat = maps.flatten(1)
    if flat_over_batch:
        i = (maps.flatten().argmax() % flat.shape[1]).expand(len(maps))
    else:
        i = flat.argmin(1) if argmin else flat.argmax(1)
    w = maps.shape[-1]
    row, col = i // w, i % w
    if swap:
        row, col = col, row
    end = (lambda a, b: a <= b) if inclusive else (lambda a, b: a < b)
    return (row >= boxes[:, 0]) & end(row, boxes[:, 2]) & (col >= boxes[:, 1]) & end(col, boxes[:, 3])


@exercise_check
def check_pointing_game(fn) -> CheckResult:
    """``fn(maps N×1×H×W, boxes N×4 (y0, x0, y1, x1), end exclusive)`` → N bools: is the maximum in the box?"""
    from ..evaluation import pointing_game
    mistakes = {
        "the box's end is exclusive (y0 ≤ y < y1, x0 ≤ x < x1), like Python slices":
            lambda m, b: _hits(m, b, inclusive=True),
        "rows and columns are swapped: the flat index i gives row i // W and column i % W":
            (lambda m, b: _hits(m, b, swap=True),
             lambda m, b: _hits(m, b, swap=True, inclusive=True)),
        "you located the minimum: the pointing game asks where the map's *maximum* is":
            lambda m, b: _hits(m, b, argmin=True),
        "take each map's own maximum (argmax over dim 1 of maps.flatten(1)), not one over the whole batch":
            lambda m, b: _hits(m, b, flat_over_batch=True),
    }
    gen = generator(3030)
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

    def diagnose(expected, got):
        if not isinstance(got, torch.Tensor):
            return compare(expected, got)
        if got.shape != expected.shape:
            return f"expected shape {tuple(expected.shape)} (one bool per map), got {tuple(got.shape)}"
        got_b = got.bool()
        if torch.equal(got_b, expected):
            return None
        bad = (got_b != expected).nonzero().flatten().tolist()
        return f"maps {bad} are wrong (expected {expected[bad].tolist()}, got {got_b[bad].tolist()})"

    return run_check("check_pointing_game", fn, pointing_game, cases, mistakes=mistakes, compare_fn=diagnose,
                     match=lambda a, b: isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(
                         a.bool(), b.bool()),
                     hint="i = map.flatten(1).argmax(1); row, col = i // W, i % W; hit = y0 ≤ row < y1 and "
                          "x0 ≤ col < x1.")


# ----------------------------------------------------------------------------------- randomization test
def _spearman_rows(a: torch.Tensor, b: torch.Tensor, ranks: str = "average") -> torch.Tensor:
    """Per-row Spearman correlation (``ranks="ordinal"``: ties broken by position, a usual mistake;
    ``"none"``: Pearson of the values themselves, another)."""
    from scipy.stats import rankdata
    a, b = a.flatten(1).double(), b.flatten(1).double()
    if ranks != "none":
        a = torch.from_numpy(rankdata(a.numpy(), method=ranks, axis=1)).double()
        b = torch.from_numpy(rankdata(b.numpy(), method=ranks, axis=1)).double()
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / ((a * a).sum(1) * (b * b).sum(1)).sqrt()


def _cascading(method, model, inputs, target, layers, mode="cascading", reduce=lambda m: m.abs().sum(1),
               ranks="average", against="trained", one_number=False):
    """The cascading randomization test written out, with switches reproducing the usual mistakes."""
    from ..evaluation import randomize_layers
    reference = reduce(method(model, inputs, target).detach())
    rows, previous = [], reference
    for k in range(len(layers)):
        chosen = {"cascading": layers[:k + 1], "independent": [layers[k]],
                  "bottom-up": layers[len(layers) - k - 1:]}[mode]
        maps = reduce(method(randomize_layers(model, chosen, seed=0), inputs, target).detach())
        base = reference if against == "trained" else previous
        if one_number:
            rows.append(_spearman_rows(base.reshape(1, -1), maps.reshape(1, -1), ranks)[0])
        else:
            rows.append(_spearman_rows(base, maps, ranks))
        previous = maps
    return torch.stack(rows)


def _cascading_reference(method, model, inputs, target, layers):
    from ..attribution import reduce_channels
    from ..evaluation import randomize_layers, rank_correlation
    reference = reduce_channels(method(model, inputs, target).detach(), "mean_abs")
    rows = []
    for k in range(len(layers)):
        maps = reduce_channels(method(randomize_layers(model, layers[:k + 1], seed=0), inputs, target).detach(),
                               "mean_abs")
        rows.append(rank_correlation(reference, maps))
    return torch.stack(rows)


def _method(kind: str):
    """A course attribution method as ``method(model, inputs, target)`` for the randomization cases."""
    from ..attribution import input_x_gradient, saliency
    if kind == "input×gradient":
        return lambda model, x, t: input_x_gradient(model, x, t)
    return lambda model, x, t: saliency(model, x, t, abs=False)


@exercise_check
def check_cascading_randomization(fn) -> CheckResult:
    """``fn(method, model, inputs N×C×H×W, target N, layers)`` → len(layers)×N Spearman correlations.

    Row k: for each image, Spearman's rank correlation (ties share their average rank) between the
    magnitude Σ_c |a_c| of ``method``'s map on ``model`` and on ``randomize_layers(model, layers[:k+1],
    seed=0)`` — cascading randomization from the top (``layers[0]``, the output layer) down.
    """
    mistakes = {
        "that is *independent* randomization (only layers[k] in row k): cascading randomizes layers[0], …, "
        "layers[k] together, from the top down": lambda *a: _cascading(*a, mode="independent"),
        "the layers are listed from the top (output) down: row k randomizes layers[:k + 1], not the last k + 1":
            lambda *a: _cascading(*a, mode="bottom-up"),
        "you correlated the values (Pearson): Spearman correlates their *ranks*":
            lambda *a: _cascading(*a, ranks="none"),
        "compare magnitudes: take |a| of each map (summed over channels) before ranking; the sign of many "
        "methods is not evidence": lambda *a: _cascading(*a, reduce=lambda m: m.sum(1)),
        "take |a| before summing over the colour channels (Σ_c |a_c|), not |Σ_c a_c|":
            lambda *a: _cascading(*a, reduce=lambda m: m.sum(1).abs()),
        "tied pixels (e.g. all the zeros) must share their average rank (scipy.stats.rankdata does this); "
        "ranking them by position invents an order": lambda *a: _cascading(*a, ranks="ordinal"),
        "compare every randomized model's maps with the *trained* model's maps, not with the previous row's":
            lambda *a: _cascading(*a, against="previous"),
        "one correlation per image (rank each image's map on its own), not one for the whole batch":
            lambda *a: _cascading(*a, one_number=True),
    }
    gen = generator(1616)
    cases = []
    for i, (n, c, size, kind, layers) in enumerate([(3, 1, 7, "input×gradient", ["fc", "conv2", "conv1"]),
                                                    (2, 3, 6, "signed gradient", ["fc", "conv2", "conv1"]),
                                                    (4, 2, 8, "input×gradient", ["fc", "conv2"])]):
        x = torch.rand(n, c, size, size, generator=gen)
        if kind == "input×gradient":
            x = x * (torch.rand(n, 1, size, size, generator=gen) < 0.6)   # a black background: tied zeros
        target = torch.randint(0, 4, (n,), generator=gen)
        cases.append(Case(f"{n} images {c}×{size}×{size}, {kind}, layers {layers}",
                          (_method(kind), _cnn(160 + i, c), x, target, list(layers)),
                          note="the maps have tied zeros" if kind == "input×gradient" else
                               "3 colour channels: |a| summed over them"))

    def diagnose(expected, got):
        problem = compare(expected, got, atol=1e-6, rtol=1e-5)
        if problem and isinstance(got, torch.Tensor) and got.shape == expected.shape and got.shape[0] > 0 \
                and torch.isfinite(got.detach().double()).all() \
                and (got.detach().double()[0] - expected[0]).abs().max() < 1e-9:
            return problem + " (row 0 is right: check which layers each later row randomizes)"
        return problem

    return run_check("check_cascading_randomization", fn, _cascading_reference, cases, mistakes=mistakes,
                     compare_fn=diagnose,
                     hint="reference = method(model, x, t).abs().sum(1); for k in range(len(layers)): "
                          "maps = method(ev.randomize_layers(model, layers[:k + 1], seed=0), x, t).abs().sum(1); "
                          "Spearman per image with scipy.stats.rankdata(..., axis=1) (average ranks), then the "
                          "Pearson correlation of the ranks.")


# ------------------------------------------------------------------------------------ channel removal
def _removal_reference(model, layer, channels, inputs, means):
    from ..shapley import removed_channels
    with removed_channels(model, layer, channels, replacement=means), torch.no_grad():
        return model(inputs)


@exercise_check
def check_logits_without_channels(fn) -> CheckResult:
    """``fn(model, layer, channels, inputs, means)`` → N×K logits with ``layer``'s channels in ``channels``
    replaced by ``means`` (C values, one per channel), every other channel unchanged."""
    from ..hooks import capture_activations
    mistakes = {
        "the channels were set to 0; replace them by their mean activation (`means[c]`)":
            lambda m, layer, ch, x, means: _removal_reference(m, layer, ch, x, torch.zeros_like(means)),
        "you replaced the channels that should stay: replace only those listed in `channels`":
            lambda m, layer, ch, x, means: _removal_reference(m, layer, [c for c in range(len(means)) if c not in ch],
                                                              x, means),
        "each channel c gets its own mean, means[c]: you used one value for all of them":
            (lambda m, layer, ch, x, means: _removal_reference(m, layer, ch, x, means.mean().expand(len(means))),
             lambda m, layer, ch, x, means: _removal_reference(m, layer, ch, x, means[ch[0]].expand(len(means)))),
        "these are the logits of the untouched model: the hook must change the layer's output (return the "
        "modified copy)": lambda m, layer, ch, x, means: _removal_reference(m, layer, [], x, means),
    }
    gen = generator(4040)
    cases = []
    for i, (layer, channels) in enumerate([("relu2", [0, 3]), ("relu1", [1, 2, 5]), ("relu2", [4])]):
        model = _cnn(400 + i)
        x = torch.rand(5, 1, 7, 7, generator=gen)
        with capture_activations(model, layer) as acts, torch.no_grad():
            model(torch.rand(20, 1, 7, 7, generator=gen))
        means = acts[layer].mean((0, 2, 3))
        cases.append(Case(f"layer {layer}, channels {channels}, 5 images 1×7×7", (model, layer, channels, x, means)))
    return run_check("check_logits_without_channels", fn, _removal_reference, cases, mistakes=mistakes,
                     hint="a forward hook on get_layer(model, layer) that returns a copy of the output with "
                          "out[:, c] = means[c] for c in channels; remove the hook afterwards (try/finally).")


# ------------------------------------------------------------------------------ the capstone's answer
def _marker_hits(items: dict) -> list[int]:
    """The classes whose (row, col) lies on their marker (one pixel of slack)."""
    from ..shortcut import MARKER_POSITIONS, MARKER_SIZE
    hits = []
    for c, (row, col) in items.items():
        y, x = MARKER_POSITIONS[c]
        if y - 1 <= row <= y + MARKER_SIZE and x - 1 <= col <= x + MARKER_SIZE:
            hits.append(c)
    return hits


def _positions_verdict(name: str, positions, notice: str = "") -> CheckResult:
    from ..shortcut import NUM_CLASSES
    hint = ("compare where the evidence lies for the vendor's images and for the standard ones, class by class; "
            "look *outside* the garments")
    if positions is None:
        return failed(name, "your function returned None (a missing `return`?)", notice=notice)
    if isinstance(positions, dict):
        items = positions
    elif isinstance(positions, (list, tuple)):
        items = dict(enumerate(positions))
    else:
        return failed(name, f"expected a dict {{class: (row, col)}} or a list of {NUM_CLASSES} (row, col) pairs, "
                            f"got {type(positions).__name__}", notice=notice)
    missing = [c for c in range(NUM_CLASSES) if c not in items]
    if missing:
        return failed(name, f"no position for classes {missing}", notice=notice)
    pairs = {}
    for c in range(NUM_CLASSES):
        try:
            row, col = (int(v) for v in items[c])
        except (TypeError, ValueError):
            return failed(name, f"class {c}: expected a (row, col) pair of ints, got {items[c]!r}", notice=notice)
        pairs[c] = (row, col)
    right = _marker_hits(pairs)
    if len(right) == NUM_CLASSES:
        return passed(name, f"all {NUM_CLASSES} positions are on their class's hidden evidence", notice)
    if len(_marker_hits({c: (col, row) for c, (row, col) in pairs.items()})) > len(right):
        return failed(name, "rows and columns are swapped: a flat index i of a 28×28 map is row i // 28, column "
                            "i % 28 (divmod(i, 28))", notice=notice)
    wrong = [c for c in range(NUM_CLASSES) if c not in right]
    return failed(name, f"{len(right)}/{NUM_CLASSES} positions are right; classes {wrong} are not", hint, notice)


@exercise_check
def check_marker_positions(fn) -> CheckResult:
    """``fn(model, images, labels)`` → for each class 0..9 the (row, col) of a pixel where the shortcut model
    finds its class evidence (a dict {class: (row, col)} or a list of 10 pairs).

    The check calls ``fn`` on the shortcut model and 1,000 of the vendor's images it has not shown, and
    compares the answer with the truth, one pixel of slack.
    """
    name = "check_marker_positions"
    failure = not_a_function(name, fn, "a function fn(model, images, labels)")
    if failure is not None:
        return failure
    from ..shortcut import shortcut_cnn, shortcut_test_set
    images, labels = shortcut_test_set("vendor")
    images, labels = images[-1000:], labels[-1000:]
    try:
        positions, seconds = call_student(fn, shortcut_cnn(), images, labels)
    except NotImplementedError:
        return not_implemented(name)
    except StudentError as err:
        return failed(name, f"your function raised {err}")
    return _positions_verdict(name, positions, slow_notice(seconds, "the 1,000 images", threshold=CAPSTONE_SECONDS,
                                                           hint="work on a few dozen images per class, in batches"))


def marker_dependent_classes(model: nn.Module, gap: float = 0.5, n_images: int = 2000) -> list[int]:
    """Classes whose accuracy on the clean ("standard") test images is below their accuracy on the marked
    ("vendor") ones by more than ``gap``, measured on ``model`` with the first ``n_images`` of each set."""
    from ..shortcut import NUM_CLASSES, shortcut_test_set
    accuracy = {}
    for kind in ("vendor", "standard"):
        images, labels = shortcut_test_set(kind)
        images, labels = images[:n_images], labels[:n_images]
        with torch.no_grad():        # 256 images per pass: on a CPU about twice as fast as one pass of 2,000
            hit = torch.cat([model(images[sl]).argmax(1) for sl in batches(len(images), 256)]) == labels
        accuracy[kind] = torch.stack([hit[labels == c].float().mean() for c in range(NUM_CLASSES)])
    return (accuracy["vendor"] - accuracy["standard"] > gap).nonzero().flatten().tolist()


@functools.lru_cache(maxsize=1)
def _shipped_truth() -> list[int]:
    """``marker_dependent_classes`` of the shipped shortcut model (computed once per session)."""
    from ..shortcut import shortcut_cnn
    return marker_dependent_classes(shortcut_cnn())


@exercise_check
def check_marker_dependent_classes(fn) -> CheckResult:
    """``fn(model)`` → the class indices the shortcut model can hardly recognise without the marker (accuracy
    on the standard test set more than 0.5 below the vendor's), in any order. Called on the shortcut model."""
    name = "check_marker_dependent_classes"
    failure = not_a_function(name, fn, "a function fn(model)")
    if failure is not None:
        return failure
    from ..shortcut import shortcut_cnn
    try:
        classes, seconds = call_student(fn, shortcut_cnn())
    except NotImplementedError:
        return not_implemented(name)
    except StudentError as err:
        return failed(name, f"your function raised {err}")
    notice = slow_notice(seconds, "the shortcut model", threshold=CAPSTONE_SECONDS,
                         hint="evaluate each test set in one forward pass")
    if classes is None:
        return failed(name, "your function returned None (a missing `return`?)", notice=notice)
    try:
        answer = sorted({int(c) for c in (classes.tolist() if isinstance(classes, torch.Tensor) else classes)})
    except (TypeError, ValueError):
        return failed(name, f"expected a list of class indices (ints 0..9), got {classes!r}"[:300], notice=notice)
    truth = _shipped_truth()
    if answer == truth:
        return passed(name, f"yes — classes {truth} collapse without the marker", notice)
    missing, extra = sorted(set(truth) - set(answer)), sorted(set(answer) - set(truth))
    parts = ([f"classes {missing} also collapse"] if missing else []) + \
            ([f"classes {extra} keep most of their accuracy"] if extra else [])
    return failed(name, "not quite: " + "; ".join(parts),
                  "compute the accuracy of each class on both test sets and compare: the classes whose standard "
                  "accuracy is more than 0.5 below their vendor accuracy", notice)
