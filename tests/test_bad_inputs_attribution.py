"""Bad input to the attribution core, hooks, models, data and device helpers (issue 17).

Every case is either a bad argument, which must raise a TypeError/ValueError (or FileNotFoundError) whose
message names the argument, or a legitimate variant (float64 inputs, a layer given as a module, an N×1
target), which must give the same answer as the plain call. Nothing may return a silent wrong answer.

``python tests/test_bad_inputs_attribution.py`` prints the counts: tried / clear / ugly / silent / legit.
"""
from __future__ import annotations

import importlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import pytest
import torch
from torch import nn

A = importlib.import_module("course_utils.attribution")
H = importlib.import_module("course_utils.hooks")
M = importlib.import_module("course_utils.models")
D = importlib.import_module("course_utils.data")
V_ = importlib.import_module("course_utils.validation")


# ------------------------------------------------------------------------------------------------ models
def tiny(inplace: bool = False, seed: int = 0) -> nn.Sequential:
    """1×8×8 inputs, 5 classes; bn → ReLU like torchvision's models (in place with ``inplace``)."""
    torch.manual_seed(seed)
    model = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 4, 3, padding=1)), ("bn1", nn.BatchNorm2d(4)), ("relu1", nn.ReLU(inplace)),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(4, 6, 3, padding=1)), ("bn2", nn.BatchNorm2d(6)), ("relu2", nn.ReLU(inplace)),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(6, 5))]))
    with torch.no_grad():   # non-trivial batch-norm statistics, so bn2 and relu2 differ
        for bn in (model.bn1, model.bn2):
            bn.running_mean.normal_(0, 0.5)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.normal_(1, 0.3)
            bn.bias.normal_(0, 0.5)
    return model.eval()


MODEL = tiny()
X = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
Y = torch.tensor([1, 3])


def nan_x():
    x = X.clone()
    x[1, 0, 2, 3] = float("nan")
    return x


def inf_x():
    x = X.clone()
    x[0, 0, 0, 0] = float("inf")
    return x


def nan_model():
    model = tiny()
    with torch.no_grad():
        model.fc.weight[2, 0] = float("nan")
    return model


def masks():
    return A.bubble_masks(4, 8, 8, n_bubbles=2, sigma=1.5, generator=torch.Generator().manual_seed(0))


# ---------------------------------------------------------------------------------------------- the cases
@dataclass
class Case:
    id: str
    call: Callable
    error: tuple | None = None          # (exception types, argument name) for a bad input
    same_as: Callable | None = None     # for a legitimate variant: the plain call it must equal


CASES: list[Case] = []


def bad(id, call, exc, name):
    CASES.append(Case(id, call, error=(exc, name)))


def same(id, call, reference):
    CASES.append(Case(id, call, same_as=reference))


V = ValueError
T = TypeError
TV = (TypeError, ValueError)

# methods with the course's call shape: (name, function of (model, inputs, target, **kw))
METHODS = {
    "saliency": lambda m, x, t, **k: A.saliency(m, x, t, **k),
    "input_x_gradient": lambda m, x, t, **k: A.input_x_gradient(m, x, t, **k),
    "smoothgrad": lambda m, x, t, **k: A.smoothgrad(m, x, t, n_samples=2, **k),
    "input_gradients": lambda m, x, t, **k: A.input_gradients(m, x, t, **k)[0],
    "integrated_gradients": lambda m, x, t, **k: A.integrated_gradients(m, x, t, steps=4, **k),
    "guided_backprop": lambda m, x, t, **k: A.guided_backprop(m, x, t, **k),
    "deconvnet": lambda m, x, t, **k: A.deconvnet(m, x, t, **k),
    "modified_gradient": lambda m, x, t, **k: A.modified_gradient(m, x, t, "guided", **k),
    "grad_cam": lambda m, x, t, **k: A.grad_cam(m, x, t, layer="relu2", **k),
    "guided_grad_cam": lambda m, x, t, **k: A.guided_grad_cam(m, x, t, layer="relu2", **k),
    "cam": lambda m, x, t, **k: A.cam(m, x, t, layer="relu2", **k),
    "occlusion": lambda m, x, t, **k: A.occlusion(m, x, t, window=4, stride=4, **k),
    "occlusion_grid": lambda m, x, t, **k: A.occlusion_grid(m, x, t, window=4, stride=4, **k),
    "bubbles": lambda m, x, t, **k: A.bubbles(m, x, t, n_masks=4, sigma=1.5, method="contrast", **k),
    "bubbles_responses": lambda m, x, t, **k: A.bubbles_responses(m, x, t, masks(), **k),
}

