"""Checks for lectures 01 (weights and activations) and 02 (maximally activating examples).

Each runs your function on fresh cases (seeded random tensors, small hand-made models) and compares it with
``course_utils.probing`` / ``course_utils.hooks``:

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
from . import Case, CheckResult, compare, run_check


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _close(a, b) -> bool:
    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape and torch.allclose(
        a.detach().double().nan_to_num(0.0), b.detach().double(), atol=1e-5, rtol=1e-4)


def _with_mistakes(state: dict, base=compare):
    """A ``compare_fn``: the usual comparison; when it fails, the message of the first typical mistake whose
    result ``got`` reproduces (``state["mistakes"]``: (result of the mistake, message) for the current case)."""
    def compare_fn(expected, got):
        problem = base(expected, got)
        if problem is None:
            return None
        for alt, message in state.get("mistakes", []):
            if _close(alt, got) if isinstance(alt, torch.Tensor) else alt == got:
                return message
        return problem
    return compare_fn


# ======================================================================================= lecture 01
def check_normalize_filters(fn) -> CheckResult:
    """``fn(weights)`` → every kernel of O×C×k×k ``weights`` min-max scaled to [0, 1] on its own (all its
    channels together); a constant kernel becomes all zeros."""
    state: dict = {}

    def reference(weights):
        state["mistakes"] = [
            (normalize_filters(weights, "all"), "all kernels were scaled together: each kernel needs its own "
             "min and max (reduce over dims 1, 2, 3 with keepdim=True)"),
            (_per_channel(weights), "each channel was scaled on its own: a kernel's colour channels must share "
             "one min and max, or the colours change"),
            (normalize_filters(weights, "symmetric"), "that is the symmetric scaling (0 ↦ 0.5); this exercise "
             "asks for min ↦ 0 and max ↦ 1"),
        ]
        return normalize_filters(weights, "each")

    g = _gen(101)
    rgb = torch.randn(5, 3, 3, 3, generator=g) * torch.tensor([0.1, 1.0, 3.0, 0.5, 2.0]).view(5, 1, 1, 1)
    grey = torch.randn(4, 1, 5, 5, generator=g) + 2.0
    with_flat = torch.randn(3, 2, 3, 3, generator=g)
    with_flat[1] = 0.7
    cases = [Case("5 RGB kernels 3×3 of very different scales", (rgb,)),
             Case("4 one-channel kernels 5×5, all positive", (grey,)),
             Case("3 two-channel kernels, the second one constant", (with_flat,))]
    return run_check("check_normalize_filters", _unchanged(fn), reference, cases,
                     hint="(w − min) / (max − min) with min and max per kernel; where max == min use 1 as the "
                          "denominator", compare_fn=_with_mistakes(state))


def _per_channel(weights: torch.Tensor) -> torch.Tensor:
    lo, hi = weights.amin(dim=(2, 3), keepdim=True), weights.amax(dim=(2, 3), keepdim=True)
    return (weights - lo) / torch.where(hi > lo, hi - lo, torch.ones_like(hi))


def _unchanged(fn):
    """Wrap ``fn`` so that modifying the input tensor in place is reported."""
    def wrapped(weights):
        before = weights.clone()
        out = fn(weights)
        if not torch.equal(before, weights):
            raise ValueError("your function modified `weights` in place; work on a copy "
                             "(e.g. compute (weights - lo) / span into a new tensor)")
        return out
    return wrapped


def _named_cnn(seed: int, channels: int = 1) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict([
        ("conv_a", nn.Conv2d(channels, 4, 3, padding=1)), ("act_a", nn.ReLU()), ("pool", nn.MaxPool2d(2)),
        ("conv_b", nn.Conv2d(4, 6, 3)), ("act_b", nn.ReLU()), ("gap", nn.AdaptiveAvgPool2d(1)),
        ("flat", nn.Flatten()), ("head", nn.Linear(6, 3))])).eval()


class _Nested(nn.Module):
    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.features = nn.Sequential(nn.Conv2d(3, 5, 3), nn.Tanh(), nn.Conv2d(5, 2, 1))
        self.classifier = nn.Linear(2, 4)

    def forward(self, x):
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def _n_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


_HOOKS_LEFT = "__hooks_left__"


def check_record_activations(fn) -> CheckResult:
    """``fn(model, layer_names, x)`` → {name: output of that layer for ``x``, detached}; every hook the
    function registered is removed before it returns."""
    def reference(model, layer_names, x):
        with capture_activations(model, layer_names) as acts:
            model(x)
        return dict(acts)

    def student(model, layer_names, x):
        out = fn(model, layer_names, x)
        return (_HOOKS_LEFT, _n_hooks(model)) if _n_hooks(model) else out

    def compare_fn(expected, got):
        if isinstance(got, tuple) and got and got[0] == _HOOKS_LEFT:
            return (f"{got[1]} hook(s) are still registered after your function returned: keep the handles "
                    "that register_forward_hook returns and call handle.remove() (in a `finally:` block)")
        if not isinstance(got, dict):
            return f"expected a dict {{layer name: tensor}}, got {type(got).__name__}"
        if sorted(got) != sorted(expected):
            return f"expected the keys {sorted(expected)}, got {sorted(got)}"
        for name in expected:
            problem = compare(expected[name], got[name])
            if problem:
                return f"layer {name!r}: {problem}"
        return None

    g = _gen(102)
    cases = [Case("a named CNN, layers ['conv_a', 'act_b']", (_named_cnn(7), ["conv_a", "act_b"],
                                                              torch.rand(2, 1, 10, 10, generator=g))),
             Case("a named CNN, one layer ['pool']", (_named_cnn(8), ["pool"], torch.rand(3, 1, 8, 8, generator=g))),
             Case("a nested model, layers ['features.1', 'classifier']",
                  (_Nested(9), ["features.1", "classifier"], torch.rand(2, 3, 6, 6, generator=g)))]
    return run_check("check_record_activations", student, reference, cases,
                     hint="dict(model.named_modules())[name].register_forward_hook(hook); in the hook store "
                          "output.detach(); run model(x); remove every handle", compare_fn=compare_fn)


def check_stack_receptive_field(fn) -> CheckResult:
    """``fn(layers)`` with ``layers`` a list of (kernel, stride, padding) → a list with one
    (size, jump, start) per layer: receptive field size, jump and centre of the first unit, in input pixels."""
    state: dict = {}

    def reference(layers):
        model = nn.Sequential(*[nn.Conv2d(1, 1, k, stride=s, padding=p) for k, s, p in layers])
        rfs = receptive_fields(model, (1, 64, 64))
        no_jump = []
        r, j = 1, 1
        for k, s, p in layers:
            r, j = r + k - 1, j * s
            no_jump.append(r)
        state["mistakes"] = [no_jump]
        return [(rf.size, rf.jump, float(rf.start)) for rf in rfs]

    def compare_fn(expected, got):
        problem = compare(expected, got)
        if problem is None:
            return None
        try:
            sizes = [int(t[0]) for t in got]
        except (TypeError, IndexError, ValueError):
            return problem
        if sizes == state["mistakes"][0] and sizes != [e[0] for e in expected]:
            return ("the sizes grow by (kernel − 1) per layer: after a stride the next kernel's neighbours are "
                    "`jump` input pixels apart, so the size grows by (kernel − 1) · jump")
        if [int(t[0]) for t in got] == [e[0] for e in expected] and [t[1] for t in got] == [e[1] for e in expected]:
            return f"sizes and jumps are right; the starts differ: {problem} (start += ((kernel − 1)/2 − padding) · jump)"
        return problem

    cases = [Case("conv 3 s1 p1, conv 3 s1 p1", ([(3, 1, 1), (3, 1, 1)],)),
             Case("conv 5 s2 p2, pool 2 s2 p0, conv 3 s1 p1", ([(5, 2, 2), (2, 2, 0), (3, 1, 1)],)),
             Case("conv 7 s2 p3, conv 3 s2 p0, conv 1 s1 p0, conv 3 s1 p1",
                  ([(7, 2, 3), (3, 2, 0), (1, 1, 0), (3, 1, 1)],))]
    return run_check("check_stack_receptive_field", fn, reference, cases,
                     hint="start with size 1, jump 1, start 0; per layer: size += (k − 1)·jump, "
                          "start += ((k − 1)/2 − p)·jump, then jump *= s", compare_fn=compare_fn)


def check_gradient_support(fn) -> CheckResult:
    """``fn(model, layer, inputs, row, col)`` → (top, bottom, left, right), inclusive, of the input pixels
    where the gradient of the layer's output at (row, col), summed over channels and batch, is nonzero."""
    state: dict = {}

    def reference(model, layer, inputs, row, col):
        t, b, l, r = gradient_support(model, layer, inputs, row, col)
        state["mistakes"] = [((t, b + 1, l, r + 1), "bottom and right must be inclusive (the last nonzero "
                              "row/column itself, not one past it)"),
                             ((l, r, t, b), "rows and columns are swapped: nonzero() gives (row, col) pairs")]
        return (t, b, l, r)

    def untouched(model, layer, inputs, row, col):
        out = fn(model, layer, inputs, row, col)
        if _n_hooks(model):
            return ("hooks left",)
        if inputs.grad is not None or inputs.requires_grad:
            return ("inputs changed",)
        return tuple(int(v) for v in out) if isinstance(out, (tuple, list)) else out

    def compare_fn(expected, got):
        if got == ("hooks left",):
            return "a hook is still registered on the model after your function returned: remove it"
        if got == ("inputs changed",):
            return "your function changed `inputs` (requires_grad or .grad): work on inputs.detach().clone()"
        return _with_mistakes(state)(expected, got)

    g = _gen(103)
    torch.manual_seed(11)
    linear_stack = nn.Sequential(OrderedDict([("c1", nn.Conv2d(1, 3, 3, padding=1)),
                                              ("c2", nn.Conv2d(3, 2, 5, stride=2, padding=2))])).eval()
    cases = [Case("two convs without activation, centre unit of c2", (linear_stack, "c2",
                                                                      torch.rand(2, 1, 16, 16, generator=g), 4, 3)),
             Case("two convs, unit (0, 0) at the top-left border", (linear_stack, "c2",
                                                                    torch.rand(2, 1, 16, 16, generator=g), 0, 0)),
             Case("conv-ReLU-pool-conv, unit (2, 1) of 'act_b'", (_named_cnn(12, channels=2), "act_b",
                                                                  torch.rand(4, 2, 12, 12, generator=g), 2, 1))]
    return run_check("check_gradient_support", untouched, reference, cases,
                     hint="x = inputs.detach().clone().requires_grad_(); capture the layer's output with a hook "
                          "(not detached), backprop out[:, :, row, col].sum(), then nonzero() of "
                          "x.grad.abs().sum(dim=(0, 1))", compare_fn=compare_fn)


