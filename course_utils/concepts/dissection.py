"""Unit dissection in the small (Bau et al. 2017): which units are detectors for which class's pixels?

For unit k of a conv layer, a threshold T_k is set so that a fraction ``1 − quantile`` of all its
activations over the dataset exceed it (the paper's top 0.5 %: ``quantile=0.995``). Each activation map is
upsampled (bilinear) to the masks' resolution and thresholded: M_k(x) = {pixels where up(A_k(x)) > T_k}.
With L_c(x) the mask of class c in image x (empty when x holds no c), the unit's IoU with class c is

    IoU_{k,c} = Σ_x |M_k(x) ∩ L_c(x)| / Σ_x |M_k(x) ∪ L_c(x)|,

summed over the whole dataset: a unit that also fires on other classes' images is penalized, because
those pixels enlarge the union. A unit is a detector for the class with its largest IoU.

* ``unit_thresholds(acts, quantile)`` – T_k for each unit of N×K×h×w activations.
* ``active_regions(acts, thresholds, size)`` – M_k(x) for every unit and image: N×K×H×W bool.
* ``dataset_iou(active, masks)`` – the IoU of two N×H×W bool stacks, summed over the dataset.
* ``dissect(model, layer, images, labels, masks)`` – IoU of every unit with every class → ``Dissection``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..hooks import Layer
from ..validation import (check_model_inputs, check_module, check_tensor, class_indices, positive_float,
                          positive_int, resolve_layer)
from .cav import layer_activations

__all__ = ["Dissection", "active_regions", "dataset_iou", "dissect", "unit_thresholds"]


def _bool_masks(masks, name: str, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """An N×H×W bool tensor (N×1×H×W is squeezed), optionally of a given shape."""
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"{name}: expected a bool tensor N×H×W, got {type(masks).__name__}")
    if masks.ndim == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.dtype != torch.bool:
        raise TypeError(f"{name}: expected a bool tensor N×H×W (True inside the object), got {masks.dtype}"
                        f"; threshold it first, e.g. {name} > 0.5")
    if masks.ndim != 3:
        raise ValueError(f"{name}: expected a bool tensor N×H×W, got shape {tuple(masks.shape)}")
    if shape is not None and tuple(masks.shape) != tuple(shape):
        raise ValueError(f"{name}: expected shape {tuple(shape)}, got {tuple(masks.shape)}")
    if masks.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one mask, got an empty batch")
    return masks


def dataset_iou(active: torch.Tensor, masks: torch.Tensor) -> float:
    """Σ_x |A(x) ∩ L(x)| / Σ_x |A(x) ∪ L(x)| for two N×H×W bool stacks (0 when both are empty everywhere)."""
    active = _bool_masks(active, "active")
    masks = _bool_masks(masks, "masks", tuple(active.shape))
    union = int((active | masks).sum())
    return int((active & masks).sum()) / union if union else 0.0


def _quantile(quantile) -> float:
    quantile = positive_float(quantile, "quantile")
    if not quantile < 1:
        raise ValueError(f"quantile: expected a value in (0, 1), e.g. 0.995 for the top 0.5 %, got {quantile}")
    return quantile


def unit_thresholds(acts: torch.Tensor, quantile: float = 0.995) -> torch.Tensor:
    """Per unit, the level T_k exceeded by a fraction 1 − ``quantile`` of its activations: N×K×h×w → K."""
    acts = check_tensor(acts, "acts", "N×K×h×w")
    quantile = _quantile(quantile)
    values = acts.transpose(0, 1).flatten(1)                         # K × (N·h·w)
    # kthvalue, not torch.quantile: no size limit and no interpolation between two activations
    k = min(values.shape[1], max(1, int(round(quantile * values.shape[1]))))
    return values.kthvalue(k, dim=1).values


def _linear_upsampling(n_in: int, n_out: int) -> torch.Tensor:
    """The n_out×n_in matrix of 1-d linear interpolation (align_corners=False), as F.interpolate does it."""
    eye = torch.eye(n_in)[:, None]
    return F.interpolate(eye, size=n_out, mode="linear", align_corners=False)[:, 0].T.contiguous()


def _active(acts: torch.Tensor, thresholds: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    # bilinear upsampling (as F.interpolate, align_corners=False) is separable: R_h · A · R_wᵀ, two small
    # matrix products instead of an interpolation of every unit's map
    rows, cols = _linear_upsampling(acts.shape[2], size[0]), _linear_upsampling(acts.shape[3], size[1])
    return (rows @ acts @ cols.T) > thresholds.view(1, -1, 1, 1)


def active_regions(acts: torch.Tensor, thresholds: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """M_k(x): where each unit's map, upsampled bilinearly to ``size`` (H or (H, W)), exceeds its threshold.

    ``acts`` N×K×h×w, ``thresholds`` K (from ``unit_thresholds``) → N×K×H×W bool.
    """
    acts = check_tensor(acts, "acts", "N×K×h×w")
    thresholds = check_tensor(thresholds, "thresholds", "K")
    if len(thresholds) != acts.shape[1]:
        raise ValueError(f"thresholds: expected {acts.shape[1]} values (one per unit), got {len(thresholds)}")
    size = (size, size) if not isinstance(size, (tuple, list)) else tuple(size)
    if len(size) != 2:
        raise ValueError(f"size: expected H or (H, W), got {size!r}")
    size = tuple(positive_int(v, "size") for v in size)
    return _active(acts, thresholds, size)


@dataclass
class Dissection:
    """IoU of every unit of ``layer`` with every class: ``iou`` K×C; ``thresholds`` K (the T_k used);
    ``quantile``; ``coverage`` K: the share of all pixels where each unit is active (≈ 1 − quantile)."""
    layer: str
    iou: torch.Tensor
    thresholds: torch.Tensor
    quantile: float
    coverage: torch.Tensor

    def best(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Each unit's best class and its IoU: (K class indices, K IoUs)."""
        values, classes = self.iou.max(1)
        return classes, values

    def detectors(self, min_iou: float = 0.04) -> list[tuple[int, int, float]]:
        """Units whose best IoU is ≥ ``min_iou`` (the paper's 0.04), as (unit, class, IoU), best first."""
        min_iou = positive_float(min_iou, "min_iou", allow_zero=True)
        classes, values = self.best()
        order = torch.argsort(values, descending=True, stable=True)
        return [(int(k), int(classes[k]), float(values[k])) for k in order if values[k] >= min_iou]