for name, f in METHODS.items():
    def run(x=None, t=None, model=None, f=f, **kw):
        return f(MODEL if model is None else model, X if x is None else x, Y if t is None else t, **kw)
    bad(f"{name}: NaN pixel", lambda run=run: run(nan_x()), V, "inputs")
    bad(f"{name}: inf pixel", lambda run=run: run(inf_x()), V, "inputs")
    bad(f"{name}: 3 channels for a 1-channel model", lambda run=run: run(X.expand(2, 3, 8, 8)), V, "inputs")
    bad(f"{name}: empty batch", lambda run=run: run(X[:0], torch.zeros(0, dtype=torch.long)), V, "inputs")
    bad(f"{name}: inputs on another device", lambda run=run: run(X.to("meta")), V, "inputs")
    bad(f"{name}: 3-d inputs", lambda run=run: run(X[0], 1), V, "inputs")
    bad(f"{name}: uint8 inputs", lambda run=run: run((X * 255).to(torch.uint8)), T, "inputs")
    bad(f"{name}: a list as inputs", lambda run=run: run(X.tolist()), T, "inputs")
    same(f"{name}: float64 inputs", lambda run=run: run(X.double()), lambda run=run: run(X))
    bad(f"{name}: class 5 of 5", lambda run=run: run(t=5), V, "target")
    bad(f"{name}: class -1", lambda run=run: run(t=-1), V, "target")
    bad(f"{name}: target True", lambda run=run: run(t=True), T, "target")
    bad(f"{name}: float target tensor", lambda run=run: run(t=torch.tensor([1.0, 3.0])), T, "target")
    bad(f"{name}: bool target tensor", lambda run=run: run(t=torch.tensor([True, False])), T, "target")
    bad(f"{name}: 3 targets for 2 inputs", lambda run=run: run(t=torch.tensor([1, 2, 3])), V, "target")
    bad(f"{name}: target a string", lambda run=run: run(t="cat"), T, "target")
    same(f"{name}: N×1 target", lambda run=run: run(t=Y[:, None]), lambda run=run: run())
    bad(f"{name}: NaN logit", lambda run=run: run(model=nan_model(), t=2), V, "model")
    if name not in ("cam",):
        bad(f"{name}: batch_size True", lambda run=run: run(batch_size=True), T, "batch_size")
        bad(f"{name}: batch_size 0", lambda run=run: run(batch_size=0), V, "batch_size")
        bad(f"{name}: batch_size 1.5", lambda run=run: run(batch_size=1.5), T, "batch_size")
    bad(f"{name}: model not a module", lambda run=run: run(model=lambda x: x), T, "model")

# layers given as modules or wrongly
for name, call in {
    "grad_cam": lambda layer: A.grad_cam(MODEL, X, Y, layer=layer),
    "guided_grad_cam": lambda layer: A.guided_grad_cam(MODEL, X, Y, layer=layer),
    "cam": lambda layer: A.cam(MODEL, X, Y, layer=layer),
    "unit_target": lambda layer: A.saliency(MODEL, X, A.unit_target(layer, 1)),
    "capture_activations": lambda layer: _capture(layer),
}.items():
    same(f"{name}: layer as a module", lambda call=call: call(MODEL.relu2), lambda call=call: call("relu2"))
    bad(f"{name}: unknown layer name", lambda call=call: call("relu9"), V, "layer")
    bad(f"{name}: a module of another model", lambda call=call: call(nn.ReLU()), V, "layer")
    bad(f"{name}: layer an int", lambda call=call: call(3), T, "layer")


