"""Deletion and insertion curves (Petsiuk, Das & Saenko 2018): remove (or insert) pixels in the order an
attribution ranks them and follow the model's score.

* ``pixel_order(attributions)`` – pixel indices, most important first.
* ``perturbation_curve`` (``deletion_curve``, ``insertion_curve``) – N curves of steps+1 scores;
  ``perturbation_curves`` – the same for several maps of the same inputs, in one batched pass.
* ``auc(scores, fractions)`` – the area under them.
"""
from __future__ import annotations

import torch
from torch import nn

from ..attribution import auto_batch_size, batches, make_baseline, probability, resolve_target
from ..attribution.integrated import BASELINES
from ..hooks import preserved_state
from ..progress import progress
from ..validation import check_bool, check_finite, check_model_inputs, finite_number, one_of, positive_int
from .maps import sum_channels

MODES = ("deletion", "insertion")


def pixel_order(attributions: torch.Tensor) -> torch.Tensor:
    """N×(H·W) pixel indices (row-major), most important first; ties keep the row-major order.

    ``attributions`` N×C×H×W (channels summed) or N×H×W; NaN/inf are an error (a NaN would sort first).
    """
    maps = sum_channels(attributions).flatten(1)
    return torch.argsort(maps, dim=1, descending=True, stable=True)


def _baseline(inputs: torch.Tensor, baseline, model: nn.Module) -> torch.Tensor:
    """What deleted pixels become / inserted pixels start from: a tensor shaped like ``inputs``.

    Anything ``course_utils.attribution.make_baseline`` takes (``"black"``, ``"zeros"``, ``"blur"``,
    ``"noise"``, a number), ``"mean"`` (each image's per-channel mean) or a tensor broadcastable to inputs.
    """
    if isinstance(baseline, str) and baseline == "mean":
        return inputs.mean(dim=(2, 3), keepdim=True).expand_as(inputs).clone()
    if isinstance(baseline, torch.Tensor):
        if not baseline.is_floating_point():
            raise TypeError(f"baseline: expected a float tensor, got {baseline.dtype}")
        if baseline.device != inputs.device:
            raise ValueError(f"baseline: is on {baseline.device} but the inputs are on {inputs.device}")
        check_finite(baseline, "baseline")
        try:
            return baseline.detach().to(inputs).expand_as(inputs).clone()
        except RuntimeError:
            raise ValueError(f"baseline: shape {tuple(baseline.shape)} does not broadcast to the inputs' "
                             f"{tuple(inputs.shape)}") from None
    if isinstance(baseline, bool) or not isinstance(baseline, (str, int, float)):
        raise TypeError(f"baseline: expected a name, a number or a tensor, got {type(baseline).__name__}")
    if isinstance(baseline, str):
        one_of(baseline, "baseline", ("mean", *BASELINES))
    else:
        finite_number(baseline, "baseline")
    return make_baseline(baseline, inputs, model)


def _ranks(attributions, n: int, h: int, w: int, device, name: str) -> torch.Tensor:
    """rank[i, p] = position of pixel p in image i's ordering by ``attributions`` (checked against the inputs)."""
    maps = sum_channels(attributions, name)
    if maps.shape != (n, h, w):
        raise ValueError(f"{name}: expected {n} maps of {h}×{w} (like the inputs), got shape "
                         f"{tuple(attributions.shape)}")
    if maps.device != device:
        raise ValueError(f"{name}: is on {maps.device} but the inputs are on {device}")
    order = pixel_order(maps)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(h * w, device=order.device).expand(n, -1))
    return rank


