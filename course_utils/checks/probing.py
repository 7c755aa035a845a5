"""Checks for lectures 01 (weights and activations) and 02 (maximally activating examples).

Each runs your function on fresh cases (random tensors and small models drawn from their own generators)
and compares it with ``course_utils.probing`` / ``course_utils.hooks``:

* ``check_normalize_filters(fn)`` – ``fn(weights)``: O×C×k×k → the same shape, each kernel stretched to [0, 1].
* ``check_record_activations(fn)`` – ``fn(model, layer_names, x)`` → {name: detached output}, no hooks left.
* ``check_stack_receptive_field(fn)`` – ``fn(layers)``: [(kernel, stride, padding), …] → [(size, jump, start), …].
* ``check_gradient_support(fn)`` – ``fn(model, layer, inputs, row, col)`` → (top, bottom, left, right).
* ``check_channel_scores(fn)`` – ``fn(acts, reduce)``: N×C×H×W → N×C by global max or mean.
* ``check_streaming_top_k(fn)`` – ``fn(batches, k)`` → (values C×k, indices C×k), best first.
* ``check_crop_patch(fn)`` – ``fn(image, top, left, size, fill)``: C×H×W → C×size×size, ``fill`` outside.
* ``check_confused_pairs(fn)`` – ``fn(predictions, labels, n_classes, n)`` → [(true, predicted, count), …].
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from ..hooks import capture_activations, receptive_fields
from ..probing import (StreamingTopK, confused_pairs, confusion_matrix, crop_patch, gradient_support,
                       normalize_filters, pool_spatial)
from . import Case, CheckResult, compare, exercise_check, generator, run_check, seeded


# ======================================================================================= lecture 01
def _min_max(weights: torch.Tensor, dims, guard: bool = True, subtract: bool = True, by_max: bool = False):
    lo, hi = weights.amin(dim=dims, keepdim=True), weights.amax(dim=dims, keepdim=True)
    span = hi if by_max else hi - lo
    if guard:
        span = torch.where(span != 0, span, torch.ones_like(span))
    return ((weights - lo) if subtract else weights) / span


@exercise_check
def check_normalize_filters(fn) -> CheckResult:
    """``fn(weights)`` → every kernel of O×C×k×k ``weights`` min-max scaled to [0, 1] on its own (all its
    channels together); a constant kernel becomes all zeros."""
    mistakes = {
        "all kernels were scaled together: each kernel needs its own min and max (reduce over dims 1, 2, 3 "
        "with keepdim=True)": lambda w: normalize_filters(w, "all"),
        "each channel was scaled on its own: a kernel's colour channels must share one min and max, or the "
        "colours change": lambda w: _min_max(w, (2, 3)),
        "that is the symmetric scaling (0 ↦ 0.5); this exercise asks for min ↦ 0 and max ↦ 1":
            lambda w: normalize_filters(w, "symmetric"),
        "a constant kernel (max == min) gives 0/0 = NaN: divide by 1 where max == min "
        "(torch.where(span > 0, span, 1))": lambda w: _min_max(w, (1, 2, 3), guard=False),
        "you divided by the kernel's max: divide by its range, max − min": lambda w: _min_max(w, (1, 2, 3), by_max=True),
        "subtract each kernel's min before dividing by its range": lambda w: _min_max(w, (1, 2, 3), subtract=False),
    }
    g = generator(101)
    rgb = torch.randn(5, 3, 3, 3, generator=g) * torch.tensor([0.1, 1.0, 3.0, 0.5, 2.0]).view(5, 1, 1, 1)
    grey = torch.randn(4, 1, 5, 5, generator=g) + 2.0
    with_flat = torch.randn(3, 2, 3, 3, generator=g)
    with_flat[1] = 0.7
    cases = [Case("5 RGB kernels 3×3 of very different scales", (rgb,)),
             Case("4 one-channel kernels 5×5, all positive", (grey,)),
             Case("3 two-channel kernels, the second one constant", (with_flat,),
                  note="kernel 1 is constant: it must come out as zeros")]
    return run_check("check_normalize_filters", fn, lambda w: normalize_filters(w, "each"), cases, mistakes=mistakes,
                     hint="(w − min) / (max − min) with min and max per kernel; where max == min use 1 as the "
                          "denominator")


def _named_cnn(seed: int, channels: int = 1) -> nn.Module:
    return seeded(nn.Sequential(OrderedDict([
        ("conv_a", nn.Conv2d(channels, 4, 3, padding=1)), ("act_a", nn.ReLU()), ("pool", nn.MaxPool2d(2)),
        ("conv_b", nn.Conv2d(4, 6, 3)), ("act_b", nn.ReLU()), ("gap", nn.AdaptiveAvgPool2d(1)),
        ("flat", nn.Flatten()), ("head", nn.Linear(6, 3))])), seed).eval()


class _Nested(nn.Module):
    def __init__(self, seed: int) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 5, 3), nn.Tanh(), nn.Conv2d(5, 2, 1))
        self.classifier = nn.Linear(2, 4)
        seeded(self, seed)

    def forward(self, x):
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def _run_order(model, layer_names, x, what: str = "output"):
    """[(name, detached output or first input)] of the named layers, in the order they ran."""
    modules, runs, handles = dict(model.named_modules()), [], []
    try:
        for name in layer_names:
            handles.append(modules[name].register_forward_hook(
                lambda m, i, o, name=name: runs.append((name, (o if what == "output" else i[0]).detach()))))
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return runs


@exercise_check
def check_record_activations(fn) -> CheckResult:
    """``fn(model, layer_names, x)`` → {name: output of that layer for ``x``, detached}; every hook the
    function registered is removed before it returns."""
    def reference(model, layer_names, x):
        with capture_activations(model, layer_names) as acts:
            model(x)
        return dict(acts)

    mistakes = {
        "you stored each layer's input (the hook's second argument, a tuple); store its output (the third)":
            lambda model, names, x: dict(_run_order(model, names, x, "input")),
        "every value landed under the last name: the hooks all read the loop variable when they ran (late "
        "binding) — make each hook in a function of its own, e.g. make_hook(name)":
            lambda model, names, x: {names[-1]: _run_order(model, names, x)[-1][1]},
    }

    def compare_fn(expected, got):
        if not isinstance(got, dict):
            return f"expected a dict {{layer name: tensor}}, got {type(got).__name__}"
        if sorted(got, key=str) != sorted(expected):
            return f"expected the keys {sorted(expected)}, got {sorted(got, key=str)}"
        for name in expected:
            problem = compare(expected[name], got[name])
            if problem:
                return f"layer {name!r}: {problem}"
        return None

    g = generator(102)
    cases = [Case("a named CNN, layers ['conv_a', 'act_b']", (_named_cnn(7), ["conv_a", "act_b"],
                                                              torch.rand(2, 1, 10, 10, generator=g))),
             Case("a named CNN, one layer ['pool']", (_named_cnn(8), ["pool"], torch.rand(3, 1, 8, 8, generator=g))),
             Case("a nested model, layers ['features.1', 'classifier']",
                  (_Nested(9), ["features.1", "classifier"], torch.rand(2, 3, 6, 6, generator=g)))]
    return run_check("check_record_activations", fn, reference, cases, mistakes=mistakes, compare_fn=compare_fn,
                     hint="dict(model.named_modules())[name].register_forward_hook(hook); in the hook store "
                          "output.detach(); run model(x); remove every handle (try/finally)")


def _stack(layers, jump_first: bool = False, start_after_jump: bool = False, size_jump: bool = True,
           padding: bool = True, start_sign: int = 1, start_jump: bool = True):
    """(size, jump, start) per layer, with switches that reproduce the usual mistakes."""
    size, jump, start, out = 1, 1, 0.0, []
    for k, s, p in layers:
        if jump_first:
            jump *= s
        size += (k - 1) * (jump if size_jump else 1)
        if start_after_jump and not jump_first:
            jump *= s
        start += start_sign * ((k - 1) / 2 - (p if padding else 0)) * (jump if start_jump else 1)
        if not (jump_first or start_after_jump):
            jump *= s
        out.append((size, jump, start))
    return out


@exercise_check
def check_stack_receptive_field(fn) -> CheckResult:
    """``fn(layers)`` with ``layers`` a list of (kernel, stride, padding) → a list with one
    (size, jump, start) per layer: receptive field size, jump and centre of the first unit, in input pixels."""
    def reference(layers):
        model = nn.Sequential(*[nn.Conv2d(1, 1, k, stride=s, padding=p) for k, s, p in layers])
        return [(rf.size, rf.jump, float(rf.start)) for rf in receptive_fields(model, (1, 64, 64))]

    mistakes = {
        "the sizes grow by (kernel − 1) per layer: after a stride the next kernel's neighbours are `jump` input "
        "pixels apart, so the size grows by (kernel − 1) · jump": lambda layers: _stack(layers, size_jump=False),
        "you multiplied the jump by the layer's stride before using it: a layer's size and start grow with the "
        "jump of the layers *before* it — update size and start first, jump last":
            lambda layers: _stack(layers, jump_first=True),
        "the start used the jump already multiplied by this layer's stride: update size and start first, then "
        "jump *= stride": lambda layers: _stack(layers, start_after_jump=True),
        "the start ignores the padding: start += ((kernel − 1)/2 − padding) · jump":
            lambda layers: _stack(layers, padding=False),
        "the start moves the wrong way: start += ((kernel − 1)/2 − padding) · jump (padding moves the first "
        "unit's centre up and left)": lambda layers: _stack(layers, start_sign=-1),
        "the start's step must be in input pixels: multiply ((kernel − 1)/2 − padding) by the jump":
            lambda layers: _stack(layers, start_jump=False),
    }

    def compare_fn(expected, got):
        problem = compare(expected, got)
        if problem is None:
            return None
        try:
            sizes_jumps = [(int(t[0]), int(t[1])) for t in got]
        except (TypeError, IndexError, ValueError):
            return problem
        if sizes_jumps == [(e[0], e[1]) for e in expected]:
            return f"sizes and jumps are right; the starts differ: {problem} (start += ((kernel − 1)/2 − p) · jump)"
        return problem

    cases = [Case("conv 3 s1 p1, conv 3 s1 p1", ([(3, 1, 1), (3, 1, 1)],)),
             Case("conv 5 s2 p2, pool 2 s2 p0, conv 3 s1 p1", ([(5, 2, 2), (2, 2, 0), (3, 1, 1)],)),
             Case("conv 7 s2 p3, conv 3 s2 p0, conv 1 s1 p0, conv 3 s1 p1",
                  ([(7, 2, 3), (3, 2, 0), (1, 1, 0), (3, 1, 1)],))]
    return run_check("check_stack_receptive_field", fn, reference, cases, mistakes=mistakes, compare_fn=compare_fn,
                     hint="start with size 1, jump 1, start 0; per layer: size += (k − 1)·jump, "
                          "start += ((k − 1)/2 − p)·jump, then jump *= s")


def _support(model, layer, inputs, row, col, select=None, first_only=False):
    """(top, bottom, left, right) of the nonzero gradient of ``select(layer output)`` (default: the unit
    summed over channels and batch); ``first_only``: the first image alone."""
    x = (inputs[:1] if first_only else inputs).detach().clone().requires_grad_(True)
    with capture_activations(model, layer, detach=False) as acts:
        model(x)
    out = acts[layer]
    (grad,) = torch.autograd.grad((select(out) if select else out[:, :, row, col]).sum(), x)
    nz = grad.abs().sum(dim=(0, 1)).nonzero()
    return (int(nz[:, 0].min()), int(nz[:, 0].max()), int(nz[:, 1].min()), int(nz[:, 1].max()))


def _half_dead(seed: int) -> nn.Module:
    """conv (positive weights, negative bias) → ReLU → conv: a unit whose field covers a zero region of an
    input sees no gradient from there (the ReLUs are off)."""
    g = generator(seed)
    model = nn.Sequential(OrderedDict([("c1", nn.Conv2d(2, 3, 3, padding=1)), ("r1", nn.ReLU()),
                                       ("c2", nn.Conv2d(3, 2, 3, padding=1))]))
    with torch.no_grad():
        model.c1.weight.copy_(0.5 + 0.5 * torch.rand(model.c1.weight.shape, generator=g))
        model.c1.bias.fill_(-0.3)
        model.c2.weight.copy_(0.5 + 0.5 * torch.rand(model.c2.weight.shape, generator=g))
        model.c2.bias.zero_()
    return model.eval()


@exercise_check
def check_gradient_support(fn) -> CheckResult:
    """``fn(model, layer, inputs, row, col)`` → (top, bottom, left, right), inclusive, of the input pixels
    where the gradient of the layer's output at (row, col), summed over channels and batch, is nonzero."""
    mistakes = {
        "bottom and right must be inclusive (the last nonzero row/column itself, not one past it)":
            lambda *a: (lambda t, b, l, r: (t, b + 1, l, r + 1))(*gradient_support(*a)),
        "rows and columns are swapped: nonzero() gives (row, col) pairs":
            lambda *a: (lambda t, b, l, r: (l, r, t, b))(*gradient_support(*a)),
        "you used the first image only: the support is the union over the batch — sum |gradient| over "
        "dims (0, 1) (images and channels) before nonzero()":
            lambda m, layer, x, r, c: _support(m, layer, x, r, c, first_only=True),
        "this is the support of the whole layer: take the gradient of the one unit out[:, :, row, col]":
            lambda m, layer, x, r, c: _support(m, layer, x, r, c, select=lambda out: out),
        "you followed channel 0 only: sum the unit over all channels, out[:, :, row, col].sum()":
            lambda m, layer, x, r, c: _support(m, layer, x, r, c, select=lambda out: out[:, 0, r, c]),
    }
    g = generator(103)
    half_zero = torch.rand(2, 2, 16, 16, generator=g) + 0.5
    half_zero[0, :, :, :7] = 0.0              # image 0: the left part of the unit's field is dead
    cases = [Case("two convs without activation, centre unit of c2",
                  (seeded(nn.Sequential(OrderedDict([("c1", nn.Conv2d(1, 3, 3, padding=1)),
                                                     ("c2", nn.Conv2d(3, 2, 5, stride=2, padding=2))])), 11).eval(),
                   "c2", torch.rand(2, 1, 16, 16, generator=g), 4, 3)),
             Case("two convs, unit (0, 0) at the top-left border",
                  (seeded(nn.Sequential(OrderedDict([("c1", nn.Conv2d(1, 3, 3, padding=1)),
                                                     ("c2", nn.Conv2d(3, 2, 5, stride=2, padding=2))])), 12).eval(),
                   "c2", torch.rand(2, 1, 16, 16, generator=g), 0, 0)),
             Case("conv-ReLU-conv, unit (6, 6), the first image dark on the left", (_half_dead(13), "c2", half_zero, 6, 6),
                  note="in the first image the left of the unit's field is dead; the second image covers it"),
             Case("conv-ReLU-pool-conv, unit (2, 1) of 'act_b'", (_named_cnn(14, channels=2), "act_b",
                                                                  torch.rand(4, 2, 12, 12, generator=g), 2, 1))]

    return run_check("check_gradient_support", fn, gradient_support, cases, mistakes=mistakes,
                     hint="x = inputs.detach().clone().requires_grad_(); capture the layer's output with a hook "
                          "(not detached), backprop out[:, :, row, col].sum(), then nonzero() of "
                          "x.grad.abs().sum(dim=(0, 1))")