# ======================================================================================= lecture 02
def check_channel_scores(fn) -> CheckResult:
    """``fn(acts, reduce)`` → N×C: each channel's map of N×C×H×W ``acts`` reduced by global ``reduce``
    (``"max"`` or ``"mean"``) pooling."""
    state: dict = {}

    def reference(acts, reduce):
        other = "mean" if reduce == "max" else "max"
        state["mistakes"] = [(pool_spatial(acts, other), f"you computed the global {other}, not the {reduce}"),
                             (acts.sum(dim=(2, 3)), "you summed the map: the mean divides by H·W")]
        return pool_spatial(acts, reduce)

    g = _gen(104)
    cases = [Case("2×3×4×5 random, max", (torch.randn(2, 3, 4, 5, generator=g), "max")),
             Case("3×2×6×6 random, mean", (torch.randn(3, 2, 6, 6, generator=g), "mean")),
             Case("1×4×1×7 all negative, max", (-torch.rand(1, 4, 1, 7, generator=g), "max")),
             Case("5×1×3×3 ReLU-like (many zeros), mean", (torch.randn(5, 1, 3, 3, generator=g).relu(), "mean"))]
    return run_check("check_channel_scores", fn, reference, cases,
                     hint="acts.amax(dim=(2, 3)) or acts.mean(dim=(2, 3))", compare_fn=_with_mistakes(state))


