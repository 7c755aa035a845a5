"""Wrong student functions: every exercise check must fail each of them with the message naming its mistake.

Each entry is what a student could plausibly write — a wrong formula, a forgotten step, a change to the
model or the inputs left behind, a wrong dtype, a missing ``return`` — and a phrase that only the right
diagnosis contains. A check that stops recognising a mistake fails here. ``test_counts`` keeps at least
three per check. The reference solutions themselves come from solutions/ (tests/students.py).
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.hooks import capture_activations, get_layer, preserved_state
from students import EXERCISES

WRONG: dict[str, list[tuple[str, object, str]]] = {}     # check id → [(what, wrong function, phrase)]


def wrong(check_id: str, phrase: str):
    """Register the decorated function as a wrong answer to ``check_id`` whose message must hold ``phrase``."""
    def register(fn):
        WRONG.setdefault(check_id, []).append((fn.__name__, fn, phrase))
        return fn
    return register


# ============================================================================================ 01
def _norm(w, dims=(1, 2, 3), guard=True):
    lo, hi = w.amin(dim=dims, keepdim=True), w.amax(dim=dims, keepdim=True)
    span = hi - lo
    return (w - lo) / (torch.where(span > 0, span, torch.ones_like(span)) if guard else span)


@wrong("check_normalize_filters", "all kernels were scaled together")
def all_kernels_together(weights):
    return (weights - weights.min()) / (weights.max() - weights.min())


@wrong("check_normalize_filters", "each channel was scaled on its own")
def per_channel(weights):
    return _norm(weights, dims=(2, 3))


@wrong("check_normalize_filters", "0/0 = NaN")
def no_guard(weights):
    return _norm(weights, guard=False)


@wrong("check_normalize_filters", "modified `weights` in place")
def normalizes_in_place(weights):
    lo, hi = weights.amin(dim=(1, 2, 3), keepdim=True), weights.amax(dim=(1, 2, 3), keepdim=True)
    weights -= lo
    return weights / torch.where(hi > lo, hi - lo, torch.ones_like(hi))


@wrong("check_normalize_filters", "divided by the kernel's max")
def divides_by_max(weights):
    lo, hi = weights.amin(dim=(1, 2, 3), keepdim=True), weights.amax(dim=(1, 2, 3), keepdim=True)
    return (weights - lo) / torch.where(hi != 0, hi, torch.ones_like(hi))


@wrong("check_normalize_filters", "return float32")
def normalizes_in_float64(weights):
    return _norm(weights.double())


@wrong("check_normalize_filters", "returned None")
def forgets_return(weights):
    _norm(weights)


def _record(model, layer_names, x, detach=True, remove=True, what="output", late_binding=False):
    modules, store, handles = dict(model.named_modules()), {}, []
    for name in layer_names:
        if late_binding:
            hook = lambda m, i, o: store.__setitem__(name, o.detach())       # noqa: E731 (the bug)
        else:
            def hook(m, i, o, name=name):
                value = o if what == "output" else i[0]
                store[name] = value.detach() if detach else value
        handles.append(modules[name].register_forward_hook(hook))
    model(x)
    if remove:
        for h in handles:
            h.remove()
    return store


@wrong("check_record_activations", "still registered")
def hooks_left(model, layer_names, x):
    return _record(model, layer_names, x, remove=False)


@wrong("check_record_activations", "attached to the autograd graph")
def not_detached(model, layer_names, x):
    return _record(model, layer_names, x, detach=False)


@wrong("check_record_activations", "late binding")
def late_binding(model, layer_names, x):
    return _record(model, layer_names, x, late_binding=True)


@wrong("check_record_activations", "stored each layer's input")
def stores_inputs(model, layer_names, x):
    return _record(model, layer_names, x, what="input")


@wrong("check_record_activations", "expected a dict")
def returns_a_list(model, layer_names, x):
    out = _record(model, layer_names, x)
    return [out[n] for n in layer_names]


def _stack(layers, order="size start jump", size_step=True):
    size, jump, start, out = 1, 1, 0.0, []
    for k, s, p in layers:
        for step in order.split():
            if step == "size":
                size += (k - 1) * (jump if size_step else 1)
            elif step == "start":
                start += ((k - 1) / 2 - p) * jump
            else:
                jump *= s
        out.append((size, jump, start))
    return out


@wrong("check_stack_receptive_field", "(kernel − 1) · jump")
def size_without_jump(layers):
    return _stack(layers, size_step=False)


@wrong("check_stack_receptive_field", "update size and start first, jump last")
def jump_updated_first(layers):
    return _stack(layers, order="jump size start")


@wrong("check_stack_receptive_field", "the start used the jump already multiplied")
def jump_before_start(layers):
    return _stack(layers, order="size jump start")


@wrong("check_stack_receptive_field", "ignores the padding")
def start_without_padding(layers):
    size, jump, start, out = 1, 1, 0.0, []
    for k, s, p in layers:
        size, start, jump = size + (k - 1) * jump, start + (k - 1) / 2 * jump, jump * s
        out.append((size, jump, start))
    return out


@wrong("check_stack_receptive_field", "returned None")
def prints_instead_of_returning(layers):
    print(_stack(layers))


def _support(model, layer, inputs, row, col, first_only=False, exclusive=False, swap=False):
    x = (inputs[:1] if first_only else inputs).detach().clone().requires_grad_(True)
    with capture_activations(model, layer, detach=False) as acts:
        model(x)
    (grad,) = torch.autograd.grad(acts[layer][:, :, row, col].sum(), x)
    nz = grad.abs().sum(dim=(0, 1)).nonzero()
    t, b, l, r = int(nz[:, 0].min()), int(nz[:, 0].max()), int(nz[:, 1].min()), int(nz[:, 1].max())
    if exclusive:
        b, r = b + 1, r + 1
    return (l, r, t, b) if swap else (t, b, l, r)


@wrong("check_gradient_support", "first image only")
def first_image_only(model, layer, inputs, row, col):
    return _support(model, layer, inputs, row, col, first_only=True)


@wrong("check_gradient_support", "inclusive")
def exclusive_end(model, layer, inputs, row, col):
    return _support(model, layer, inputs, row, col, exclusive=True)


@wrong("check_gradient_support", "rows and columns are swapped")
def swapped_axes(model, layer, inputs, row, col):
    return _support(model, layer, inputs, row, col, swap=True)


@wrong("check_gradient_support", "backward hook(s)")
def full_backward_hook_left(model, layer, inputs, row, col):
    get_layer(model, layer).register_full_backward_hook(lambda m, gi, go: None)
    return _support(model, layer, inputs, row, col)


@wrong("check_gradient_support", "changed `inputs.requires_grad`")
def differentiates_the_callers_tensor(model, layer, inputs, row, col):
    inputs.requires_grad_(True)
    with capture_activations(model, layer, detach=False) as acts:
        model(inputs)
    (grad,) = torch.autograd.grad(acts[layer][:, :, row, col].sum(), inputs)
    nz = grad.abs().sum(dim=(0, 1)).nonzero()
    return int(nz[:, 0].min()), int(nz[:, 0].max()), int(nz[:, 1].min()), int(nz[:, 1].max())


@wrong("check_gradient_support", "forward hook(s)")
def forward_hook_left(model, layer, inputs, row, col):
    store = {}
    get_layer(model, layer).register_forward_hook(lambda m, i, o: store.update(out=o))
    x = inputs.detach().clone().requires_grad_(True)
    model(x)
    (grad,) = torch.autograd.grad(store["out"][:, :, row, col].sum(), x)
    nz = grad.abs().sum(dim=(0, 1)).nonzero()
    return int(nz[:, 0].min()), int(nz[:, 0].max()), int(nz[:, 1].min()), int(nz[:, 1].max())


# ============================================================================================ 02
@wrong("check_channel_scores", "you computed the global mean, not the max")
def always_mean(acts, reduce="max"):
    return acts.mean(dim=(2, 3))


@wrong("check_channel_scores", "you summed the map")
def sums_for_mean(acts, reduce="max"):
    return acts.amax(dim=(2, 3)) if reduce == "max" else acts.sum(dim=(2, 3))


@wrong("check_channel_scores", "reduced over the channels")
def over_channels(acts, reduce="max"):
    return acts.amax(dim=1) if reduce == "max" else acts.mean(dim=1)


@wrong("check_channel_scores", "drop keepdim=True")
def keeps_dims(acts, reduce="max"):
    return acts.amax(dim=(2, 3), keepdim=True) if reduce == "max" else acts.mean(dim=(2, 3), keepdim=True)


@wrong("check_channel_scores", "you pooled |activation|")
def pools_magnitudes(acts, reduce="max"):
    return acts.abs().amax(dim=(2, 3)) if reduce == "max" else acts.mean(dim=(2, 3))


def _streaming(batches, k, relative=False, largest=True, ascending=False, transpose=False):
    best_v = best_i = None
    offset = 0
    for scores in batches:
        v = scores.t()
        i = ((0 if relative else offset) + torch.arange(len(scores))).expand(scores.shape[1], -1)
        if best_v is not None:
            v, i = torch.cat([best_v, v], 1), torch.cat([best_i, i], 1)
        top = v.topk(min(k, v.shape[1]), dim=1, largest=largest)
        best_v, best_i = top.values, i.gather(1, top.indices)
        offset += len(scores)
    if ascending:
        best_v, best_i = best_v.flip(1), best_i.flip(1)
    return (best_v.t(), best_i.t()) if transpose else (best_v, best_i)


@wrong("check_streaming_top_k", "restart at 0")
def relative_indices(batches, k):
    return _streaming(batches, k, relative=True)


@wrong("check_streaming_top_k", "ascending order")
def ascending(batches, k):
    return _streaming(batches, k, ascending=True)


@wrong("check_streaming_top_k", "k smallest")
def smallest(batches, k):
    return _streaming(batches, k, largest=False)


@wrong("check_streaming_top_k", "return C×k")
def transposed(batches, k):
    return _streaming(batches, k, transpose=True)


@wrong("check_streaming_top_k", "only the last batch")
def forgets_earlier_batches(batches, k):
    offset, out = 0, None
    for scores in batches:
        top = scores.t().topk(min(k, len(scores)), dim=1)
        out = top.values, offset + top.indices
        offset += len(scores)
    return out


def _crop(image, top, left, size, fill=0.0):
    c, h, w = image.shape
    out = image.new_full((c, size, size), fill)
    r0, r1, c0, c1 = max(top, 0), min(top + size, h), max(left, 0), min(left + size, w)
    if r0 < r1 and c0 < c1:
        out[:, r0 - top:r1 - top, c0 - left:c1 - left] = image[:, r0:r1, c0:c1]
    return out


@wrong("check_crop_patch", "counts from the end")
def negative_start_slice(image, top, left, size, fill=0.0):
    patch = image[:, top:top + size, left:left + size]
    out = torch.full((image.shape[0], size, size), fill)
    out[:, :patch.shape[1], :patch.shape[2]] = patch
    return out


@wrong("check_crop_patch", "not 0")
def zeros_outside(image, top, left, size, fill=0.0):
    return _crop(image, top, left, size, 0.0)


@wrong("check_crop_patch", "moved back inside")
def moved_inside(image, top, left, size, fill=0.0):
    h, w = image.shape[1:]
    return _crop(image, min(max(top, 0), max(h - size, 0)), min(max(left, 0), max(w - size, 0)), size, fill)


@wrong("check_crop_patch", "modified `image` in place")
def zeroes_the_image(image, top, left, size, fill=0.0):
    out = _crop(image, top, left, size, fill)
    image.zero_()
    return out


@wrong("check_crop_patch", "returned None")
def crop_without_return(image, top, left, size, fill=0.0):
    _crop(image, top, left, size, fill)


@wrong("check_crop_patch", "top-left corner")
def content_at_the_corner(image, top, left, size, fill=0.0):
    patch = image[:, max(top, 0):top + size, max(left, 0):left + size]
    out = image.new_full((image.shape[0], size, size), fill)
    out[:, :patch.shape[1], :patch.shape[2]] = patch
    return out


def _confusions(predictions, labels, n_classes):
    return Counter(zip(labels.tolist(), predictions.tolist()))


@wrong("check_confused_pairs", "swapped")
def swapped_pairs(predictions, labels, n_classes, n=5):
    counts = Counter(zip(predictions.tolist(), labels.tolist()))
    return [(t, p, c) for (t, p), c in counts.most_common() if t != p][:n]


@wrong("check_confused_pairs", "correct predictions")
def keeps_the_diagonal(predictions, labels, n_classes, n=5):
    return [(t, p, c) for (t, p), c in _confusions(predictions, labels, n_classes).most_common(n)]


@wrong("check_confused_pairs", "smallest counts")
def smallest_first(predictions, labels, n_classes, n=5):
    counts = _confusions(predictions, labels, n_classes)
    pairs = sorted((counts.get((t, p), 0), t, p) for t in range(n_classes) for p in range(n_classes) if t != p)
    return [(t, p, c) for c, t, p in pairs[:n]]


@wrong("check_confused_pairs", "returned None")
def pairs_without_return(predictions, labels, n_classes, n=5):
    [(t, p, c) for (t, p), c in _confusions(predictions, labels, n_classes).most_common() if t != p][:n]


# ============================================================================================ 03
def _occ(model, image, target, window, stride, value, reduce="mean", positions=None, grid=False, channels=None,
         no_grad=True):
    from course_utils.attribution import window_positions
    c, h, w = image.shape
    pos = positions or (lambda n: window_positions(n, window, stride))
    boxes = [(t, l) for t in pos(h) for l in pos(w)]
    copies = image.repeat(len(boxes), 1, 1, 1)
    for k, (t, l) in enumerate(boxes):
        copies[k, :channels, t:t + window, l:l + window] = value
    with torch.set_grad_enabled(not no_grad):
        drops = model(image[None])[0, target] - model(copies)[:, target]
    if grid:
        return drops.view(len(pos(h)), len(pos(w)))
    total, count = torch.zeros(h, w), torch.zeros(h, w)
    for (t, l), d in zip(boxes, drops):
        total[t:t + window, l:l + window] += d
        count[t:t + window, l:l + window] += 1
    return total if reduce == "sum" else total / count


@wrong("check_occlusion_map", "attached to the autograd graph")
def occlusion_without_no_grad(model, image, target, window, stride, value):
    return _occ(model, image, target, window, stride, value, no_grad=False)


@wrong("check_occlusion_map", "divide each pixel by the number of windows")
def summed_drops(model, image, target, window, stride, value):
    return _occ(model, image, target, window, stride, value, reduce="sum")


@wrong("check_occlusion_map", "a grid")
def grid_of_drops(model, image, target, window, stride, value):
    return _occ(model, image, target, window, stride, value, grid=True)


@wrong("check_occlusion_map", "S − window")
def no_last_window(model, image, target, window, stride, value):
    return _occ(model, image, target, window, stride, value, positions=lambda n: range(0, n - window + 1, stride))


@wrong("check_occlusion_map", "changed the weights of `model`")
def zeroes_the_weights(model, image, target, window, stride, value):
    out = _occ(model, image, target, window, stride, value)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return out


@wrong("check_occlusion_map", "first channel only")
def occludes_one_channel(model, image, target, window, stride, value):
    return _occ(model, image, target, window, stride, value, channels=1)


@wrong("check_occlusion_map", "wrong sign")
def occluded_minus_base(model, image, target, window, stride, value):
    return -_occ(model, image, target, window, stride, value)


def _blobs(centres, height, width, sigma, denominator=None, combine="clip"):
    i = torch.arange(height, dtype=torch.float32).view(1, 1, -1, 1)
    j = torch.arange(width, dtype=torch.float32).view(1, 1, 1, -1)
    d2 = (i - centres[:, :, 0, None, None]) ** 2 + (j - centres[:, :, 1, None, None]) ** 2
    g = torch.exp(-d2 / (2 * sigma ** 2 if denominator is None else denominator))
    return {"clip": g.sum(1, keepdim=True).clamp(max=1), "sum": g.sum(1, keepdim=True),
            "max": g.amax(1, keepdim=True), "squeeze": g.sum(1).clamp(max=1)}[combine]


@wrong("check_bubble_masks", "not exp(−d² / σ²)")
def sigma_squared(centres, height, width, sigma):
    return _blobs(centres, height, width, sigma, denominator=sigma ** 2)


@wrong("check_bubble_masks", "not 2σ")
def two_sigma(centres, height, width, sigma):
    return _blobs(centres, height, width, sigma, denominator=2 * sigma)


@wrong("check_bubble_masks", "clip the sum at 1")
def unclipped(centres, height, width, sigma):
    return _blobs(centres, height, width, sigma, combine="sum")


@wrong("check_bubble_masks", "with a maximum")
def maximum_of_bubbles(centres, height, width, sigma):
    return _blobs(centres, height, width, sigma, combine="max")


@wrong("check_bubble_masks", "rows and columns are swapped")
def xy_meshgrid(centres, height, width, sigma):
    return _blobs(centres.flip(-1), height, width, sigma)


@wrong("check_bubble_masks", "no channel dimension")
def no_channel_dim(centres, height, width, sigma):
    return _blobs(centres, height, width, sigma, combine="squeeze")


@wrong("check_diagnostic_image", "subtract the plain average mask")
def weighted_average_only(masks, responses):
    return (responses.view(-1, 1, 1, 1) * masks).sum(0) / responses.sum()


@wrong("check_diagnostic_image", "divided Σ r_i·M_i by the number of masks")
def divides_by_count(masks, responses):
    return (responses.view(-1, 1, 1, 1) * masks).mean(0) - masks.mean(0)


@wrong("check_diagnostic_image", "without using the responses")
def ignores_responses(masks, responses):
    return masks.mean(0)


@wrong("check_diagnostic_image", "wrong sign")
def plain_minus_weighted(masks, responses):
    return masks.mean(0) - (responses.view(-1, 1, 1, 1) * masks).sum(0) / responses.sum()


@wrong("check_diagnostic_image", "keep the channel dimension")
def squeezed(masks, responses):
    return ((responses.view(-1, 1, 1, 1) * masks).sum(0) / responses.sum() - masks.mean(0))[0]


# ============================================================================================ 04
def _grad(model, x, target, prob=False, all_logits=False):
    x = x.detach().clone().requires_grad_(True)
    out = model(x)
    if prob:
        out = out.softmax(1)
    t = torch.as_tensor(target).expand(len(x))
    score = out.sum() if all_logits else out.gather(1, t.view(-1, 1)).sum()
    (g,) = torch.autograd.grad(score, x)
    return g


@wrong("check_saliency_map", "summed |gradient|")
def saliency_sum(model, x, target):
    return _grad(model, x, target).abs().sum(1, keepdim=True)


@wrong("check_saliency_map", "maximum of the signed gradient")
def saliency_signed(model, x, target):
    return _grad(model, x, target).amax(1, keepdim=True)


@wrong("check_saliency_map", "softmax probability")
def saliency_of_probability(model, x, target):
    return _grad(model, x, target, prob=True).abs().amax(1, keepdim=True)


@wrong("check_saliency_map", "sum of all the logits")
def saliency_of_every_logit(model, x, target):
    return _grad(model, x, target, all_logits=True).abs().amax(1, keepdim=True)


@wrong("check_saliency_map", "left `model` in training mode")
def saliency_leaves_train_mode(model, x, target):
    model.train()
    return _grad(model, x, target).abs().amax(1, keepdim=True)


@wrong("check_saliency_map", "backward hook(s)")
def saliency_leaves_a_backward_hook(model, x, target):
    model.register_full_backward_hook(lambda m, gi, go: None)
    return _grad(model, x, target).abs().amax(1, keepdim=True)


@wrong("check_saliency_map", "modified `x` in place")
def saliency_writes_into_x(model, x, target):
    out = _grad(model, x, target).abs().amax(1, keepdim=True)
    x.mul_(0.5)
    return out


@wrong("check_saliency_map", "changed `x.requires_grad`")
def saliency_on_the_callers_x(model, x, target):
    x.requires_grad_(True)
    t = torch.as_tensor(target).expand(len(x))
    (g,) = torch.autograd.grad(model(x).gather(1, t.view(-1, 1)).sum(), x)
    return g.abs().amax(1, keepdim=True)


@wrong("check_input_x_gradient", "plain gradient")
def ixg_plain_gradient(model, x, target):
    return _grad(model, x, target)


@wrong("check_input_x_gradient", "by |gradient|")
def ixg_abs_gradient(model, x, target):
    return x * _grad(model, x, target).abs()


@wrong("check_input_x_gradient", "you took the absolute value")
def ixg_abs(model, x, target):
    return (x * _grad(model, x, target)).abs()


@wrong("check_input_x_gradient", "softmax probability")
def ixg_probability(model, x, target):
    return x * _grad(model, x, target, prob=True)


@wrong("check_input_x_gradient", "attached to the autograd graph")
def ixg_attached(model, x, target):
    x = x.detach().clone().requires_grad_(True)
    t = torch.as_tensor(target).expand(len(x))
    (g,) = torch.autograd.grad(model(x).gather(1, t.view(-1, 1)).sum(), x)
    return x * g


def _smooth(model, x, target, noise_level, noise, sigma="image", absolute=False):
    n, s = noise.shape[:2]
    if sigma == "image":
        sig = noise_level * (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3)))
    elif sigma == "batch":
        sig = noise_level * (x.max() - x.min()) * torch.ones(n)
    else:
        sig = torch.full((n,), float(sigma))
    noisy = (x[:, None] + sig.view(n, 1, 1, 1, 1) * noise).flatten(0, 1).requires_grad_(True)
    t = torch.as_tensor(target).expand(n).repeat_interleave(s)
    (g,) = torch.autograd.grad(model(noisy).gather(1, t.view(-1, 1)).sum(), noisy)
    g = g.abs() if absolute else g
    return g.view(n, s, *x.shape[1:]).mean(1)


@wrong("check_smoothgrad", "not noise_level itself")
def smoothgrad_unscaled(model, x, target, noise_level, noise):
    return _smooth(model, x, target, noise_level, noise, sigma=noise_level)


@wrong("check_smoothgrad", "each image's own range")
def smoothgrad_batch_range(model, x, target, noise_level, noise):
    return _smooth(model, x, target, noise_level, noise, sigma="batch")


@wrong("check_smoothgrad", "averaged |gradient|")
def smoothgrad_abs(model, x, target, noise_level, noise):
    return _smooth(model, x, target, noise_level, noise, absolute=True)


@wrong("check_smoothgrad", "gradient at x itself")
def smoothgrad_without_noise(model, x, target, noise_level, noise):
    return _smooth(model, x, target, noise_level, noise, sigma=0.0)


@wrong("check_smoothgrad", "times the expected")
def smoothgrad_summed(model, x, target, noise_level, noise):
    return _smooth(model, x, target, noise_level, noise) * noise.shape[1]


# ============================================================================================ 05
def _relu_class(backward, forward=lambda x: x.clamp(min=0)):
    class Wrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return forward(x)

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            return backward(x, grad_output)
    return Wrong


_BACKPROP = lambda x, g: g * (x > 0)                                  # noqa: E731
_DECONV = lambda x, g: g.clamp(min=0)                                 # noqa: E731
_GUIDED = lambda x, g: g.clamp(min=0) * (x > 0)                       # noqa: E731
for _rule, _right in [("gradient", _BACKPROP), ("deconvnet", _DECONV), ("guided", _GUIDED)]:
    _id = f"check_relu_function[{_rule}]"
    for _other, _fn in [("backprop", _BACKPROP), ("DeconvNet", _DECONV), ("guided backprop", _GUIDED)]:
        if _fn is not _right:
            WRONG.setdefault(_id, []).append((f"{_other}_rule", _relu_class(_fn), f"follows the {_other} rule"))
    WRONG[_id].append(("identity_backward", _relu_class(lambda x, g: g), "through unchanged"))
    WRONG[_id].append(("identity_forward", _relu_class(_right, forward=lambda x: x * 1), "returned x unchanged"))
    WRONG[_id].append(("no_return", _relu_class(lambda x, g: None), "no gradient reached the input"))
    WRONG[_id].append(("crash_in_backward", _relu_class(lambda x, g: g.view(-1) @ x), "of your code"))
    if _rule != "deconvnet":
        _mask = (lambda r: (lambda x, g: (g if r == "gradient" else g.clamp(min=0)) * (x >= 0)))(_rule)
        WRONG[_id].append(("mask_at_zero", _relu_class(_mask), "not (x >= 0)"))
        _by_x = (lambda r: (lambda x, g: (g if r == "gradient" else g.clamp(min=0)) * x.clamp(min=0)))(_rule)
        WRONG[_id].append(("times_x", _relu_class(_by_x), "not by x itself"))


class _Apply(nn.Module):
    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, h):
        return self.function.apply(h)


def _swap_and_grad(model, x, target, function, modules, restore=True):
    swapped = []
    for parent in modules:
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU):
                swapped.append((parent, name, child))
                setattr(parent, name, _Apply(function))
    try:
        x = x.detach().clone().requires_grad_(True)
        t = torch.as_tensor(target).expand(len(x))
        (g,) = torch.autograd.grad(model(x).gather(1, t.view(-1, 1)).sum(), x)
        return g
    finally:
        if restore:
            for parent, name, child in swapped:
                setattr(parent, name, child)


@wrong("check_guided_by_swapping", "direct children")
def swaps_top_level_only(model, x, target, function):
    return _swap_and_grad(model, x, target, function, [model])


@wrong("check_guided_by_swapping", "two levels down")
def swaps_two_levels(model, x, target, function):
    return _swap_and_grad(model, x, target, function, [model, *model.children()])


@wrong("check_guided_by_swapping", "not restored")
def never_restores(model, x, target, function):
    return _swap_and_grad(model, x, target, function, list(model.modules()), restore=False)


@wrong("check_guided_by_swapping", "plain gradient")
def swaps_nothing(model, x, target, function):
    return _swap_and_grad(model, x, target, function, [])


@wrong("check_guided_by_swapping", "attached to the autograd graph")
def keeps_the_graph(model, x, target, function):
    swapped = [(p, n, c) for p in list(model.modules()) for n, c in p.named_children() if isinstance(c, nn.ReLU)]
    for p, n, c in swapped:
        setattr(p, n, _Apply(function))
    try:
        x = x.detach().clone().requires_grad_(True)
        t = torch.as_tensor(target).expand(len(x))
        (g,) = torch.autograd.grad(model(x).gather(1, t.view(-1, 1)).sum(), x, create_graph=True)
        return g
    finally:
        for p, n, c in swapped:
            setattr(p, n, c)


def _ranks_average(t):
    from scipy.stats import rankdata
    return rankdata(t.detach().flatten().double().numpy())


@wrong("check_rank_correlation", "Pearson")
def pearson(a, b):
    return float(np.corrcoef(a.flatten().numpy(), b.flatten().numpy())[0, 1])


@wrong("check_rank_correlation", "average rank")
def argsort_ranks(a, b):
    ra, rb = a.flatten().argsort().argsort().double(), b.flatten().argsort().argsort().double()
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


@wrong("check_rank_correlation", "1 − 6·Σd²/(n(n² − 1))")
def textbook_formula(a, b):
    ra, rb = _ranks_average(a), _ranks_average(b)
    n = len(ra)
    return 1 - 6 * ((ra - rb) ** 2).sum() / (n * (n ** 2 - 1))


@wrong("check_rank_correlation", "ranked only one")
def ranks_one_map(a, b):
    return float(np.corrcoef(_ranks_average(a), b.flatten().double().numpy())[0, 1])


@wrong("check_rank_correlation", "returned None")
def spearman_without_return(a, b):
    float(np.corrcoef(_ranks_average(a), _ranks_average(b))[0, 1])


# ============================================================================================ 06
def _nodes(steps, rule, right_from_zero=False, equal_trapezoid=False, linspace=False, unit_weights=False):
    m = steps
    k = torch.arange(m, dtype=torch.float64)
    w = torch.full((m,), 1 / m, dtype=torch.float64)
    if unit_weights:
        w = torch.ones(m, dtype=torch.float64)
    if linspace and rule != "trapezoid":
        return torch.linspace(0, 1, m, dtype=torch.float64), w
    if rule == "left" or (rule == "right" and right_from_zero):
        return k / m, w
    if rule == "right":
        return (k + 1) / m, w
    if rule == "midpoint":
        return (k + 0.5) / m, w
    tw = torch.full((m + 1,), 1 / m, dtype=torch.float64)
    if not equal_trapezoid:
        tw[0] = tw[-1] = 1 / (2 * m)
    return torch.arange(m + 1, dtype=torch.float64) / m, tw


@wrong("check_riemann_nodes", "halves the weights")
def trapezoid_not_halved(steps, rule):
    return _nodes(steps, rule, equal_trapezoid=True)


@wrong("check_riemann_nodes", "the left rule")
def right_from_zero(steps, rule):
    return _nodes(steps, rule, right_from_zero=True)


@wrong("check_riemann_nodes", "linspace(0, 1, m) puts nodes on both ends")
def linspace_nodes(steps, rule):
    return _nodes(steps, rule, linspace=True)


@wrong("check_riemann_nodes", "must add up to 1")
def unit_weights(steps, rule):
    return _nodes(steps, rule, unit_weights=True)


@wrong("check_riemann_nodes", "trapezoid: m + 1")
def trapezoid_with_m_nodes(steps, rule):
    a, w = _nodes(steps, rule)
    return (a[:-1], w[:-1]) if rule == "trapezoid" else (a, w)


@wrong("check_riemann_nodes", "return a pair")
def returns_only_alphas(steps, rule):
    return _nodes(steps, rule)[0]


def _ig_riemann(model, inputs, target, baseline, steps, alphas=None, times="delta", divide=True, prob=False):
    n, m = len(inputs), steps
    alphas = torch.arange(1, m + 1, dtype=inputs.dtype) / m if alphas is None else alphas.to(inputs.dtype)
    delta = inputs - baseline
    points = (baseline[:, None] + alphas.view(1, -1, 1, 1, 1) * delta[:, None]).flatten(0, 1).requires_grad_(True)
    t = torch.as_tensor(target).expand(n).repeat_interleave(len(alphas))
    out = model(points)
    if prob:
        out = out.softmax(1)
    (grads,) = torch.autograd.grad(out.gather(1, t[:, None]).sum(), points)
    g = grads.view(n, len(alphas), *inputs.shape[1:])
    g = g.mean(1) if divide else g.sum(1)
    return {"delta": delta * g, "x": inputs * g, "none": g}[times].detach()


@wrong("check_integrated_gradients", "not from k = 0")
def ig_left_sum(model, inputs, target, baseline, steps):
    return _ig_riemann(model, inputs, target, baseline, steps, alphas=torch.arange(steps) / steps)


@wrong("check_integrated_gradients", "midpoints")
def ig_midpoint(model, inputs, target, baseline, steps):
    return _ig_riemann(model, inputs, target, baseline, steps, alphas=(torch.arange(steps) + 0.5) / steps)


@wrong("check_integrated_gradients", "softmax probability")
def ig_of_probability(model, inputs, target, baseline, steps):
    return _ig_riemann(model, inputs, target, baseline, steps, prob=True)


@wrong("check_integrated_gradients", "multiply it by (x − baseline)")
def ig_average_gradient(model, inputs, target, baseline, steps):
    return _ig_riemann(model, inputs, target, baseline, steps, times="none")


@wrong("check_integrated_gradients", "instead of (x − baseline)")
def ig_times_x(model, inputs, target, baseline, steps):
    return _ig_riemann(model, inputs, target, baseline, steps, times="x")


@wrong("check_integrated_gradients", "without dividing")
def ig_summed(model, inputs, target, baseline, steps):
    return _ig_riemann(model, inputs, target, baseline, steps, divide=False)


def _logit(model, x, target):
    t = torch.as_tensor(target).expand(len(x))
    with torch.no_grad():
        return model(x).gather(1, t[:, None])[:, 0]


@wrong("check_completeness_gap", "F(baseline)")
def gap_without_baseline(model, inputs, target, baseline, attributions):
    return attributions.flatten(1).sum(1) - _logit(model, inputs, target)


@wrong("check_completeness_gap", "not the softmax probability")
def gap_of_probabilities(model, inputs, target, baseline, attributions):
    t = torch.as_tensor(target).expand(len(inputs))
    with torch.no_grad():
        p = lambda x: model(x).softmax(1).gather(1, t[:, None])[:, 0]           # noqa: E731
        return attributions.flatten(1).sum(1) - (p(inputs) - p(baseline))


@wrong("check_completeness_gap", "not its absolute value")
def gap_magnitude(model, inputs, target, baseline, attributions):
    return (attributions.flatten(1).sum(1) - (_logit(model, inputs, target) - _logit(model, baseline, target))).abs()


@wrong("check_completeness_gap", "other way round")
def gap_reversed(model, inputs, target, baseline, attributions):
    return (_logit(model, inputs, target) - _logit(model, baseline, target)) - attributions.flatten(1).sum(1)


@wrong("check_completeness_gap", "one value per input")
def gap_of_the_batch(model, inputs, target, baseline, attributions):
    return (attributions.flatten(1).sum(1) - (_logit(model, inputs, target) - _logit(model, baseline, target))).sum()


@wrong("check_completeness_gap", "attached to the autograd graph")
def gap_attached(model, inputs, target, baseline, attributions):
    t = torch.as_tensor(target).expand(len(inputs))
    f = lambda x: model(x).gather(1, t[:, None])[:, 0]                           # noqa: E731
    return attributions.flatten(1).sum(1) - (f(inputs) - f(baseline))


def _two_intervals(a, n_left, n_right, scale=True, shift=True, swap=False):
    if swap:
        n_left, n_right = n_right, n_left
    nodes, weights = [], []
    for start, h, q in [(0.0, a, n_left), (a, 1 - a, n_right)]:
        t, v = (torch.from_numpy(u) for u in np.polynomial.legendre.leggauss(q))
        nodes.append((start if shift else 0.0) + h * (t + 1) / 2)
        weights.append((h if scale else 1.0) * v / 2)
    return torch.cat(nodes), torch.cat(weights)


@wrong("check_two_interval_rule", "scale each interval's Legendre weights by its length")
def weights_not_scaled(a, n_left, n_right):
    return _two_intervals(a, n_left, n_right, scale=False)


@wrong("check_two_interval_rule", "left out the shift by a")
def right_nodes_not_shifted(a, n_left, n_right):
    return _two_intervals(a, n_left, n_right, shift=False)


@wrong("check_two_interval_rule", "swapped the counts")
def counts_swapped(a, n_left, n_right):
    return _two_intervals(a, n_left, n_right, swap=True)


@wrong("check_two_interval_rule", "expected n_left + n_right")
def only_left_interval(a, n_left, n_right):
    return tuple(t[:n_left] for t in _two_intervals(a, n_left, n_right))


# ============================================================================================ 07
@wrong("check_class_activation_map", "each image's own class")
def cam_all_classes(features, fc_weight, target):
    return torch.einsum("ck,nkhw->nhw", fc_weight, features)[:, None]


@wrong("check_class_activation_map", "no ReLU here")
def cam_with_relu(features, fc_weight, target):
    return (fc_weight[target][:, :, None, None] * features).sum(1, keepdim=True).clamp_min(0)


@wrong("check_class_activation_map", "sum over them")
def cam_mean_over_channels(features, fc_weight, target):
    return (fc_weight[target][:, :, None, None] * features).mean(1, keepdim=True)


@wrong("check_class_activation_map", "first image's class")
def cam_first_target(features, fc_weight, target):
    return (fc_weight[target[0]][None, :, None, None] * features).sum(1, keepdim=True)


@wrong("check_class_activation_map", "keep the channel dimension")
def cam_without_channel(features, fc_weight, target):
    return (fc_weight[target][:, :, None, None] * features).sum(1)


def _gcam(model, inputs, target, layer, pool="mean", relu=True, mode="bilinear", align=False, upsample=True,
          relu_after=False, sign=1.0, detach=True):
    x = inputs.detach().clone().requires_grad_(True)
    with capture_activations(model, layer, detach=False) as acts:
        logits = model(x)
    t = torch.as_tensor(target).expand(len(inputs))
    A = acts[layer]
    (g,) = torch.autograd.grad(sign * logits.gather(1, t[:, None]).sum(), A, create_graph=not detach)
    alpha = g.mean((2, 3), keepdim=True) if pool == "mean" else g.sum((2, 3), keepdim=True)
    maps = (alpha * A).sum(1, keepdim=True)
    if relu and not relu_after:
        maps = maps.clamp_min(0)
    if upsample:
        maps = F.interpolate(maps, size=inputs.shape[-2:], mode=mode,
                             align_corners=None if mode == "nearest" else align)
    if relu_after:
        maps = maps.clamp_min(0)
    return maps.detach() if detach else maps


@wrong("check_grad_cam", "ends with a ReLU")
def grad_cam_without_relu(model, inputs, target, layer):
    return _gcam(model, inputs, target, layer, relu=False)


@wrong("check_grad_cam", "you summed it")
def grad_cam_summed_alpha(model, inputs, target, layer):
    return _gcam(model, inputs, target, layer, pool="sum")


@wrong("check_grad_cam", "not 'nearest'")
def grad_cam_nearest(model, inputs, target, layer):
    return _gcam(model, inputs, target, layer, mode="nearest")


@wrong("check_grad_cam", "align_corners=False")
def grad_cam_align_corners(model, inputs, target, layer):
    return _gcam(model, inputs, target, layer, align=True)


@wrong("check_grad_cam", "the ReLU came after the upsampling")
def grad_cam_relu_after_upsampling(model, inputs, target, layer):
    return _gcam(model, inputs, target, layer, relu_after=True)


@wrong("check_grad_cam", "to the input's H×W")
def grad_cam_not_upsampled(model, inputs, target, layer):
    return _gcam(model, inputs, target, layer, upsample=False)


@wrong("check_grad_cam", "attached to the autograd graph")
def grad_cam_attached(model, inputs, target, layer):
    return _gcam(model, inputs, target, layer, detach=False)


@wrong("check_counterfactual_grad_cam", "ordinary Grad-CAM")
def counterfactual_is_ordinary(model, inputs, target, layer):
    return _gcam(model, inputs, target, layer)


@wrong("check_counterfactual_grad_cam", "keep the ReLU")
def counterfactual_without_relu(model, inputs, target, layer):
    return _gcam(model, inputs, target, layer, sign=-1.0, relu=False)


@wrong("check_counterfactual_grad_cam", "negate before the ReLU")
def counterfactual_negated_after_relu(model, inputs, target, layer):
    return -_gcam(model, inputs, target, layer)


@wrong("check_counterfactual_grad_cam", "keeps too few digits")
def counterfactual_in_float16(model, inputs, target, layer):
    return _gcam(model, inputs, target, layer, sign=-1.0).half()


# ============================================================================================ 08
def _tv_parts(x):
    return x[:, :, 1:, :] - x[:, :, :-1, :], x[:, :, :, 1:] - x[:, :, :, :-1]


@wrong("check_total_variation", "squared the differences")
def tv_squared(x):
    dy, dx = _tv_parts(x)
    return dy.pow(2).mean(dim=(1, 2, 3)) + dx.pow(2).mean(dim=(1, 2, 3))


@wrong("check_total_variation", "only the vertical differences")
def tv_vertical_only(x):
    return _tv_parts(x)[0].abs().mean(dim=(1, 2, 3))


@wrong("check_total_variation", "summed the differences")
def tv_summed(x):
    dy, dx = _tv_parts(x)
    return dy.abs().sum(dim=(1, 2, 3)) + dx.abs().sum(dim=(1, 2, 3))


@wrong("check_total_variation", "one value per image")
def tv_of_the_batch(x):
    dy, dx = _tv_parts(x)
    return dy.abs().mean() + dx.abs().mean()


@wrong("check_total_variation", "averaged both directions together")
def tv_one_mean(x):
    dy, dx = _tv_parts(x)
    return torch.cat([dy.abs().flatten(1), dx.abs().flatten(1)], 1).mean(1)


@wrong("check_total_variation", "forgot the absolute value")
def tv_signed(x):
    dy, dx = _tv_parts(x)
    return dy.mean(dim=(1, 2, 3)) + dx.mean(dim=(1, 2, 3))


@wrong("check_jitter", "dy always equalled dx")
def jitter_one_draw(x, max_shift, generator=None):
    d = int(torch.randint(-max_shift, max_shift + 1, (1,), generator=generator))
    return torch.roll(x, shifts=(d, d), dims=(2, 3))


@wrong("check_jitter", "from the `generator` argument")
def jitter_global_rng(x, max_shift, generator=None):
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2,)).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


@wrong("check_jitter", "upper bound is exclusive")
def jitter_exclusive_bound(x, max_shift, generator=None):
    dy, dx = torch.randint(-max_shift, max_shift, (2,), generator=generator).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


@wrong("check_jitter", "only moved one way")
def jitter_positive_only(x, max_shift, generator=None):
    dy, dx = torch.randint(0, max_shift + 1, (2,), generator=generator).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


@wrong("check_jitter", "shape changed")
def jitter_by_padding(x, max_shift, generator=None):
    return F.pad(x, (max_shift,) * 4)


@wrong("check_jitter", "changed the input tensor in place")
def jitter_in_place(x, max_shift, generator=None):
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator).tolist()
    x.copy_(torch.roll(x, shifts=(dy, dx), dims=(2, 3)))
    return x


def _ascent(model, layer, channel, x, steps=10, lr=0.1, sign=1.0, accumulate=False, eval_mode=True,
            positions="mean", keep_hook=False, detach=True):
    x = x.detach().clone()
    total = torch.zeros_like(x)
    with preserved_state(model, eval_mode=eval_mode):
        for _ in range(steps):
            x.requires_grad_(True)
            with capture_activations(model, layer, detach=False) as acts:
                model(x)
            a = acts[layer][:, channel]
            value = (a.mean(dim=(1, 2)) if positions == "mean" else a.sum(dim=(1, 2))).sum()
            (grad,) = torch.autograd.grad(value, x)
            total = total + grad if accumulate else grad
            x = (x + sign * lr * total).detach()
    if keep_hook:
        get_layer(model, layer).register_forward_hook(lambda *a: None)
    return x if detach else x.requires_grad_(True) * 1


@wrong("check_gradient_ascent", "downhill")
def gradient_descent(model, layer, channel, x, steps=10, lr=0.1):
    return _ascent(model, layer, channel, x, steps, lr, sign=-1.0)


@wrong("check_gradient_ascent", "add up across steps")
def accumulated_gradients(model, layer, channel, x, steps=10, lr=0.1):
    return _ascent(model, layer, channel, x, steps, lr, accumulate=True)


@wrong("check_gradient_ascent", "training mode")
def ascent_in_training_mode(model, layer, channel, x, steps=10, lr=0.1):
    return _ascent(model, layer, channel, x, steps, lr, eval_mode=False)


@wrong("check_gradient_ascent", "sum over positions")
def ascent_of_the_sum(model, layer, channel, x, steps=10, lr=0.1):
    return _ascent(model, layer, channel, x, steps, lr, positions="sum")


@wrong("check_gradient_ascent", "forward hook(s)")
def ascent_leaves_a_hook(model, layer, channel, x, steps=10, lr=0.1):
    return _ascent(model, layer, channel, x, steps, lr, keep_hook=True)


@wrong("check_gradient_ascent", "modified `x` in place")
def ascent_in_place(model, layer, channel, x, steps=10, lr=0.1):
    out = _ascent(model, layer, channel, x, steps, lr)
    x.data.copy_(out)
    return out


@wrong("check_gradient_ascent", "requires_grad of the parameter")
def ascent_freezes_the_model(model, layer, channel, x, steps=10, lr=0.1):
    for p in model.parameters():
        p.requires_grad_(False)
    return _ascent(model, layer, channel, x, steps, lr)


def _hf(x, cutoff=0.25, centre=True, power=True, above=True, complex_out=False):
    if centre:
        x = x - x.mean(dim=(2, 3), keepdim=True)
    spectrum = torch.fft.fft2(x)
    p = (spectrum.pow(2) if complex_out else spectrum.abs().pow(2) if power else spectrum.abs()).sum(dim=1)
    h, w = x.shape[-2:]
    f = torch.sqrt(torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.fftfreq(w)[None, :] ** 2)
    total = p.sum(dim=(1, 2))
    part = (p * ((f > cutoff) if above else (f <= cutoff))).sum(dim=(1, 2))
    if complex_out:
        return part / total
    return torch.where(total > 0, part / total.clamp(min=1e-30), torch.zeros_like(total))


@wrong("check_high_frequency_energy", "means were not removed")
def hf_no_mean_removal(x, cutoff=0.25):
    return _hf(x, cutoff, centre=False)


@wrong("check_high_frequency_energy", "amplitudes")
def hf_amplitudes(x, cutoff=0.25):
    return _hf(x, cutoff, power=False)


@wrong("check_high_frequency_energy", "below")
def hf_below(x, cutoff=0.25):
    return _hf(x, cutoff, above=False)


@wrong("check_high_frequency_energy", "complex")
def hf_complex(x, cutoff=0.25):
    return _hf(x, cutoff, complex_out=True)


@wrong("check_high_frequency_energy", "return float32")
def hf_float64(x, cutoff=0.25):
    return _hf(x.double(), cutoff)


def _from_spectrum(spectrum, height, width, decay_power=1.0, floor=None, power=None, norm="ortho", sizes=True,
                   swap=False):
    fy, fx = torch.fft.fftfreq(height)[:, None], torch.fft.rfftfreq(width)[None, :]
    f = torch.sqrt(fy ** 2 + fx ** 2)
    if floor is not None:
        f = f.clamp(min=floor(height, width))
    real, imag = (spectrum[..., 1], spectrum[..., 0]) if swap else (spectrum[..., 0], spectrum[..., 1])
    coeffs = torch.complex(real, imag) * f.pow(-(decay_power if power is None else power))
    return torch.fft.irfft2(coeffs, s=(height, width) if sizes else None, norm=norm)


_MAX = lambda h, w: 1 / max(h, w)      # noqa: E731 — the right floor


@wrong("check_image_from_spectrum", "floor f at 1/max(H, W) first")
def spectrum_no_floor(spectrum, height, width, decay_power=1.0):
    return _from_spectrum(spectrum, height, width, decay_power)


@wrong("check_image_from_spectrum", "floored f at 1/min(H, W)")
def spectrum_min_floor(spectrum, height, width, decay_power=1.0):
    return _from_spectrum(spectrum, height, width, decay_power, floor=lambda h, w: 1 / min(h, w))


@wrong("check_image_from_spectrum", "decay_power was ignored")
def spectrum_always_one_over_f(spectrum, height, width, decay_power=1.0):
    return _from_spectrum(spectrum, height, width, decay_power, floor=_MAX, power=1.0)


@wrong("check_image_from_spectrum", "multiplied by f^decay_power")
def spectrum_times_f(spectrum, height, width, decay_power=1.0):
    return _from_spectrum(spectrum, height, width, decay_power, floor=_MAX, power=-decay_power)


@wrong("check_image_from_spectrum", "norm=\"ortho\"")
def spectrum_default_norm(spectrum, height, width, decay_power=1.0):
    return _from_spectrum(spectrum, height, width, decay_power, floor=_MAX, norm="backward")


@wrong("check_image_from_spectrum", "pass s=(height, width)")
def spectrum_without_sizes(spectrum, height, width, decay_power=1.0):
    return _from_spectrum(spectrum, height, width, decay_power, floor=_MAX, sizes=False)


@wrong("check_image_from_spectrum", "real and imaginary parts are swapped")
def spectrum_swapped(spectrum, height, width, decay_power=1.0):
    return _from_spectrum(spectrum, height, width, decay_power, floor=_MAX, swap=True)


@wrong("check_image_from_spectrum", "not scaled at all")
def spectrum_unscaled(spectrum, height, width, decay_power=1.0):
    return torch.fft.irfft2(torch.view_as_complex(spectrum.contiguous()), s=(height, width), norm="ortho")


@wrong("check_image_from_spectrum", "return float32")
def spectrum_float64(spectrum, height, width, decay_power=1.0):
    return _from_spectrum(spectrum.double(), height, width, decay_power, floor=_MAX)


# ============================================================================================ 09
def _exact(value, n, weight=None, sign=1.0, skip_empty=False):
    phi = torch.zeros(n, dtype=torch.float64)
    for s in range(1 if skip_empty else 0, 2 ** n):
        c = torch.tensor([(s >> j) & 1 for j in range(n)], dtype=torch.bool)
        size = int(c.sum())
        for i in range(n):
            if not c[i]:
                w = weight(size, n) if weight else math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
                with_i = c.clone()
                with_i[i] = True
                phi[i] += sign * w * (value(with_i) - value(c))
    return phi


@wrong("check_exact_shapley", "Banzhaf")
def banzhaf(value, n_players):
    return _exact(value, n_players, weight=lambda s, n: 1 / 2 ** (n - 1))


@wrong("check_exact_shapley", "off by one in the factorials")
def factorials_off_by_one(value, n_players):
    return _exact(value, n_players, weight=lambda s, n: math.factorial(s) * math.factorial(n - s) / math.factorial(n))


@wrong("check_exact_shapley", "other way round")
def marginal_reversed(value, n_players):
    return _exact(value, n_players, sign=-1.0)


@wrong("check_exact_shapley", "efficiency")
def doubled(value, n_players):
    return 2 * _exact(value, n_players)


@wrong("check_exact_shapley", "expected a torch.Tensor")
def returns_a_list(value, n_players):
    return _exact(value, n_players).tolist()


def _permutations(value, n, n_permutations, seed, divide=True, shuffle=True, use_seed=True):
    gen = torch.Generator().manual_seed(seed if use_seed else 0)
    phi = torch.zeros(n, dtype=torch.float64)
    for _ in range(n_permutations):
        c = torch.zeros(n, dtype=torch.bool)
        prev = value(c)
        order = torch.randperm(n, generator=gen).tolist() if shuffle else list(range(n))
        for i in order:
            c[i] = True
            cur = value(c)
            phi[i] += cur - prev
            prev = cur
    return phi / n_permutations if divide else phi


@wrong("check_permutation_shapley", "add up")
def permutations_not_averaged(value, n_players, n_permutations, seed):
    return _permutations(value, n_players, n_permutations, seed, divide=False)


@wrong("check_permutation_shapley", "are the permutations random")
def always_the_same_order(value, n_players, n_permutations, seed):
    return _permutations(value, n_players, n_permutations, seed, shuffle=False)


@wrong("check_permutation_shapley", "use the seed")
def ignores_the_seed(value, n_players, n_permutations, seed):
    return _permutations(value, n_players, n_permutations, seed, use_seed=False)


@wrong("check_permutation_shapley", "same seed")
def global_generator(value, n_players, n_permutations, seed):
    return _permutations(value, n_players, n_permutations, int(torch.randint(0, 10 ** 6, ())))


@wrong("check_permutation_shapley", "returned None")
def permutations_without_return(value, n_players, n_permutations, seed):
    _permutations(value, n_players, n_permutations, seed)


@wrong("check_mean_removal_hook", "returned None")
def hook_in_place_no_return(channels, means):
    def hook(module, inputs, output):
        output[:, channels] = means[channels]
    return hook


@wrong("check_mean_removal_hook", "set the channels to zero")
def hook_zeroes(channels, means):
    def hook(module, inputs, output):
        out = output.clone()
        out[:, channels] = 0.0
        return out
    return hook


@wrong("check_mean_removal_hook", "replaced the other channels")
def hook_complement(channels, means):
    def hook(module, inputs, output):
        out = output.clone()
        keep = [c for c in range(output.shape[1]) if c not in channels]
        out[:, keep] = means[keep]
        return out
    return hook


@wrong("check_mean_removal_hook", "not its spatial average")
def hook_scalar_means(channels, means):
    def hook(module, inputs, output):
        out = output.clone()
        out[:, channels] = means[channels].mean(dim=(1, 2))[:, None, None]
        return out
    return hook


@wrong("check_mean_removal_hook", "did not change")
def hook_does_nothing(channels, means):
    return lambda module, inputs, output: None


@wrong("check_mean_removal_hook", "modified `output` in place")
def hook_edits_and_returns(channels, means):
    def hook(module, inputs, output):
        output[:, channels] = means[channels]
        return output
    return hook


def _ablation(value, n, order, skip_first=False, cumulative=True, reverse=False):
    c = torch.ones(n, dtype=torch.bool)
    out = [] if skip_first else [value(c)]
    for i in (order[::-1] if reverse else order):
        if not cumulative:
            c = torch.ones(n, dtype=torch.bool)
        c[i] = False
        out.append(value(c))
    return torch.tensor(out, dtype=torch.float64)


@wrong("check_ablation_curve", "k = 0")
def ablation_without_start(value, n_players, order):
    return _ablation(value, n_players, order, skip_first=True)


@wrong("check_ablation_curve", "cumulatively")
def ablation_one_at_a_time(value, n_players, order):
    return _ablation(value, n_players, order, cumulative=False)


@wrong("check_ablation_curve", "order[0] first")
def ablation_reversed(value, n_players, order):
    return _ablation(value, n_players, order, reverse=True)


@wrong("check_ablation_curve", "started from the empty coalition")
def ablation_adds_players(value, n_players, order):
    c = torch.zeros(n_players, dtype=torch.bool)
    out = [value(c)]
    for i in order:
        c[i] = True
        out.append(value(c))
    return torch.tensor(out, dtype=torch.float64)


@wrong("check_ablation_curve", "modified the list `order` in place")
def ablation_pops_the_order(value, n_players, order):
    c = torch.ones(n_players, dtype=torch.bool)
    out = [value(c)]
    while order:
        c[order.pop(0)] = False
        out.append(value(c))
    return torch.tensor(out, dtype=torch.float64)


def _truncated(value, n, n_permutations, tolerance, seed, against_empty=False, skip_last=False, per_count=False):
    gen = torch.Generator().manual_seed(seed)
    end = float(value(torch.zeros(n, dtype=torch.bool) if against_empty else torch.ones(n, dtype=torch.bool)))
    phi, counts = torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    for _ in range(n_permutations):
        c = torch.zeros(n, dtype=torch.bool)
        prev = float(value(c))
        for i in torch.randperm(n, generator=gen).tolist():
            c[i] = True
            cur = float(value(c))
            if skip_last and abs(cur - end) <= tolerance:
                break
            phi[i] += cur - prev
            counts[i] += 1
            prev = cur
            if abs(cur - end) <= tolerance:
                break
    return phi / counts.clamp(min=1) if per_count else phi / n_permutations


@wrong("check_truncated_shapley", "close to V(∅)")
def truncates_against_the_empty_coalition(value, n_players, n_permutations, tolerance, seed):
    return _truncated(value, n_players, n_permutations, tolerance, seed, against_empty=True)


@wrong("check_truncated_shapley", "record it, then stop")
def stops_before_recording(value, n_players, n_permutations, tolerance, seed):
    return _truncated(value, n_players, n_permutations, tolerance, seed, skip_last=True)


@wrong("check_truncated_shapley", "divide every sum by n_permutations")
def averages_over_measured_only(value, n_players, n_permutations, tolerance, seed):
    return _truncated(value, n_players, n_permutations, tolerance, seed, per_count=True)


@wrong("check_truncated_shapley", "never stopped a walk")
def never_truncates(value, n_players, n_permutations, tolerance, seed):
    return _truncated(value, n_players, n_permutations, -1.0, seed)


def _straddle(means, half_widths, boundary):
    return (means - half_widths <= boundary) & (means + half_widths >= boundary)


@wrong("check_tmab_step", "not the k-th mean itself")
def boundary_at_the_kth(means, half_widths, k):
    return _straddle(means, half_widths, torch.sort(means, descending=True).values[k - 1])


@wrong("check_tmab_step", "not the (k+1)-th mean itself")
def boundary_at_the_next(means, half_widths, k):
    return _straddle(means, half_widths, torch.sort(means, descending=True).values[k])


@wrong("check_tmab_step", "descending order")
def sorted_ascending(means, half_widths, k):
    ranked = torch.sort(means).values
    return _straddle(means, half_widths, (ranked[k - 1] + ranked[k]) / 2)


@wrong("check_tmab_step", "not the settled ones")
def returns_the_settled(means, half_widths, k):
    ranked = torch.sort(means, descending=True).values
    return ~_straddle(means, half_widths, (ranked[k - 1] + ranked[k]) / 2)


@wrong("check_tmab_step", "not the current top k")
def returns_the_top_k(means, half_widths, k):
    return torch.isin(torch.arange(len(means)), torch.argsort(means, descending=True)[:k])


@wrong("check_tmab_step", "expected a bool tensor")
def returns_floats(means, half_widths, k):
    ranked = torch.sort(means, descending=True).values
    return _straddle(means, half_widths, (ranked[k - 1] + ranked[k]) / 2).double()


# ============================================================================================ 10
def _del_curve(model, inputs, attributions, target, steps, count=lambda k, hw, s: (k * hw) // s,
               descending=True, probs=True, rank=lambda a: a.sum(1)):
    n, c, h, w = inputs.shape
    order = torch.argsort(rank(attributions).flatten(1), dim=1, descending=descending)
    curve = torch.zeros(n, steps + 1)
    for k in range(steps + 1):
        keep = torch.ones(n, h * w)
        keep.scatter_(1, order[:, :count(k, h * w, steps)], 0.0)
        with torch.no_grad():
            out = model(inputs * keep.view(n, 1, h, w))
        curve[:, k] = (out.softmax(1) if probs else out).gather(1, target.view(-1, 1)).squeeze(1)
    return curve


@wrong("check_deletion_curve", "least")
def deletes_least_first(model, inputs, attributions, target, steps):
    return _del_curve(model, inputs, attributions, target, steps, descending=False)


@wrong("check_deletion_curve", "these are logits")
def deletion_of_logits(model, inputs, attributions, target, steps):
    return _del_curve(model, inputs, attributions, target, steps, probs=False)


@wrong("check_deletion_curve", "you rounded it")
def rounds_the_count(model, inputs, attributions, target, steps):
    return _del_curve(model, inputs, attributions, target, steps, count=lambda k, hw, s: round(k * hw / s))


@wrong("check_deletion_curve", "|attribution|")
def ranks_by_magnitude(model, inputs, attributions, target, steps):
    return _del_curve(model, inputs, attributions, target, steps, rank=lambda a: a.sum(1).abs())


@wrong("check_deletion_curve", "channel 0 only")
def ranks_by_first_channel(model, inputs, attributions, target, steps):
    return _del_curve(model, inputs, attributions, target, steps, rank=lambda a: a[:, 0])


@wrong("check_deletion_curve", "return float32")
def deletion_in_float64(model, inputs, attributions, target, steps):
    return _del_curve(model, inputs, attributions, target, steps).double()


@wrong("check_auc", "mean of the points")
def auc_mean(scores):
    return scores.mean(-1)


@wrong("check_auc", "spacing is missing")
def auc_unit_spacing(scores):
    return torch.trapezoid(scores, dim=-1)


@wrong("check_auc", "left Riemann sum")
def auc_left_sum(scores):
    return scores[..., :-1].mean(-1)


@wrong("check_auc", "not 1/K")
def auc_wrong_spacing(scores):
    return torch.trapezoid(scores, dx=1 / scores.shape[-1], dim=-1)


@wrong("check_auc", "one area per curve")
def auc_of_everything(scores):
    t = torch.linspace(0, 1, scores.shape[-1])
    return ((t[1:] - t[:-1]) * (scores[..., 1:] + scores[..., :-1]) / 2).sum()


@wrong("check_auc", "return float32")
def auc_numpy(scores):
    return torch.from_numpy(np.trapezoid(scores.numpy(), np.linspace(0, 1, scores.shape[-1]), axis=-1))


def _ins_curve(model, inputs, attributions, target, steps, baseline, descending=True, delete=False, start=None,
               first_step=0):
    n, c, h, w = inputs.shape
    order = torch.argsort(attributions.sum(1).flatten(1), dim=1, descending=descending)
    start = baseline if start is None else start
    out = []
    for k in range(first_step, steps + 1):
        chosen = torch.zeros(n, h * w, dtype=torch.bool)
        chosen.scatter_(1, order[:, :(k * h * w) // steps], True)
        chosen = chosen.view(n, 1, h, w)
        x = torch.where(chosen, start, inputs) if delete else torch.where(chosen, inputs, start)
        with torch.no_grad():
            out.append(model(x).softmax(1).gather(1, target.view(-1, 1)).squeeze(1))
    return torch.stack(out, 1)


@wrong("check_insertion_curve", "*deleted* pixels")
def insertion_that_deletes(model, inputs, attributions, target, steps, baseline):
    return _ins_curve(model, inputs, attributions, target, steps, baseline, delete=True)


@wrong("check_insertion_curve", "*least* important")
def inserts_least_first(model, inputs, attributions, target, steps, baseline):
    return _ins_curve(model, inputs, attributions, target, steps, baseline, descending=False)


@wrong("check_insertion_curve", "step 0 (the baseline")
def insertion_without_step_0(model, inputs, attributions, target, steps, baseline):
    return _ins_curve(model, inputs, attributions, target, steps, baseline, first_step=1)


@wrong("check_insertion_curve", "black (all-zero) image")
def insertion_from_black(model, inputs, attributions, target, steps, baseline):
    return _ins_curve(model, inputs, attributions, target, steps, baseline, start=torch.zeros_like(baseline))


@wrong("check_insertion_curve", "modified `baseline` in place")
def insertion_into_the_baseline(model, inputs, attributions, target, steps, baseline):
    n, c, h, w = inputs.shape
    order = torch.argsort(attributions.sum(1).flatten(1), dim=1, descending=True)
    out = []
    for k in range(steps + 1):
        idx = order[:, :(k * h * w) // steps]
        flat = baseline.view(n, c, h * w)
        flat.scatter_(2, idx[:, None].expand(n, c, -1), inputs.reshape(n, c, h * w).gather(2, idx[:, None].expand(n, c, -1)))
        with torch.no_grad():
            out.append(model(baseline).softmax(1).gather(1, target.view(-1, 1)).squeeze(1))
    return torch.stack(out, 1)


def _cascade(method, model, inputs, target, layers, mode="cascading", signed=False, pearson=False, ordinal=False):
    from scipy.stats import rankdata
    from course_utils.evaluation import randomize_layers

    def prep(m):
        m = m.detach().sum(1) if signed else m.detach().abs().sum(1)
        m = m.flatten(1).double()
        if not pearson:
            m = torch.from_numpy(rankdata(m.numpy(), axis=1, method="ordinal" if ordinal else "average")).double()
        return m - m.mean(1, keepdim=True)

    ref = prep(method(model, inputs, target))
    rows = []
    for k in range(len(layers)):
        chosen = layers[:k + 1] if mode == "cascading" else [layers[k]]
        r = prep(method(randomize_layers(model, chosen, seed=0), inputs, target))
        rows.append((ref * r).sum(1) / (ref.norm(dim=1) * r.norm(dim=1)))
    return torch.stack(rows)


@wrong("check_cascading_randomization", "*independent* randomization")
def randomizes_one_layer_at_a_time(method, model, inputs, target, layers):
    return _cascade(method, model, inputs, target, layers, mode="independent")


@wrong("check_cascading_randomization", "Spearman correlates their *ranks*")
def pearson_not_spearman(method, model, inputs, target, layers):
    return _cascade(method, model, inputs, target, layers, pearson=True)


@wrong("check_cascading_randomization", "compare magnitudes")
def signed_maps(method, model, inputs, target, layers):
    return _cascade(method, model, inputs, target, layers, signed=True)


@wrong("check_cascading_randomization", "share their average rank")
def ordinal_ranks(method, model, inputs, target, layers):
    return _cascade(method, model, inputs, target, layers, ordinal=True)


@wrong("check_cascading_randomization", "changed the weights of `model`")
def randomizes_the_model_itself(method, model, inputs, target, layers):
    from course_utils.evaluation import parameter_layers  # noqa: F401  (the layers are given)
    reference = method(model, inputs, target).detach()
    modules = dict(model.named_modules())
    rows = []
    torch.manual_seed(0)
    for name in layers:
        modules[name].reset_parameters()
        maps = method(model, inputs, target).detach()
        a, b = reference.abs().sum(1).flatten(1), maps.abs().sum(1).flatten(1)
        rows.append(torch.tensor([np.corrcoef(np.argsort(np.argsort(x)), np.argsort(np.argsort(y)))[0, 1]
                                  for x, y in zip(a.numpy(), b.numpy())]))
    return torch.stack(rows)


def _point(maps, boxes, inclusive=False, swap=False, argmin=False):
    i = maps.flatten(1).argmin(1) if argmin else maps.flatten(1).argmax(1)
    row, col = i // maps.shape[-1], i % maps.shape[-1]
    if swap:
        row, col = col, row
    end = (lambda a, b: a <= b) if inclusive else (lambda a, b: a < b)
    return (row >= boxes[:, 0]) & end(row, boxes[:, 2]) & (col >= boxes[:, 1]) & end(col, boxes[:, 3])


@wrong("check_pointing_game", "exclusive")
def pointing_inclusive(maps, boxes):
    return _point(maps, boxes, inclusive=True)


@wrong("check_pointing_game", "rows and columns are swapped")
def pointing_swapped(maps, boxes):
    return _point(maps, boxes, swap=True)


@wrong("check_pointing_game", "located the minimum")
def pointing_at_the_minimum(maps, boxes):
    return _point(maps, boxes, argmin=True)


@wrong("check_pointing_game", "over the whole batch")
def pointing_batch_argmax(maps, boxes):
    i = maps.flatten().argmax() % (maps.shape[-1] * maps.shape[-2])
    row, col = i // maps.shape[-1], i % maps.shape[-1]
    return (row >= boxes[:, 0]) & (row < boxes[:, 2]) & (col >= boxes[:, 1]) & (col < boxes[:, 3])


@wrong("check_pointing_game", "returned None")
def pointing_without_return(maps, boxes):
    _point(maps, boxes)


def _without(model, layer, channels, inputs, means, fill=None, remove=True, no_grad=True, keep=False):
    def hook(module, args, output):
        output = output.clone()
        chosen = [c for c in range(output.shape[1]) if c not in channels] if keep else channels
        for c in chosen:
            output[:, c] = means[c] if fill is None else fill
        return output
    handle = get_layer(model, layer).register_forward_hook(hook)
    try:
        with torch.set_grad_enabled(not no_grad):
            return model(inputs)
    finally:
        if remove:
            handle.remove()


@wrong("check_logits_without_channels", "set to 0")
def without_zeros(model, layer, channels, inputs, means):
    return _without(model, layer, channels, inputs, means, fill=0.0)


@wrong("check_logits_without_channels", "forward hook(s)")
def without_removing_the_hook(model, layer, channels, inputs, means):
    return _without(model, layer, channels, inputs, means, remove=False)


@wrong("check_logits_without_channels", "the channels that should stay")
def without_the_complement(model, layer, channels, inputs, means):
    return _without(model, layer, channels, inputs, means, keep=True)


@wrong("check_logits_without_channels", "attached to the autograd graph")
def without_no_grad(model, layer, channels, inputs, means):
    return _without(model, layer, channels, inputs, means, no_grad=False)


@wrong("check_logits_without_channels", "one value for all of them")
def without_one_mean(model, layer, channels, inputs, means):
    return _without(model, layer, channels, inputs, means, fill=float(means.mean()))


@wrong("check_logits_without_channels", "untouched model")
def without_returning_from_the_hook(model, layer, channels, inputs, means):
    def hook(module, args, output):
        out = output.clone()
        out[:, channels] = means[channels][None, :, None, None]
    handle = get_layer(model, layer).register_forward_hook(hook)
    try:
        with torch.no_grad():
            return model(inputs)
    finally:
        handle.remove()


def _truth():
    from course_utils.shortcut import MARKER_POSITIONS
    return {c: (y + 1, x + 1) for c, (y, x) in enumerate(MARKER_POSITIONS)}


@wrong("check_marker_positions", "rows and columns are swapped")
def marker_positions_swapped(model, images, labels):
    return {c: (col, row) for c, (row, col) in _truth().items()}


@wrong("check_marker_positions", "no position for classes [9]")
def marker_positions_nine_classes(model, images, labels):
    return [p for c, p in sorted(_truth().items())][:9]


@wrong("check_marker_positions", "9/10 positions are right; classes [3]")
def marker_positions_one_wrong(model, images, labels):
    return {**_truth(), 3: (14, 14)}


@wrong("check_marker_positions", "returned None")
def marker_positions_without_return(model, images, labels):
    _truth()


@wrong("check_marker_positions", "of your code")
def marker_positions_crash(model, images, labels):
    return {c: divmod(int(images[labels == c].argmax()), 28) for c in range(11)}


@wrong("check_marker_dependent_classes", "keep most of their accuracy")
def dependent_every_class(model):
    return list(range(10))


@wrong("check_marker_dependent_classes", "also collapse")
def dependent_no_class(model):
    return []


@wrong("check_marker_dependent_classes", "[6] also collapse")
def dependent_only_coats(model):
    return [4]


@wrong("check_marker_dependent_classes", "returned None")
def dependent_without_return(model):
    [4, 6]


# ============================================================================================ 11
def _head(hidden, W_q, b_q, W_k, b_k, head, n_heads, scale=None, dim=-1, bias=True, strided=False, transpose=False):
    d = W_q.shape[0] // n_heads
    rows = slice(head, None, n_heads) if strided else slice(head * d, (head + 1) * d)
    q = hidden @ W_q[rows].T + (b_q[rows] if bias else 0)
    k = hidden @ W_k[rows].T + (b_k[rows] if bias else 0)
    a = torch.softmax(q @ k.T / (math.sqrt(d) if scale is None else scale(W_q)), dim=dim)
    return a.T if transpose else a


@wrong("check_head_attention", "√d_head before the softmax")
def head_unscaled(hidden, W_q, b_q, W_k, b_k, head, n_heads):
    return _head(hidden, W_q, b_q, W_k, b_k, head, n_heads, scale=lambda w: 1.0)


@wrong("check_head_attention", "√(hidden size)")
def head_scaled_by_hidden(hidden, W_q, b_q, W_k, b_k, head, n_heads):
    return _head(hidden, W_q, b_q, W_k, b_k, head, n_heads, scale=lambda w: math.sqrt(w.shape[0]))


@wrong("check_head_attention", "over the queries")
def head_softmax_over_queries(hidden, W_q, b_q, W_k, b_k, head, n_heads):
    return _head(hidden, W_q, b_q, W_k, b_k, head, n_heads, dim=0)


@wrong("check_head_attention", "transposed")
def head_transposed(hidden, W_q, b_q, W_k, b_k, head, n_heads):
    return _head(hidden, W_q, b_q, W_k, b_k, head, n_heads, transpose=True)


@wrong("check_head_attention", "biases")
def head_without_bias(hidden, W_q, b_q, W_k, b_k, head, n_heads):
    return _head(hidden, W_q, b_q, W_k, b_k, head, n_heads, bias=False)


@wrong("check_head_attention", "consecutive rows")
def head_strided_rows(hidden, W_q, b_q, W_k, b_k, head, n_heads):
    return _head(hidden, W_q, b_q, W_k, b_k, head, n_heads, strided=True)


@wrong("check_previous_token_score", "NEXT token")
def attention_to_next(attentions):
    return attentions.diagonal(offset=1, dim1=-2, dim2=-1).mean(-1)


@wrong("check_previous_token_score", "wrap-around")
def attention_rolled(attentions):
    T = attentions.shape[-1]
    idx = (torch.arange(T) - 1).remainder(T).expand(*attentions.shape[:-1]).unsqueeze(-1)
    return attentions.gather(-1, idx).squeeze(-1).mean(-1)


@wrong("check_previous_token_score", "divided by T")
def attention_over_T(attentions):
    return attentions.diagonal(offset=-1, dim1=-2, dim2=-1).sum(-1) / attentions.shape[-1]


@wrong("check_previous_token_score", "to itself")
def attention_to_self(attentions):
    return attentions.diagonal(dim1=-2, dim2=-1).mean(-1)


def _emb_grad(model, inputs, score_fn):
    x = model.get_input_embeddings()(inputs["input_ids"]).detach().requires_grad_(True)
    (g,) = torch.autograd.grad(score_fn(model, x, inputs["attention_mask"]).sum(), x)
    return g, x.detach()


@wrong("check_embedding_saliency", "summed the gradient")
def saliency_sum_of_gradient(model, inputs, score_fn):
    return _emb_grad(model, inputs, score_fn)[0].sum(-1)


@wrong("check_embedding_saliency", "gradient × embedding")
def saliency_grad_times_embedding(model, inputs, score_fn):
    g, e = _emb_grad(model, inputs, score_fn)
    return (g * e).sum(-1)


@wrong("check_embedding_saliency", "L1 norm")
def saliency_l1(model, inputs, score_fn):
    return _emb_grad(model, inputs, score_fn)[0].abs().sum(-1)


@wrong("check_embedding_saliency", "squared norm")
def saliency_squared(model, inputs, score_fn):
    return _emb_grad(model, inputs, score_fn)[0].pow(2).sum(-1)


@wrong("check_embedding_saliency", "left `model` in training mode")
def saliency_train_mode(model, inputs, score_fn):
    model.train()
    model.eval = lambda: model        # noqa: the student "restores" nothing
    return _emb_grad(model, inputs, score_fn)[0].norm(dim=-1)


def _text_ig(score_fn, x, baseline, steps, alphas=None, times="delta", divide=True):
    alphas = (torch.arange(steps, dtype=x.dtype) + 0.5) / steps if alphas is None else alphas
    path = (baseline + alphas.view(-1, 1, 1) * (x - baseline)).requires_grad_(True)
    (grads,) = torch.autograd.grad(score_fn(path).sum(), path)
    g = grads.mean(0) if divide else grads.sum(0)
    return {"delta": (x - baseline) * g, "x": x * g, "none": g}[times]


@wrong("text.check_integrated_gradients", "left Riemann")
def text_ig_left(score_fn, x, baseline, steps):
    return _text_ig(score_fn, x, baseline, steps, alphas=torch.arange(steps) / steps)


@wrong("text.check_integrated_gradients", "right Riemann")
def text_ig_right(score_fn, x, baseline, steps):
    return _text_ig(score_fn, x, baseline, steps, alphas=(torch.arange(steps) + 1.0) / steps)


@wrong("text.check_integrated_gradients", "multiply the averaged gradient by (x − baseline)")
def text_ig_no_delta(score_fn, x, baseline, steps):
    return _text_ig(score_fn, x, baseline, steps, times="none")


@wrong("text.check_integrated_gradients", "instead of (x − baseline)")
def text_ig_times_x(score_fn, x, baseline, steps):
    return _text_ig(score_fn, x, baseline, steps, times="x")


@wrong("text.check_integrated_gradients", "average them")
def text_ig_summed(score_fn, x, baseline, steps):
    return _text_ig(score_fn, x, baseline, steps, divide=False)


@wrong("text.check_integrated_gradients", "of your code")
def text_ig_loop_of_points(score_fn, x, baseline, steps):
    total = 0
    for k in range(steps):
        point = (baseline + (k + 0.5) / steps * (x - baseline)).requires_grad_(True)
        (g,) = torch.autograd.grad(score_fn(point).sum(), point)     # score_fn wants M×T×D: crashes or broadcasts
        total = total + g
    return (x - baseline) * total / steps


def _rollout(attentions, residual=True, renormalise=True, top_down=False, reduce="mean"):
    a = attentions.mean(1) if reduce == "mean" else attentions.amax(1)
    if residual:
        a = 0.5 * a + 0.5 * torch.eye(a.shape[-1]) if renormalise else a + torch.eye(a.shape[-1])
    if renormalise:
        a = a / a.sum(-1, keepdim=True)
    out = a[0]
    for layer in a[1:]:
        out = out @ layer if top_down else layer @ out
    return out


@wrong("check_attention_rollout", "forgot the residual")
def rollout_without_residual(attentions):
    return _rollout(attentions, residual=False)


@wrong("check_attention_rollout", "wrong order")
def rollout_top_down(attentions):
    return _rollout(attentions, top_down=True)


@wrong("check_attention_rollout", "without renormalising")
def rollout_a_plus_i(attentions):
    return _rollout(attentions, renormalise=False)


@wrong("check_attention_rollout", "maximum over heads")
def rollout_max_heads(attentions):
    return _rollout(attentions, reduce="max")


@wrong("check_attention_rollout", "transposed")
def rollout_transposed(attentions):
    return _rollout(attentions).T


# ============================================================================================ tests
_BY_ID = {ex.id: ex for ex in EXERCISES}
# checks whose exercise is not in a solutions/ notebook yet: their wrong students wait (test_counts fails until the
# set is emptied once the exercise lands)
AWAITING_EXERCISE: set[str] = set()
_CASES = [(check_id, what, fn, phrase) for check_id, entries in WRONG.items() for what, fn, phrase in entries
          if check_id not in AWAITING_EXERCISE]


@pytest.mark.parametrize("check_id, what, fn, phrase", _CASES, ids=[f"{c[0]}-{c[1]}" for c in _CASES])
def test_wrong_student_gets_the_specific_message(check_id, what, fn, phrase):
    result = _BY_ID[check_id].run(fn)
    assert result.status == "failed", result.message
    diagnosis = result.message.split("\n   Hint:")[0]          # the hint is the same for every mistake
    assert phrase in diagnosis, result.message


def test_counts():
    """At least three wrong students per check of lectures 01–11 (lecture 13's live in test_blackbox.py),
    and no entry for a check that does not exist."""
    assert set(WRONG) - set(_BY_ID) == AWAITING_EXERCISE, sorted(set(WRONG) - set(_BY_ID))
    few = {ex.id: len(WRONG.get(ex.id, [])) for ex in EXERCISES if ex.notebook <= "11" and len(WRONG.get(ex.id, [])) < 3}
    assert not few, f"checks with fewer than three wrong students: {few}"
