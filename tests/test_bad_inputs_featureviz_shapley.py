"""Bad input to every public function of ``course_utils.featureviz`` and ``course_utils.shapley``.

Each ``bad(...)`` case must raise the given error type with a message that starts with the argument's name
(the course's "argument: what was expected, what was got" style). Each ``same(...)`` case is a legitimate
variant (float64 inputs, a layer given as the module) that must give the same answer as the plain call.

``python tests/test_bad_inputs_featureviz_shapley.py`` prints how many cases give a clear error, an ugly
one (wrong type, or a message from deep inside torch) or a silent answer.
"""
from __future__ import annotations

import copy
import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import matplotlib
import pytest
import torch
from torch import nn

matplotlib.use("Agg")

from course_utils import featureviz as fv  # noqa: E402
from course_utils import shapley as sh  # noqa: E402

NAN, INF = float("nan"), float("inf")


@dataclass
class Bad:
    id: str
    call: Callable
    error: type
    arg: str


@dataclass
class Same:
    id: str
    call: Callable
    reference: Callable


CASES: list[Bad | Same] = []


def bad(id, call, error, arg):
    CASES.append(Bad(id, call, error, arg))


def same(id, call, reference):
    CASES.append(Same(id, call, reference))


def with_nan(x, value=NAN):
    x = x.clone()
    x.view(-1)[3] = value
    return x


# ------------------------------------------------------------------------------------------ models
def conv_model(channels=1):
    """conv → BN → ReLU → conv → ReLU → GAP → linear(2 → 3), 8×8 inputs."""
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(channels, 4, 3, padding=1)), ("bn1", nn.BatchNorm2d(4)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(4, 2, 3, padding=1)), ("relu2", nn.ReLU()),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(2, 3))])).eval()


