"""Bad input for every public function of course_utils.probing, .evaluation, .text and .shortcut.

Each ``Bad`` case must raise the given error type with a message naming the argument (never a silent
answer, never an error from deep inside torch); each ``Variant`` is a legitimate variant (float64 inputs,
a module instead of a layer name, a 0-d tensor for an int) that must give the same answer as the plain
call. ``outcome(case)`` classifies a case as clear / ugly / silent (bad input) or ok / ugly / wrong (variant);
``python tests/test_bad_inputs_probing_evaluation_text.py`` prints the counts.
"""
from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict, namedtuple

import matplotlib
import numpy as np
import pytest
import torch
from torch import nn

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from course_utils import evaluation as E  # noqa: E402
from course_utils import probing as P  # noqa: E402
from course_utils import shortcut as S  # noqa: E402
from course_utils import text as tx  # noqa: E402
from course_utils.checks.text import _tiny_inputs, tiny_bert  # noqa: E402
from course_utils.hooks import ReceptiveField  # noqa: E402

Bad = namedtuple("Bad", "id call error words")
Variant = namedtuple("Variant", "id call reference")
NAN, INF = float("nan"), float("inf")


# ------------------------------------------------------------------------------------------------ fixtures
def cnn(nan: bool = False) -> nn.Module:
    """1-channel 8×8 CNN with 3 classes: conv1 → relu1 → conv2 → relu2 → gap → flat → fc."""
    torch.manual_seed(0)
    model = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 4, 3, padding=1)), ("relu1", nn.ReLU()), ("conv2", nn.Conv2d(4, 4, 3, padding=1)),
        ("relu2", nn.ReLU()), ("gap", nn.AdaptiveAvgPool2d(1)), ("flat", nn.Flatten()), ("fc", nn.Linear(4, 3))]))
    if nan:
        with torch.no_grad():
            model.conv2.weight[0, 0, 0, 0] = NAN
    return model.eval()


def x(n: int = 4, c: int = 1, h: int = 8, dtype=torch.float32, fill=None, device=None) -> torch.Tensor:
    t = torch.rand(n, c, h, h, generator=torch.Generator().manual_seed(1)).to(dtype)
    if fill is not None:
        t[0, 0, 1, 2] = fill
    return t.to(device) if device is not None else t


def labels(n: int = 4) -> torch.Tensor:
    return torch.arange(n) % 3


def nan_at(t: torch.Tensor, value=NAN) -> torch.Tensor:
    t = t.clone()
    t.view(-1)[1] = value
    return t


def rf() -> ReceptiveField:
    return P.layer_receptive_field(cnn(), "relu2", (1, 8, 8))


def probe(layer="relu2"):
    return P.top_k_examples(cnn(), layer, x(6), k=2, progress=False)


def maps(n: int = 4, c: int = 1, h: int = 8) -> torch.Tensor:
    return torch.randn(n, c, h, h, generator=torch.Generator().manual_seed(2))


def boxes(n: int = 4) -> torch.Tensor:
    return torch.tensor([[1, 1, 5, 6]] * n)


def probs(n: int = 6) -> torch.Tensor:
    return torch.rand(n, 3, generator=torch.Generator().manual_seed(3)).softmax(1)


def plus_one(model, inputs, target):           # a "method": the input itself, a map per image
    return inputs.clone()


def nan_method(model, inputs, target):
    return nan_at(inputs)


_TEXT = {}


def bert():
    if "model" not in _TEXT:
        _TEXT["model"] = tiny_bert(3)
    return _TEXT["model"]


def tok(n: int = 2, T: int = 6, **changes) -> dict:
    inputs = _tiny_inputs(4, n, T)
    inputs.update(changes)
    return inputs