def perturbation_curves(model: nn.Module, inputs: torch.Tensor, attributions: dict, target,
                        mode: str = "deletion", steps: int = 20, baseline="black", batch_size: int | None = None,
                        show_progress: bool = False) -> tuple[torch.Tensor, dict]:
    """``perturbation_curve`` for several maps of the same inputs, in one batched pass.

    ``attributions``: ``{name: N×C'×H×W or N×H×W}``, one map per input for each name. Returns (fractions
    ``steps``+1; ``{name: scores N×(steps+1)}``), each curve as ``perturbation_curve`` gives it. The first and
    last image of every curve (no pixel / every pixel changed: the start and the end image) do not depend on
    the map, so they are evaluated once for all maps: M maps cost N·(M·(steps − 1) + 2) forward rows instead
    of N·M·(steps + 1).
    """
    if not isinstance(attributions, dict) or not attributions:
        raise TypeError(f"attributions: expected a non-empty dict {{name: maps}}, got "
                        f"{type(attributions).__name__ if not isinstance(attributions, dict) else 'an empty dict'}")
    fractions, scores = _curves(model, inputs, [(f"attributions[{k!r}]", a) for k, a in attributions.items()],
                                target, mode, steps, baseline, batch_size, show_progress)
    return fractions, dict(zip(attributions, scores))


