"""Coalitions of segments: an image with some segments kept and the others filled, and the game it makes.

A coalition is a bool vector of length K (True = segment kept). The image it stands for keeps the pixels
of the kept segments and takes the others from a *fill* image — what "absent" means, and the choice that
shapes every answer (a fill the model never saw in training is off the data manifold):

* ``"grey"``  – mid-grey in the model's input space (``models.input_range``);
* ``"black"`` – black pixels (the background of Fashion-MNIST);
* ``"mean"``  – the image's own mean colour;
* ``"blur"``  – the image blurred (σ = ``blur_sigma``, default a tenth of the image side): keeps colour and
  layout, removes detail;
* a number, or a tensor C (one value per channel), C×H×W or 1×C×H×W (e.g. a dataset-mean image).

``SegmentGame`` is the value function V(S) = target score of that image, in the protocol of
``course_utils.shapley`` (``game(coalitions K×K_players bool) -> K float64 values``, ``game.n_players``),
so ``shapley.exact_shapley``, ``lime`` and ``kernel_shap`` all run on it.
"""
from __future__ import annotations

import numbers

import numpy as np
import torch
from torch import nn

from ..attribution import auto_batch_size, batches, make_baseline, occluder_fill, resolve_target
from ..hooks import preserved_state
from ..models import input_range
from ..progress import progress
from ..shapley.games import check_coalitions
from ..validation import check_bool, check_finite, check_model_inputs, check_module, positive_float
from .segments import check_segments

__all__ = ["FILLS", "fill_image", "apply_coalitions", "SegmentGame"]

FILLS = ("grey", "black", "mean", "blur")


def _one_image(model: nn.Module, inputs) -> torch.Tensor:
    x = check_model_inputs(inputs, check_module(model)).detach()
    if len(x) != 1:
        raise ValueError(f"inputs: expected one image 1×C×H×W (an explanation is per image), got a batch of "
                         f"{len(x)}; explain inputs[i:i + 1] one at a time")
    return x


def fill_image(model: nn.Module, inputs: torch.Tensor, fill="grey", blur_sigma: float | None = None) -> torch.Tensor:
    """The image that absent segments are copied from: 1×C×H×W, in ``model``'s input space (see module doc)."""
    x = _one_image(model, inputs)
    c, h, w = x.shape[1:]
    if isinstance(fill, str):
        if fill not in FILLS:
            raise ValueError(f"fill: expected one of {', '.join(map(repr, FILLS))}, a number or a tensor, "
                             f"got {fill!r}")
        if blur_sigma is not None:
            positive_float(blur_sigma, "blur_sigma", allow_zero=True)
        if fill == "grey":
            lo, hi = input_range(model, c)
            return ((lo + hi) / 2).to(x).view(1, c, 1, 1).expand_as(x).clone()
        if fill == "mean":
            return occluder_fill(x, "mean").clone()
        return make_baseline(fill, x, model, blur_sigma=blur_sigma)
    if isinstance(fill, bool) or not isinstance(fill, (numbers.Real, torch.Tensor)):
        raise TypeError(f"fill: expected one of {FILLS}, a number or a tensor, got {type(fill).__name__}")
    if isinstance(fill, torch.Tensor):
        if fill.dtype == torch.bool:
            raise TypeError("fill: expected a float tensor of pixel values, got a bool tensor")
        if fill.ndim == 4 and fill.shape[0] == 1:
            fill = fill[0]
        if fill.ndim not in (0, 1, 3) or (fill.ndim == 1 and len(fill) != c) or \
                (fill.ndim == 3 and tuple(fill.shape) != (c, h, w)):
            raise ValueError(f"fill: a tensor fill must have shape ({c},), ({c}, {h}, {w}) or (1, {c}, {h}, {w}) "
                             f"to match inputs {tuple(x.shape)}, got {tuple(fill.shape)}")
        check_finite(fill.detach().float(), "fill")
        fill = fill.detach().to(x)
    elif not np.isfinite(float(fill)):
        raise ValueError(f"fill: expected a finite number, got {fill}")
    return occluder_fill(x, fill).to(x).clone()


def _masks(segments: torch.Tensor, coalitions: torch.Tensor) -> torch.Tensor:
    """Pixels kept by each coalition: K×1×H×W bool (coalitions K×n indexed by each pixel's segment)."""
    return coalitions[:, segments.to(coalitions.device)][:, None]