def _capture(layer):
    with H.capture_activations(MODEL, layer) as acts:
        MODEL(X)
    return next(iter(acts.values()))


# targets
bad("unit_target: channel 6 of 6", lambda: A.saliency(MODEL, X, A.unit_target("relu2", 6)), V, "channel")
bad("unit_target: channel -1", lambda: A.saliency(MODEL, X, A.unit_target("relu2", -1)), V, "channel")
bad("unit_target: channel True", lambda: A.unit_target("relu2", True), T, "channel")
bad("unit_target: y outside", lambda: A.saliency(MODEL, X, A.unit_target("relu2", 0, 4, 0)), V, "y")
bad("unit_target: x without y", lambda: A.unit_target("relu2", 0, None, 1), V, "y")
bad("unit_target: reduce", lambda: A.unit_target("relu2", 0, reduce="sum"), V, "reduce")
bad("unit_target: layer with a flat output and a position",
    lambda: A.saliency(MODEL, X, A.unit_target("fc", 0, 1, 1)), V, "layer")
bad("strongest_channel: two images", lambda: A.strongest_channel(MODEL, X, "relu2"), V, "inputs")
bad("strongest_channel: NaN pixel", lambda: A.strongest_channel(MODEL, nan_x()[1:], "relu2"), V, "inputs")
bad("strongest_channel: 3-d inputs", lambda: A.strongest_channel(MODEL, X[0], "relu2"), V, "inputs")
bad("strongest_channel: unknown layer", lambda: A.strongest_channel(MODEL, X[:1], "relu9"), V, "layer")
bad("strongest_channel: layer an int", lambda: A.strongest_channel(MODEL, X[:1], 3), T, "layer")
bad("strongest_channel: reduce", lambda: A.strongest_channel(MODEL, X[:1], "relu2", reduce="sum"), V, "reduce")
bad("strongest_channel: model not a module", lambda: A.strongest_channel(lambda x: x, X[:1], "relu2"), T, "model")
same("strongest_channel: layer as a module", lambda: A.strongest_channel(MODEL, X[:1], MODEL.relu2),
     lambda: A.strongest_channel(MODEL, X[:1], "relu2"))
bad("callable target: wrong shape", lambda: A.saliency(MODEL, X, lambda m, x: m(x)), V, "target")
bad("callable target: NaN score", lambda: A.saliency(MODEL, X, lambda m, x: m(x)[:, 0] * float("nan")), V,
    "target")
bad("callable target: not a tensor", lambda: A.saliency(MODEL, X, lambda m, x: 1.0), T, "target")
bad("cam: callable target", lambda: A.cam(MODEL, X, A.unit_target("relu2", 0), layer="relu2"), T, "target")
bad("cam: probability target", lambda: A.cam(MODEL, X, A.probability(1), layer="relu2"), T, "target")
bad("probability: class True", lambda: A.probability(True), T, "target")
bad("probability: class 7 of 5", lambda: A.saliency(MODEL, X, A.probability(7)), V, "target")
same("probability target = softmax callable",
     lambda: A.saliency(MODEL, X, A.probability(Y)),
     lambda: A.saliency(MODEL, X, lambda m, x: m(x).softmax(1).gather(1, Y[:, None])[:, 0]))
bad("target_scores: NaN logit", lambda: A.target_scores(nan_model(), X, 2), V, "model")
bad("target_scores: model output 4-d", lambda: A.target_scores(nn.Identity(), X, 0), V, "model")