def check_streaming_top_k(fn) -> CheckResult:
    """``fn(batches, k)`` with ``batches`` an iterable of B×C score tensors (consecutive dataset items) →
    (values C×k, indices C×k): each column's k largest scores over the whole stream, largest first, and
    their positions in the stream."""
    state: dict = {}

    def reference(batches, k):
        top = StreamingTopK(k)
        relative = StreamingTopK(k)
        for b in batches:
            top.update(b)
            relative.update(b)
            relative.seen = 0           # the usual mistake: positions counted within each batch
        state["relative"] = relative.indices
        return top.values, top.indices

    def compare_fn(expected, got):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a pair (values, indices), got {type(got).__name__}"
        problem = compare(expected[0], got[0])
        if problem:
            return f"values: {problem}"
        if not isinstance(got[1], torch.Tensor) or got[1].shape != expected[1].shape:
            return f"indices: {compare(expected[1], got[1])}"
        if torch.equal(got[1].long(), state["relative"]) and not torch.equal(got[1].long(), expected[1]):
            return ("the values are right but the indices restart at 0 in every batch: add the number of "
                    "items seen before the batch")
        if not torch.equal(got[1].long(), expected[1]):
            return f"indices: {compare(expected[1].double(), got[1].double())}"
        return None

    def stream(shape_list, c, seed):
        g = _gen(seed)
        return [torch.randn(b, c, generator=g) for b in shape_list]

    cases = [Case("3 batches of 4 items, 2 channels, k = 3", (stream([4, 4, 4], 2, 105), 3)),
             Case("batches of 5, 1, 6 items, 3 channels, k = 4", (stream([5, 1, 6], 3, 106), 4)),
             Case("one batch of 7 items, 4 channels, k = 7", (stream([7], 4, 107), 7)),
             Case("6 batches of 2 items, 2 channels, k = 1", (stream([2] * 6, 2, 108), 1))]
    for case in cases:                      # the student's function receives an iterable, not a list
        case.args = (_Replay(case.args[0]), case.args[1])
    return run_check("check_streaming_top_k", fn, reference, cases,
                     hint="keep (values, indices) of the best k so far; per batch: concatenate them with the batch's "
                          "scores and global positions (offset + arange(B)), then topk(k) along the items",
                     compare_fn=compare_fn)