def dissect(model: nn.Module, layer: Layer | list[Layer], images: torch.Tensor, labels: torch.Tensor,
            masks: torch.Tensor, n_classes: int | None = None, quantile: float = 0.995,
            batch_size: int = 100) -> Dissection | dict[str, Dissection]:
    """IoU of each unit of ``layer`` with each class's masks over a dataset → ``Dissection`` (a dict of them
    by layer name for a list of layers, from one pass over the images).

    ``images`` N×C×H×W; ``labels`` N class indices (the class whose object is in each image); ``masks``
    N×H'×W' bool, where that object is (e.g. ``evaluation.box_mask`` of the localisation canvases). An
    image contributes its mask to its own class and an empty mask to every other class. ``n_classes``:
    the number of classes (default: max label + 1). Thresholds come from all activations of a unit over
    the dataset (``unit_thresholds``); the maps are upsampled to the masks' size. The model is restored.
    """
    check_module(model)
    single = not isinstance(layer, (list, tuple))
    names = [resolve_layer(model, one)[0] for one in ([layer] if single else layer)]
    images = check_model_inputs(images, model, "images")
    masks = _bool_masks(masks, "masks")
    if len(masks) != len(images):
        raise ValueError(f"masks: expected {len(images)} masks (one per image), got {len(masks)}")
    if n_classes is not None:
        n_classes = positive_int(n_classes, "n_classes")
    labels = class_indices(labels, "labels", n=len(images), n_classes=n_classes)
    n_classes = n_classes if n_classes is not None else int(labels.max()) + 1
    quantile = _quantile(quantile)
    batch_size = positive_int(batch_size, "batch_size")
    acts = layer_activations(model, names, images, batch_size, name="images")
    out = {}
    for name, a in acts.items():
        if a.ndim != 4:
            raise ValueError(f"layer: dissection needs a conv layer with N×K×h×w outputs; {name!r} gives "
                             f"{tuple(a.shape)}")
        out[name] = _dissect(name, a, labels.cpu(), masks.cpu(), n_classes, quantile, batch_size)
    return out[names[0]] if single else out


def _dissect(name: str, acts: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor, n_classes: int,
             quantile: float, batch_size: int) -> Dissection:
    thresholds = unit_thresholds(acts, quantile)
    size = tuple(masks.shape[-2:])
    k = acts.shape[1]
    inter = torch.zeros(k, n_classes, dtype=torch.float64)
    active_total = torch.zeros(k, dtype=torch.float64)
    flat_masks = masks.flatten(1).float()
    for s in range(0, len(acts), batch_size):
        on = _active(acts[s:s + batch_size], thresholds, size).flatten(2).float()    # B×K×(H·W)
        active_total += on.sum((0, 2)).double()
        hits = torch.bmm(on, flat_masks[s:s + batch_size, :, None])[:, :, 0].double()  # B×K, own class
        inter.index_add_(1, labels[s:s + batch_size], hits.T)
    mask_total = torch.zeros(n_classes, dtype=torch.float64).index_add_(0, labels, flat_masks.sum(1).double())
    union = active_total[:, None] + mask_total[None, :] - inter
    iou = torch.where(union > 0, inter / union.clamp_min(1), torch.zeros_like(union))
    coverage = active_total / (len(acts) * size[0] * size[1])
    return Dissection(name, iou.float(), thresholds, quantile, coverage.float())