# gradient options
bad("smoothgrad: n_samples True", lambda: A.smoothgrad(MODEL, X, Y, n_samples=True), T, "n_samples")
bad("smoothgrad: n_samples 0", lambda: A.smoothgrad(MODEL, X, Y, n_samples=0), V, "n_samples")
bad("smoothgrad: noise_level -1", lambda: A.smoothgrad(MODEL, X, Y, noise_level=-1.0), V, "noise_level")
bad("smoothgrad: noise_level NaN", lambda: A.smoothgrad(MODEL, X, Y, noise_level=float("nan")), V, "noise_level")
bad("smoothgrad: noise_level 'a'", lambda: A.smoothgrad(MODEL, X, Y, noise_level="a"), T, "noise_level")
bad("smoothgrad: generator 3", lambda: A.smoothgrad(MODEL, X, Y, generator=3), T, "generator")
bad("smoothgrad: statistic 'median'", lambda: A.smoothgrad(MODEL, X, Y, statistic="median"), V, "statistic")
bad("noisy_gradients: n_samples 0", lambda: A.noisy_gradients(MODEL, X, Y, n_samples=0), V, "n_samples")
bad("noisy_gradients: NaN", lambda: A.noisy_gradients(MODEL, nan_x(), Y, n_samples=2), V, "inputs")
bad("reduce_samples: 4-d", lambda: A.reduce_samples(X, "mean"), V, "noisy")
bad("reduce_samples: NaN", lambda: A.reduce_samples(nan_x()[:, None], "mean"), V, "noisy")
bad("reduce_samples: statistic", lambda: A.reduce_samples(X[:, None], "max"), V, "statistic")
bad("saliency: abs 'yes'", lambda: A.saliency(MODEL, X, Y, abs="yes"), T, "abs")
bad("reduce_channels: NaN", lambda: A.reduce_channels(nan_x()), V, "attribution")
bad("reduce_channels: 3-d", lambda: A.reduce_channels(X[0]), V, "attribution")
bad("reduce_channels: how", lambda: A.reduce_channels(X, "min"), V, "how")
same("reduce_channels: float64", lambda: A.reduce_channels(X.double()).float(), lambda: A.reduce_channels(X))
bad("noise_scale: NaN", lambda: A.noise_scale(nan_x(), 0.1), V, "inputs")
bad("noise_scale: noise_level -1", lambda: A.noise_scale(X, -1.0), V, "noise_level")
bad("modified_gradient: rule", lambda: A.modified_gradient(MODEL, X, Y, "backprop"), V, "rule")
bad("override_relu_backward: rule", lambda: A.override_relu_backward("x").__enter__(), V, "rule")
bad("guided_backprop: no ReLU", lambda: A.guided_backprop(nn.Sequential(nn.Flatten(), nn.Linear(64, 5)), X, Y),
    V, "model")
bad("guided_backprop: SiLU", lambda: A.guided_backprop(
    nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.SiLU(), nn.Linear(8, 5)), X, Y), V, "model")

# integrated gradients
IG = lambda **k: A.integrated_gradients(MODEL, X, Y, **{"steps": 4, **k})
bad("integrated_gradients: steps True", lambda: IG(steps=True), T, "steps")
bad("integrated_gradients: steps 0", lambda: IG(steps=0), V, "steps")
bad("integrated_gradients: steps 2.5", lambda: IG(steps=2.5), T, "steps")
bad("integrated_gradients: rule", lambda: IG(rule="simpson"), V, "rule")
bad("integrated_gradients: baseline name", lambda: IG(baseline="white"), V, "baseline")
bad("integrated_gradients: baseline shape", lambda: IG(baseline=torch.zeros(1, 1, 4, 4)), V, "baseline")
bad("integrated_gradients: NaN baseline", lambda: IG(baseline=torch.full((1, 1, 8, 8), float("nan"))), V,
    "baseline")