def ref(d: int = 16, n: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(5)
    return torch.randn(d, generator=g) if n is None else torch.randn(n, d, generator=g)


def tokenizer():
    if "tok" not in _TEXT:
        from transformers import AutoTokenizer
        _TEXT["tok"] = AutoTokenizer.from_pretrained(tx.model_dir(), local_files_only=True)
    return _TEXT["tok"]


# ------------------------------------------------------------------------------------------------- probing
PROBING = [
    # accuracy / predict_logits / linear classifier
    Bad("accuracy labels of length 1", lambda: P.accuracy(cnn(), x(), torch.tensor([0])), ValueError, "labels"),
    Bad("accuracy labels N×1", lambda: P.accuracy(cnn(), x(), labels()[:, None]), ValueError, "labels"),
    Bad("accuracy float labels", lambda: P.accuracy(cnn(), x(), labels().float()), TypeError, "labels"),
    Bad("accuracy bool labels", lambda: P.accuracy(cnn(), x(), labels() > 0), TypeError, "labels"),
    Bad("accuracy labels ≥ K", lambda: P.accuracy(cnn(), x(), labels() + 3), ValueError, "labels"),
    Bad("accuracy labels on meta", lambda: P.accuracy(cnn(), x(), labels().to("meta")), ValueError, "labels"),
    Bad("accuracy NaN pixel", lambda: P.accuracy(cnn(), x(fill=NAN), labels()), ValueError, "images"),
    Bad("accuracy inf pixel", lambda: P.accuracy(cnn(), x(fill=INF), labels()), ValueError, "images"),
    Bad("accuracy NaN logits", lambda: P.accuracy(cnn(nan=True), x(), labels()), ValueError, "model"),
    Bad("accuracy 3 channels", lambda: P.accuracy(cnn(), x(c=3), labels()), ValueError, "images"),
    Bad("accuracy empty batch", lambda: P.accuracy(cnn(), x(0), labels(0)), ValueError, "images"),
    Bad("accuracy images on meta", lambda: P.accuracy(cnn(), x(device="meta"), labels()), ValueError, "images"),
    Bad("accuracy batch_size=True", lambda: P.accuracy(cnn(), x(), labels(), batch_size=True), TypeError,
        "batch_size"),
    Variant("accuracy float64", lambda: P.accuracy(cnn(), x(dtype=torch.float64), labels()),
            lambda: P.accuracy(cnn(), x(), labels())),
    Bad("predict_logits NaN", lambda: P.predict_logits(cnn(), x(fill=NAN)), ValueError, "images"),
    Bad("predict_logits 3 channels", lambda: P.predict_logits(cnn(), x(c=3)), ValueError, "images"),
    Bad("predict_logits empty", lambda: P.predict_logits(cnn(), x(0)), ValueError, "images"),
    Bad("predict_logits meta", lambda: P.predict_logits(cnn(), x(device="meta")), ValueError, "images"),
    Bad("predict_logits batch_size=0", lambda: P.predict_logits(cnn(), x(), batch_size=0), ValueError, "batch_size"),
    Variant("predict_logits float64", lambda: P.predict_logits(cnn(), x(dtype=torch.float64)),
            lambda: P.predict_logits(cnn(), x())),
    Bad("train_linear NaN", lambda: P.train_linear_classifier(x(fill=NAN), labels()), ValueError, "images"),
    Bad("train_linear float labels", lambda: P.train_linear_classifier(x(), labels().float()), TypeError, "labels"),
    Bad("train_linear labels N×1", lambda: P.train_linear_classifier(x(), labels()[:, None]), ValueError, "labels"),
    Bad("train_linear empty", lambda: P.train_linear_classifier(x(0), labels(0)), ValueError, "images"),
    Bad("train_linear epochs=True", lambda: P.train_linear_classifier(x(), labels(), epochs=True), TypeError,
        "epochs"),
    Bad("train_linear lr=-1", lambda: P.train_linear_classifier(x(), labels(), lr=-1), ValueError, "lr"),
    Bad("train_linear lr=NaN", lambda: P.train_linear_classifier(x(), labels(), lr=NAN), ValueError, "lr"),
    Variant("train_linear float64", lambda: P.train_linear_classifier(x(dtype=torch.float64), labels()).fc.weight,
            lambda: P.train_linear_classifier(x(), labels()).fc.weight),
    Bad("class_templates wrong shape", lambda: P.class_templates(nn.Linear(64, 3), (7, 7)), ValueError, "shape"),
    Bad("class_templates shape string", lambda: P.class_templates(nn.Linear(64, 3), "8x8"), TypeError, "shape"),
    Bad("class_templates shape bool", lambda: P.class_templates(nn.Linear(64, 3), (True, 64)), TypeError, "shape"),
    Bad("class_templates no fc", lambda: P.class_templates(cnn()[:2], (8, 8)), TypeError, "model"),
    # filters and figures
    Bad("normalize_filters NaN", lambda: P.normalize_filters(nan_at(torch.randn(4, 1, 3, 3))), ValueError, "weights"),
    Bad("normalize_filters 3-d", lambda: P.normalize_filters(torch.randn(4, 3, 3)), ValueError, "weights"),
    Bad("normalize_filters int", lambda: P.normalize_filters(torch.ones(4, 1, 3, 3, dtype=torch.long)), TypeError,
        "weights"),
    Bad("normalize_filters mode", lambda: P.normalize_filters(torch.randn(4, 1, 3, 3), "every"), ValueError, "mode"),
    Variant("normalize_filters float64", lambda: P.normalize_filters(torch.arange(18.0).view(2, 1, 3, 3).double()),
            lambda: P.normalize_filters(torch.arange(18.0).view(2, 1, 3, 3))),
    Bad("tile ncols=0", lambda: P.tile(np.zeros((4, 3, 3)), 0), ValueError, "ncols"),
    Bad("tile ncols=True", lambda: P.tile(np.zeros((4, 3, 3)), True), TypeError, "ncols"),
    Bad("tile pad=-1", lambda: P.tile(np.zeros((4, 3, 3)), 2, pad=-1), ValueError, "pad"),
    Bad("tile empty", lambda: P.tile(np.zeros((0, 3, 3)), 2), ValueError, "images"),
    Bad("show_filters NaN", lambda: P.show_filters(nan_at(torch.randn(4, 1, 3, 3))), ValueError, "weights"),
    Bad("show_filters ncols=0", lambda: P.show_filters(torch.randn(4, 1, 3, 3), ncols=0), ValueError, "ncols"),
    Bad("show_feature_maps NaN", lambda: P.show_feature_maps(nan_at(torch.rand(4, 5, 5))), ValueError, "activation"),
    Bad("show_feature_maps batch of 2", lambda: P.show_feature_maps(torch.rand(2, 4, 5, 5)), ValueError, "activation"),
    Bad("show_feature_maps channel 9 of 4", lambda: P.show_feature_maps(torch.rand(4, 5, 5), channels=[9]),
        ValueError, "channels"),
    Bad("show_feature_maps channel 1.5", lambda: P.show_feature_maps(torch.rand(4, 5, 5), channels=[1.5]),
        TypeError, "channels"),
    Variant("show_feature_maps float64", lambda: P.show_feature_maps(torch.rand(4, 5, 5).double()) and None,
            lambda: None),
    # receptive fields
    Variant("layer_receptive_field module", lambda: (lambda m: P.layer_receptive_field(m, m.relu2, (1, 8, 8)))(cnn()),
            lambda: P.layer_receptive_field(cnn(), "relu2", (1, 8, 8))),
    Bad("layer_receptive_field unknown", lambda: P.layer_receptive_field(cnn(), "relu9", (1, 8, 8)), ValueError,
        "layer"),
    Bad("layer_receptive_field foreign module", lambda: P.layer_receptive_field(cnn(), nn.ReLU(), (1, 8, 8)),
        ValueError, "layer"),
    Bad("layer_receptive_field input_shape 2-d", lambda: P.layer_receptive_field(cnn(), "relu2", (8, 8)),
        ValueError, "input_shape"),
    Bad("layer_receptive_field input_shape bool", lambda: P.layer_receptive_field(cnn(), "relu2", (True, 8, 8)),
        TypeError, "input_shape"),
    Bad("receptive_field_box row out of range", lambda: P.receptive_field_box(rf(), 8, 0), ValueError, "row"),
    Bad("receptive_field_box row=True", lambda: P.receptive_field_box(rf(), True, 0), TypeError, "row"),
    Bad("receptive_field_box col=1.5", lambda: P.receptive_field_box(rf(), 0, 1.5), TypeError, "col"),
    Bad("receptive_field_box rf tuple", lambda: P.receptive_field_box((5, 1, 0.0), 0, 0), TypeError, "rf"),
    Variant("receptive_field_box 0-d tensor row", lambda: P.receptive_field_box(rf(), torch.tensor(3), 2),
            lambda: P.receptive_field_box(rf(), 3, 2)),
    Bad("crop_patch NaN", lambda: P.crop_patch(nan_at(torch.rand(1, 6, 6)), 0, 0, 3), ValueError, "image"),
    Bad("crop_patch 4-d", lambda: P.crop_patch(torch.rand(1, 1, 6, 6), 0, 0, 3), ValueError, "image"),
    Bad("crop_patch size=0", lambda: P.crop_patch(torch.rand(1, 6, 6), 0, 0, 0), ValueError, "size"),
    Bad("crop_patch size=True", lambda: P.crop_patch(torch.rand(1, 6, 6), 0, 0, True), TypeError, "size"),
    Bad("crop_patch top=1.5", lambda: P.crop_patch(torch.rand(1, 6, 6), 1.5, 0, 3), TypeError, "top"),
    Bad("crop_patch fill=NaN", lambda: P.crop_patch(torch.rand(1, 6, 6), -1, 0, 3, fill=NAN), ValueError, "fill"),
    Variant("crop_patch float64", lambda: P.crop_patch(torch.arange(36.0).view(1, 6, 6).double(), 1, 2, 3),
            lambda: P.crop_patch(torch.arange(36.0).view(1, 6, 6), 1, 2, 3)),
    Bad("receptive_field_patches NaN", lambda: P.receptive_field_patches(x(2, fill=NAN), rf(), [0, 1], [0, 1]),
        ValueError, "images"),
    Bad("receptive_field_patches rows too short", lambda: P.receptive_field_patches(x(2), rf(), [0], [0, 1]),
        ValueError, "rows"),
    Bad("receptive_field_patches float rows", lambda: P.receptive_field_patches(x(2), rf(), [0.5, 1], [0, 1]),
        TypeError, "rows"),
    Variant("gradient_support module", lambda: (lambda m: P.gradient_support(m, m.relu2, x(), 3, 3))(cnn()),
            lambda: P.gradient_support(cnn(), "relu2", x(), 3, 3)),
    Variant("gradient_support float64", lambda: P.gradient_support(cnn(), "relu2", x(dtype=torch.float64), 3, 3),
            lambda: P.gradient_support(cnn(), "relu2", x(), 3, 3)),
    Bad("gradient_support NaN", lambda: P.gradient_support(cnn(), "relu2", x(fill=NAN), 3, 3), ValueError, "inputs"),
    Bad("gradient_support 3 channels", lambda: P.gradient_support(cnn(), "relu2", x(c=3), 3, 3), ValueError,
        "inputs"),
    Bad("gradient_support empty", lambda: P.gradient_support(cnn(), "relu2", x(0), 3, 3), ValueError, "inputs"),
    Bad("gradient_support meta", lambda: P.gradient_support(cnn(), "relu2", x(device="meta"), 3, 3), ValueError,
        "inputs"),
    Bad("gradient_support row=True", lambda: P.gradient_support(cnn(), "relu2", x(), True, 3), TypeError, "row"),
    Bad("gradient_support row 9", lambda: P.gradient_support(cnn(), "relu2", x(), 9, 3), ValueError, "row"),
    Bad("gradient_support unknown layer", lambda: P.gradient_support(cnn(), "relu9", x(), 3, 3), ValueError, "layer"),
    # top-K
    Bad("pool_spatial NaN", lambda: P.pool_spatial(nan_at(torch.rand(2, 3, 4, 4))), ValueError, "acts"),
    Bad("pool_spatial 3-d", lambda: P.pool_spatial(torch.rand(2, 3, 4)), ValueError, "acts"),
    Bad("pool_spatial int", lambda: P.pool_spatial(torch.ones(2, 3, 4, 4, dtype=torch.long)), TypeError, "acts"),
    Bad("pool_spatial reduce", lambda: P.pool_spatial(torch.rand(2, 3, 4, 4), "sum"), ValueError, "reduce"),
    Variant("pool_spatial float64", lambda: P.pool_spatial(torch.arange(32.0).view(2, 1, 4, 4).double(), "mean"),
            lambda: P.pool_spatial(torch.arange(32.0).view(2, 1, 4, 4), "mean")),
    Bad("argmax_locations 2-d", lambda: P.argmax_locations(torch.rand(2, 3)), ValueError, "acts"),
    Bad("argmax_locations NaN", lambda: P.argmax_locations(nan_at(torch.rand(2, 3, 4, 4))), ValueError, "acts"),
    Bad("StreamingTopK k=0", lambda: P.StreamingTopK(0), ValueError, "k"),
    Bad("StreamingTopK k=True", lambda: P.StreamingTopK(True), TypeError, "k"),
    Bad("StreamingTopK NaN scores", lambda: P.StreamingTopK(2).update(nan_at(torch.rand(4, 3))), ValueError,
        "scores"),
    Bad("StreamingTopK 3-d scores", lambda: P.StreamingTopK(2).update(torch.rand(4, 3, 2)), ValueError, "scores"),
    Bad("StreamingTopK columns change", lambda: (lambda s: (s.update(torch.rand(4, 3)), s.update(torch.rand(4, 2))))(
        P.StreamingTopK(2)), ValueError, "scores"),
    Bad("top_k NaN", lambda: P.top_k_examples(cnn(), "relu2", x(fill=NAN), k=2, progress=False), ValueError,
        "images"),
    Bad("top_k NaN model", lambda: P.top_k_examples(cnn(nan=True), "relu2", x(), k=2, progress=False), ValueError,
        "model"),
    Bad("top_k 3 channels", lambda: P.top_k_examples(cnn(), "relu2", x(c=3), k=2, progress=False), ValueError,
        "images"),
    Bad("top_k empty", lambda: P.top_k_examples(cnn(), "relu2", x(0), k=1, progress=False), ValueError, "images"),
    Bad("top_k meta", lambda: P.top_k_examples(cnn(), "relu2", x(device="meta"), k=2, progress=False), ValueError,
        "images"),
    Bad("top_k k=0", lambda: P.top_k_examples(cnn(), "relu2", x(), k=0, progress=False), ValueError, "k"),
    Bad("top_k k=True", lambda: P.top_k_examples(cnn(), "relu2", x(), k=True, progress=False), TypeError, "k"),
    Bad("top_k k > N", lambda: P.top_k_examples(cnn(), "relu2", x(), k=5, progress=False), ValueError, "k"),
    Bad("top_k batch_size=True", lambda: P.top_k_examples(cnn(), "relu2", x(), k=2, batch_size=True, progress=False),
        TypeError, "batch_size"),
    Bad("top_k layers=5", lambda: P.top_k_examples(cnn(), 5, x(), k=2, progress=False), TypeError, "layers"),
    Variant("top_k module", lambda: (lambda m: P.top_k_examples(m, m.relu2, x(), k=2, progress=False))(cnn()),
            lambda: P.top_k_examples(cnn(), "relu2", x(), k=2, progress=False)),
    Variant("top_k list with a module",
            lambda: (lambda m: P.top_k_examples(m, [m.relu1, "fc"], x(), k=2, progress=False))(cnn()),
            lambda: P.top_k_examples(cnn(), ["relu1", "fc"], x(), k=2, progress=False)),
    Variant("top_k float64", lambda: P.top_k_examples(cnn(), "relu2", x(dtype=torch.float64), k=2, progress=False),
            lambda: P.top_k_examples(cnn(), "relu2", x(), k=2, progress=False)),
    # classifier head
    Bad("confusion_matrix float predictions", lambda: P.confusion_matrix(labels().float() + 0.7, labels(), 3),
        TypeError, "predictions"),
    Bad("confusion_matrix bool predictions", lambda: P.confusion_matrix(labels() > 0, labels(), 3), TypeError,
        "predictions"),
    Bad("confusion_matrix labels N×1", lambda: P.confusion_matrix(labels(), labels()[:, None], 3), ValueError,
        "labels"),
    Bad("confusion_matrix length mismatch", lambda: P.confusion_matrix(labels(), labels(3), 3), ValueError, "labels"),
    Bad("confusion_matrix class 3 of 3", lambda: P.confusion_matrix(labels() + 1, labels(), 3), ValueError,
        "predictions"),
    Bad("confusion_matrix n_classes=True", lambda: P.confusion_matrix(labels(), labels(), True), TypeError,
        "n_classes"),
    Bad("confusion_matrix labels on meta", lambda: P.confusion_matrix(labels(), labels().to("meta"), 3), ValueError,
        "labels"),
    Bad("confused_pairs non-square", lambda: P.confused_pairs(torch.ones(3, 2, dtype=torch.long)), ValueError, "cm"),
    Bad("confused_pairs n=0", lambda: P.confused_pairs(torch.ones(3, 3, dtype=torch.long), 0), ValueError, "n"),
    Bad("confused_pairs n=True", lambda: P.confused_pairs(torch.ones(3, 3, dtype=torch.long), True), TypeError, "n"),
    Bad("confused_pairs NaN", lambda: P.confused_pairs(nan_at(torch.ones(3, 3))), ValueError, "cm"),
    Bad("class_extremes k=0", lambda: P.class_extremes(probs(), labels(6), 0, k=0), ValueError, "k"),
    Bad("class_extremes k too large", lambda: P.class_extremes(probs(), labels(6), 0, k=3), ValueError, "k"),
    Bad("class_extremes cls=99", lambda: P.class_extremes(probs(), labels(6), 99, k=1), ValueError, "cls"),
    Bad("class_extremes cls=-1", lambda: P.class_extremes(probs(), labels(6), -1, k=1), ValueError, "cls"),
    Bad("class_extremes cls=True", lambda: P.class_extremes(probs(), labels(6), True, k=1), TypeError, "cls"),
    Bad("class_extremes NaN probs", lambda: P.class_extremes(nan_at(probs()), labels(6), 0, k=1), ValueError,
        "probs"),
    Bad("class_extremes probs 1-d", lambda: P.class_extremes(probs()[:, 0], labels(6), 0, k=1), ValueError, "probs"),
    Bad("class_extremes float labels", lambda: P.class_extremes(probs(), labels(6).float(), 0, k=1), TypeError,
        "labels"),
    Bad("class_extremes labels too short", lambda: P.class_extremes(probs(), labels(4), 0, k=1), ValueError,
        "labels"),
    Variant("class_extremes 0-d tensor cls", lambda: P.class_extremes(probs(), labels(6), torch.tensor(1), k=2),
            lambda: P.class_extremes(probs(), labels(6), 1, k=2)),
    Bad("photo_crops crops_per_image=-1", lambda: P.photo_crops(cnn(), ["cat"], crops_per_image=-1), ValueError,
        "crops_per_image"),
    Bad("photo_crops crops_per_image=True", lambda: P.photo_crops(cnn(), ["cat"], crops_per_image=True), TypeError,
        "crops_per_image"),
    Bad("photo_crops min_scale > max_scale", lambda: P.photo_crops(cnn(), ["cat"], min_scale=0.8, max_scale=0.5),
        ValueError, "min_scale"),
    Bad("photo_crops names a string", lambda: P.photo_crops(cnn(), "cat"), TypeError, "names"),
    Bad("show_examples channel 9", lambda: P.show_examples(probe(), x(6), 9), ValueError, "channel"),
    Bad("show_examples channel=True", lambda: P.show_examples(probe(), x(6), True), TypeError, "channel"),
    Bad("show_examples which", lambda: P.show_examples(probe(), x(6), 0, which="best"), ValueError, "which"),
    Bad("show_examples images of another length", lambda: P.show_examples(probe(), x(4), 0), ValueError, "images"),
    Bad("show_examples NaN images", lambda: P.show_examples(probe(), nan_at(x(6)), 0), ValueError, "images"),
    Bad("show_examples k=0", lambda: P.show_examples(probe(), x(6), 0, k=0), ValueError, "k"),
    Bad("show_patch_grid channel 9", lambda: P.show_patch_grid(probe(), x(6), rf(), [9]), ValueError, "channels"),
    Bad("show_patch_grid dense layer", lambda: P.show_patch_grid(probe("fc"), x(6), rf(), [0]), ValueError, "result"),
]


# ---------------------------------------------------------------------------------------------- evaluation
def curve(**changes):
    args = dict(model=cnn(), inputs=x(2), attributions=maps(2), target=0, steps=4)
    args.update(changes)
    return E.deletion_curve(**args)


EVALUATION = [
    Bad("sum_channels NaN", lambda: E.sum_channels(nan_at(maps())), ValueError, "attributions"),
    Bad("sum_channels 2-d", lambda: E.sum_channels(torch.rand(4, 8)), ValueError, "attributions"),
    Bad("sum_channels list", lambda: E.sum_channels([[1.0]]), TypeError, "attributions"),
    Bad("pixel_order NaN", lambda: E.pixel_order(nan_at(maps())), ValueError, "attributions"),
    Bad("pixel_order inf", lambda: E.pixel_order(nan_at(maps(), INF)), ValueError, "attributions"),
    Bad("deletion NaN attribution", lambda: curve(attributions=nan_at(maps(2))), ValueError, "attributions"),
    Bad("insertion NaN attribution", lambda: E.insertion_curve(cnn(), x(2), nan_at(maps(2)), 0, steps=4),
        ValueError, "attributions"),
    Bad("deletion NaN pixel", lambda: curve(inputs=x(2, fill=NAN)), ValueError, "inputs"),
    Bad("deletion NaN model", lambda: curve(model=cnn(nan=True)), ValueError, "model"),
    Bad("deletion 3 channels", lambda: curve(inputs=x(2, c=3), attributions=maps(2, c=3)), ValueError, "inputs"),
    Bad("deletion empty batch", lambda: curve(inputs=x(0), attributions=maps(0)), ValueError, "inputs"),
    Bad("deletion inputs on meta", lambda: curve(inputs=x(2, device="meta")), ValueError, "inputs"),
    Bad("deletion attributions on meta", lambda: curve(attributions=maps(2).to("meta")), ValueError, "attributions"),
    Bad("deletion steps=True", lambda: curve(steps=True), TypeError, "steps"),
    Bad("deletion batch_size=True", lambda: curve(batch_size=True), TypeError, "batch_size"),
    Bad("deletion target 7 of 3", lambda: curve(target=7), ValueError, "target"),
    Bad("deletion 3 targets for 2", lambda: curve(target=torch.tensor([0, 1, 2])), ValueError, "target"),
    Bad("deletion float target", lambda: curve(target=torch.tensor([0.0, 1.0])), TypeError, "target"),
    Bad("deletion bool target", lambda: curve(target=True), TypeError, "target"),
    Bad("deletion NaN baseline tensor", lambda: curve(baseline=nan_at(torch.zeros(1, 1, 8, 8))), ValueError,
        "baseline"),
    Bad("deletion baseline=NaN", lambda: curve(baseline=NAN), ValueError, "baseline"),
    Bad("perturbation mode", lambda: E.perturbation_curve(cnn(), x(2), maps(2), 0, mode="erase"), ValueError, "mode"),
    Variant("deletion float64 inputs", lambda: curve(inputs=x(2, dtype=torch.float64)), lambda: curve()),
    Variant("deletion float64 attributions", lambda: curve(attributions=maps(2).double()), lambda: curve()),
    Variant("deletion N×1 target", lambda: curve(target=torch.tensor([[0], [2]])),
            lambda: curve(target=torch.tensor([0, 2]))),
    Bad("auc NaN", lambda: E.auc(nan_at(torch.rand(2, 5))), ValueError, "scores"),
    Bad("auc NaN fractions", lambda: E.auc(torch.rand(2, 3), torch.tensor([0.0, NAN, 1.0])), ValueError, "fractions"),
    Bad("random_attribution NaN", lambda: E.random_attribution(cnn(), x(fill=NAN)), ValueError, "inputs"),
    Bad("random_attribution seed 1.5", lambda: E.random_attribution(cnn(), x(), seed=1.5), TypeError, "seed"),
    Bad("course_methods ig_steps=0", lambda: E.course_methods("relu2", ig_steps=0), ValueError, "ig_steps"),
    Bad("course_methods ig_steps=True", lambda: E.course_methods("relu2", ig_steps=True), TypeError, "ig_steps"),
    Bad("course_methods layer=5", lambda: E.course_methods(5), TypeError, "layer"),
    Bad("localization NaN", lambda: E.make_localization_dataset(x(2, h=28, fill=NAN), labels(2)), ValueError,
        "images"),
    Bad("localization 3 channels", lambda: E.make_localization_dataset(x(2, c=3, h=28), labels(2)), ValueError,
        "images"),
    Bad("localization empty", lambda: E.make_localization_dataset(x(0, h=28), labels(0)), ValueError, "images"),
    Bad("localization labels N×1", lambda: E.make_localization_dataset(x(2, h=28), labels(2)[:, None]), ValueError,
        "labels"),
    Bad("localization float labels", lambda: E.make_localization_dataset(x(2, h=28), labels(2).float()), TypeError,
        "labels"),
    Bad("localization canvas_size=True", lambda: E.make_localization_dataset(x(2, h=28), labels(2), canvas_size=True),
        TypeError, "canvas_size"),
    Bad("localization noise=NaN", lambda: E.make_localization_dataset(x(2, h=28), labels(2), noise=NAN), ValueError,
        "noise"),
    Variant("localization float64", lambda: E.make_localization_dataset(x(2, h=28, dtype=torch.float64), labels(2)),
            lambda: E.make_localization_dataset(x(2, h=28), labels(2))),
    Bad("box_mask fractional boxes", lambda: E.box_mask(boxes().float() + 0.5, 8), ValueError, "boxes"),
    Bad("box_mask 3 columns", lambda: E.box_mask(boxes()[:, :3], 8), ValueError, "boxes"),
    Bad("box_mask height=0", lambda: E.box_mask(boxes(), 0), ValueError, "height"),
    Bad("box_mask height=True", lambda: E.box_mask(boxes(), True), TypeError, "height"),
    Variant("box_mask whole-number float boxes", lambda: E.box_mask(boxes().float(), 8), lambda: E.box_mask(boxes(), 8)),
    Bad("mass_inside_box NaN", lambda: E.mass_inside_box(nan_at(maps()), boxes()), ValueError, "attributions"),
    Bad("mass_inside_box inf", lambda: E.mass_inside_box(nan_at(maps(), INF), boxes()), ValueError, "attributions"),
    Bad("mass_inside_box 3 boxes for 4", lambda: E.mass_inside_box(maps(), boxes(3)), ValueError, "boxes"),
    Bad("mass_inside_box kind", lambda: E.mass_inside_box(maps(), boxes(), kind="negative"), ValueError, "kind"),
    Bad("mass_inside_box boxes on meta", lambda: E.mass_inside_box(maps(), boxes().to("meta")), ValueError, "boxes"),
    Bad("mass_inside_box maps on meta", lambda: E.mass_inside_box(maps().to("meta"), boxes()), ValueError,
        "attributions"),
    Variant("mass_inside_box float64", lambda: E.mass_inside_box(maps().double(), boxes()),
            lambda: E.mass_inside_box(maps(), boxes())),
    Bad("pointing_game NaN", lambda: E.pointing_game(nan_at(maps()), boxes()), ValueError, "attributions"),
    Bad("pointing_game tolerance=True", lambda: E.pointing_game(maps(), boxes(), tolerance=True), TypeError,
        "tolerance"),
    Bad("pointing_game tolerance=-1", lambda: E.pointing_game(maps(), boxes(), tolerance=-1), ValueError,
        "tolerance"),
    Bad("draw_box 3 values", lambda: E.draw_box(plt.subplots()[1], (1, 2, 3)), ValueError, "box"),
    Bad("draw_box 1.5", lambda: E.draw_box(plt.subplots()[1], (1.5, 2, 3, 4)), TypeError, "box"),
    Bad("plot_curves wrong length", lambda: E.plot_curves(torch.linspace(0, 1, 5), {"m": torch.rand(4)}),
        ValueError, "curves"),
    Bad("plot_curves NaN", lambda: E.plot_curves(torch.linspace(0, 1, 5), {"m": nan_at(torch.rand(5))}),
        ValueError, "curves"),
    Bad("parameter_layers of a function", lambda: E.parameter_layers(lambda v: v), TypeError, "model"),
    Bad("randomized_models no layers", lambda: next(E.randomized_models(cnn(), layers=[])), ValueError, "layers"),
    Bad("randomized_models unknown layer", lambda: next(E.randomized_models(cnn(), layers=["fc9"])), ValueError,
        "layer"),
    Bad("randomized_models mode", lambda: next(E.randomized_models(cnn(), mode="all")), ValueError, "mode"),
    Bad("randomized_models seed 1.5", lambda: next(E.randomized_models(cnn(), seed=1.5)), TypeError, "seed"),
    Variant("randomized_models module", lambda: (lambda m: next(E.randomized_models(m, layers=[m.fc]))[1].fc.weight)(
        cnn()), lambda: next(E.randomized_models(cnn(), layers=["fc"]))[1].fc.weight),
    Bad("randomize_layers no layers", lambda: E.randomize_layers(cnn(), []), ValueError, "layers"),
    Bad("randomize_layers ReLU", lambda: E.randomize_layers(cnn(), ["relu1"]), ValueError, "layers"),
    Bad("randomize_layers seed=True", lambda: E.randomize_layers(cnn(), ["fc"], seed=True), TypeError, "seed"),
    Variant("randomize_layers module", lambda: (lambda m: E.randomize_layers(m, [m.fc]).fc.weight)(cnn()),
            lambda: E.randomize_layers(cnn(), ["fc"]).fc.weight),
    Bad("rank_correlation NaN", lambda: E.rank_correlation(nan_at(maps()), maps()), ValueError, "a"),
    Bad("rank_correlation shapes", lambda: E.rank_correlation(maps(), maps(3)), ValueError, "a, b"),
    Bad("rank_correlation 1-d", lambda: E.rank_correlation(torch.rand(5), torch.rand(5)), ValueError, "a, b"),
    Bad("map_rank_correlation NaN a", lambda: E.map_rank_correlation(nan_at(maps()), maps()), ValueError, "a"),
    Bad("map_rank_correlation NaN b", lambda: E.map_rank_correlation(maps(), nan_at(maps())), ValueError, "b"),
    Bad("map_rank_correlation shapes", lambda: E.map_rank_correlation(maps(), maps(h=6)), ValueError, "b"),
    Bad("map_rank_correlation absolute='yes'", lambda: E.map_rank_correlation(maps(), maps(), absolute="yes"),
        TypeError, "absolute"),
    Bad("randomization test NaN inputs", lambda: E.model_randomization_test(plus_one, cnn(), x(fill=NAN), 0),
        ValueError, "inputs"),
    Bad("randomization test 3 channels", lambda: E.model_randomization_test(plus_one, cnn(), x(c=3), 0), ValueError,
        "inputs"),
    Bad("randomization test meta", lambda: E.model_randomization_test(plus_one, cnn(), x(device="meta"), 0),
        ValueError, "inputs"),
    Bad("randomization test NaN maps", lambda: E.model_randomization_test(nan_method, cnn(), x(), 0), ValueError,
        "method"),
    Bad("randomization test method=3", lambda: E.model_randomization_test(3, cnn(), x(), 0), TypeError, "method"),
    Bad("randomization test mode", lambda: E.model_randomization_test(plus_one, cnn(), x(), 0, mode="all"),
        ValueError, "mode"),
    Bad("summarize no methods", lambda: E.summarize_correlations({}), ValueError, "results"),
    Bad("summarize a list", lambda: E.summarize_correlations([1, 2]), TypeError, "results"),
    Bad("summarize digits=-1", lambda: E.summarize_correlations({"m": {"fc": torch.ones(2)}}, digits=-1),
        ValueError, "digits"),
]


# ------------------------------------------------------------------------------------------------ shortcut
SHORTCUT = [
    Bad("add_marker NaN", lambda: S.add_marker(x(2, h=28, fill=NAN), 0), ValueError, "images"),
    Bad("add_marker 3 channels", lambda: S.add_marker(x(2, c=3, h=28), 0), ValueError, "images"),
    Bad("add_marker 8×8", lambda: S.add_marker(x(2), 0), ValueError, "images"),
    Bad("add_marker bool class", lambda: S.add_marker(x(2, h=28), True), TypeError, "marker_classes"),
    Bad("add_marker bool tensor", lambda: S.add_marker(x(2, h=28), torch.tensor([True, False])), TypeError,
        "marker_classes"),
    Bad("add_marker classes 2×1", lambda: S.add_marker(x(2, h=28), torch.tensor([[0], [1]])), ValueError,
        "marker_classes"),
    Bad("add_marker class 10", lambda: S.add_marker(x(2, h=28), 10), ValueError, "marker_classes"),
    Bad("add_marker intensity=NaN", lambda: S.add_marker(x(2, h=28), 0, intensity=NAN), ValueError, "intensity"),
    Bad("add_marker intensity=True", lambda: S.add_marker(x(2, h=28), 0, intensity=True), TypeError, "intensity"),
    Variant("add_marker float64", lambda: S.add_marker(x(2, h=28, dtype=torch.float64), 3),
            lambda: S.add_marker(x(2, h=28), 3)),
    Bad("marker_mask bool", lambda: S.marker_mask(True), TypeError, "marker_classes"),
    Bad("marker_mask float tensor", lambda: S.marker_mask(torch.tensor([1.0])), TypeError, "marker_classes"),
    Bad("marker_box True", lambda: S.marker_box(True), TypeError, "cls"),
    Bad("marker_box 1.0", lambda: S.marker_box(1.0), TypeError, "cls"),
    Bad("marker_box 10", lambda: S.marker_box(10), ValueError, "cls"),
    Variant("marker_box 0-d tensor", lambda: S.marker_box(torch.tensor(3)), lambda: S.marker_box(3)),
    Bad("shortcut dataset NaN", lambda: S.make_shortcut_dataset(x(2, h=28, fill=NAN), labels(2)), ValueError,
        "images"),
    Bad("shortcut dataset float labels", lambda: S.make_shortcut_dataset(x(2, h=28), labels(2).float()), TypeError,
        "labels"),
    Bad("shortcut dataset labels 2×1", lambda: S.make_shortcut_dataset(x(2, h=28), labels(2)[:, None]), ValueError,
        "labels"),
    Bad("shortcut dataset p_marker=NaN", lambda: S.make_shortcut_dataset(x(2, h=28), labels(2), p_marker=NAN),
        ValueError, "p_marker"),
    Bad("shortcut dataset swap='yes'", lambda: S.make_shortcut_dataset(x(2, h=28), labels(2), swap="yes"), TypeError,
        "swap"),
    Bad("shortcut_test_set kind", lambda: S.shortcut_test_set(5), ValueError, "kind"),
]


# ---------------------------------------------------------------------------------------------------- text
def ig_path(**changes):
    args = dict(score_fn=lambda p: (p ** 2).sum((1, 2)), x=torch.ones(3, 4), baseline=torch.zeros(3, 4), steps=4)
    args.update(changes)
    return tx.integrated_gradients_path(**args)


TEXT = [
    Bad("tokenize max_length=True", lambda: tx.tokenize(tokenizer(), "a cat", max_length=True), TypeError,
        "max_length"),
    Bad("tokenize empty list", lambda: tx.tokenize(tokenizer(), []), TypeError, "sentences"),
    Bad("inputs float ids", lambda: tx.check_token_inputs(tok(input_ids=tok()["input_ids"].float())), ValueError,
        "input_ids"),
    Bad("inputs 1-d ids", lambda: tx.check_token_inputs({"input_ids": torch.tensor([1, 5, 2])}), ValueError,
        "input_ids"),
    Bad("inputs no sentences", lambda: tx.attention_maps(bert(), {"input_ids": torch.zeros(0, 5, dtype=torch.long)}),
        ValueError, "input_ids"),
    Bad("inputs mask of another shape", lambda: tx.attention_maps(bert(), tok(attention_mask=torch.ones(2, 3))),
        ValueError, "attention_mask"),
    Bad("inputs mask value 2", lambda: tx.attention_maps(bert(), tok(attention_mask=2 * torch.ones(2, 6,
                                                                                                     dtype=torch.long))),
        ValueError, "attention_mask"),
    Bad("inputs on meta", lambda: tx.attention_maps(bert(), {k: v.to("meta") for k, v in tok().items()}), ValueError,
        "inputs"),
    Bad("attention_maps id ≥ vocabulary", lambda: tx.attention_maps(bert(), tok(input_ids=tok()["input_ids"] + 100)),
        ValueError, "input_ids"),
    Bad("attention_maps batch_size=True", lambda: tx.attention_maps(bert(), tok(), batch_size=True), TypeError,
        "batch_size"),
    Bad("value_norm_attention batch_size=0", lambda: tx.value_norm_attention(bert(), tok(), batch_size=0), ValueError,
        "batch_size"),
    Bad("value_norm_attention id ≥ vocabulary",
        lambda: tx.value_norm_attention(bert(), tok(input_ids=tok()["input_ids"] + 100)), ValueError, "input_ids"),
    Bad("head_attention NaN hidden", lambda: tx.head_attention(bert(), nan_at(torch.rand(5, 16)), 0, 1), ValueError,
        "hidden"),
    Bad("head_attention wrong D", lambda: tx.head_attention(bert(), torch.rand(5, 12), 0, 1), ValueError, "hidden"),
    Bad("head_attention layer=True", lambda: tx.head_attention(bert(), torch.rand(5, 16), True, 1), TypeError,
        "layer"),
    Bad("head_attention head=True", lambda: tx.head_attention(bert(), torch.rand(5, 16), 0, True), TypeError, "head"),
    Bad("head_attention head 4 of 4", lambda: tx.head_attention(bert(), torch.rand(5, 16), 0, 4), ValueError, "head"),
    Variant("head_attention float64", lambda: tx.head_attention(bert(), torch.arange(80.0).view(5, 16).double() / 80,
                                                                0, 1),
            lambda: tx.head_attention(bert(), torch.arange(80.0).view(5, 16) / 80, 0, 1)),
    Bad("word_ids of a string", lambda: tx.word_ids("a cat"), TypeError, "tokens"),
    Bad("pattern_mask tokens=True", lambda: tx.pattern_mask(True, "previous"), TypeError, "tokens"),
    Bad("pattern_mask pattern", lambda: tx.pattern_mask(["a", "b"], "diagonal"), ValueError, "pattern"),
    Bad("pattern_scores NaN", lambda: tx.pattern_scores(nan_at(torch.rand(2, 4, 4)),
                                                        tx.pattern_mask(4, "previous")), ValueError, "attentions"),
    Bad("pattern_scores masks of 0.5", lambda: tx.pattern_scores(torch.rand(2, 4, 4), torch.full((4, 4), 0.5)),
        ValueError, "masks"),
    Bad("pattern_scores masks shape", lambda: tx.pattern_scores(torch.rand(2, 4, 4), torch.ones(3, 3, dtype=torch.bool)),
        ValueError, "masks"),
    Bad("batch_pattern_masks T too small", lambda: tx.batch_pattern_masks([["a", "b", "c"]], "previous", 2),
        ValueError, "T"),
    Bad("batch_pattern_masks T=True", lambda: tx.batch_pattern_masks([["a"]], "previous", True), TypeError, "T"),
    Bad("top_heads k=0", lambda: tx.top_heads(torch.rand(2, 3), 0), ValueError, "k"),
    Bad("top_heads k=True", lambda: tx.top_heads(torch.rand(2, 3), True), TypeError, "k"),
    Bad("top_heads NaN", lambda: tx.top_heads(nan_at(torch.rand(2, 3)), 2), ValueError, "scores"),
    Bad("saliency NaN target", lambda: tx.token_saliency(bert(), tok(), nan_at(ref())), ValueError, "target"),
    Bad("saliency zero target", lambda: tx.token_saliency(bert(), tok(), torch.zeros(16)), ValueError, "target"),
    Bad("saliency target of 12 dims", lambda: tx.token_saliency(bert(), tok(), ref(12)), ValueError, "target"),
    Bad("saliency 3 targets for 2", lambda: tx.token_saliency(bert(), tok(), ref(16, 3)), ValueError, "target"),
    Bad("saliency int target", lambda: tx.token_saliency(bert(), tok(), torch.ones(16, dtype=torch.long)), TypeError,
        "target"),
    Bad("saliency module target", lambda: tx.token_saliency(bert(), tok(), nn.Linear(16, 1)), TypeError, "target"),
    Bad("saliency batch_size=True", lambda: tx.token_saliency(bert(), tok(), ref(), batch_size=True), TypeError,
        "batch_size"),
    Bad("saliency reduce", lambda: tx.token_saliency(bert(), tok(), ref(), reduce="max"), ValueError, "reduce"),
    Bad("saliency inputs on meta", lambda: tx.token_saliency(bert(), {k: v.to("meta") for k, v in tok().items()},
                                                             ref()), ValueError, "inputs"),
    Bad("embedding_gradients id ≥ vocabulary",
        lambda: tx.embedding_gradients(bert(), tok(input_ids=tok()["input_ids"] + 100), ref()), ValueError,
        "input_ids"),
    Variant("saliency float64 target", lambda: tx.token_saliency(bert(), tok(), ref().double()),
            lambda: tx.token_saliency(bert(), tok(), ref())),
    Bad("baseline NaN tensor", lambda: tx.baseline_embeddings(bert(), tok(), nan_at(torch.zeros(16))), ValueError,
        "baseline"),
    Bad("baseline True", lambda: tx.baseline_embeddings(bert(), tok(), True), TypeError, "baseline"),
    Bad("baseline id 100", lambda: tx.baseline_embeddings(bert(), tok(), 100), ValueError, "baseline"),
    Bad("ig path NaN x", lambda: ig_path(x=nan_at(torch.ones(3, 4))), ValueError, "x"),
    Bad("ig path NaN baseline", lambda: ig_path(baseline=nan_at(torch.zeros(3, 4))), ValueError, "baseline"),
    Bad("ig path baseline shape", lambda: ig_path(baseline=torch.zeros(4, 3)), ValueError, "baseline"),
    Bad("ig path steps=True", lambda: ig_path(steps=True), (TypeError, ValueError), "steps"),
    Bad("ig path steps=0", lambda: ig_path(steps=0), ValueError, "steps"),
    Bad("ig path rule", lambda: ig_path(rule="gausslegendre"), ValueError, "rule"),
    Bad("ig path NaN score", lambda: ig_path(score_fn=lambda p: p.sum((1, 2)) * NAN), ValueError, "score_fn"),
    Bad("ig path score_fn=3", lambda: ig_path(score_fn=3), TypeError, "score_fn"),
    Bad("ig path batch_size=True", lambda: ig_path(batch_size=True), TypeError, "batch_size"),
    Variant("ig path trapezoid rule (steps + 1 nodes)", lambda: ig_path(rule="trapezoid", steps=1),
            lambda: torch.ones(3, 4)),
    Bad("embedding IG steps=True", lambda: tx.embedding_integrated_gradients(bert(), tok(), ref(), steps=True),
        (TypeError, ValueError), "steps"),
    Bad("embedding IG rule", lambda: tx.embedding_integrated_gradients(bert(), tok(), ref(), rule="simpson"),
        ValueError, "rule"),
    Bad("embedding IG NaN target", lambda: tx.embedding_integrated_gradients(bert(), tok(), nan_at(ref()), steps=2),
        ValueError, "target"),
    Bad("embedding IG return_error='yes'",
        lambda: tx.embedding_integrated_gradients(bert(), tok(), ref(), steps=2, return_error="yes"), TypeError,
        "return_error"),
    Bad("completeness NaN attributions", lambda: tx.completeness_error(bert(), tok(), ref(), nan_at(torch.zeros(2, 6))),
        ValueError, "attributions"),
    Bad("completeness attributions shape", lambda: tx.completeness_error(bert(), tok(), ref(), torch.zeros(2, 5)),
        ValueError, "attributions"),
    Bad("plot_attention NaN", lambda: tx.plot_attention(nan_at(torch.rand(3, 3)), ["a", "b", "c"]), ValueError,
        "attention"),
    Bad("plot_attention 2 tokens for 3", lambda: tx.plot_attention(torch.rand(3, 3), ["a", "b"]), ValueError,
        "tokens"),
    Bad("plot_attention_grid NaN", lambda: tx.plot_attention_grid(nan_at(torch.rand(2, 2, 3, 3))), ValueError,
        "attentions"),
    Bad("plot_head_scores NaN", lambda: tx.plot_head_scores(nan_at(torch.rand(2, 3)), "t"), ValueError, "scores"),
    Bad("plot_head_scores 1-d", lambda: tx.plot_head_scores(torch.rand(3), "t"), ValueError, "scores"),
    Bad("show_token_scores NaN", lambda: tx.show_token_scores(["a", "b"], torch.tensor([1.0, NAN])), ValueError,
        "scores"),
    Bad("show_token_scores strings", lambda: tx.show_token_scores(["a", "b"], ["x", "y"]), TypeError, "scores"),
    Bad("rollout L×T×T", lambda: tx.attention_rollout(torch.rand(2, 3, 3)), ValueError, "attentions"),
    Bad("rollout NaN", lambda: tx.attention_rollout(nan_at(torch.rand(2, 2, 3, 3))), ValueError, "attentions"),
    Bad("rollout negative", lambda: tx.attention_rollout(-torch.rand(2, 2, 3, 3)), ValueError, "attentions"),
    Bad("rollout mask shape", lambda: tx.attention_rollout(torch.rand(2, 2, 2, 3, 3), torch.ones(2, 4)), ValueError,
        "attention_mask"),
    Bad("rollout residual=1", lambda: tx.attention_rollout(torch.rand(2, 2, 3, 3), residual=1), TypeError, "residual"),
    Bad("flow normalize='yes'", lambda: tx.attention_flow(torch.rand(2, 2, 3, 3), normalize="yes"), TypeError,
        "normalize"),
    Bad("max_flow source out of range", lambda: tx.max_flow(torch.rand(3, 3), 5, 1), ValueError, "source"),
    Bad("max_flow NaN capacity", lambda: tx.max_flow(nan_at(torch.rand(3, 3)), 0, 1), ValueError, "capacity"),
    Variant("max_flow 0-d tensor source", lambda: tx.max_flow(torch.eye(3).roll(1, 1), torch.tensor(0), 2),
            lambda: tx.max_flow(torch.eye(3).roll(1, 1), 0, 2)),
    Variant("rollout float64", lambda: tx.attention_rollout(torch.arange(36.0).view(2, 2, 3, 3).double() / 36),
            lambda: tx.attention_rollout(torch.arange(36.0).view(2, 2, 3, 3) / 36)),
    Bad("ablation head out of range", lambda: tx.ablated_embeddings(bert(), tok(), [(0, 4)]), ValueError, "heads"),
    Bad("ablation mode", lambda: tx.ablated_embeddings(bert(), tok(), [(0, 1)], mode="noise"), ValueError, "mode"),
    Bad("ablation mean without means", lambda: tx.ablated_embeddings(bert(), tok(), [(0, 1)], mode="mean"),
        ValueError, "means"),
    Bad("ablation effects batch_size=0", lambda: tx.head_ablation_effects(bert(), tok(), batch_size=0), ValueError,
        "batch_size"),
    Bad("head_means ids ≥ vocabulary", lambda: tx.head_means(bert(), tok(input_ids=tok()["input_ids"] + 100)),
        ValueError, "input_ids"),
]

CASES = PROBING + EVALUATION + SHORTCUT + TEXT


# ------------------------------------------------------------------------------------------------- harness
def same(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape
                and torch.allclose(a.double(), b.double(), atol=1e-5, equal_nan=True))
    if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
        return type(a) is type(b) and all(same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(u, v) for u, v in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    return a == b


def outcome(case) -> tuple[str, str]:
    """("clear" | "ugly" | "silent", detail) for a Bad case; ("ok" | "ugly" | "wrong", detail) for a Variant."""
    try:
        got = case.call()
    except Exception as err:                                   # noqa: BLE001 - classifying is the point
        message = f"{type(err).__name__}: {err}"
        if isinstance(case, Variant):
            return "ugly", message
        expected = case.error if isinstance(case.error, tuple) else (case.error,)
        named = case.words in str(err)
        if isinstance(err, expected) and named:
            return "clear", message
        if isinstance(err, (TypeError, ValueError)) and named:
            return "clear (other type)", message
        return "ugly", message
    finally:
        plt.close("all")
    if isinstance(case, Bad):
        return "silent", f"returned {type(got).__name__}"
    try:
        expected = case.reference()
    finally:
        plt.close("all")
    return ("ok", "") if same(got, expected) else ("wrong", "a different answer")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_a_clear_error_and_variants_the_same_answer(case):
    result, detail = outcome(case)
    assert result in ("clear", "ok"), f"{case.id}: {result} — {detail}"


def test_models_are_restored_after_bad_input():
    model = cnn().train()
    model.conv1.weight.requires_grad_(False)
    for call in (lambda: P.top_k_examples(model, "relu2", x(fill=NAN), k=2, progress=False),
                 lambda: E.deletion_curve(model, x(2), maps(2), 7, steps=3),
                 lambda: P.gradient_support(model, "relu2", x(), 9, 3)):
        with pytest.raises(ValueError):
            call()
        assert model.training and not model.conv1.weight.requires_grad and model.conv2.weight.requires_grad
        assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


if __name__ == "__main__":        # print the counts: python tests/test_bad_inputs_probing_evaluation_text.py
    from collections import Counter
    counts = Counter()
    for case in CASES:
        result, detail = outcome(case)
        counts[f"{type(case).__name__.lower()} {result}"] += 1
        if result not in ("clear", "ok"):
            print(f"{result:18s} {case.id}: {detail[:150]}")
    bad = sum(isinstance(c, Bad) for c in CASES)
    print(f"{len(CASES)} cases ({bad} bad inputs, {len(CASES) - bad} variants):", dict(counts))