def shapley_model():
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 4, 3, padding=1)), ("bn1", nn.BatchNorm2d(4)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(4, 6, 3, padding=1)), ("relu2", nn.ReLU()),
        ("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(6, 3))])).eval()


def nan_weights(model, name):
    model = copy.deepcopy(model)
    with torch.no_grad():
        getattr(model, name).weight.view(-1)[0] = NAN
    return model


M = conv_model()
X = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
OBJ = fv.channel("relu2", 0)
QUICK = dict(size=8, steps=2, show_progress=False)


def pixels(c=1, **kw):
    return fv.PixelImage(1, c, 8, generator=torch.Generator().manual_seed(0), **kw)


# ===================================================================================== featureviz
# --- render
bad("render: image with 3 channels for a 1-channel model", lambda: fv.render(M, OBJ, pixels(3), steps=1), ValueError, "image")
bad("render: image on another device", lambda: fv.render(M, OBJ, pixels().to("meta"), steps=1), ValueError, "image")
bad("render: image is a tensor", lambda: fv.render(M, OBJ, torch.rand(1, 1, 8, 8)), TypeError, "image")
bad("render: steps=True", lambda: fv.render(M, OBJ, pixels(), steps=True), TypeError, "steps")
bad("render: steps=0", lambda: fv.render(M, OBJ, pixels(), steps=0), ValueError, "steps")
bad("render: steps=2.5", lambda: fv.render(M, OBJ, pixels(), steps=2.5), TypeError, "steps")
bad("render: lr=nan", lambda: fv.render(M, OBJ, pixels(), lr=NAN), ValueError, "lr")
bad("render: lr=True", lambda: fv.render(M, OBJ, pixels(), lr=True), TypeError, "lr")
bad("render: lr=-1", lambda: fv.render(M, OBJ, pixels(), lr=-1.0), ValueError, "lr")
bad("render: size=True", lambda: fv.render(M, OBJ, size=True, steps=1), TypeError, "size")
bad("render: size=0", lambda: fv.render(M, OBJ, size=0, steps=1), ValueError, "size")
bad("render: batch=0", lambda: fv.render(M, OBJ, size=8, batch=0, steps=1), ValueError, "batch")
bad("render: batch=True", lambda: fv.render(M, OBJ, size=8, batch=True, steps=1), TypeError, "batch")
bad("render: seed=1.5", lambda: fv.render(M, OBJ, **QUICK, seed=1.5), TypeError, "seed")
bad("render: objective is a string", lambda: fv.render(M, "relu2", **QUICK), TypeError, "objective")
bad("render: channel out of range", lambda: fv.render(M, fv.channel("relu2", 5), **QUICK), ValueError, "channel")
bad("render: class out of range", lambda: fv.render(M, fv.class_logit(3), **QUICK), ValueError, "target")
bad("render: unknown layer name", lambda: fv.render(M, fv.channel("relu9", 0), **QUICK), ValueError, "layer")
bad("render: module of another model", lambda: fv.render(M, fv.channel(nn.ReLU(), 0), **QUICK), ValueError, "layer")
bad("render: transforms=[3]", lambda: fv.render(M, OBJ, **QUICK, transforms=[3]), TypeError, "transforms")
bad("render: transforms=None-like int", lambda: fv.render(M, OBJ, **QUICK, transforms=3), TypeError, "transforms")
bad("render: history is a string", lambda: fv.render(M, OBJ, **QUICK, history="h"), TypeError, "history")
bad("render: normalize=3", lambda: fv.render(M, OBJ, **QUICK, normalize=3), TypeError, "normalize")
bad("render: model is a string", lambda: fv.render("cnn", OBJ, **QUICK), TypeError, "model")
bad("render: model with NaN weights", lambda: fv.render(nan_weights(M, "conv1"), OBJ, **QUICK), ValueError, "objective")
bad("render: per-image channels for another batch size", lambda: fv.render(M, fv.channel("relu2", [0, 1, 0]), size=8, batch=2,
                                                                         steps=1, show_progress=False), ValueError, "channel")
same("render: layer as a module", lambda: fv.render(M, fv.channel(M.relu2, 1), **QUICK),
     lambda: fv.render(M, fv.channel("relu2", 1), **QUICK))

# --- evaluate
bad("evaluate: images with NaN", lambda: fv.evaluate(M, OBJ, with_nan(X)), ValueError, "images")
bad("evaluate: images with inf", lambda: fv.evaluate(M, OBJ, with_nan(X, INF)), ValueError, "images")
bad("evaluate: 3 channels for a 1-channel model", lambda: fv.evaluate(M, OBJ, torch.rand(2, 3, 8, 8)), ValueError, "images")
bad("evaluate: empty batch", lambda: fv.evaluate(M, OBJ, torch.rand(0, 1, 8, 8)), ValueError, "images")
bad("evaluate: images on another device", lambda: fv.evaluate(M, OBJ, torch.rand(2, 1, 8, 8, device="meta")), ValueError, "images")
bad("evaluate: 3-d images", lambda: fv.evaluate(M, OBJ, torch.rand(1, 8, 8)), ValueError, "images")
bad("evaluate: uint8 images", lambda: fv.evaluate(M, OBJ, (X * 255).byte()), TypeError, "images")
bad("evaluate: images outside [0, 1] (already normalized)", lambda: fv.evaluate(M, OBJ, X * 4 - 2), ValueError, "images")
bad("evaluate: batch_size=True", lambda: fv.evaluate(M, OBJ, X, batch_size=True), TypeError, "batch_size")
bad("evaluate: batch_size=0", lambda: fv.evaluate(M, OBJ, X, batch_size=0), ValueError, "batch_size")
bad("evaluate: class out of range", lambda: fv.evaluate(M, fv.class_logit(3), X), ValueError, "target")
bad("evaluate: channel out of range", lambda: fv.evaluate(M, fv.neuron("relu1", 4), X), ValueError, "channel")
bad("evaluate: neuron outside the map", lambda: fv.evaluate(M, fv.neuron("relu2", 0, y=9), X), ValueError, "y")
bad("evaluate: per-image channels for another batch size", lambda: fv.evaluate(M, fv.channel("relu2", [0, 1, 1]), X),
    ValueError, "channel")
bad("evaluate: model is a string", lambda: fv.evaluate("cnn", OBJ, X), TypeError, "model")
same("evaluate: float64 images", lambda: fv.evaluate(M, OBJ, X.double()), lambda: fv.evaluate(M, OBJ, X))
same("evaluate: layer as a module", lambda: fv.evaluate(M, fv.neuron(M.bn1, 2) + fv.deepdream(M.relu1), X),
     lambda: fv.evaluate(M, fv.neuron("bn1", 2) + fv.deepdream("relu1"), X))

# --- objectives
bad("neuron: channel=True", lambda: fv.neuron("relu2", True), TypeError, "channel")
bad("neuron: y=True", lambda: fv.neuron("relu2", 0, y=True), TypeError, "y")
bad("neuron: y=1.5", lambda: fv.neuron("relu2", 0, y=1.5), TypeError, "y")
bad("neuron: x=-1", lambda: fv.neuron("relu2", 0, x=-1), ValueError, "x")
bad("neuron: layer=3", lambda: fv.neuron(3, 0), TypeError, "layer")
bad("channel: channel=-1", lambda: fv.channel("relu2", -1), ValueError, "channel")
bad("channel: channel list with a bool", lambda: fv.channel("relu2", [0, True]), TypeError, "channel")
bad("channel: float tensor of channels", lambda: fv.channel("relu2", torch.tensor([0.5])), TypeError, "channel")
bad("channel: empty list", lambda: fv.channel("relu2", []), ValueError, "channel")
bad("channel: channel='one'", lambda: fv.channel("relu2", "one"), TypeError, "channel")
bad("channel: layer=''", lambda: fv.channel("", 0), ValueError, "layer")
bad("deepdream: layer=5", lambda: fv.deepdream(5), TypeError, "layer")
bad("diversity: layer=None", lambda: fv.diversity(None), TypeError, "layer")
bad("class_logit: target=True", lambda: fv.class_logit(True), TypeError, "target")
bad("class_logit: target=-1", lambda: fv.class_logit(-1), ValueError, "target")
bad("class_probability: log='yes'", lambda: fv.class_probability(0, log="yes"), TypeError, "log")
bad("l2: center=nan", lambda: fv.l2(center=NAN), ValueError, "center")
bad("l2: center='grey'", lambda: fv.l2(center="grey"), TypeError, "center")
bad("total_variation: x with NaN", lambda: fv.total_variation(with_nan(X)), ValueError, "x")
bad("total_variation: 3-d x", lambda: fv.total_variation(torch.rand(3, 8, 8)), ValueError, "x")
bad("total_variation: empty batch", lambda: fv.total_variation(torch.rand(0, 1, 8, 8)), ValueError, "x")
bad("total_variation: uint8 x", lambda: fv.total_variation((X * 255).byte()), TypeError, "x")
bad("total_variation: 1×1 images", lambda: fv.total_variation(torch.rand(2, 1, 1, 1)), ValueError, "x")
same("total_variation: float64 x", lambda: fv.total_variation(X.double()), lambda: fv.total_variation(X))
bad("blur_penalty: sigma=0", lambda: fv.blur_penalty(0), ValueError, "sigma")
bad("blur_penalty: sigma=True", lambda: fv.blur_penalty(True), TypeError, "sigma")
bad("gram_matrices: 3-d", lambda: fv.gram_matrices(torch.rand(2, 8, 8)), ValueError, "activations")
bad("gram_matrices: NaN", lambda: fv.gram_matrices(with_nan(torch.rand(2, 3, 4, 4))), ValueError, "activations")
bad("Objective / 0", lambda: OBJ / 0, TypeError, "other")
bad("Objective / True", lambda: OBJ / True, TypeError, "other")

# --- transforms
bad("jitter: max_shift=True", lambda: fv.jitter(True), TypeError, "max_shift")
bad("jitter: max_shift=-1", lambda: fv.jitter(-1), ValueError, "max_shift")
bad("jitter: max_shift=1.5", lambda: fv.jitter(1.5), TypeError, "max_shift")
bad("jitter(2) on 3-d x", lambda: fv.jitter(2)(torch.rand(1, 8, 8)), ValueError, "x")
bad("jitter(2) on x with NaN", lambda: fv.jitter(2)(with_nan(X)), ValueError, "x")
bad("jitter(2) with generator='g'", lambda: fv.jitter(2)(X, "g"), TypeError, "generator")
bad("random_scale: a NaN factor", lambda: fv.random_scale((1.0, NAN)), ValueError, "scales")
bad("random_scale: negative factor", lambda: fv.random_scale((1.0, -1.0)), ValueError, "scales")
bad("random_scale: no factor", lambda: fv.random_scale(()), ValueError, "scales")
bad("random_scale: a number, not a list", lambda: fv.random_scale(2.0), TypeError, "scales")
bad("random_scale: a string factor", lambda: fv.random_scale(("a",)), TypeError, "scales")
bad("random_scale: a bool factor", lambda: fv.random_scale((1.0, True)), TypeError, "scales")
bad("random_scale() on 2-d x", lambda: fv.random_scale()(torch.rand(8, 8)), ValueError, "x")
bad("random_rotate: a NaN angle", lambda: fv.random_rotate((NAN,)), ValueError, "degrees")
bad("random_rotate: no angle", lambda: fv.random_rotate(()), ValueError, "degrees")
bad("random_rotate: a number, not a list", lambda: fv.random_rotate(5), TypeError, "degrees")
bad("pad: width=True", lambda: fv.pad(True), TypeError, "width")
bad("pad: width=-1", lambda: fv.pad(-1), ValueError, "width")
bad("pad: mode='wrap'", lambda: fv.pad(2, mode="wrap"), ValueError, "mode")
bad("pad: value=nan", lambda: fv.pad(2, "constant", value=NAN), ValueError, "value")
bad("pad(8) reflecting an 8×8 image", lambda: fv.pad(8)(X), ValueError, "width")
bad("gaussian_kernel: sigma=inf", lambda: fv.gaussian_kernel(INF), ValueError, "sigma")
bad("gaussian_kernel: sigma=True", lambda: fv.gaussian_kernel(True), TypeError, "sigma")
bad("blur: sigma=nan", lambda: fv.blur(NAN), ValueError, "sigma")
bad("blur(1) on 3-d x", lambda: fv.blur(1.0)(torch.rand(1, 8, 8)), ValueError, "x")
bad("compose: None", lambda: fv.compose(None), TypeError, "transforms")
bad("compose: [3]", lambda: fv.compose([3]), TypeError, "transforms")
bad("standard_transforms: size=0", lambda: fv.standard_transforms(0), ValueError, "size")
bad("standard_transforms: size=True", lambda: fv.standard_transforms(True), TypeError, "size")
same("jitter(2) on float64 x", lambda: fv.jitter(2)(X.double(), torch.Generator().manual_seed(0)),
     lambda: fv.jitter(2)(X, torch.Generator().manual_seed(0)))

# --- parameterizations and the frequency domain
RGB = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
SCALE = fv.spectrum_scale(8, 8)
SPECTRUM = fv.pixels_to_fourier(RGB, SCALE)
bad("color_correlation_sqrt: 1 channel", lambda: fv.color_correlation_sqrt(X), ValueError, "images")
bad("color_correlation_sqrt: NaN", lambda: fv.color_correlation_sqrt(with_nan(RGB)), ValueError, "images")
bad("color_correlation_sqrt: empty batch", lambda: fv.color_correlation_sqrt(RGB[:0]), ValueError, "images")
bad("color_correlation_sqrt: one pixel", lambda: fv.color_correlation_sqrt(RGB[:1, :, :1, :1]), ValueError, "images")
same("color_correlation_sqrt: float64", lambda: fv.color_correlation_sqrt(RGB.double()), lambda: fv.color_correlation_sqrt(RGB))
bad("frequency_grid: height=0", lambda: fv.frequency_grid(0, 4), ValueError, "height")
bad("frequency_grid: height=True", lambda: fv.frequency_grid(True, 4), TypeError, "height")
bad("spectrum_scale: width=0", lambda: fv.spectrum_scale(8, 0), ValueError, "width")
bad("spectrum_scale: decay_power=nan", lambda: fv.spectrum_scale(8, 8, decay_power=NAN), ValueError, "decay_power")
bad("spectrum_scale: decay_power=True", lambda: fv.spectrum_scale(8, 8, decay_power=True), TypeError, "decay_power")
bad("fourier_to_pixels: last dimension 3", lambda: fv.fourier_to_pixels(torch.rand(2, 3, 8, 5, 3), (8, 8), SCALE),
    ValueError, "spectrum")
bad("fourier_to_pixels: size that does not match scale", lambda: fv.fourier_to_pixels(SPECTRUM, (8, 12), SCALE),
    ValueError, "size")
bad("fourier_to_pixels: NaN coefficients", lambda: fv.fourier_to_pixels(with_nan(SPECTRUM), (8, 8), SCALE),
    ValueError, "spectrum")
bad("fourier_to_pixels: scale of another shape", lambda: fv.fourier_to_pixels(SPECTRUM, (8, 8), fv.spectrum_scale(8, 12)),
    ValueError, "scale")
bad("pixels_to_fourier: 3-d pixels", lambda: fv.pixels_to_fourier(RGB[0], SCALE), ValueError, "pixels")
bad("pixels_to_fourier: NaN pixels", lambda: fv.pixels_to_fourier(with_nan(RGB), SCALE), ValueError, "pixels")
bad("pixels_to_fourier: scale of another shape", lambda: fv.pixels_to_fourier(RGB, fv.spectrum_scale(8, 12)),
    ValueError, "scale")
bad("PixelImage: batch=0", lambda: fv.PixelImage(0), ValueError, "batch")
bad("PixelImage: batch=True", lambda: fv.PixelImage(True), TypeError, "batch")
bad("PixelImage: width=2.5", lambda: fv.PixelImage(1, 3, 8, width=2.5), TypeError, "width")
bad("PixelImage: sd=nan", lambda: fv.PixelImage(1, 3, 8, sd=NAN), ValueError, "sd")
bad("PixelImage: sd=-1", lambda: fv.PixelImage(1, 3, 8, sd=-1.0), ValueError, "sd")
bad("PixelImage: decorrelate with 1 channel", lambda: fv.PixelImage(1, 1, 8, decorrelate=True), ValueError, "decorrelate")
bad("PixelImage: decorrelate='yes'", lambda: fv.PixelImage(1, 3, 8, decorrelate="yes"), TypeError, "decorrelate")
bad("PixelImage: generator='g'", lambda: fv.PixelImage(1, 3, 8, generator="g"), TypeError, "generator")
bad("FourierImage: height=0", lambda: fv.FourierImage(1, 3, 0), ValueError, "height")
bad("FourierImage: channels=True", lambda: fv.FourierImage(1, True, 8), TypeError, "channels")
bad("FourierImage: decay_power=nan", lambda: fv.FourierImage(1, 3, 8, decay_power=NAN), ValueError, "decay_power")
bad("FourierImage: decorrelate with 2 channels", lambda: fv.FourierImage(1, 2, 8, decorrelate=True), ValueError, "decorrelate")
bad("PixelImage.from_images: NaN", lambda: fv.PixelImage.from_images(with_nan(X)), ValueError, "images")
bad("PixelImage.from_images: 2-d", lambda: fv.PixelImage.from_images(torch.rand(6, 6)), ValueError, "images")
bad("PixelImage.from_images: empty", lambda: fv.PixelImage.from_images(X[:0]), ValueError, "images")
bad("PixelImage.from_images: outside [0, 1]", lambda: fv.PixelImage.from_images(X * 4 - 2), ValueError, "images")
bad("PixelImage.from_images: eps=0.7", lambda: fv.PixelImage.from_images(X, eps=0.7), ValueError, "eps")
same("PixelImage.from_images: float64", lambda: fv.PixelImage.from_images(X.double())(),
     lambda: fv.PixelImage.from_images(X)())

# --- measuring and normalizing
bad("high_frequency_energy: NaN", lambda: fv.high_frequency_energy(with_nan(X)), ValueError, "images")
bad("high_frequency_energy: empty", lambda: fv.high_frequency_energy(X[:0]), ValueError, "images")
bad("high_frequency_energy: a list", lambda: fv.high_frequency_energy([[0.0]]), TypeError, "images")
bad("high_frequency_energy: cutoff=nan", lambda: fv.high_frequency_energy(X, cutoff=NAN), ValueError, "cutoff")
bad("high_frequency_energy: cutoff=False", lambda: fv.high_frequency_energy(X, cutoff=False), TypeError, "cutoff")
bad("high_frequency_energy: cutoff=0.9", lambda: fv.high_frequency_energy(X, cutoff=0.9), ValueError, "cutoff")
same("high_frequency_energy: float64", lambda: fv.high_frequency_energy(X.double()), lambda: fv.high_frequency_energy(X))
bad("input_normalizer: model is a string", lambda: fv.input_normalizer("cnn"), TypeError, "model")


# ======================================================================================== shapley
SM = shapley_model()
SX = torch.rand(40, 1, 6, 6, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    SY = SM(SX).argmax(1)
SY[::4] = torch.randint(0, 3, (10,), generator=torch.Generator().manual_seed(2))
_TABLE = torch.randn(16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
_BITS = 1 << torch.arange(4)
GAME = sh.FunctionGame(lambda c: _TABLE[(c.long() * _BITS).sum(1)], 4, batched=True)
NAN_GAME = sh.FunctionGame(lambda c: torch.where(c.sum(1) == 2, NAN, c.sum(1).double()), 4, batched=True)
INF_GAME = sh.FunctionGame(lambda c: torch.where(c.sum(1) == 1, INF, c.sum(1).double()), 4, batched=True)
SHORT_FUNCTION = sh.FunctionGame(lambda c: torch.zeros(1), 4, batched=True)


class ShortGame:
    """A game object (not a FunctionGame) returning one value whatever the number of coalitions."""
    n_players = 4

    def __call__(self, coalitions):
        return torch.zeros(1)


SHORT_GAME = ShortGame()
QUIET = dict(show_progress=False)


def removed_output(layer, channels, replacement=None):
    with sh.removed_channels(SM, layer, channels, replacement), torch.no_grad():
        return SM(SX)


def layer_game(**kw):
    args = dict(model=SM, layer="relu2", inputs=SX, labels=SY)
    args.update(kw)
    return sh.LayerGame(**args)


class Wrapped(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, z):
        return self.inner(z)


ALL = torch.ones(1, 6, dtype=torch.bool)

# --- removal
bad("removed_channels: unknown layer", lambda: removed_output("relu9", [0]), ValueError, "layer")
bad("removed_channels: module of another model", lambda: removed_output(nn.ReLU(), [0]), ValueError, "layer")
bad("removed_channels: channels=[0.5]", lambda: removed_output("relu2", [0.5]), TypeError, "channels")
bad("removed_channels: channels=True", lambda: removed_output("relu2", True), TypeError, "channels")
bad("removed_channels: channel out of range", lambda: removed_output("relu2", [7]), ValueError, "channels")
bad("removed_channels: float tensor of channels", lambda: removed_output("relu2", torch.tensor([0.5])), TypeError, "channels")
bad("removed_channels: NaN replacement", lambda: removed_output("relu2", [0], with_nan(torch.zeros(6))), ValueError, "replacement")
bad("removed_channels: replacement of the wrong shape", lambda: removed_output("relu2", [0], torch.zeros(6, 2, 2)),
    ValueError, "replacement")
bad("removed_channels: replacement='median'", lambda: removed_output("relu2", [0], "median"), ValueError, "replacement")
same("removed_channels: layer as a module", lambda: removed_output(SM.relu2, [1, 4]), lambda: removed_output("relu2", [1, 4]))
bad("layer_activations: NaN inputs", lambda: sh.layer_activations(SM, "relu2", with_nan(SX)), ValueError, "inputs")
bad("layer_activations: 3-d inputs", lambda: sh.layer_activations(SM, "relu2", SX[0]), ValueError, "inputs")
bad("layer_activations: empty batch", lambda: sh.layer_activations(SM, "relu2", SX[:0]), ValueError, "inputs")
bad("layer_activations: 3 channels for a 1-channel model", lambda: sh.layer_activations(SM, "relu2", SX.expand(-1, 3, -1, -1)),
    ValueError, "inputs")
bad("layer_activations: inputs on another device", lambda: sh.layer_activations(SM, "relu2", SX.to("meta")), ValueError, "inputs")
bad("layer_activations: batch_size=True", lambda: sh.layer_activations(SM, "relu2", SX, batch_size=True), TypeError, "batch_size")
bad("layer_activations: unknown layer", lambda: sh.layer_activations(SM, "relu9", SX), ValueError, "layer")
same("layer_activations: float64 inputs", lambda: sh.layer_activations(SM, "relu2", SX.double()),
     lambda: sh.layer_activations(SM, "relu2", SX))
same("layer_activations: layer as a module", lambda: sh.layer_activations(SM, SM.conv2, SX),
     lambda: sh.layer_activations(SM, "conv2", SX))
bad("channel_means: inf inputs", lambda: sh.channel_means(SM, "relu2", with_nan(SX, INF)), ValueError, "inputs")
bad("channel_means: batch_size=0", lambda: sh.channel_means(SM, "relu2", SX, batch_size=0), ValueError, "batch_size")
same("channel_means: layer as a module", lambda: sh.channel_means(SM, SM.relu1, SX), lambda: sh.channel_means(SM, "relu1", SX))

# --- games
bad("FunctionGame: n_players=True", lambda: sh.FunctionGame(sum, True), TypeError, "n_players")
bad("FunctionGame: n_players=0", lambda: sh.FunctionGame(sum, 0), ValueError, "n_players")
bad("FunctionGame: fn=3", lambda: sh.FunctionGame(3, 4), TypeError, "fn")
bad("FunctionGame: batched fn returning 1 value for 3 coalitions", lambda: SHORT_FUNCTION(torch.ones(3, 4, dtype=torch.bool)),
    ValueError, "fn")
bad("FunctionGame: fn returning a string", lambda: sh.FunctionGame(lambda c: "high", 2)(torch.ones(1, 2, dtype=torch.bool)),
    TypeError, "fn")
bad("FunctionGame: coalitions of the wrong width", lambda: GAME(torch.ones(2, 5, dtype=torch.bool)), ValueError, "coalitions")
bad("FunctionGame: float coalitions", lambda: GAME(torch.rand(2, 4)), TypeError, "coalitions")
bad("additive_game: no weight", lambda: sh.additive_game([]), ValueError, "weights")
bad("additive_game: a NaN weight", lambda: sh.additive_game([1.0, NAN]), ValueError, "weights")
bad("additive_game: a string", lambda: sh.additive_game("abc"), TypeError, "weights")
bad("additive_game: a 2-d table", lambda: sh.additive_game([[1.0, 2.0], [3.0, 4.0]]), ValueError, "weights")
bad("glove_game: left=True", lambda: sh.glove_game(True, 2), TypeError, "left")
bad("glove_game: left=1.5", lambda: sh.glove_game(1.5, 2), TypeError, "left")
bad("glove_game: right=-1", lambda: sh.glove_game(2, -1), ValueError, "right")
bad("glove_game: no player", lambda: sh.glove_game(0, 0), ValueError, "left")
bad("voting_game: quota=nan", lambda: sh.voting_game([1, 2], NAN), ValueError, "quota")
bad("voting_game: quota='half'", lambda: sh.voting_game([1, 2], "half"), TypeError, "quota")
bad("voting_game: a NaN weight", lambda: sh.voting_game([1, NAN], 1), ValueError, "weights")

# --- LayerGame
bad("LayerGame: 3-d inputs", lambda: layer_game(inputs=SX[:, 0]), ValueError, "inputs")
bad("LayerGame: NaN inputs", lambda: layer_game(inputs=with_nan(SX)), ValueError, "inputs")
bad("LayerGame: inf inputs", lambda: layer_game(inputs=with_nan(SX, -INF)), ValueError, "inputs")
bad("LayerGame: 3 channels for a 1-channel model", lambda: layer_game(inputs=SX.expand(-1, 3, -1, -1)), ValueError, "inputs")
bad("LayerGame: empty batch", lambda: layer_game(inputs=SX[:0], labels=SY[:0]), ValueError, "inputs")
bad("LayerGame: inputs on another device", lambda: layer_game(inputs=SX.to("meta")), ValueError, "inputs")
bad("LayerGame: numpy inputs", lambda: layer_game(inputs=SX.numpy()), TypeError, "inputs")
bad("LayerGame: unknown layer", lambda: layer_game(layer="relu9"), ValueError, "layer")
bad("LayerGame: module of another model", lambda: layer_game(layer=nn.ReLU()), ValueError, "layer")
bad("LayerGame: float labels", lambda: layer_game(labels=SY.float()), TypeError, "labels")
bad("LayerGame: bool labels", lambda: layer_game(labels=SY > 0), TypeError, "labels")
bad("LayerGame: labels of another length", lambda: layer_game(labels=SY[:5]), ValueError, "labels")
bad("LayerGame: labels N×1", lambda: layer_game(labels=SY[:, None]), ValueError, "labels")
bad("LayerGame: a label out of range", lambda: layer_game(labels=torch.where(SY == 0, 3, SY)), ValueError, "labels")
bad("LayerGame: a negative label", lambda: layer_game(labels=torch.where(SY == 0, -1, SY)), ValueError, "labels")
bad("LayerGame: labels a list", lambda: layer_game(labels=SY.tolist()), TypeError, "labels")
bad("LayerGame: NaN activations", lambda: layer_game(inputs=None, activations=with_nan(sh.layer_activations(SM, "relu2", SX))),
    ValueError, "activations")
bad("LayerGame: activations for other inputs", lambda: layer_game(activations=torch.zeros(3, 6, 6, 6)), ValueError, "activations")
bad("LayerGame: int activations", lambda: layer_game(inputs=None, activations=SY), TypeError, "activations")
bad("LayerGame: model with NaN weights", lambda: layer_game(model=nan_weights(SM, "conv1")), ValueError, "model")
bad("LayerGame: NaN removal values", lambda: layer_game(removal=with_nan(torch.zeros(6))), ValueError, "removal")
bad("LayerGame: removal of the wrong size", lambda: layer_game(removal=torch.zeros(5)), ValueError, "removal")
bad("LayerGame: removal='median'", lambda: layer_game(removal="median"), ValueError, "removal")
bad("LayerGame: metric='f1'", lambda: layer_game(metric="f1"), ValueError, "metric")
bad("LayerGame: a player out of range", lambda: layer_game(players=[6]), ValueError, "players")
bad("LayerGame: a player twice", lambda: layer_game(players=[1, 1]), ValueError, "players")
bad("LayerGame: a bool player", lambda: layer_game(players=[True]), TypeError, "players")
bad("LayerGame: no player", lambda: layer_game(players=[]), ValueError, "players")
bad("LayerGame: others='drop'", lambda: layer_game(others="drop"), ValueError, "others")
bad("LayerGame: batch_size=True", lambda: layer_game(batch_size=True), TypeError, "batch_size")
bad("LayerGame: batch_size=0", lambda: layer_game(batch_size=0), ValueError, "batch_size")
bad("LayerGame: tail=3", lambda: layer_game(tail=3), TypeError, "tail")
bad("LayerGame: a tail with the wrong input", lambda: layer_game(tail=nn.Linear(5, 3)), ValueError, "tail")
bad("LayerGame: not an nn.Sequential, no tail", lambda: layer_game(model=Wrapped(SM), layer="inner.relu2"), ValueError, "tail")
bad("LayerGame: a metric returning NaN", lambda: layer_game(metric=lambda lg, lb: torch.full((len(lg),), NAN))(ALL),
    ValueError, "metric")
bad("LayerGame: coalitions of the wrong width", lambda: layer_game()(torch.ones(1, 5, dtype=torch.bool)), ValueError, "coalitions")
bad("LayerGame.restrict: index out of range", lambda: layer_game().restrict([100]), ValueError, "which")
bad("LayerGame.restrict: float indices", lambda: layer_game().restrict(torch.tensor([0.5, 1.5])), TypeError, "which")
bad("LayerGame.restrict: mask of the wrong length", lambda: layer_game().restrict(torch.ones(5, dtype=torch.bool)),
    ValueError, "which")
bad("LayerGame.restrict: selects nothing", lambda: layer_game().restrict(SY == 7), ValueError, "which")
bad("LayerGame.value_without: player out of range", lambda: layer_game().value_without([9]), ValueError, "removed")
same("LayerGame: float64 inputs", lambda: layer_game(inputs=SX.double())(ALL), lambda: layer_game()(ALL))
same("LayerGame: layer as a module", lambda: layer_game(layer=SM.relu2, metric="log_prob")(ALL ^ torch.eye(6, dtype=torch.bool)),
     lambda: layer_game(metric="log_prob")(ALL ^ torch.eye(6, dtype=torch.bool)))

# --- estimators
RESULT = sh.exact_shapley(GAME, **QUIET)
bad("exact_shapley: a game returning NaN", lambda: sh.exact_shapley(NAN_GAME, **QUIET), ValueError, "game")
bad("exact_shapley: a game returning inf", lambda: sh.exact_shapley(INF_GAME, **QUIET), ValueError, "game")
bad("exact_shapley: a game returning too few values", lambda: sh.exact_shapley(SHORT_GAME, **QUIET), ValueError, "game")
bad("exact_shapley: not a game", lambda: sh.exact_shapley(lambda c: c.sum(1), **QUIET), TypeError, "game")
bad("exact_shapley: batch_size=True", lambda: sh.exact_shapley(GAME, batch_size=True, **QUIET), TypeError, "batch_size")
bad("exact_shapley: max_players=True", lambda: sh.exact_shapley(GAME, max_players=True, **QUIET), TypeError, "max_players")
bad("exact_shapley: 21 players", lambda: sh.exact_shapley(sh.additive_game(torch.ones(21)), **QUIET), ValueError, "game")
bad("coalition_masks: n_players=True", lambda: sh.coalition_masks(True), TypeError, "n_players")
bad("coalition_masks: n_players=40", lambda: sh.coalition_masks(40), ValueError, "n_players")
bad("permutation_shapley: a game returning NaN", lambda: sh.permutation_shapley(NAN_GAME, 8, **QUIET), ValueError, "game")
bad("permutation_shapley: a game returning inf", lambda: sh.permutation_shapley(INF_GAME, 8, **QUIET), ValueError, "game")
bad("permutation_shapley: a game returning too few values", lambda: sh.permutation_shapley(SHORT_GAME, 8, **QUIET),
    ValueError, "game")
bad("permutation_shapley: n_permutations=True", lambda: sh.permutation_shapley(GAME, True, **QUIET), TypeError, "n_permutations")
bad("permutation_shapley: n_permutations=0", lambda: sh.permutation_shapley(GAME, 0, **QUIET), ValueError, "n_permutations")
bad("permutation_shapley: n_permutations=2.5", lambda: sh.permutation_shapley(GAME, 2.5, **QUIET), TypeError, "n_permutations")
bad("permutation_shapley: truncation=nan", lambda: sh.permutation_shapley(GAME, 8, truncation=NAN, **QUIET), ValueError, "truncation")
bad("permutation_shapley: truncation=True", lambda: sh.permutation_shapley(GAME, 8, truncation=True, **QUIET), TypeError,
    "truncation")
bad("permutation_shapley: truncation=-1", lambda: sh.permutation_shapley(GAME, 8, truncation=-1, **QUIET), ValueError, "truncation")
bad("permutation_shapley: patience=0", lambda: sh.permutation_shapley(GAME, 8, patience=0, **QUIET), ValueError, "patience")
bad("permutation_shapley: block=True", lambda: sh.permutation_shapley(GAME, 8, block=True, **QUIET), TypeError, "block")
bad("permutation_shapley: chunk=0", lambda: sh.permutation_shapley(GAME, 8, chunk=0, **QUIET), ValueError, "chunk")
bad("permutation_shapley: direction='sideways'", lambda: sh.permutation_shapley(GAME, 8, direction="sideways", **QUIET),
    ValueError, "direction")
bad("permutation_shapley: seed=1.5", lambda: sh.permutation_shapley(GAME, 8, seed=1.5, **QUIET), TypeError, "seed")
bad("permutation_shapley: seed='a'", lambda: sh.permutation_shapley(GAME, 8, seed="a", **QUIET), TypeError, "seed")
bad("permutation_shapley: seed=-1", lambda: sh.permutation_shapley(GAME, 8, seed=-1, **QUIET), ValueError, "seed")
bad("tmab_shapley: k=True", lambda: sh.tmab_shapley(GAME, k=True, **QUIET), TypeError, "k")
bad("tmab_shapley: k=n", lambda: sh.tmab_shapley(GAME, k=4, **QUIET), ValueError, "k")
bad("tmab_shapley: delta=1.5", lambda: sh.tmab_shapley(GAME, k=1, delta=1.5, **QUIET), ValueError, "delta")
bad("tmab_shapley: delta='a'", lambda: sh.tmab_shapley(GAME, k=1, delta="a", **QUIET), TypeError, "delta")
bad("tmab_shapley: delta=nan", lambda: sh.tmab_shapley(GAME, k=1, delta=NAN, **QUIET), ValueError, "delta")
bad("tmab_shapley: value_range=-1", lambda: sh.tmab_shapley(GAME, k=1, value_range=-1.0, **QUIET), ValueError, "value_range")
bad("tmab_shapley: value_range=nan", lambda: sh.tmab_shapley(GAME, k=1, value_range=NAN, **QUIET), ValueError, "value_range")
bad("tmab_shapley: max_permutations=0", lambda: sh.tmab_shapley(GAME, k=1, max_permutations=0, **QUIET), ValueError,
    "max_permutations")
bad("tmab_shapley: a game returning NaN", lambda: sh.tmab_shapley(NAN_GAME, k=1, **QUIET), ValueError, "game")
bad("tmab_shapley: adaptive='yes'", lambda: sh.tmab_shapley(GAME, k=1, adaptive="yes", **QUIET), TypeError, "adaptive")
bad("tmab_shapley: exact='yes'", lambda: sh.tmab_shapley(GAME, k=1, exact="yes", **QUIET), TypeError, "exact")
bad("tmab_shapley: sampling a game without value_bounds", lambda: sh.tmab_shapley(GAME, k=1, exact=False, **QUIET),
    ValueError, "value_range")
bad("FunctionGame: value_bounds=(1, 0)", lambda: sh.FunctionGame(lambda c: 0.0, 2, value_bounds=(1, 0)), ValueError,
    "value_bounds")
bad("FunctionGame: value_bounds='ab'", lambda: sh.FunctionGame(lambda c: 0.0, 2, value_bounds="ab"), TypeError,
    "value_bounds")
bad("FunctionGame: value_bounds=(0, nan)", lambda: sh.FunctionGame(lambda c: 0.0, 2, value_bounds=(0, NAN)), ValueError,
    "value_bounds")
bad("evaluations_until_top: not a result", lambda: sh.evaluations_until_top(torch.ones(3), [0]), TypeError, "result")
bad("evaluations_until_top: player out of range", lambda: sh.evaluations_until_top(
    sh.permutation_shapley(GAME, 4, **QUIET), [9]), ValueError, "players")
bad("bernstein_bound: n_tests=0", lambda: sh.bernstein_bound(torch.ones(3), torch.ones(3), 1.0, 0.2, n_tests=0),
    ValueError, "n_tests")
bad("bernstein_bound: delta=0", lambda: sh.bernstein_bound(torch.ones(3), torch.ones(3), 1.0, 0.0), ValueError, "delta")
bad("bernstein_bound: counts of another length", lambda: sh.bernstein_bound(torch.ones(3), torch.ones(2), 1.0, 0.2),
    ValueError, "counts")
bad("bernstein_bound: value_range=nan", lambda: sh.bernstein_bound(torch.ones(3), torch.ones(3), NAN, 0.2), ValueError,
    "value_range")
bad("ShapleyResult.top: k=True", lambda: RESULT.top(True), TypeError, "k")
bad("ShapleyResult.top: k=0", lambda: RESULT.top(0), ValueError, "k")
bad("ShapleyResult.ci: level=1.5", lambda: RESULT.ci(1.5), ValueError, "level")

# --- ablation
bad("ablation_curve: float order", lambda: sh.ablation_curve(GAME, [0.5, 1.5]), TypeError, "order")
bad("ablation_curve: a repeated player", lambda: sh.ablation_curve(GAME, [0, 0]), ValueError, "order")
bad("ablation_curve: a player out of range", lambda: sh.ablation_curve(GAME, [9]), ValueError, "order")
bad("ablation_curve: empty order", lambda: sh.ablation_curve(GAME, []), ValueError, "order")
bad("ablation_curve: max_removed=True", lambda: sh.ablation_curve(GAME, [0, 1], max_removed=True), TypeError, "max_removed")
bad("ablation_curve: max_removed=9", lambda: sh.ablation_curve(GAME, [0, 1], max_removed=9), ValueError, "max_removed")
bad("ablation_curve: a game returning NaN", lambda: sh.ablation_curve(NAN_GAME, [0, 1, 2, 3]), ValueError, "game")
bad("random_ablation_curves: n_orders=0", lambda: sh.random_ablation_curves(GAME, n_orders=0), ValueError, "n_orders")
bad("random_ablation_curves: n_orders=True", lambda: sh.random_ablation_curves(GAME, n_orders=True), TypeError, "n_orders")
bad("random_ablation_curves: seed='a'", lambda: sh.random_ablation_curves(GAME, seed="a"), TypeError, "seed")

# --- plots
bad("plot_shapley: NaN values", lambda: sh.plot_shapley(torch.tensor([1.0, NAN])), ValueError, "result")
bad("plot_shapley: labels of another length", lambda: sh.plot_shapley(RESULT, labels=["a"]), ValueError, "labels")
bad("plot_shapley: top=0", lambda: sh.plot_shapley(RESULT, top=0), ValueError, "top")
bad("plot_shapley: top=True", lambda: sh.plot_shapley(RESULT, top=True), TypeError, "top")
bad("plot_shapley: start=4 of 4 bars", lambda: sh.plot_shapley(RESULT, start=4), ValueError, "start")
bad("plot_shapley: start=-1", lambda: sh.plot_shapley(RESULT, start=-1), ValueError, "start")
bad("plot_shapley: ci=2", lambda: sh.plot_shapley(RESULT, ci=2.0), ValueError, "ci")
bad("plot_shapley: a string", lambda: sh.plot_shapley("values"), TypeError, "result")
bad("plot_ablation: not a dict", lambda: sh.plot_ablation([1.0, 0.5]), TypeError, "curves")
bad("plot_ablation: empty dict", lambda: sh.plot_ablation({}), ValueError, "curves")
bad("plot_ablation: a NaN curve", lambda: sh.plot_ablation({"a": [1.0, NAN]}), ValueError, "curves")
bad("plot_ablation: a 3-d curve", lambda: sh.plot_ablation({"a": torch.zeros(2, 2, 2)}), ValueError, "curves")


# ============================================================================================ tests
def _names_argument(message: str, arg: str) -> bool:
    """The message starts with the argument's name (``"inputs: expected ..."``)."""
    return re.match(rf"{re.escape(arg)}\b", message) is not None


def _as_list(value):
    return value if isinstance(value, (tuple, list)) else [value]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


@pytest.mark.parametrize("case", [c for c in CASES if isinstance(c, Bad)], ids=lambda c: c.id)
def test_bad_input_gives_a_clear_error(case):
    with pytest.raises(case.error) as info:
        case.call()
    assert _names_argument(str(info.value), case.arg), f"the message does not start with {case.arg!r}: {info.value}"


@pytest.mark.parametrize("case", [c for c in CASES if isinstance(c, Same)], ids=lambda c: c.id)
def test_legitimate_variant_gives_the_same_answer(case):
    for got, expected in zip(_as_list(case.call()), _as_list(case.reference())):
        torch.testing.assert_close(got, expected)


def test_no_hook_left_and_models_untouched_after_all_cases():
    for model in (M, SM):
        assert not model.training
        assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
        assert all(p.requires_grad for p in model.parameters())


def audit() -> dict[str, int]:
    """Tried / clear / ugly / silent over all cases (a variant counts as clear when it gives the same answer;
    a clear message with TypeError where ValueError is expected, or the reverse, is counted apart)."""
    counts = {"tried": 0, "clear": 0, "clear but TypeError/ValueError swapped": 0, "ugly": 0, "silent": 0}
    for case in CASES:
        counts["tried"] += 1
        try:
            got = case.call()
        except Exception as error:   # noqa: BLE001 — classifying every failure is the point
            named = isinstance(case, Bad) and _names_argument(str(error), case.arg)
            if named and isinstance(error, case.error):
                counts["clear"] += 1
            elif named and isinstance(error, (TypeError, ValueError)):
                counts["clear but TypeError/ValueError swapped"] += 1
            else:
                counts["ugly"] += 1
                print(f"ugly   {case.id}: {type(error).__name__}: {str(error)[:110]}")
            continue
        if isinstance(case, Same):
            try:
                for a, b in zip(_as_list(got), _as_list(case.reference())):
                    torch.testing.assert_close(a, b)
                counts["clear"] += 1
            except AssertionError:
                counts["silent"] += 1
                print(f"silent {case.id}: a different answer")
        else:
            counts["silent"] += 1
            print(f"silent {case.id}")
    return counts


if __name__ == "__main__":
    print(audit())