bad("integrated_gradients: NaN number baseline", lambda: IG(baseline=float("nan")), V, "baseline")
bad("integrated_gradients: baseline on another device", lambda: IG(baseline=torch.zeros(1, 1, 8, 8,
                                                                                             device="meta")),
    V, "baseline")
bad("integrated_gradients: empty baseline list", lambda: IG(baseline=[]), V, "baseline")
bad("integrated_gradients: n_baselines True", lambda: IG(baseline="noise", n_baselines=True), T, "n_baselines")
bad("integrated_gradients: n_baselines 2 without noise", lambda: IG(n_baselines=2), V, "n_baselines")
bad("integrated_gradients: blur_sigma -1", lambda: IG(baseline="blur", blur_sigma=-1.0), V, "blur_sigma")
same("integrated_gradients: float64 baseline", lambda: IG(baseline=torch.zeros(1, 1, 8, 8, dtype=torch.float64)),
     lambda: IG(baseline="zeros"))
bad("quadrature: steps True", lambda: A.quadrature(True), T, "steps")
bad("quadrature: steps 0", lambda: A.quadrature(0), V, "steps")
bad("quadrature: rule", lambda: A.quadrature(4, "gausslegendre"), V, "rule")
bad("quadrature: rule adaptive (no fixed nodes)", lambda: A.quadrature(4, "adaptive"), V, "rule")
bad("integrated_gradients: scan_steps 0", lambda: IG(rule="adaptive", scan_steps=0), V, "scan_steps")
bad("integrated_gradients: scan_steps True", lambda: IG(rule="adaptive", scan_steps=True), T, "scan_steps")
bad("integrated_gradients: scan_steps with a uniform rule", lambda: IG(rule="midpoint", scan_steps=8), V, "scan_steps")
bad("integrated_gradients: nodes_per_interval 0", lambda: IG(rule="adaptive", nodes_per_interval=0), V,
    "nodes_per_interval")
bad("adaptive_quadrature: one scan point", lambda: A.adaptive_quadrature(torch.zeros(1), 4), V, "scan_scores")
bad("adaptive_quadrature: concentration 1", lambda: A.adaptive_quadrature(torch.zeros(5), 4, concentration=1.0), V,
    "concentration")
bad("gauss_legendre_pieces: edges not from 0", lambda: A.gauss_legendre_pieces([0.2, 1.0], 2), V, "edges")
bad("make_baseline: kind", lambda: A.make_baseline("white", X, MODEL), V, "kind")
bad("make_baseline: NaN inputs", lambda: A.make_baseline("zeros", nan_x(), MODEL), V, "inputs")
bad("make_baseline: kind True", lambda: A.make_baseline(True, X, MODEL), T, "kind")

# occlusion and bubbles
OC = lambda **k: A.occlusion(MODEL, X, Y, **{"window": 4, "stride": 4, **k})
bad("occlusion: window 0", lambda: OC(window=0), V, "window")
bad("occlusion: window True", lambda: OC(window=True), T, "window")
bad("occlusion: window (3,)", lambda: OC(window=(3,)), T, "window")
bad("occlusion: window larger than the image", lambda: OC(window=9), V, "window")
bad("occlusion: stride 0", lambda: OC(stride=0), V, "stride")
bad("occlusion: value 'grey'", lambda: OC(value="grey"), V, "value")
bad("occlusion: value NaN", lambda: OC(value=float("nan")), V, "value")
bad("occlusion: value tensor NaN", lambda: OC(value=torch.tensor([float("nan")])), V, "value")
bad("occlusion: value tensor shape", lambda: OC(value=torch.zeros(3)), V, "value")
bad("occlusion: blur_sigma -1", lambda: OC(value="blur", blur_sigma=-1.0), V, "blur_sigma")
bad("occlusion_outputs: NaN", lambda: A.occlusion_outputs(MODEL, nan_x(), window=4, stride=4), V, "inputs")
bad("occlusion_outputs: channels", lambda: A.occlusion_outputs(MODEL, X.expand(2, 3, 8, 8), window=4, stride=4),
    V, "inputs")