def apply_coalitions(inputs: torch.Tensor, segments: torch.Tensor, coalitions, fill: torch.Tensor) -> torch.Tensor:
    """The images of ``coalitions`` (K×n bool): ``inputs`` (1×C×H×W) where the segment is kept, ``fill``
    (1×C×H×W, e.g. from ``fill_image``) elsewhere → K×C×H×W. ``segments``: H×W labels 0..n−1."""
    from ..validation import check_images
    x = check_images(inputs, "inputs")
    if len(x) != 1:
        raise ValueError(f"inputs: expected one image 1×C×H×W, got a batch of {len(x)}")
    f = check_images(fill, "fill")
    if f.shape != x.shape:
        raise ValueError(f"fill: expected the shape of inputs {tuple(x.shape)}, got {tuple(f.shape)}")
    s, n = check_segments(segments, *x.shape[-2:])
    c = check_coalitions(coalitions, n)
    return torch.where(_masks(s.to(x.device), c.to(x.device)), x, f.to(x))


class SegmentGame:
    """The game of an image's segments: V(S) = the target score of the image with only S kept.

    ``inputs``: one image 1×C×H×W; ``target``: as in ``course_utils.attribution`` (an int class → its
    logit, ``probability(c)``, a callable); ``segments``: H×W labels 0..n−1 (``n_players`` = n); ``fill``:
    see the module doc. Coalitions are run ``batch_size`` images per forward pass (default: by image
    size), in eval mode with frozen parameters (the model is restored afterwards), without gradients.

    With ``cache=True`` every coalition's value is kept, so a coalition asked for twice (by the exact
    enumeration, then by a sampler) costs one forward pass. ``n_forward`` counts the images actually run.

        game = SegmentGame(model, x, 3, square_patches(28, 28, 7))    # 16 players
        game(torch.ones(1, 16, dtype=torch.bool))                     # V(N): the logit of class 3 on x
    """

    def __init__(self, model: nn.Module, inputs: torch.Tensor, target, segments, fill="grey",
                 blur_sigma: float | None = None, batch_size: int | None = None, cache: bool = True,
                 show_progress: bool = False) -> None:
        self.model = model
        self.inputs = _one_image(model, inputs)
        self.target = resolve_target(target, 1)
        self.segments, self.n_players = check_segments(segments, *self.inputs.shape[-2:])
        self.fill = fill_image(model, self.inputs, fill, blur_sigma)
        self.fill_name = fill if isinstance(fill, str) else "custom"
        self.batch_size = auto_batch_size(batch_size, self.inputs.shape[1:])
        self.cache = check_bool(cache, "cache")
        self.show_progress = check_bool(show_progress, "show_progress")
        self._values: dict[bytes, float] = {}
        self.n_forward = 0
        self._device_segments = self.segments.to(self.inputs.device)
        self.full_value, self.empty_value = (float(v) for v in self(torch.eye(2, dtype=torch.bool)[:, :1]
                                                                      .expand(2, self.n_players)))

    def images(self, coalitions) -> torch.Tensor:
        """The K×C×H×W images of ``coalitions`` (K×n bool) — what the model is shown."""
        c = check_coalitions(coalitions, self.n_players).to(self.inputs.device)
        return torch.where(_masks(self._device_segments, c), self.inputs, self.fill)

    @torch.no_grad()
    def _run(self, coalitions: torch.Tensor) -> torch.Tensor:
        """Forward passes for K coalitions, ``batch_size`` images at a time → K float64 scores."""
        out = []
        with preserved_state(self.model):
            for sl in progress(list(batches(len(coalitions), self.batch_size)), enabled=self.show_progress,
                               desc="coalitions"):
                batch = self.images(coalitions[sl])
                out.append(self.target[torch.zeros(len(batch), dtype=torch.long)].scores(self.model, batch)
                           .detach().to("cpu", torch.float64))
        self.n_forward += len(coalitions)
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)

    def __call__(self, coalitions) -> torch.Tensor:
        """K×n bool coalitions (or one of length n) → K values (float64)."""
        c = check_coalitions(coalitions, self.n_players).cpu()
        if not self.cache:
            return self._run(c)
        keys = [bytes(row) for row in np.packbits(c.numpy(), axis=1)]
        todo = {}
        for i, key in enumerate(keys):
            if key not in self._values and key not in todo:
                todo[key] = i
        if todo:
            fresh = self._run(c[list(todo.values())])
            self._values.update(zip(todo, fresh.tolist()))
        return torch.tensor([self._values[key] for key in keys], dtype=torch.float64)

    def __repr__(self) -> str:
        return (f"SegmentGame({self.n_players} segments, fill={self.fill_name!r}, {self.n_forward} images run"
                f"{f', {len(self._values)} values cached' if self.cache else ''})")