# ======================================================================================= lecture 02
def _reduce(acts, reduce, dims):
    return acts.amax(dim=dims) if reduce == "max" else acts.mean(dim=dims)


@exercise_check
def check_channel_scores(fn) -> CheckResult:
    """``fn(acts, reduce)`` → N×C: each channel's map of N×C×H×W ``acts`` reduced by global ``reduce``
    (``"max"`` or ``"mean"``) pooling."""
    mistakes = {
        "you computed the global mean, not the max": lambda a, r: pool_spatial(a, "mean") if r == "max" else None,
        "you computed the global max, not the mean": lambda a, r: pool_spatial(a, "max") if r == "mean" else None,
        "you summed the map over H and W: max pooling takes its largest value, mean pooling divides the sum "
        "by H·W": lambda a, r: a.sum(dim=(2, 3)),
        "you reduced over the channels (dim 1): reduce over the spatial dims (2, 3), one score per channel":
            lambda a, r: _reduce(a, r, 1),
        "you reduced over H only: reduce over both spatial dims at once, dim=(2, 3)": lambda a, r: _reduce(a, r, 2),
        "keep only N×C: drop keepdim=True (or use .flatten(1))":
            lambda a, r: _reduce(a, r, (2, 3)).view(*a.shape[:2], 1, 1),
        "you pooled |activation|: negative activations keep their sign (the max of an all-negative map is "
        "negative)": lambda a, r: pool_spatial(a.abs(), r),
    }
    g = generator(104)
    cases = [Case("2×3×4×5 random, max", (torch.randn(2, 3, 4, 5, generator=g), "max")),
             Case("3×2×6×6 random, mean", (torch.randn(3, 2, 6, 6, generator=g), "mean")),
             Case("1×4×1×7 all negative, max", (-torch.rand(1, 4, 1, 7, generator=g), "max")),
             Case("5×1×3×3 ReLU-like (many zeros), mean", (torch.randn(5, 1, 3, 3, generator=g).relu(), "mean"))]
    return run_check("check_channel_scores", fn, pool_spatial, cases, mistakes=mistakes,
                     hint="acts.amax(dim=(2, 3)) or acts.mean(dim=(2, 3))")


