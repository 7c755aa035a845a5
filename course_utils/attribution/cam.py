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

from ..hooks import capture_activations, get_layer, preserved_state
from ._common import Target, batches, check_batch_size, check_inputs, resolve_target, target_scores


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


def _last_linear(model: nn.Module) -> tuple[str, nn.Linear]:
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("model: CAM needs a final nn.Linear layer after global average pooling; "
                         "this model has none (use grad_cam)")
    return linears[-1]


def _feature_map(acts: dict, layer: str) -> torch.Tensor:
    a = acts[layer]
    if not isinstance(a, torch.Tensor) or a.ndim != 4:
        shape = tuple(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__
        raise ValueError(f"layer: expected {layer!r} to output a feature map N×K×h×w, got {shape}")
    return a


def cam(model: nn.Module, inputs: torch.Tensor, target: int | torch.Tensor, layer: str,
        fc: str | None = None, relu: bool = False, upsample: bool = True, normalize: bool = False,
        batch_size: int = 32, tol: float = 1e-3) -> torch.Tensor:
    """Class activation map Σ_k W[c, k] A_k of the feature map ``layer``: N×1×H×W (signed by default).

    ``layer`` must be the last conv feature map, whose global average feeds the linear layer ``fc``
    (default: the model's last ``nn.Linear``). The structure is verified on the inputs: the logits must
    equal mean(map) + bias within ``tol`` (relative), otherwise a ``ValueError`` says CAM does not apply.
    ``target``: an int or N class indices (CAM is defined for classes, not inner units).
    """
    check_inputs(inputs)
    check_batch_size(batch_size)
    if callable(target):
        raise TypeError("target: CAM is defined for class logits (an int or N indices); "
                        "use grad_cam for a callable target")
    target = resolve_target(target, len(inputs))
    fc_name, linear = (fc, get_layer(model, fc)) if fc is not None else _last_linear(model)
    if not isinstance(linear, nn.Linear):
        raise TypeError(f"fc: expected the name of an nn.Linear layer, {fc!r} is a {type(linear).__name__}")
    maps = []
    with preserved_state(model), torch.no_grad(), capture_activations(model, layer) as acts:
        for sl in batches(len(inputs), batch_size):
            logits = model(inputs[sl])
            a = _feature_map(acts, layer)
            if a.shape[1] != linear.in_features:
                raise ValueError(f"layer: {layer!r} has {a.shape[1]} channels but {fc_name!r} takes "
                                 f"{linear.in_features} inputs; CAM needs the feature map that is pooled into it")
            if logits.ndim != 2:
                raise ValueError(f"model: expected logits N×K, got shape {tuple(logits.shape)}")
            t = target[sl]
            if t.min() < 0 or t.max() >= logits.shape[1]:
                raise ValueError(f"target: class indices must lie in [0, {logits.shape[1] - 1}], "
                                 f"got {t.min().item()}..{t.max().item()}")
            m = torch.einsum("nk,nkhw->nhw", linear.weight[t].to(a), a)
            bias = linear.bias[t] if linear.bias is not None else torch.zeros_like(m[:, 0, 0])
            recon = m.flatten(1).mean(1) + bias
            got = logits.gather(1, t.view(-1, 1)).squeeze(1)
            if not torch.allclose(recon, got, rtol=tol, atol=tol * float(got.abs().max().clamp_min(1))):
                raise ValueError(f"layer: the logits are not the global average of the CAM plus the bias of "
                                 f"{fc_name!r} (largest mismatch {(recon - got).abs().max().item():.3g}); "
                                 "CAM needs the last feature map before global average pooling and a linear "
                                 "layer — use grad_cam for other layers or architectures")
            maps.append(m)
    return _finish(torch.cat(maps), tuple(inputs.shape[-2:]), relu, upsample, normalize)


def grad_cam(model: nn.Module, inputs: torch.Tensor, target: Target, layer: str, relu: bool = True,
             upsample: bool = True, normalize: bool = False, batch_size: int = 32) -> torch.Tensor:
    """Grad-CAM of the feature map ``layer`` (any layer with an N×K×h×w output): N×1×H×W.

    Channel weights α_k = mean over (i, j) of ∂score/∂A_k(i, j); map = ReLU(Σ_k α_k A_k) (``relu=False``
    keeps the sign). ``target``: an int, N class indices, or a callable such as ``unit_target``.
    """
    check_inputs(inputs)
    check_batch_size(batch_size)
    get_layer(model, layer)
    target = resolve_target(target, len(inputs))
    maps = []
    with preserved_state(model):
        for sl in batches(len(inputs), batch_size):
            # the input needs a gradient so the (frozen) model builds a graph through the layer
            x = inputs[sl].detach().clone().requires_grad_(True)
            with capture_activations(model, layer, detach=False) as acts:
                score = target_scores(model, x, target if callable(target) else target[sl])
            if layer not in acts:
                raise ValueError(f"layer: {layer!r} did not run when computing the target score")
            a = _feature_map(acts, layer)
            (g,) = torch.autograd.grad(score.sum(), a)
            alpha = g.mean((2, 3), keepdim=True)
            maps.append((alpha * a).sum(1).detach())
    return _finish(torch.cat(maps), tuple(inputs.shape[-2:]), relu, upsample, normalize)


def guided_grad_cam(model: nn.Module, inputs: torch.Tensor, target: Target, layer: str,
                    batch_size: int = 32) -> torch.Tensor:
    """Guided Grad-CAM: guided backpropagation (N×C×H×W) times the upsampled Grad-CAM map (N×1×H×W).

    Fine detail from guided backprop, restricted to where Grad-CAM says the class is. Shaped like ``inputs``.
    """
    from .guided import guided_backprop   # lecture 05's implementation
    gradcam = grad_cam(model, inputs, target, layer, relu=True, upsample=True, batch_size=batch_size)
    return guided_backprop(model, inputs, target, batch_size=batch_size) * gradcam