bad("occluder_fill: NaN", lambda: A.occluder_fill(nan_x()), V, "inputs")
bad("window_positions: stride 0", lambda: A.window_positions(10, 4, 0), V, "stride")
bad("window_positions: window True", lambda: A.window_positions(10, True, 1), T, "window")
bad("window_positions: size 2.5", lambda: A.window_positions(2.5, 1, 1), T, "size")
bad("grid_to_pixels: grid shape", lambda: A.grid_to_pixels(torch.zeros(3, 3), 8, 8, 4, 4), V, "grid")
bad("grid_to_pixels: mode", lambda: A.grid_to_pixels(torch.zeros(2, 2), 8, 8, 4, 4, mode="max"), V, "mode")
bad("grid_to_pixels: NaN grid", lambda: A.grid_to_pixels(torch.full((2, 2), float("nan")), 8, 8, 4, 4), V, "grid")
bad("bubbles: n_masks 0", lambda: A.bubbles(MODEL, X, Y, n_masks=0), V, "n_masks")
bad("bubbles: n_masks True", lambda: A.bubbles(MODEL, X, Y, n_masks=True), T, "n_masks")
bad("bubbles: n_bubbles 0", lambda: A.bubbles(MODEL, X, Y, n_bubbles=0), V, "n_bubbles")
bad("bubbles: sigma 0", lambda: A.bubbles(MODEL, X, Y, sigma=0.0), V, "sigma")
bad("bubbles: sigma NaN", lambda: A.bubbles(MODEL, X, Y, sigma=float("nan")), V, "sigma")
bad("bubbles: method", lambda: A.bubbles(MODEL, X, Y, method="mean"), V, "method")
bad("bubble_masks: n 0", lambda: A.bubble_masks(0, 8, 8), V, "n")
bad("bubble_masks: height True", lambda: A.bubble_masks(2, True, 8), T, "height")
bad("bubble_centres: n_bubbles 1.5", lambda: A.bubble_centres(2, 1.5, 8, 8), T, "n_bubbles")
bad("masks_from_centres: NaN centres",
    lambda: A.masks_from_centres(torch.full((1, 2, 2), float("nan")), 8, 8, 1.0), V, "centres")
bad("masks_from_centres: shape", lambda: A.masks_from_centres(torch.zeros(2, 2), 8, 8, 1.0), V, "centres")
bad("masks_from_centres: sigma -1", lambda: A.masks_from_centres(torch.zeros(1, 2, 2), 8, 8, -1.0), V, "sigma")
bad("apply_bubbles: two images", lambda: A.apply_bubbles(X, masks()), V, "inputs")
bad("apply_bubbles: masks shape", lambda: A.apply_bubbles(X[:1], torch.ones(2, 1, 4, 4)), V, "masks")
bad("apply_bubbles: NaN masks", lambda: A.apply_bubbles(X[:1], torch.full((2, 1, 8, 8), float("nan"))), V, "masks")
bad("apply_bubbles: masks a list", lambda: A.apply_bubbles(X[:1], [[0.0]]), T, "masks")
bad("bubbles_responses: masks shape", lambda: A.bubbles_responses(MODEL, X, Y, torch.ones(2, 1, 4, 4)), V, "masks")
bad("diagnostic_image: NaN responses", lambda: A.diagnostic_image(masks(), torch.tensor([1.0, float("nan"), 1, 1])),
    V, "responses")
bad("diagnostic_image: method", lambda: A.diagnostic_image(masks(), torch.ones(4), method="mean"), V, "method")
bad("diagnostic_image: quantile 1", lambda: A.diagnostic_image(masks(), torch.ones(4), "contrast", 1.0), V,
    "quantile")
