"""Checks for lecture 07 (CAM and Grad-CAM): CAM from features, Grad-CAM, counterfactual Grad-CAM.

Cases use small hand-made conv nets with seeded random weights and inputs (never shown in the notebook);
references come from ``course_utils.attribution`` or an independent formula, and typical mistakes are
recognised by comparing with what each mistake would produce.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..attribution import grad_cam
from . import Case, CheckResult, run_check
from .integrated import Expected, compare_with_mistakes


def _random(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def small_cnn(seed: int, channels: int = 2, classes: int = 4, gap: bool = True) -> nn.Sequential:
    """conv, ReLU, conv (layer "2"), ReLU (layer "3"), then GAP + linear (or flatten + linear on 4×4 maps)."""
    gen = torch.Generator().manual_seed(seed)
    head = ([nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, classes)] if gap else
            [nn.AdaptiveMaxPool2d(4), nn.Flatten(), nn.Linear(6 * 16, classes)])
    model = nn.Sequential(nn.Conv2d(channels, 5, 3, padding=1), nn.ReLU(), nn.Conv2d(5, 6, 3, stride=2, padding=1),
                          nn.ReLU(), *head).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.7)
    return model.eval()


# ------------------------------------------------------------------------------------------ exercise 1
def _cam_reference(features, fc_weight, target) -> Expected:
    maps = (fc_weight[target][:, :, None, None] * features).sum(1, keepdim=True)
    mistakes = {
        "take each image's own class row fc_weight[target[n]], not the sum over all classes":
            torch.einsum("ck,nkhw->nhw", fc_weight, features)[:, None],
        "CAM keeps the sign: no ReLU here (Grad-CAM adds one)": maps.clamp_min(0),
        "weight the channels and sum over them (dimension 1), keep the 1: N×1×h×w": maps.mean(1, keepdim=True),
    }
    return Expected(maps, mistakes)


def check_class_activation_map(class_activation_map) -> CheckResult:
    """Exercise: ``class_activation_map(features, fc_weight, target)`` → N×1×h×w."""
    cases = []
    for i, (n, k, h, w, c) in enumerate([(1, 3, 4, 4, 2), (3, 5, 3, 6, 4), (2, 8, 7, 7, 10)]):
        target = torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(700 + i))
        cases.append(Case(f"{n} feature map(s) {k}×{h}×{w}, {c} classes, target {target.tolist()}",
                          (_random(710 + i, n, k, h, w).relu(), _random(720 + i, c, k), target)))
    return run_check("check_class_activation_map", class_activation_map, _cam_reference, cases,
                     hint="M[n] = Σ_k fc_weight[target[n], k] · features[n, k]", compare_fn=compare_with_mistakes)


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
    from ..hooks import capture_activations
    with torch.no_grad(), capture_activations(model, layer) as acts:
        model(inputs)
    return tuple(acts[layer].shape[-2:])


def _grad_cam_reference(model, inputs, target, layer) -> Expected:
    ref = grad_cam(model, inputs, target, layer)
    low = grad_cam(model, inputs, target, layer, upsample=False)
    signed = grad_cam(model, inputs, target, layer, relu=False)
    h, w = _feature_size(model, inputs, layer)
    size = tuple(inputs.shape[-2:])
    mistakes = {
        "Grad-CAM ends with a ReLU: keep only the positive evidence, ReLU(Σ_k α_k A_k)": signed,
        "α_k is the *mean* of the gradient over the h×w positions (you summed it)": ref * (h * w),
        "upsample with mode='bilinear' (align_corners=False), not 'nearest'":
            F.interpolate(low, size=size, mode="nearest"),
        "upsample with align_corners=False": F.interpolate(low, size=size, mode="bilinear", align_corners=True),
        "apply the ReLU to the h×w map, then upsample": F.interpolate(
            grad_cam(model, inputs, target, layer, relu=False, upsample=False), size=size, mode="bilinear",
            align_corners=False).clamp_min(0),
        f"upsample the {h}×{w} map to the input size {size[0]}×{size[1]} (F.interpolate)": low,
    }
    return Expected(ref, mistakes)


def check_grad_cam(grad_cam_fn) -> CheckResult:
    """Exercise: ``grad_cam_fn(model, inputs, target, layer)`` → N×1×H×W (ReLU, bilinear upsampling)."""
    return run_check("check_grad_cam", grad_cam_fn, _grad_cam_reference, _grad_cam_cases(800),
                     hint="capture A with capture_activations(model, layer, detach=False), get ∂score/∂A with "
                          "torch.autograd.grad, α = mean over (h, w), map = ReLU(Σ_k α_k A_k), then upsample",
                     compare_fn=compare_with_mistakes)


# ------------------------------------------------------------------------------------------ exercise 3
def _negative_logit(target):
    def score(model, x):
        t = torch.full((len(x),), target) if isinstance(target, int) else target
        return -model(x).gather(1, t.view(-1, 1))[:, 0]
    return score


def _counterfactual_reference(model, inputs, target, layer) -> Expected:
    ref = grad_cam(model, inputs, target=_negative_logit(target), layer=layer)
    signed = grad_cam(model, inputs, target, layer, relu=False)
    mistakes = {
        "that is the ordinary Grad-CAM: negate the gradients (α_k → −α_k) before the ReLU":
            grad_cam(model, inputs, target, layer),
        "keep the ReLU: the map shows where the evidence *against* the class is": -signed,
        "negate before the ReLU: ReLU(−Σ α_k A_k), not −ReLU(Σ α_k A_k)": -signed.clamp_min(0),
    }
    return Expected(ref, mistakes)


def check_counterfactual_grad_cam(counterfactual_grad_cam) -> CheckResult:
    """Exercise: ``counterfactual_grad_cam(model, inputs, target, layer)`` → N×1×H×W."""
    return run_check("check_counterfactual_grad_cam", counterfactual_grad_cam, _counterfactual_reference,
                     _grad_cam_cases(900),
                     hint="the same as Grad-CAM with the sign of the gradients flipped: ReLU(Σ_k (−α_k) A_k)",
                     compare_fn=compare_with_mistakes)
