"""Gradient attributions (lecture 04): saliency, Input×Gradient, SmoothGrad.

All share the course's call shape ``method(model, inputs, target, **options) -> Tensor``: ``inputs`` is
N×C×H×W, ``target`` an int, a length-N tensor of class indices or a callable selecting a unit
(``unit_target``); the result is N×C×H×W like ``inputs``. The gradients come from ``input_gradients``
(model in eval mode with frozen parameters, both restored afterwards, work done in batches).

* ``saliency``         – |∂S_c/∂x| (Simonyan et al. 2013), or the signed gradient with ``abs=False``.
* ``input_x_gradient`` – x ⊙ ∂S_c/∂x, a first-order estimate of each pixel's contribution.
* ``smoothgrad``       – the gradient averaged over noisy copies x + ε, ε ~ N(0, σ²) (Smilkov et al. 2017).
* ``reduce_channels``  – the display step N×C×H×W → N×1×H×W (Simonyan: max over colour channels).
"""
from __future__ import annotations

import torch
from torch import nn

from ..hooks import preserved_state
from ..progress import progress
from ._common import Target, check_batch_size, check_inputs, input_gradients, resolve_target, target_scores


def saliency(model: nn.Module, inputs: torch.Tensor, target: Target, abs: bool = True,
             batch_size: int = 64, show_progress: bool = False) -> torch.Tensor:
    """Gradient of the target score with respect to each input pixel: N×C×H×W → N×C×H×W.

    With ``abs=True`` (default) the magnitude |∂S_c/∂x| of Simonyan et al.; with ``abs=False`` the signed
    gradient. Use the logit (the default for an int/tensor ``target``), not the softmax probability:
    the probability can also rise by lowering the other classes' scores.
    For the paper's single map per image take ``reduce_channels(result, "max")``.
    """
    grads, _ = input_gradients(model, inputs, target, batch_size=batch_size, show_progress=show_progress)
    return grads.abs() if abs else grads


def input_x_gradient(model: nn.Module, inputs: torch.Tensor, target: Target, batch_size: int = 64,
                     show_progress: bool = False) -> torch.Tensor:
    """Input × Gradient, x ⊙ ∂S_c/∂x: N×C×H×W → N×C×H×W (signed).

    The first-order Taylor term of S_c(x) − S_c(0): exact for a linear model without bias, where its sum
    over pixels equals the score. A pixel whose (normalized) value is 0 always gets 0.
    """
    grads, _ = input_gradients(model, inputs, target, batch_size=batch_size, show_progress=show_progress)
    return inputs.detach() * grads


def noise_scale(inputs: torch.Tensor, noise_level: float) -> torch.Tensor:
    """σ for each input: ``noise_level`` × (max − min of that input), shape N×1×1×1."""
    flat = inputs.detach().flatten(1)
    return (noise_level * (flat.amax(1) - flat.amin(1))).view(-1, 1, 1, 1)


def smoothgrad(model: nn.Module, inputs: torch.Tensor, target: Target, noise_level: float = 0.15,
               n_samples: int = 25, abs: bool = False, batch_size: int = 64,
               generator: torch.Generator | None = None, seed: int = 0,
               show_progress: bool = False) -> torch.Tensor:
    """SmoothGrad: the gradient averaged over ``n_samples`` noisy copies of each input, N×C×H×W → N×C×H×W.

    M(x) = 1/n Σ_s ∂S_c/∂x evaluated at x + ε_s, ε_s ~ N(0, σ²) with σ = ``noise_level`` × (max(x) − min(x))
    per input (Smilkov et al. suggest 10–20 %). With ``abs=True`` the magnitude of that average is returned
    (like ``saliency``). The noisy copies of all inputs are evaluated together in batches of
    ``batch_size``; the noise comes from ``generator`` (default: a new one seeded with ``seed``) and is
    drawn image by image, so the result does not depend on ``batch_size``.
    """
    check_inputs(inputs)
    check_batch_size(batch_size)
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples: expected a positive int, got {n_samples!r}")
    if not isinstance(noise_level, (int, float)) or isinstance(noise_level, bool) or noise_level < 0:
        raise ValueError(f"noise_level: expected a number ≥ 0 (a fraction of the input range), got {noise_level!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    gen = generator if generator is not None else torch.Generator().manual_seed(seed)
    n = len(inputs)
    target = resolve_target(target, n)
    sigma = noise_scale(inputs, noise_level)
    x0 = inputs.detach()
    total = torch.zeros_like(x0)
    noise: dict[int, torch.Tensor] = {}   # image index → its n_samples × C×H×W noise, drawn in image order

    def noise_for(i: int) -> torch.Tensor:
        if i not in noise:
            noise.clear()   # images are visited in order: only the current one(s) are needed
            noise[i] = torch.randn((n_samples, *x0.shape[1:]), generator=gen, dtype=x0.dtype).to(x0.device)
        return noise[i]

    with preserved_state(model):
        starts = range(0, n * n_samples, batch_size)
        for start in progress(starts, enabled=show_progress, desc="smoothgrad"):
            flat = torch.arange(start, min(start + batch_size, n * n_samples))
            images, samples = flat // n_samples, flat % n_samples
            eps = torch.stack([noise_for(int(i))[int(s)] for i, s in zip(images, samples)])
            x = (x0[images] + sigma[images] * eps).requires_grad_(True)
            t = target if callable(target) else target[images]
            scores = target_scores(model, x, t)
            (g,) = torch.autograd.grad(scores.sum(), x)
            total.index_add_(0, images.to(x0.device), g)
    mean = total / n_samples
    return mean.abs() if abs else mean


def reduce_channels(attribution: torch.Tensor, how: str = "max") -> torch.Tensor:
    """One map per image, N×C×H×W → N×1×H×W: ``"max"`` of |a| over channels (Simonyan et al.),
    ``"sum"`` (keeps signs; the total attribution of the pixel) or ``"mean_abs"``."""
    check_inputs(attribution, "attribution")
    if how == "max":
        return attribution.abs().amax(1, keepdim=True)
    if how == "sum":
        return attribution.sum(1, keepdim=True)
    if how == "mean_abs":
        return attribution.abs().mean(1, keepdim=True)
    raise ValueError(f"how: expected 'max', 'sum' or 'mean_abs', got {how!r}")