bad("diagnostic_image: negative logits", lambda: A.diagnostic_image(masks(), -torch.ones(4)), V, "responses")
bad("reveal: NaN diagnostic", lambda: A.reveal(X[:1], torch.full((1, 8, 8), float("nan"))), V, "diagnostic")
bad("reveal: diagnostic shape", lambda: A.reveal(X[:1], torch.ones(1, 4, 4)), V, "diagnostic")

# hooks
bad("capture_activations: no layers", lambda: _capture([]), V, "layers")
bad("capture_activations: detach 'no'", lambda: H.capture_activations(MODEL, "relu2", detach="no").__enter__(), T,
    "detach")
bad("get_layer: unknown", lambda: H.get_layer(MODEL, "conv"), V, "layer")
same("get_layer: module", lambda: H.get_layer(MODEL, MODEL.conv1), lambda: MODEL.conv1)
bad("receptive_fields: 2-d shape", lambda: H.receptive_fields(MODEL, (8, 8)), V, "input_shape")
bad("receptive_fields: channels", lambda: H.receptive_fields(MODEL, (3, 8, 8)), V, "input_shape")
bad("receptive_fields: size True", lambda: H.receptive_fields(MODEL, (1, True, True)), T, "input_shape")
bad("modules_in_run_order: NaN", lambda: H.modules_in_run_order(MODEL, nan_x()), V, "inputs")
bad("modules_in_run_order: a string", lambda: H.modules_in_run_order(MODEL, "x"), T, "inputs")

# models and data
bad("preprocess: float image", lambda: M.preprocess(torch.rand(8, 8, 3).numpy(), MODEL), T, "image")
bad("preprocess: 4 channels", lambda: M.preprocess(torch.zeros(8, 8, 4, dtype=torch.uint8).numpy(), MODEL), V,
    "image")
bad("preprocess: size 0", lambda: M.preprocess(torch.zeros(8, 8, 3, dtype=torch.uint8).numpy(), MODEL, size=0), V,
    "size")
bad("preprocess: size True", lambda: M.preprocess(torch.zeros(8, 8, 3, dtype=torch.uint8).numpy(), MODEL,
                                                  size=True), T, "size")
bad("deprocess: NaN", lambda: M.deprocess(nan_x()[1:], M.fashion_cnn(pretrained=False)), V, "x")
bad("deprocess: two images", lambda: M.deprocess(X, M.fashion_cnn(pretrained=False)), V, "x")
bad("deprocess: a list", lambda: M.deprocess([[0.0]], M.fashion_cnn(pretrained=False)), T, "x")
bad("deprocess: rank 2", lambda: M.deprocess(torch.zeros(28, 28), M.fashion_cnn(pretrained=False)), V, "x")
bad("one_image: a batch of two", lambda: V_.one_image(torch.zeros(2, 3, 4, 4), "picture"), V, "picture")
bad("one_image: rank 5", lambda: V_.one_image(torch.zeros(1, 1, 3, 4, 4), "picture"), V, "picture")
bad("one_image: an array", lambda: V_.one_image(torch.zeros(3, 4, 4).numpy(), "picture"), T, "picture")


def test_one_image_drops_a_batch_of_one_and_keeps_the_pixels():
    x = torch.rand(3, 5, 4)
    assert V_.one_image(x, "x") is x
    assert torch.equal(V_.one_image(x[None], "x"), x)


bad("input_range: channels True", lambda: M.input_range(MODEL, True), T, "channels")
bad("input_range: channels 0", lambda: M.input_range(MODEL, 0), V, "channels")
bad("torchvision_model: unknown", lambda: M.torchvision_model("resnet"), V, "name")
bad("fashion_cnn: pretrained 'yes'", lambda: M.fashion_cnn("yes"), T, "pretrained")
bad("load_fashion_mnist: split 'val'", lambda: D.load_fashion_mnist("val"), V, "split")
bad("load_fashion_mnist: split a list", lambda: D.load_fashion_mnist(["test"]), TV, "split")
bad("load_fashion_mnist: split None", lambda: D.load_fashion_mnist(None), TV, "split")
bad("load_image: unknown", lambda: D.load_image("dog"), V, "name")
bad("load_image: a glob", lambda: D.load_image("*"), V, "name")
bad("load_image: an int", lambda: D.load_image(3), T, "name")
bad("load_image: a path", lambda: D.load_image("../images/chelsea"), V, "name")


