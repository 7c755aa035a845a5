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
from ..validation import check_bool, check_images, one_of, positive_float, positive_int
from ._common import check_call, gradients_and_scores, input_gradients


def saliency(model: nn.Module, inputs: torch.Tensor, target, abs: bool = True,
             batch_size: int = 64, show_progress: bool = False) -> torch.Tensor:
    """Gradient of the target score with respect to each input pixel: N×C×H×W → N×C×H×W.

    With ``abs=True`` (default) the magnitude |∂S_c/∂x| of Simonyan et al.; with ``abs=False`` the signed
    gradient. Use the logit (the default for an int/tensor ``target``), not the softmax probability
    (``probability(c)``): the probability can also rise by lowering the other classes' scores.
    For the paper's single map per image take ``reduce_channels(result, "max")``.
    """
    check_bool(abs, "abs")
    grads, _ = input_gradients(model, inputs, target, batch_size=batch_size, show_progress=show_progress)
    return grads.abs() if abs else grads


def input_x_gradient(model: nn.Module, inputs: torch.Tensor, target, batch_size: int = 64,
                     show_progress: bool = False) -> torch.Tensor:
    """Input × Gradient, x ⊙ ∂S_c/∂x: N×C×H×W → N×C×H×W (signed).

    The first-order Taylor term of S_c(x) − S_c(0): exact for a linear model without bias, where its sum
    over pixels equals the score. A pixel whose (normalized) value is 0 always gets 0.
    """
    x, _ = check_call(model, inputs, target)
    grads, _ = input_gradients(model, x, target, batch_size=batch_size, show_progress=show_progress)
    return x * grads


def noise_scale(inputs: torch.Tensor, noise_level: float) -> torch.Tensor:
    """σ for each input: ``noise_level`` × (max − min of that input), shape N×1×1×1."""
    x = check_images(inputs, "inputs")
    noise_level = positive_float(noise_level, "noise_level", allow_zero=True)
    flat = (inputs if inputs.dtype == torch.float64 else x).detach().flatten(1)
    return (noise_level * (flat.amax(1) - flat.amin(1))).view(-1, 1, 1, 1)


def smoothgrad(model: nn.Module, inputs: torch.Tensor, target, noise_level: float = 0.15,
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
    x0, target = check_call(model, inputs, target)
    batch_size = positive_int(batch_size, "batch_size")
    n_samples = positive_int(n_samples, "n_samples")
    check_bool(abs, "abs")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    gen = generator if generator is not None else torch.Generator().manual_seed(positive_int(seed, "seed", 0))
    n = len(x0)
    sigma = noise_scale(x0, noise_level)
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
            # copy k of the batch is sample samples[k] of image images[k]
            flat = torch.arange(start, min(start + batch_size, n * n_samples))
            images, samples = flat // n_samples, flat % n_samples
            eps = torch.stack([noise_for(int(i))[int(s)] for i, s in zip(images, samples)])
            g, _ = gradients_and_scores(model, x0[images] + sigma[images] * eps, target[images])
            total.index_add_(0, images.to(x0.device), g)
    mean = total / n_samples
    return mean.abs() if abs else mean


def reduce_channels(attribution: torch.Tensor, how: str = "max") -> torch.Tensor:
    """One map per image, N×C×H×W → N×1×H×W: ``"max"`` of |a| over channels (Simonyan et al.),
    ``"sum"`` (keeps signs; the total attribution of the pixel) or ``"mean_abs"``."""
    checked = check_images(attribution, "attribution")
    one_of(how, "how", ("max", "sum", "mean_abs"))
    a = attribution if attribution.dtype == torch.float64 else checked
    if how == "max":
        return a.abs().amax(1, keepdim=True)
    if how == "sum":
        return a.sum(1, keepdim=True)
    return a.abs().mean(1, keepdim=True)