def _curves(model, inputs, maps: list, target, mode, steps, baseline, batch_size, show_progress):
    """The curves of ``maps`` ([(name for errors, attributions)]): (fractions, [N×(steps+1) per map])."""
    inputs = check_model_inputs(inputs, model).detach()
    if batch_size is not None:
        positive_int(batch_size, "batch_size")
    batch_size = auto_batch_size(batch_size, inputs.shape[1:])
    one_of(mode, "mode", MODES)
    steps = positive_int(steps, "steps")
    n, _, h, w = inputs.shape
    ranks = [_ranks(a, n, h, w, inputs.device, name) for name, a in maps]
    target = resolve_target(target, n)
    if target.classes is None:
        raise TypeError("target: deletion/insertion curves need class indices (an int, N ints or "
                        "probability(c)), not a callable")
    steps = min(steps, h * w)
    base = _baseline(inputs, baseline, model)
    start, end = (inputs, base) if mode == "deletion" else (base, inputs)
    counts = torch.tensor([(k * h * w) // steps for k in range(steps + 1)], device=inputs.device)
    # rows: the start and end image of each input (shared by every map), then (map, input, step) for the
    # steps in between; -1 as the map marks a shared row
    rows = [(-1, i, k) for k in (0, steps) for i in range(n)]
    rows += [(j, i, k) for j in range(len(ranks)) for i in range(n) for k in range(1, steps)]
    rows_t = torch.tensor(rows, device=inputs.device).view(-1, 3)
    all_ranks = torch.stack(ranks)                                      # M×N×(H·W)
    scores = torch.empty(len(rows))
    with preserved_state(model), torch.no_grad():
        for sl in progress(list(batches(len(rows), batch_size)), enabled=show_progress, desc=mode):
            j, idx, ks = rows_t[sl].unbind(1)
            changed = (all_ranks[j.clamp(min=0), idx] < counts[ks].view(-1, 1)).view(-1, 1, h, w)
            x = torch.where(changed, end[idx], start[idx])
            scores[sl] = target[idx].scores(model, x).float().cpu()        # finite, or a ValueError
    first, last = scores[:n], scores[n:2 * n]
    middle = scores[2 * n:].view(len(ranks), n, steps - 1)
    curves = [torch.cat([first[:, None], middle[j], last[:, None]], 1) for j in range(len(ranks))]
    return counts.float().cpu() / (h * w), curves


def perturbation_curve(model: nn.Module, inputs: torch.Tensor, attributions: torch.Tensor, target,
                       mode: str = "deletion", steps: int = 20, baseline="black",
                       batch_size: int | None = None, show_progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Deletion or insertion curve of each input, ranking pixels by ``attributions``.

    ``inputs`` N×C×H×W, ``attributions`` N×C'×H×W or N×H×W (channels summed, then pixels ranked by value,
    largest first). At step k = 0..``steps`` the top ``(k·H·W) // steps`` pixels (all their channels) are
    *deleted* – replaced by the ``baseline`` – or, for ``mode="insertion"``, the image starts as the baseline
    and those pixels are *inserted* from the input. Baseline: ``"black"`` (black pixels in the model's input
    space), ``"zeros"``, ``"blur"`` (Gaussian, σ = a tenth of the side), ``"mean"`` (per image and channel),
    a number or a tensor broadcastable to ``inputs``.

    ``target``: scored through the attribution core's target layer (``course_utils.attribution.targets``):
    ``probability(c)`` (c an int or N class indices) for the softmax probability, as Petsiuk et al. do, or
    plain class indices for the logit.

    Returns (fractions of pixels changed, ``steps``+1 values in [0, 1]; scores N×(``steps``+1)). All
    N·(steps+1) perturbed images are evaluated in batches of ``batch_size`` (``None``: chosen from the image
    size, see ``auto_batch_size``). Several maps of the same inputs: ``perturbation_curves``.
    """
    fractions, curves = _curves(model, inputs, [("attributions", attributions)], target, mode, steps, baseline,
                                batch_size, show_progress)
    return fractions, curves[0]


def deletion_curve(model: nn.Module, inputs: torch.Tensor, attributions: torch.Tensor, target,
                   steps: int = 20, baseline="black", **options) -> tuple[torch.Tensor, torch.Tensor]:
    """Deletion curve: delete the most important pixels first (replace them by ``baseline``, default black).

    A good attribution makes the score fall fast: a *low* area under the curve is better.
    Shapes and options as in ``perturbation_curve``; returns (fractions steps+1, scores N×(steps+1)).
    """
    return perturbation_curve(model, inputs, attributions, target, "deletion", steps, baseline, **options)


def insertion_curve(model: nn.Module, inputs: torch.Tensor, attributions: torch.Tensor, target,
                    steps: int = 20, baseline="blur", **options) -> tuple[torch.Tensor, torch.Tensor]:
    """Insertion curve: start from ``baseline`` (default a blurred copy) and insert the most important pixels first.

    A good attribution makes the score rise fast: a *high* area under the curve is better.
    Shapes and options as in ``perturbation_curve``; returns (fractions steps+1, scores N×(steps+1)).
    """
    return perturbation_curve(model, inputs, attributions, target, "insertion", steps, baseline, **options)


def auc(scores: torch.Tensor, fractions: torch.Tensor | None = None) -> torch.Tensor:
    """Area under curves by the trapezoidal rule: scores (..., K) over x = ``fractions`` (K, default
    evenly spaced on [0, 1]) → (...). With x spanning [0, 1] this is the curve's mean height."""
    if not isinstance(scores, torch.Tensor):
        raise TypeError(f"scores: expected a torch.Tensor (..., K), got {type(scores).__name__}")
    if scores.ndim == 0 or scores.shape[-1] < 2:
        raise ValueError(f"scores: expected at least 2 points along the last dimension, got shape "
                         f"{tuple(scores.shape)}")
    if scores.dtype == torch.bool or scores.is_complex():
        raise TypeError(f"scores: expected real numbers, got {scores.dtype}")
    scores = check_finite(scores.detach(), "scores").double()
    if fractions is None:
        fractions = torch.linspace(0, 1, scores.shape[-1], dtype=torch.float64)
    if not isinstance(fractions, torch.Tensor):
        fractions = torch.as_tensor(fractions)
    fractions = check_finite(fractions.detach(), "fractions").double().to(scores.device)
    if fractions.shape != scores.shape[-1:]:
        raise ValueError(f"fractions: expected {scores.shape[-1]} values (one per point), got shape "
                         f"{tuple(fractions.shape)}")
    if (fractions.diff() < 0).any():
        raise ValueError("fractions: expected non-decreasing values")
    return torch.trapezoid(scores, fractions, dim=-1).float()
