"""Checks for lecture 07 (CAM and Grad-CAM): CAM from features, Grad-CAM, counterfactual Grad-CAM.

Cases use small hand-made conv nets with random weights and inputs drawn from their own generators (never
shown in the notebook); references come from ``course_utils.attribution`` or an independent formula, and
typical mistakes are recognised by comparing with what each mistake would produce.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..attribution import grad_cam
from ..hooks import capture_activations
from . import Case, CheckResult, exercise_check, generator, run_check


def _random(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator(seed), dtype=torch.float64)


def small_cnn(seed: int, channels: int = 2, classes: int = 4, gap: bool = True) -> nn.Sequential:
    """conv, ReLU, conv (layer "2"), ReLU (layer "3"), then GAP + linear (or flatten + linear on 4×4 maps)."""
    gen = generator(seed)
    head = ([nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, classes)] if gap else
            [nn.AdaptiveMaxPool2d(4), nn.Flatten(), nn.Linear(6 * 16, classes)])
    model = nn.Sequential(nn.Conv2d(channels, 5, 3, padding=1), nn.ReLU(), nn.Conv2d(5, 6, 3, stride=2, padding=1),
                          nn.ReLU(), *head).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.7)
    return model.eval()


# ------------------------------------------------------------------------------------------ exercise 1
def _cam(features, fc_weight, target):
    return (fc_weight[target][:, :, None, None] * features).sum(1, keepdim=True)


@exercise_check
def check_class_activation_map(class_activation_map) -> CheckResult:
    """Exercise: ``class_activation_map(features, fc_weight, target)`` → N×1×h×w."""
    mistakes = {
        "take each image's own class row fc_weight[target[n]], not the sum over all classes":
            lambda f, w, t: torch.einsum("ck,nkhw->nhw", w, f)[:, None],
        "CAM keeps the sign: no ReLU here (Grad-CAM adds one)": lambda f, w, t: _cam(f, w, t).clamp_min(0),
        "weight the channels and sum over them (dimension 1), keep the 1: N×1×h×w":
            lambda f, w, t: (w[t][:, :, None, None] * f).mean(1, keepdim=True),
        "every image used the first image's class: take fc_weight[target] (one row per image)":
            lambda f, w, t: _cam(f, w, t[:1].expand(len(t))),
        "keep the channel dimension: the CAM is N×1×h×w (sum over dim 1 with keepdim=True)":
            lambda f, w, t: _cam(f, w, t)[:, 0],
        "you weighted with the softmax of the class weights: CAM uses the raw weights fc_weight[target]":
            lambda f, w, t: _cam(f, w.softmax(1), t),
    }
    cases = []
    for i, (n, k, h, w, c) in enumerate([(1, 3, 4, 4, 2), (3, 5, 3, 6, 4), (2, 8, 7, 7, 10)]):
        target = torch.randint(0, c, (n,), generator=generator(700 + i))
        if i == 1:
            target[0] = (target[1] + 1) % c          # different classes in one batch
        cases.append(Case(f"{n} feature map(s) {k}×{h}×{w}, {c} classes, target {target.tolist()}",
                          (_random(710 + i, n, k, h, w).relu(), _random(720 + i, c, k), target)))
    return run_check("check_class_activation_map", class_activation_map, _cam, cases, mistakes=mistakes,
                     atol=1e-6, rtol=1e-5, hint="M[n] = Σ_k fc_weight[target[n], k] · features[n, k]")


# ------------------------------------------------------------------------------------------ exercise 2
def _grad_cam_cases(seed: int) -> list[Case]:
    cases = []
    for i, (n, size, gap, layer, target) in enumerate([(1, 8, True, "3", 1), (2, 8, False, "3", 2),
                                                       (3, 6, True, "2", None), (2, 8, False, "1", 0)]):
        model = small_cnn(seed + i, gap=gap)
        x = _random(seed + 50 + i, n, 2, size, size)
        if target is None:
            target = torch.tensor([3, 0, 1])
        t = target.tolist() if isinstance(target, torch.Tensor) else target
        cases.append(Case(f"{n} input(s) 2×{size}×{size}, {'GAP' if gap else 'flatten'} head, layer {layer!r}, "
                          f"target {t}", (model, x, target, layer)))
    return cases


def _feature_size(model, inputs, layer) -> tuple[int, int]:
    with torch.no_grad(), capture_activations(model, layer) as acts:
        model(inputs)
    return tuple(acts[layer].shape[-2:])


def _up(maps, inputs, mode="bilinear", align_corners=False):
    return F.interpolate(maps, size=tuple(inputs.shape[-2:]), mode=mode,
                         align_corners=None if mode == "nearest" else align_corners)


@exercise_check
def check_grad_cam(grad_cam_fn) -> CheckResult:
    """Exercise: ``grad_cam_fn(model, inputs, target, layer)`` → N×1×H×W (ReLU, bilinear upsampling)."""
    def low(model, x, t, layer, relu=True):
        return grad_cam(model, x, t, layer, upsample=False, relu=relu)

    mistakes = {
        "Grad-CAM ends with a ReLU: keep only the positive evidence, ReLU(Σ_k α_k A_k)":
            lambda model, x, t, layer: grad_cam(model, x, t, layer, relu=False),
        "α_k is the *mean* of the gradient over the h×w positions (you summed it)":
            lambda model, x, t, layer: grad_cam(model, x, t, layer) * torch.tensor(_feature_size(model, x, layer)).prod(),
        "upsample with mode='bilinear' (align_corners=False), not 'nearest'":
            lambda model, x, t, layer: _up(low(model, x, t, layer), x, "nearest"),
        "upsample with align_corners=False": lambda model, x, t, layer: _up(low(model, x, t, layer), x, align_corners=True),
        "apply the ReLU to the h×w map, then upsample (the ReLU came after the upsampling)":
            lambda model, x, t, layer: _up(low(model, x, t, layer, relu=False), x).clamp_min(0),
        "upsample the h×w map to the input's H×W (F.interpolate)": low,
        "the channel weights α_k come from the gradient of the target's logit: you used the logit summed over "
        "all classes": lambda model, x, t, layer: grad_cam(model, x, lambda m, inp: m(inp).sum(1), layer),
    }
    return run_check("check_grad_cam", grad_cam_fn, grad_cam, _grad_cam_cases(800), mistakes=mistakes,
                     atol=1e-6, rtol=1e-5,
                     hint="capture A with capture_activations(model, layer, detach=False), get ∂score/∂A with "
                          "torch.autograd.grad, α = mean over (h, w), map = ReLU(Σ_k α_k A_k), then upsample")


# ------------------------------------------------------------------------------------------ exercise 3
def _negative_logit(target):
    def score(model, x):
        t = torch.full((len(x),), target) if isinstance(target, int) else target
        return -model(x).gather(1, t.view(-1, 1))[:, 0]
    return score


@exercise_check
def check_counterfactual_grad_cam(counterfactual_grad_cam) -> CheckResult:
    """Exercise: ``counterfactual_grad_cam(model, inputs, target, layer)`` → N×1×H×W."""
    def signed(model, x, t, layer):
        return grad_cam(model, x, t, layer, relu=False)

    mistakes = {
        "that is the ordinary Grad-CAM: negate the gradients (α_k → −α_k) before the ReLU": grad_cam,
        "keep the ReLU: the map shows where the evidence *against* the class is":
            lambda model, x, t, layer: -signed(model, x, t, layer),
        "negate before the ReLU: ReLU(−Σ α_k A_k), not −ReLU(Σ α_k A_k)":
            lambda model, x, t, layer: -grad_cam(model, x, t, layer),
    }
    return run_check("check_counterfactual_grad_cam", counterfactual_grad_cam,
                     lambda model, x, t, layer: grad_cam(model, x, target=_negative_logit(t), layer=layer),
                     _grad_cam_cases(900), mistakes=mistakes, atol=1e-6, rtol=1e-5,
                     hint="the same as Grad-CAM with the sign of the gradients flipped: ReLU(Σ_k (−α_k) A_k)")