class _Replay:
    """An iterable over a fixed list of batches that can be iterated again (reference, then student)."""
    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __repr__(self):
        return f"<stream of {len(self.batches)} batches>"


def _top(batches, k, largest=True, relative=False, last_only=False):
    top = StreamingTopK(k, largest=largest)
    batches = list(batches)
    for i, b in enumerate(batches):
        if last_only and i < len(batches) - 1:
            top.seen += len(b)
            continue
        top.update(b)
        if relative:
            top.seen = 0            # positions counted within each batch
    return top.values, top.indices


@exercise_check
def check_streaming_top_k(fn) -> CheckResult:
    """``fn(batches, k)`` with ``batches`` an iterable of B×C score tensors (consecutive dataset items) →
    (values C×k, indices C×k): each column's k largest scores over the whole stream, largest first, and
    their positions in the stream."""
    mistakes = {
        "the values are right but the indices restart at 0 in every batch: add the number of items seen "
        "before the batch": lambda b, k: _top(b, k, relative=True),
        "the k largest values are there but in ascending order: largest first (topk sorts that way; or "
        "sort(descending=True))": lambda b, k: tuple(t.flip(1) for t in _top(b, k)),
        "you kept the k smallest scores: keep the largest (topk's default, largest=True)":
            lambda b, k: _top(b, k, largest=False),
        "the result is k×C: return C×k, one row per channel (transpose)": lambda b, k: tuple(t.t() for t in _top(b, k)),
        "only the last batch counted: merge each batch with the best k kept so far": lambda b, k: _top(b, k, last_only=True),
    }

    def compare_fn(expected, got):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a pair (values, indices), got {type(got).__name__}"
        problem = compare(expected[0], got[0])
        if problem:
            return f"values: {problem}"
        problem = compare(expected[1], got[1])
        return f"indices: {problem}" if problem else None

    def stream(sizes, c, seed):
        g = generator(seed)
        return _Replay([torch.randn(b, c, generator=g) for b in sizes])

    cases = [Case("3 batches of 4 items, 2 channels, k = 3", (stream([4, 4, 4], 2, 105), 3)),
             Case("batches of 5, 1, 6 items, 3 channels, k = 4", (stream([5, 1, 6], 3, 106), 4)),
             Case("one batch of 7 items, 4 channels, k = 7", (stream([7], 4, 107), 7)),
             Case("6 batches of 2 items, 2 channels, k = 1", (stream([2] * 6, 2, 108), 1))]
    return run_check("check_streaming_top_k", fn, lambda b, k: _top(b, k), cases, mistakes=mistakes,
                     compare_fn=compare_fn,
                     hint="keep (values, indices) of the best k so far; per batch: concatenate them with the batch's "
                          "scores and global positions (offset + arange(B)), then topk(k) along the items")