def _device(value):
    import os
    old = os.environ.get("COURSE_DEVICE")
    os.environ["COURSE_DEVICE"] = value
    try:
        from course_utils import get_device
        return get_device()
    finally:
        if old is None:
            del os.environ["COURSE_DEVICE"]
        else:
            os.environ["COURSE_DEVICE"] = old


if not torch.cuda.is_available():
    bad("get_device: cuda without a GPU", lambda: _device("cuda"), V, "COURSE_DEVICE")
bad("get_device: 'gpu'", lambda: _device("gpu"), V, "COURSE_DEVICE")
bad("get_device: garbage", lambda: _device("fast please"), V, "COURSE_DEVICE")
same("get_device: ' CPU '", lambda: _device(" CPU "), lambda: torch.device("cpu"))


# ---------------------------------------------------------------------------------------------- running
def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and bool(torch.allclose(a.double(), b.double(), rtol=1e-4, atol=1e-6))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a is b or a == b


def classify(case: Case) -> tuple[str, str]:
    """'clear' / 'ugly' / 'silent' for a bad input; 'legit' / 'ugly' / 'silent' for a variant; + a note."""
    try:
        got = case.call()
    except Exception as err:   # noqa: BLE001 – classifying every failure is the point
        if isinstance(err, (ImportError, AttributeError)) and re.search(r"course_utils|module '?course", str(err)):
            return "n/a", f"{type(err).__name__}: {err}"
        if case.error is None:
            return "ugly", f"{type(err).__name__}: {err}"
        types, name = case.error
        ok_type = isinstance(err, (TypeError, ValueError, FileNotFoundError))   # the declared type: see the test
        ok_name = re.search(rf"(^|[^\w]){re.escape(name)}([^\w]|$)", str(err)) is not None
        return ("clear" if ok_type and ok_name else "ugly"), f"{type(err).__name__}: {err}"
    if case.error is not None:
        return "silent", f"returned {type(got).__name__}"
    try:
        reference = case.same_as()
    except Exception as err:  # noqa: BLE001
        return "n/a", f"reference failed: {type(err).__name__}: {err}"
    return ("legit", "") if _equal(got, reference) else ("silent", "differs from the plain call")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case):
    verdict, note = classify(case)
    assert verdict in ("clear", "legit"), f"{verdict}: {note}"
    if case.error is not None:
        with pytest.raises(case.error[0]):
            case.call()


def test_state_is_restored_after_errors():
    """Hooks, training flags and requires_grad survive every failing call."""
    model = tiny().train()
    model.conv1.weight.requires_grad_(False)
    for f in METHODS.values():
        with pytest.raises((TypeError, ValueError)):
            f(model, nan_x(), Y)
        with pytest.raises((TypeError, ValueError)):
            f(model, X, 7)
    assert model.training and all(m.training for m in model.modules())
    assert not model.conv1.weight.requires_grad and model.conv2.weight.requires_grad
    assert all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
               for m in model.modules())


if __name__ == "__main__":
    from collections import Counter
    import sys
    counts, lines = Counter(), []
    for case in CASES:
        verdict, note = classify(case)
        counts[verdict] += 1
        if verdict not in ("clear", "legit"):
            lines.append(f"{verdict:7s} {case.id}: {note[:150]}")
    print("\n".join(lines))
    tried = sum(counts.values()) - counts["n/a"]
    print(f"tried {tried}: clear {counts['clear']}, legit {counts['legit']}, ugly {counts['ugly']}, "
          f"silent {counts['silent']} (n/a {counts['n/a']})", file=sys.stderr)
