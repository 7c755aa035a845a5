"""Gradient attributions (lecture 04): saliency, Input×Gradient, SmoothGrad (and SmoothGrad², VarGrad).

All share the course's call shape ``method(model, inputs, target, **options) -> Tensor``: ``inputs`` is
N×C×H×W, ``target`` an int, a length-N tensor of class indices or a callable selecting a unit
(``unit_target``); the result is N×C×H×W like ``inputs``. The gradients come from ``input_gradients``
(model in eval mode with frozen parameters, both restored afterwards, work done in batches).

* ``saliency``         – |∂S_c/∂x| (Simonyan et al. 2013), or the signed gradient with ``abs=False``.
* ``input_x_gradient`` – x ⊙ ∂S_c/∂x, a first-order estimate of each pixel's contribution.
* ``smoothgrad``       – the gradient averaged over noisy copies x + ε, ε ~ N(0, σ²) (Smilkov et al. 2017);
                         ``statistic="mean_square"`` gives SmoothGrad², ``"variance"`` VarGrad.
* ``noisy_gradients``  – the noisy gradients themselves, N×S×C×H×W; ``reduce_samples`` reduces them.
* ``reduce_channels``  – the display step N×C×H×W → N×1×H×W (Simonyan: max over colour channels).
"""
from __future__ import annotations

from typing import Iterator

import torch
from torch import nn

from ..hooks import preserved_state
from ..progress import progress
from ..validation import check_bool, check_images, check_tensor, one_of, positive_float, positive_int
from ._common import batches, check_call, gradients_and_scores, input_gradients


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


SMOOTHGRAD_STATISTICS = ("mean", "mean_square", "variance")


def _check_generator(generator, seed) -> torch.Generator:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    return generator if generator is not None else torch.Generator().manual_seed(positive_int(seed, "seed", 0))


def _smoothgrad_arguments(model, inputs, target, batch_size, n_samples, generator, seed):
    """The checks shared by ``smoothgrad`` and ``noisy_gradients`` → (x, Target, batch_size, n_samples, generator)."""
    x0, target = check_call(model, inputs, target)
    return (x0, target, positive_int(batch_size, "batch_size"), positive_int(n_samples, "n_samples"),
            _check_generator(generator, seed))


