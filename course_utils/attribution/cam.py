"""Class activation maps: CAM (Zhou et al. 2016), Grad-CAM and Guided Grad-CAM (Selvaraju et al. 2017).

For a feature map A (K channels, h×w) of layer ``layer`` and a score y (class logit or inner unit):

* CAM, for networks ending in global average pooling + one linear layer (weights W, K inputs):
  M_c(i, j) = Σ_k W[c, k] · A_k(i, j). Because y_c = mean_ij M_c(i, j) + b_c, the map says where the
  logit comes from.
* Grad-CAM, for any conv layer: α_k = mean_ij ∂y/∂A_k(i, j), map = ReLU(Σ_k α_k A_k). With a GAP + linear
  head, ∂y_c/∂A_k(i, j) = W[c, k] / (h·w), so Grad-CAM = ReLU(CAM) / (h·w).
* Guided Grad-CAM: guided backpropagation × the Grad-CAM map upsampled to the input.

``cam`` and ``grad_cam`` return N×1×H×W at the input's resolution (bilinear upsampling), or N×1×h×w
with ``upsample=False``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..hooks import Layer, capture_activations, preserved_state
from ..validation import check_bool, positive_float, positive_int, resolve_layer
from ._common import batches, check_call
from .targets import class_target


def _finish(maps: torch.Tensor, size: tuple[int, int], relu: bool, upsample: bool, normalize: bool
            ) -> torch.Tensor:
    """N×h×w maps → N×1×H×W: optional ReLU, bilinear upsampling, optional scaling to max |map| = 1."""
    maps = maps[:, None]
    if relu:
        maps = maps.clamp_min(0)
    if upsample and maps.shape[-2:] != size:
        maps = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)
    if normalize:
        peak = maps.abs().flatten(1).amax(1).view(-1, 1, 1, 1)
        maps = maps / torch.where(peak > 0, peak, torch.ones_like(peak))
    return maps


def _check_flags(relu, upsample, normalize) -> None:
    for name, value in (("relu", relu), ("upsample", upsample), ("normalize", normalize)):
        check_bool(value, name)


def _last_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("model: CAM needs a final nn.Linear layer after global average pooling; "
                         "this model has none (use grad_cam)")
    return linears[-1]


def _feature_map(acts: dict, layer: str) -> torch.Tensor:
    if layer not in acts:
        raise ValueError(f"layer: {layer!r} did not run when computing the target score")
    a = acts[layer]
    if not isinstance(a, torch.Tensor) or a.ndim != 4:
        shape = tuple(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__
        raise ValueError(f"layer: expected {layer!r} to output a feature map N×K×h×w, got {shape}")
    return a


def cam(model: nn.Module, inputs: torch.Tensor, target: int | torch.Tensor, layer: Layer,
        fc: Layer | None = None, relu: bool = False, upsample: bool = True, normalize: bool = False,
        batch_size: int = 32, tol: float = 1e-3) -> torch.Tensor:
    """Class activation map Σ_k W[c, k] A_k of the feature map ``layer``: N×1×H×W (signed by default).

    ``layer`` (a name or the module) must be the last conv feature map, whose global average feeds the
    linear layer ``fc`` (default: the model's last ``nn.Linear``). The structure is verified on the inputs:
    the logits must equal mean(map) + bias within ``tol`` (relative), otherwise a ``ValueError`` says CAM
    does not apply. ``target``: an int or N class indices (CAM is defined for class logits, not inner units
    or probabilities).
    """
    x, _ = check_call(model, inputs, 0)
    target = class_target(target, len(x), "CAM")
    layer, _ = resolve_layer(model, layer)
    batch_size = positive_int(batch_size, "batch_size")
    tol = positive_float(tol, "tol")
    _check_flags(relu, upsample, normalize)
    fc_name, linear = resolve_layer(model, fc, "fc") if fc is not None else _last_linear(model)
    if not isinstance(linear, nn.Linear):
        raise TypeError(f"fc: expected an nn.Linear layer, {fc_name!r} is a {type(linear).__name__}")
    maps = []
    with preserved_state(model), torch.no_grad(), capture_activations(model, layer) as acts:
        for sl in batches(len(x), batch_size):
            got = target[sl].scores(model, x[sl])          # the target logits (checked: finite, in range)
            a = _feature_map(acts, layer)
            if a.shape[1] != linear.in_features:
                raise ValueError(f"layer: {layer!r} has {a.shape[1]} channels but {fc_name!r} takes "
                                 f"{linear.in_features} inputs; CAM needs the feature map that is pooled into it")
            t = target.classes[sl].to(a.device)
            m = torch.einsum("nk,nkhw->nhw", linear.weight[t].to(a), a)
            bias = linear.bias[t].to(a) if linear.bias is not None else torch.zeros_like(m[:, 0, 0])
            recon = m.flatten(1).mean(1) + bias
            if not torch.allclose(recon, got, rtol=tol, atol=tol * float(got.abs().max().clamp_min(1))):
                raise ValueError(f"layer: the logits are not the global average of the CAM plus the bias of "
                                 f"{fc_name!r} (largest mismatch {(recon - got).abs().max().item():.3g}); "
                                 "CAM needs the last feature map before global average pooling and a linear "
                                 "layer — use grad_cam for other layers or architectures")
            maps.append(m)
    return _finish(torch.cat(maps), tuple(x.shape[-2:]), relu, upsample, normalize)


def grad_cam(model: nn.Module, inputs: torch.Tensor, target, layer: Layer, relu: bool = True,
             upsample: bool = True, normalize: bool = False, batch_size: int = 32) -> torch.Tensor:
    """Grad-CAM of the feature map ``layer`` (a name or the module; any layer with an N×K×h×w output): N×1×H×W.

    Channel weights α_k = mean over (i, j) of ∂score/∂A_k(i, j); map = ReLU(Σ_k α_k A_k) (``relu=False``
    keeps the sign). ``target``: an int, N class indices, ``probability(c)``, or a callable such as
    ``unit_target``. A is the layer's output itself, before any later in-place operation.
    """
    x, target = check_call(model, inputs, target)
    layer, _ = resolve_layer(model, layer)
    batch_size = positive_int(batch_size, "batch_size")
    _check_flags(relu, upsample, normalize)
    maps = []
    with preserved_state(model):
        for sl in batches(len(x), batch_size):
            # the input needs a gradient so the (frozen) model builds a graph through the layer
            xb = x[sl].clone().requires_grad_(True)
            with capture_activations(model, layer, detach=False) as acts:
                score = target[sl].scores(model, xb)
            a = _feature_map(acts, layer)
            (g,) = torch.autograd.grad(score.sum(), a, allow_unused=True)
            if g is None:
                raise ValueError(f"layer: the target's score does not depend on {layer!r}")
            alpha = g.mean((2, 3), keepdim=True)
            maps.append((alpha * a).sum(1).detach())
    return _finish(torch.cat(maps), tuple(x.shape[-2:]), relu, upsample, normalize)


def guided_grad_cam(model: nn.Module, inputs: torch.Tensor, target, layer: Layer,
                    batch_size: int = 32) -> torch.Tensor:
    """Guided Grad-CAM: guided backpropagation (N×C×H×W) times the upsampled Grad-CAM map (N×1×H×W).

    Fine detail from guided backprop, restricted to where Grad-CAM says the class is. Shaped like ``inputs``.
    """
    from .guided import guided_backprop   # lecture 05's implementation
    gradcam = grad_cam(model, inputs, target, layer, relu=True, upsample=True, batch_size=batch_size)
    return guided_backprop(model, inputs, target, batch_size=batch_size) * gradcam
