"""Maximally activating examples (lecture 02): one score per channel and image, top-K over a dataset.

* ``pool_spatial(acts, reduce)`` – a conv map N×C×H×W → one score per channel N×C (global max or mean).
* ``argmax_locations(acts)`` – where each channel's maximum is, N×C×2.
* ``StreamingTopK`` – the K best (or worst) scores per column over a stream of batches, memory bounded.
* ``top_k_examples(model, layers, images, k)`` – top-K and bottom-K dataset examples of every channel
  of one or more layers in one batched pass → ``ProbeResult`` (``TopK`` for each end).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..hooks import forward_to, preserved_state
from ..progress import progress as _progress
from ..validation import (check_bool, check_finite, check_model_inputs, check_tensor, one_of, positive_int,
                          resolve_layer)

REDUCTIONS = ("max", "mean")


def pool_spatial(acts: torch.Tensor, reduce: str = "max") -> torch.Tensor:
    """One score per channel: N×C×H×W → N×C by global ``"max"`` or ``"mean"`` pooling; N×D is returned as is."""
    one_of(reduce, "reduce", REDUCTIONS)
    acts = check_tensor(acts, "acts", ("N×C×H×W (conv)", "N×D (dense)"), allow_empty=True)
    if acts.ndim == 2:
        return acts
    return acts.amax(dim=(2, 3)) if reduce == "max" else acts.mean(dim=(2, 3))


def argmax_locations(acts: torch.Tensor) -> torch.Tensor:
    """(row, col) of each channel's maximum: N×C×H×W → N×C×2 (first maximum in row-major order on ties)."""
    acts = check_tensor(acts, "acts", "N×C×H×W")
    flat = acts.flatten(2).argmax(dim=2)
    return torch.stack([flat // acts.shape[3], flat % acts.shape[3]], dim=2)


class StreamingTopK:
    """The K largest (or smallest) scores per column seen so far, over a stream of batches.

    ``update(scores)`` takes a B×C batch (rows are consecutive dataset items); only K candidates per column
    are kept, so memory does not grow with the dataset. Ties go to the earlier item, so the result does not
    depend on how the stream was cut into batches. ``extra`` (B×C×…) rides along with each score (e.g. the
    location of a maximum). After the stream: ``values`` C×K, ``indices`` C×K (dataset positions, best
    first), ``extra`` C×K×… or None.
    """

    def __init__(self, k: int, largest: bool = True) -> None:
        self.k = positive_int(k, "k")
        self.largest = check_bool(largest, "largest")
        self.seen = 0
        self.values: torch.Tensor | None = None
        self.indices: torch.Tensor | None = None
        self.extra: torch.Tensor | None = None

    def update(self, scores: torch.Tensor, extra: torch.Tensor | None = None) -> None:
        scores = check_tensor(scores.detach() if isinstance(scores, torch.Tensor) else scores, "scores", "B×C",
                              allow_empty=True)
        if self.values is not None and scores.shape[1] != len(self.values):
            raise ValueError(f"scores: expected {len(self.values)} columns as in the earlier batches, "
                             f"got shape {tuple(scores.shape)}")
        if extra is not None and (not isinstance(extra, torch.Tensor) or extra.shape[:2] != scores.shape
                                  or (self.values is not None and self.extra is None)):
            raise ValueError(f"extra: expected a tensor B×C×… with B×C = {tuple(scores.shape)} (or None in every "
                             f"batch), got {getattr(extra, 'shape', type(extra).__name__)}")
        idx = torch.arange(self.seen, self.seen + len(scores)).unsqueeze(0).expand(scores.shape[1], -1)
        values, indices = scores.t(), idx
        ex = None if extra is None else extra.detach().transpose(0, 1)
        if self.values is not None:
            # put candidates back in dataset order, so the stable sort below breaks ties by position
            values = torch.cat([self.values, values], dim=1)
            indices = torch.cat([self.indices, indices], dim=1)
            if ex is not None:
                ex = torch.cat([self.extra, ex], dim=1)
            by_position = indices.argsort(dim=1)
            values, indices = values.gather(1, by_position), indices.gather(1, by_position)
            if ex is not None:
                ex = ex.gather(1, _expand_like(by_position, ex))
        order = values.sort(dim=1, descending=self.largest, stable=True).indices[:, :self.k]
        self.values, self.indices = values.gather(1, order), indices.gather(1, order)
        self.extra = None if ex is None else ex.gather(1, _expand_like(order, ex))
        self.seen += len(scores)


def _expand_like(index: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return index.view(*index.shape, *([1] * (target.ndim - 2))).expand(*index.shape, *target.shape[2:])


@dataclass
class TopK:
    """K examples per channel: ``values`` C×K scores, ``indices`` C×K dataset positions (best first),
    ``locations`` C×K×2 (row, col) of the channel's maximum in each example, or None for dense layers."""
    values: torch.Tensor
    indices: torch.Tensor
    locations: torch.Tensor | None


@dataclass
class ProbeResult:
    """What ``top_k_examples`` found for one layer.

    ``top`` / ``bottom``: the K examples with the largest / smallest score of every channel (``TopK``);
    ``shape``: one example's activation shape (C×H×W or D); ``scores``: all N×C scores when requested.
    """
    layer: str
    reduce: str
    k: int
    n_images: int
    shape: tuple[int, ...]
    top: TopK
    bottom: TopK
    scores: torch.Tensor | None = None


def top_k_examples(model: nn.Module, layers: str | nn.Module | Sequence[str | nn.Module], images: torch.Tensor,
                   k: int = 9, reduce: str = "max", batch_size: int = 500, keep_scores: bool = False,
                   progress: bool = True) -> ProbeResult | dict[str, ProbeResult]:
    """Top-K and bottom-K examples of every channel of ``layers`` over ``images``, in one streaming pass.

    ``layers``: a layer name or module, or a list of them. Each batch of ``images`` (N×C×H×W) goes through
    ``model`` once; a conv channel's map is reduced to one score per image by global ``reduce`` pooling
    (``"max"`` or ``"mean"``, see ``pool_spatial``; dense outputs N×D are used as they are), and only the
    K best and K worst candidates per channel are kept. The forward pass stops after the deepest requested
    layer. ``keep_scores`` also keeps all N×C scores (small: no spatial maps). The selection itself does
    not depend on ``batch_size`` (ties go to the earlier image); only the model's batched arithmetic can
    change scores in the last float digits. Returns a ``ProbeResult`` (a dict of them, by layer name, for a
    list of layers). The model is left as it was (eval mode inside, no hooks left).
    """
    single = isinstance(layers, (str, nn.Module))
    given = [layers] if single else list(layers) if isinstance(layers, (list, tuple)) else None
    if given is None:
        raise TypeError(f"layers: expected a layer name, a module or a list of them, got {type(layers).__name__}")
    if not given:
        raise ValueError("layers: expected at least one layer name")
    names = [resolve_layer(model, layer, "layers")[0] for layer in given]
    images = check_model_inputs(images, model, "images")
    k = positive_int(k, "k")
    if k > len(images):
        raise ValueError(f"k: expected at most the number of images ({len(images)}), got {k}")
    one_of(reduce, "reduce", REDUCTIONS)
    batch_size = positive_int(batch_size, "batch_size")
    tops = {n: StreamingTopK(k, largest=True) for n in names}
    bottoms = {n: StreamingTopK(k, largest=False) for n in names}
    scores: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    shapes: dict[str, tuple[int, ...]] = {}
    with preserved_state(model), torch.no_grad():
        starts = range(0, len(images), batch_size)
        for start in _progress(starts, enabled=progress, desc="probing", total=len(starts)):
            acts = forward_to(model, images[start:start + batch_size], names)   # stops after the deepest layer
            for n in names:
                # a model with NaN weights would otherwise rank NaN scores as the "top" examples
                a = check_finite(acts[n].float().cpu(), f"model (outputs of layer {n!r})")
                shapes[n] = tuple(a.shape[1:])
                s = pool_spatial(a, reduce)
                where = argmax_locations(a) if a.ndim == 4 else None
                tops[n].update(s, where)
                bottoms[n].update(s, where)
                if keep_scores:
                    scores[n].append(s)
    results = {n: ProbeResult(n, reduce, k, len(images), shapes[n],
                              TopK(tops[n].values, tops[n].indices, tops[n].extra),
                              TopK(bottoms[n].values, bottoms[n].indices, bottoms[n].extra),
                              torch.cat(scores[n]) if keep_scores else None) for n in names}
    return results[names[0]] if single else results