def _noisy_gradients_by_image(model: nn.Module, x0: torch.Tensor, target, noise_level: float, n_samples: int,
                              batch_size: int, gen: torch.Generator,
                              show_progress: bool) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(i, gradients of image i at its n_samples noisy copies)`` (n_samples×C×H×W), image by image.

    The one place where the N·n_samples noisy copies are laid out: copy k is sample k % n_samples of image
    k // n_samples. Copies of several images share a batch of ``batch_size``; each image's noise is drawn
    when its first copy is reached (so in image order, whatever ``batch_size`` is).
    """
    n = len(x0)
    sigma = noise_scale(x0, noise_level)
    pending: dict[int, list[torch.Tensor]] = {}      # image → its noisy gradients so far (at most 2 images)
    noise: dict[int, torch.Tensor] = {}              # image → its n_samples×C×H×W standard normal noise
    with preserved_state(model):
        for sl in progress(list(batches(n * n_samples, batch_size)), enabled=show_progress, desc="smoothgrad"):
            flat = torch.arange(sl.start, sl.stop)
            images, samples = flat // n_samples, flat % n_samples
            for i in images.unique().tolist():
                if i not in noise:
                    noise[i] = torch.randn((n_samples, *x0.shape[1:]), generator=gen, dtype=x0.dtype).to(x0.device)
            eps = torch.stack([noise[i][s] for i, s in zip(images.tolist(), samples.tolist())])
            g, _ = gradients_and_scores(model, x0[images] + sigma[images] * eps, target[images])
            for i in images.unique().tolist():
                pending.setdefault(i, []).append(g[images == i])
                if samples[images == i].max().item() == n_samples - 1:      # image i is complete
                    del noise[i]
                    yield i, torch.cat(pending.pop(i))


def noisy_gradients(model: nn.Module, inputs: torch.Tensor, target, noise_level: float = 0.15,
                    n_samples: int = 25, batch_size: int = 64, generator: torch.Generator | None = None,
                    seed: int = 0, show_progress: bool = False) -> torch.Tensor:
    """The gradients SmoothGrad averages, kept: N×C×H×W → N×n_samples×C×H×W.

    Entry ``[i, s]`` is ∂S_c/∂x at x_i + σ_i ε_s, ε_s ~ N(0, 1), σ_i = ``noise_level`` × (max − min of x_i),
    with the same noise (for the same ``generator``/``seed``) as ``smoothgrad``, so
    ``smoothgrad(...) == noisy_gradients(...).mean(1)``. Use it to compute the samples once and try several
    reductions (mean, mean of squares, variance) on them.
    """
    x0, target, batch_size, n_samples, gen = _smoothgrad_arguments(model, inputs, target, batch_size, n_samples,
                                                                   generator, seed)
    out = x0.new_empty((len(x0), n_samples, *x0.shape[1:]))
    for i, grads in _noisy_gradients_by_image(model, x0, target, noise_level, n_samples, batch_size, gen,
                                              show_progress):
        out[i] = grads
    return out


def _reduce(grads: torch.Tensor, statistic: str, dim: int) -> torch.Tensor:
    if statistic == "mean":
        return grads.mean(dim)
    if statistic == "mean_square":
        return grads.square().mean(dim)
    return grads.var(dim, unbiased=False)


def reduce_samples(noisy: torch.Tensor, statistic: str = "mean") -> torch.Tensor:
    """Reduce noisy gradients N×S×C×H×W (from ``noisy_gradients``) over the S samples → N×C×H×W.

    ``"mean"`` is SmoothGrad (Smilkov et al. 2017), ``"mean_square"`` SmoothGrad² (the mean of the squared
    gradients, Hooker et al. 2019), ``"variance"`` VarGrad (Adebayo et al. 2018; the population variance,
    dividing by S). The three are tied by mean_square = mean² + variance.
    """
    checked = check_tensor(noisy, "noisy", "N×S×C×H×W")
    one_of(statistic, "statistic", SMOOTHGRAD_STATISTICS)
    return _reduce(noisy if noisy.dtype == torch.float64 else checked, statistic, 1)


def smoothgrad(model: nn.Module, inputs: torch.Tensor, target, noise_level: float = 0.15,
               n_samples: int = 25, abs: bool = False, batch_size: int = 64,
               generator: torch.Generator | None = None, seed: int = 0, statistic: str = "mean",
               show_progress: bool = False) -> torch.Tensor:
    """SmoothGrad and its two variants over ``n_samples`` noisy copies of each input, N×C×H×W → N×C×H×W.

    With g_s = ∂S_c/∂x at x + ε_s, ε_s ~ N(0, σ²), σ = ``noise_level`` × (max(x) − min(x)) per input
    (Smilkov et al. suggest 10–20 %), ``statistic`` chooses the reduction over the samples:

    * ``"mean"``        – SmoothGrad, 1/n Σ_s g_s (Smilkov et al. 2017); signed.
    * ``"mean_square"`` – SmoothGrad², 1/n Σ_s g_s² (Hooker et al. 2019, "SG-SQ"); ≥ 0.
    * ``"variance"``    – VarGrad, 1/n Σ_s (g_s − mean)² (Adebayo et al. 2018); ≥ 0.

    With ``abs=True`` the magnitude of the result is returned (changes only the mean). The noisy copies
    of all inputs are evaluated together in batches of ``batch_size``; the noise comes from ``generator``
    (default: a new one seeded with ``seed``) and is drawn image by image, so the result does not depend on
    ``batch_size``. ``noisy_gradients`` returns the samples themselves.
    """
    x0, target, batch_size, n_samples, gen = _smoothgrad_arguments(model, inputs, target, batch_size, n_samples,
                                                                   generator, seed)
    check_bool(abs, "abs")
    one_of(statistic, "statistic", SMOOTHGRAD_STATISTICS)
    out = torch.empty_like(x0)
    for i, grads in _noisy_gradients_by_image(model, x0, target, noise_level, n_samples, batch_size, gen,
                                              show_progress):
        out[i] = _reduce(grads, statistic, 0)
    return out.abs() if abs else out


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
