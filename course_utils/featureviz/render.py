"""The loop: ``render`` climbs an objective by gradient ascent on an image's parameters; ``evaluate`` scores
given images by the same objective (e.g. a dataset, to compare with its maximally activating examples).

One step of ``render``: make the images (the parameterization), apply the random transforms, normalize
them for the model, run the model with hooks recording the layers the objective reads, take one Adam
step up the objective. The forward pass stops at the deepest layer needed unless the logits are.
"""
from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Callable, Iterable, Sequence

import torch
from torch import nn

from .. import models
from ..hooks import capture_activations, forward_to, preserved_state
from ..progress import progress
from ..validation import check_images, check_module, input_channels, model_device, positive_float, positive_int
from .objectives import INPUT, LOGITS, Objective
from .param import FourierImage, ImageParam, check_pixels
from .transforms import Transform, compose

__all__ = ["Adam", "input_normalizer", "render", "evaluate"]


def input_normalizer(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The map from images in [0, 1] to what ``model`` expects (``course_utils.models.input_normalizer``:
    the course's models and torchvision's get their normalization, any other model the identity)."""
    return models.input_normalizer(check_module(model))


def _forward(model: nn.Module, objective: Objective, images: torch.Tensor, transform: Transform | None,
             normalize: Callable, generator: torch.Generator | None) -> torch.Tensor:
    """One evaluation of ``objective`` on ``images`` (N×C×H×W in [0, 1]) → Tensor[N]."""
    layers = [layer for layer in objective.layers if not (isinstance(layer, str) and layer in (INPUT, LOGITS))]
    x = transform(images, generator) if transform is not None else images
    if LOGITS in objective.layers:                      # the whole forward pass
        with capture_activations(model, layers, detach=False) if layers else nullcontext({}) as acts:
            acts[LOGITS] = model(normalize(x))
    elif layers:                                        # only as far as the deepest layer it reads
        acts = forward_to(model, normalize(x), layers, detach=False)
    else:                                               # penalties on the image alone
        acts = {}
    acts[INPUT] = images
    values = objective(acts)
    if not isinstance(values, torch.Tensor) or values.shape != (len(images),):
        raise ValueError(f"objective: expected one value per image (shape ({len(images)},)), got "
                         f"{tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__}")
    bad = (~torch.isfinite(values)).nonzero().flatten().tolist()
    if bad:
        raise ValueError(f"objective: {objective.name} is NaN or inf for image(s) {bad[:5]} although the images "
                         "are finite: the model's output is not (check its weights)")
    return values


class Adam:
    """Adam (Kingma & Ba 2015) with torch.optim.Adam's defaults and arithmetic (betas 0.9, 0.999, eps 1e-8,
    no weight decay), written out: ``torch.optim`` imports ``torch._dynamo`` on first use, seconds of CPU
    in a fresh kernel — more than a whole small render. Same interface: ``zero_grad()``, ``step()``.

    For each parameter p with gradient g, at step t: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
    p ← p − lr · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + eps).
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params = list(params)
        self.lr, (self.beta1, self.beta2), self.eps = positive_float(lr, "lr"), betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        correction1, correction2 = 1 - self.beta1 ** self.t, math.sqrt(1 - self.beta2 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            m.lerp_(p.grad, 1 - self.beta1)                                   # as torch: m + (1−β₁)(g − m)
            v.mul_(self.beta2).addcmul_(p.grad, p.grad, value=1 - self.beta2)
            p.addcdiv_(m, (v.sqrt() / correction2).add_(self.eps), value=-self.lr / correction1)


def _check_objective(objective) -> Objective:
    if not isinstance(objective, Objective):
        raise TypeError(f"objective: expected an Objective (e.g. channel('relu4', 3)), got {type(objective).__name__}")
    return objective


def _check_normalize(normalize, model: nn.Module) -> Callable:
    if normalize is None:
        return input_normalizer(model)
    if not callable(normalize):
        raise TypeError(f"normalize: expected a function images → model inputs, got {type(normalize).__name__}")
    return normalize


def render(model: nn.Module, objective: Objective, image: ImageParam | None = None, *, size: int = 128,
           batch: int = 1, steps: int = 128, lr: float = 0.05, transforms: Sequence[Transform] = (),
           normalize: Callable | None = None, seed: int = 0, history: list | None = None,
           optimizer: Adam | None = None, show_progress: bool = True) -> torch.Tensor:
    """Maximize ``objective`` by gradient ascent on the parameters of ``image``; return images N×C×H×W in [0, 1].

    ``image``: a parameterization (``FourierImage``/``PixelImage``); default a ``FourierImage`` of ``batch``
    images ``size``×``size`` with the model's number of input channels. Every step: make the images, apply
    ``transforms`` (random, drawn from a generator seeded by ``seed``), normalize for the model, run it, and
    take one Adam step (learning rate ``lr``) up the sum over the batch of the objective. ``history``, if a
    list, receives each step's per-image objective values (Tensor[N]). ``optimizer``: an ``Adam`` over
    ``image``'s parameters, to continue an earlier render of the same ``image`` for ``steps`` more steps
    (e.g. an explorer that caches a run; its learning rate is then the optimizer's); default a new one. The
    model is left exactly as it was.
    """
    model, objective = check_module(model), _check_objective(objective)
    steps, lr = positive_int(steps, "steps"), positive_float(lr, "lr")
    size, batch, seed = positive_int(size, "size"), positive_int(batch, "batch"), positive_int(seed, "seed", minimum=0)
    if history is not None and not isinstance(history, list):
        raise TypeError(f"history: expected a list (to append each step's values to) or None, got {type(history).__name__}")
    transform, normalize = compose(transforms), _check_normalize(normalize, model)
    generator = torch.Generator().manual_seed(seed)
    if image is None:
        image = FourierImage(batch, input_channels(model) or 3, size, generator=generator).to(model_device(model))
    if not isinstance(image, ImageParam):
        raise TypeError(f"image: expected a FourierImage or PixelImage, got {type(image).__name__}")
    check_images(image().detach(), "image", model=model)        # the model's channel count and device
    if optimizer is None:
        optimizer = Adam(image.parameters(), lr=lr)
    elif not isinstance(optimizer, Adam):
        raise TypeError(f"optimizer: expected a featureviz Adam (to continue a render) or None, "
                        f"got {type(optimizer).__name__}")
    elif [id(p) for p in optimizer.params] != [id(p) for p in image.parameters()]:
        raise ValueError("optimizer: it optimizes other parameters than those of `image`; pass the image "
                         "parameterization it was made for")

    with preserved_state(model):
        bar = progress(range(steps), enabled=show_progress, desc=objective.name[:40])
        for step in bar:
            optimizer.zero_grad()
            values = _forward(model, objective, image(), transform, normalize, generator)
            (-values.sum()).backward()        # the optimizer minimizes, we want to go up
            optimizer.step()
            if history is not None:
                history.append(values.detach())
            if hasattr(bar, "set_postfix") and step % 16 == 0:
                bar.set_postfix(objective=f"{values.mean().item():.3g}")
    return image().detach()


def evaluate(model: nn.Module, objective: Objective, images: torch.Tensor, *, batch_size: int = 256,
             normalize: Callable | None = None) -> torch.Tensor:
    """The objective's value on each of ``images`` (N×C×H×W in [0, 1], no transforms) → Tensor[N].

    Use it to score rendered images, or a dataset to find its maximally activating examples by the very
    same objective. Per-image index lists (``channel(layer, [..])``) need ``batch_size`` ≥ N.
    """
    model, objective = check_module(model), _check_objective(objective)
    images = check_pixels(images, "images", model=model)
    batch_size, normalize = positive_int(batch_size, "batch_size"), _check_normalize(normalize, model)
    out = []
    with preserved_state(model), torch.no_grad():
        for start in range(0, len(images), batch_size):
            out.append(_forward(model, objective, images[start:start + batch_size], None, normalize, None))
    return torch.cat(out)