def _slice_crop(image, top, left, size, fill, clip_start=False):
    """The usual slicing mistakes: a negative start used as it is, or the part kept put at the corner."""
    r0, c0 = (max(top, 0), max(left, 0)) if clip_start else (top, left)
    patch = image[:, r0:top + size, c0:left + size]
    out = image.new_full((image.shape[0], size, size), fill)
    out[:, :patch.shape[1], :patch.shape[2]] = patch
    return out


@exercise_check
def check_crop_patch(fn) -> CheckResult:
    """``fn(image, top, left, size, fill)`` → C×size×size window of C×H×W ``image`` with top-left pixel
    (top, left); pixels outside the image are ``fill`` and the image content keeps its place."""
    def moved_inside(image, top, left, size, fill):
        h, w = image.shape[1:]
        return crop_patch(image, min(max(top, 0), max(h - size, 0)), min(max(left, 0), max(w - size, 0)), size, fill)

    mistakes = {
        "the window was moved back inside the image; keep it where it is and fill the part outside the image "
        "with `fill` (the unit's position matters)": moved_inside,
        "the outside pixels should be `fill`, not 0": lambda i, t, l, s, f: crop_patch(i, t, l, s, 0.0),
        "a negative `top` or `left` in a slice counts from the end of the image (image[:, -2:3] is empty): "
        "clip the start at 0, r0 = max(top, 0), and copy into out[:, r0 − top:…, c0 − left:…]":
            lambda i, t, l, s, f: _slice_crop(i, t, l, s, f) if min(t, l) < 0 else None,
        "the image part sits in the patch's top-left corner: when the window starts above or left of the "
        "image, the content starts at row −top / column −left of the patch":
            lambda i, t, l, s, f: _slice_crop(i, t, l, s, f, clip_start=True),
        "the patch must be size×size: the part of the window outside the image is filled with `fill`, "
        "not cut off": lambda i, t, l, s, f: i[:, max(t, 0):max(t + s, 0), max(l, 0):max(l + s, 0)],
    }
    g = generator(109)
    cases = [Case("2×9×11 image, window 4×4 inside at (2, 3)", (torch.rand(2, 9, 11, generator=g), 2, 3, 4, 0.0)),
             Case("window 5×5 at (−2, −1): sticks out top and left", (torch.rand(2, 9, 11, generator=g), -2, -1, 5, -1.0)),
             Case("window 6×6 at (6, 8): sticks out bottom and right", (torch.rand(2, 9, 11, generator=g), 6, 8, 6, 0.5)),
             Case("1×4×4 image, window 8×8 at (−2, −2): larger than the image", (torch.rand(1, 4, 4, generator=g),
                                                                               -2, -2, 8, 0.0)),
             Case("window 3×3 at (20, 20): entirely outside", (torch.rand(2, 9, 11, generator=g), 20, 20, 3, 0.25))]
    return run_check("check_crop_patch", fn, crop_patch, cases, mistakes=mistakes,
                     hint="start from image.new_full((C, size, size), fill); clip the window to the image "
                          "(r0 = max(top, 0), r1 = min(top + size, H), same for columns) and copy "
                          "image[:, r0:r1, c0:c1] to out[:, r0 − top:r1 − top, c0 − left:c1 − left]")