class _Replay:
    """An iterable over a fixed list of batches that can be iterated again (reference, then student)."""
    def __init__(self, batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __repr__(self):
        return f"<stream of {len(self.batches)} batches>"


def check_crop_patch(fn) -> CheckResult:
    """``fn(image, top, left, size, fill)`` → C×size×size window of C×H×W ``image`` with top-left pixel
    (top, left); pixels outside the image are ``fill`` and the image content keeps its place."""
    state: dict = {}

    def reference(image, top, left, size, fill):
        h, w = image.shape[1:]
        t, l = min(max(top, 0), max(h - size, 0)), min(max(left, 0), max(w - size, 0))
        shifted = crop_patch(image, t, l, size, fill)
        state["mistakes"] = [(shifted, "the window was moved back inside the image; keep it where it is and "
                              "fill the part outside the image with `fill` (the unit's position matters)"),
                             (crop_patch(image, top, left, size, 0.0) if fill != 0 else None,
                              "the outside pixels should be `fill`, not 0")]
        return crop_patch(image, top, left, size, fill)

    g = _gen(109)
    img = torch.rand(2, 9, 11, generator=g)
    cases = [Case("2×9×11 image, window 4×4 inside at (2, 3)", (img, 2, 3, 4, 0.0)),
             Case("window 5×5 at (−2, −1): sticks out top and left", (img, -2, -1, 5, -1.0)),
             Case("window 6×6 at (6, 8): sticks out bottom and right", (img, 6, 8, 6, 0.5)),
             Case("1×4×4 image, window 8×8 at (−2, −2): larger than the image", (torch.rand(1, 4, 4, generator=g),
                                                                               -2, -2, 8, 0.0)),
             Case("window 3×3 at (20, 20): entirely outside", (img, 20, 20, 3, 0.25))]
    return run_check("check_crop_patch", fn, reference, cases,
                     hint="start from image.new_full((C, size, size), fill); clip the window to the image "
                          "(r0 = max(top, 0), r1 = min(top + size, H), same for columns) and copy "
                          "image[:, r0:r1, c0:c1] to out[:, r0 − top:r1 − top, c0 − left:c1 − left]",
                     compare_fn=_with_mistakes(state))


def check_confused_pairs(fn) -> CheckResult:
    """``fn(predictions, labels, n_classes, n)`` → the ``n`` most frequent mistakes as a list of
    (true class, predicted class, count), largest count first (pairs with equal counts in any order)."""
    state: dict = {}

    def reference(predictions, labels, n_classes, n):
        cm = confusion_matrix(predictions, labels, n_classes)
        state["swapped"] = confused_pairs(cm.t(), n)
        return confused_pairs(cm, n)

    def canonical(pairs):
        """Pairs grouped by count: tie order does not matter."""
        groups: dict[int, set] = {}
        for t, p, c in pairs:
            groups.setdefault(int(c), set()).add((int(t), int(p)))
        return [int(c) for _, _, c in pairs], groups

    def compare_fn(expected, got):
        try:
            got = [tuple(int(v) for v in item) for item in got]
        except (TypeError, ValueError):
            return f"expected a list of (true, predicted, count) tuples, got {type(got).__name__}"
        if any(len(item) != 3 for item in got):
            return "each item must be a triple (true, predicted, count)"
        if len(got) != len(expected):
            return f"expected {len(expected)} pairs, got {len(got)}"
        if any(t == p for t, p, _ in got):
            return ("your list contains correct predictions (true == predicted): a confusion is an off-diagonal "
                    "entry of the confusion matrix")
        if canonical(got) == canonical(expected):
            return None
        if canonical(got) == canonical(state["swapped"]):
            return "true and predicted classes are swapped: rows of the confusion matrix are the true classes"
        return f"expected {expected}, got {got}"

    def case(seed, n_items, n_classes, accuracy):
        g = _gen(seed)
        labels = torch.randint(0, n_classes, (n_items,), generator=g)
        wrong = torch.rand(n_items, generator=g) > accuracy
        # mistakes concentrate on a few pairs, as in a real classifier
        shift = 1 + (torch.rand(n_items, generator=g) < 0.3).long() * (labels % 2 + 1)
        predictions = torch.where(wrong, (labels + shift) % n_classes, labels)
        return predictions, labels

    cases = [Case("300 items, 5 classes, 3 pairs", (*case(110, 300, 5, 0.7), 5, 3)),
             Case("500 items, 10 classes, 5 pairs", (*case(111, 500, 10, 0.8), 10, 5)),
             Case("60 items, 3 classes, 1 pair", (*case(112, 60, 3, 0.5), 3, 1))]
    return run_check("check_confused_pairs", fn, reference, cases,
                     hint="count (true, predicted) pairs, e.g. with a confusion matrix cm[t, p]; ignore t == p; "
                          "sort by count, largest first", compare_fn=compare_fn)