def _pairs(got):
    """A student's answer as a list of int triples, or None if it is not one."""
    try:
        pairs = [tuple(int(v) for v in item) for item in got]
    except (TypeError, ValueError):
        return None
    return pairs if all(len(p) == 3 for p in pairs) else None


def _canonical(pairs):
    """Counts in order, and the pairs grouped by count: the order among equal counts does not matter."""
    groups: dict[int, set] = {}
    for t, p, c in pairs:
        groups.setdefault(int(c), set()).add((int(t), int(p)))
    return [int(c) for _, _, c in pairs], groups


def _same_pairs(a, b) -> bool:
    a, b = _pairs(a), _pairs(b)
    return a is not None and b is not None and _canonical(a) == _canonical(b)


@exercise_check
def check_confused_pairs(fn) -> CheckResult:
    """``fn(predictions, labels, n_classes, n)`` → the ``n`` most frequent mistakes as a list of
    (true class, predicted class, count), largest count first (pairs with equal counts in any order)."""
    def reference(predictions, labels, n_classes, n):
        return confused_pairs(confusion_matrix(predictions, labels, n_classes), n)

    def with_diagonal(predictions, labels, n_classes, n):
        cm = confusion_matrix(predictions, labels, n_classes)
        pairs = sorted(((int(cm[t, p]), t, p) for t in range(n_classes) for p in range(n_classes)), key=lambda c: -c[0])
        return [(t, p, c) for c, t, p in pairs[:n]]

    def smallest(predictions, labels, n_classes, n):
        cm = confusion_matrix(predictions, labels, n_classes)
        pairs = sorted((int(cm[t, p]), t, p) for t in range(n_classes) for p in range(n_classes) if t != p)
        return [(t, p, c) for c, t, p in pairs[:n]]

    mistakes = {
        "true and predicted classes are swapped: rows of the confusion matrix are the true classes":
            lambda p, l, c, n: confused_pairs(confusion_matrix(p, l, c).t(), n),
        "your list contains correct predictions (true == predicted): a confusion is an off-diagonal entry of "
        "the confusion matrix": with_diagonal,
        "you took the smallest counts: sort by count, largest first (sorted(..., reverse=True))": smallest,
    }

    def compare_fn(expected, got):
        pairs = _pairs(got)
        if pairs is None:
            return f"expected a list of (true, predicted, count) triples, got {type(got).__name__}"
        if len(pairs) != len(expected):
            return f"expected {len(expected)} pairs, got {len(pairs)}"
        if any(t == p for t, p, _ in pairs):
            return ("your list contains correct predictions (true == predicted): a confusion is an off-diagonal "
                    "entry of the confusion matrix")
        return None if _canonical(pairs) == _canonical(expected) else f"expected {expected}, got {pairs}"

    def case(seed, n_items, n_classes, accuracy):
        g = generator(seed)
        labels = torch.randint(0, n_classes, (n_items,), generator=g)
        wrong = torch.rand(n_items, generator=g) > accuracy
        # mistakes concentrate on a few pairs, as in a real classifier
        shift = 1 + (torch.rand(n_items, generator=g) < 0.3).long() * (labels % 2 + 1)
        predictions = torch.where(wrong, (labels + shift) % n_classes, labels)
        return predictions, labels

    cases = [Case("300 items, 5 classes, 3 pairs", (*case(110, 300, 5, 0.7), 5, 3)),
             Case("500 items, 10 classes, 5 pairs", (*case(111, 500, 10, 0.8), 10, 5)),
             Case("60 items, 3 classes, 1 pair", (*case(112, 60, 3, 0.5), 3, 1))]
    return run_check("check_confused_pairs", fn, reference, cases, mistakes=mistakes, compare_fn=compare_fn,
                     match=_same_pairs,
                     hint="count (true, predicted) pairs, e.g. with a confusion matrix cm[t, p]; ignore t == p; "
                          "sort by count, largest first")
