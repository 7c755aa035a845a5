"""Probing what single units respond to (lectures 01 and 02).

Lecture 01 — weights and activations:
* ``train_linear_classifier(images, labels)`` – softmax regression whose weight rows are class templates;
  ``class_templates(model, shape)`` reshapes them into images; ``accuracy(model, images, labels)``.
* ``normalize_filters(weights, mode)`` / ``show_filters(weights, mode)`` – conv kernels to displayable
  [0, 1] images under different normalization choices; ``show_feature_maps(activation)``.
* ``layer_receptive_field(model, layer, input_shape)`` – the receptive field of any named layer (from
  ``course_utils.hooks.receptive_fields``); ``gradient_support(model, layer, inputs, row, col)`` – the
  box of input pixels whose gradient is nonzero, to check it empirically.

Lecture 02 — maximally activating examples:
* ``reduce_channels(acts, reduce)`` – a conv map N×C×H×W → one score per channel N×C (global max/mean).
* ``StreamingTopK`` and ``top_k_examples(model, layers, images, k)`` – top-K and bottom-K dataset examples of
  every channel in one batched pass, keeping only K candidates per channel (memory bounded).
* ``receptive_field_box``, ``crop_patch``, ``receptive_field_patches`` – the input patch a unit sees,
  padded with a fill value where the receptive field leaves the image.
* ``confusion_matrix``, ``confused_pairs``, ``class_extremes`` – probing the classifier head.
* ``photo_crops(model)`` – the course photos plus random crops and flips, for probing EfficientNet-Lite0.
* ``show_examples``, ``show_patch_grid`` – figures for one channel's examples / Zeiler & Fergus grids.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.patches import Rectangle
from torch import nn

from .hooks import ReceptiveField, capture_activations, get_layer, preserved_state, receptive_fields
from .plotting import MAGNITUDE_CMAP, SIGNED_CMAP, clip_limit
from .progress import progress as _progress

REDUCTIONS = ("max", "mean")
FILTER_MODES = ("each", "all", "symmetric", "symmetric_all")


# ------------------------------------------------------------------------------------------- checks
def _check_images(images, name: str = "images") -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor N×C×H×W, got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"{name}: expected a 4-d tensor N×C×H×W, got shape {tuple(images.shape)}"
                         + (" (add a batch dimension with x[None])" if images.ndim == 3 else ""))
    if not images.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got {images.dtype}")
    return images


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def _check_reduce(reduce: str) -> str:
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce: expected 'max' or 'mean', got {reduce!r}")
    return reduce


# ------------------------------------------------------------------------- lecture 01: linear templates
def train_linear_classifier(images: torch.Tensor, labels: torch.Tensor, epochs: int = 3,
                            batch_size: int = 1000, lr: float = 0.01, weight_decay: float = 0.0,
                            seed: int = 0) -> nn.Sequential:
    """Softmax regression ``logits = W·flatten(x) + b`` trained with Adam on shuffled mini-batches.

    ``images`` N×C×H×W, ``labels`` N int64. Weights start at zero, so every weight row is a sum of
    (image × error) terms: a class template living in image space. Returns ``nn.Sequential(flatten, fc)``
    in eval mode, with ``fc`` an ``nn.Linear(C·H·W, n_classes)``; ``model(images)`` gives N×n_classes logits.
    """
    images = _check_images(images)
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or len(labels) != len(images) \
            or labels.is_floating_point():
        raise ValueError(f"labels: expected an int tensor of {len(images)} class indices, got "
                         f"{type(labels).__name__} {tuple(getattr(labels, 'shape', ()))}")
    epochs, batch_size = _check_positive_int(epochs, "epochs"), _check_positive_int(batch_size, "batch_size")
    n_classes = int(labels.max()) + 1
    flat = images.flatten(1)
    model = nn.Sequential()
    model.add_module("flatten", nn.Flatten())
    model.add_module("fc", nn.Linear(flat.shape[1], n_classes))
    nn.init.zeros_(model.fc.weight)
    nn.init.zeros_(model.fc.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(flat), generator=generator)
        for start in range(0, len(flat), batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(model.fc(flat[idx]), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def class_templates(model: nn.Module, shape: Sequence[int] = (28, 28)) -> torch.Tensor:
    """The weight rows of ``model.fc`` (or of an ``nn.Linear``) reshaped to images: K×H×W (or K×C×H×W)."""
    fc = model if isinstance(model, nn.Linear) else getattr(model, "fc", None)
    if not isinstance(fc, nn.Linear):
        raise TypeError("model: expected an nn.Linear or a model with an nn.Linear attribute `fc`")
    if int(np.prod(shape)) != fc.in_features:
        raise ValueError(f"shape: {tuple(shape)} has {int(np.prod(shape))} pixels but the layer takes "
                         f"{fc.in_features} inputs")
    return fc.weight.detach().reshape(fc.out_features, *shape).clone()


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """``model(images)`` in batches, in eval mode without gradients (model restored): N×K logits."""
    images = _check_images(images)
    batch_size = _check_positive_int(batch_size, "batch_size")
    with preserved_state(model):
        return torch.cat([model(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``images`` (N×C×H×W) whose arg-max logit equals ``labels`` (N)."""
    predictions = predict_logits(model, images, batch_size).argmax(1)
    return float((predictions == labels).float().mean())


# ---------------------------------------------------------------------- lecture 01: filters and maps
def normalize_filters(weights: torch.Tensor, mode: str = "each") -> torch.Tensor:
    """Conv kernels O×C×k×k → values in [0, 1] for display (same shape).

    * ``"each"`` – every kernel stretched to its own min..max (shows each pattern, hides relative scale);
    * ``"all"`` – one min..max for all kernels (relative strength visible, weak kernels look flat);
    * ``"symmetric"`` – per kernel, 0 ↦ 0.5 and ±max|w| ↦ 0/1 (the sign of every weight stays readable);
    * ``"symmetric_all"`` – the same with one max|w| for all kernels.
    A constant kernel maps to 0 (min-max modes) or 0.5 (symmetric modes): no division by zero.
    """
    if not isinstance(weights, torch.Tensor):
        raise TypeError(f"weights: expected a torch.Tensor O×C×k×k, got {type(weights).__name__}")
    if weights.ndim != 4:
        raise ValueError(f"weights: expected a 4-d tensor O×C×k×k, got shape {tuple(weights.shape)}")
    if mode not in FILTER_MODES:
        raise ValueError(f"mode: expected one of {FILTER_MODES}, got {mode!r}")
    w = weights.detach().float()
    dims = (1, 2, 3) if mode in ("each", "symmetric") else (0, 1, 2, 3)
    if mode.startswith("symmetric"):
        scale = w.abs().amax(dim=dims, keepdim=True)
        return 0.5 + 0.5 * w / torch.where(scale > 0, scale, torch.ones_like(scale))
    lo, hi = w.amin(dim=dims, keepdim=True), w.amax(dim=dims, keepdim=True)
    span = hi - lo
    return (w - lo) / torch.where(span > 0, span, torch.ones_like(span))


def tile(images: np.ndarray, ncols: int, pad: int = 1) -> np.ndarray:
    """Arrange N×h×w (or N×h×w×3) images in a grid of ``ncols`` columns, separated by ``pad`` NaN pixels
    (drawn as background by ``imshow``): one array, so a grid of 100 kernels is one fast ``imshow``."""
    n, h, w = images.shape[:3]
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    out = np.full((nrows * (h + pad) - pad, ncols * (w + pad) - pad) + images.shape[3:], np.nan)
    for i in range(n):
        r, c = divmod(i, ncols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = images[i]
    return out


def show_filters(weights: torch.Tensor, mode: str = "each", ncols: int = 8, size: float = 0.7,
                 title: str | None = None, ax=None):
    """Draw conv kernels O×C×k×k as a grid after ``normalize_filters(weights, mode)``; returns the Figure.

    RGB kernels (C = 3) are drawn as colour patches; single-channel kernels in grey for the min-max modes
    and with the diverging colormap (white = 0) for the symmetric modes. Other C: the channel mean.
    ``size`` is the width of one kernel in inches; ``ax`` draws into an existing Axes (``title`` then
    becomes the Axes title).
    """
    shown = normalize_filters(weights, mode).cpu()
    if shown.shape[1] == 3:
        grid = tile(shown.permute(0, 2, 3, 1).numpy(), ncols)
        rgba = np.concatenate([np.nan_to_num(grid, nan=1.0), (~np.isnan(grid[..., :1])).astype(float)], axis=2)
        image, cmap = rgba, None
    else:
        image = tile(shown.mean(1).numpy(), ncols)
        cmap = SIGNED_CMAP if mode.startswith("symmetric") else "gray"
    if ax is None:
        ncols = min(ncols, len(shown))
        nrows = -(-len(shown) // ncols)
        fig, ax = plt.subplots(figsize=(size * ncols, size * nrows + (0.35 if title else 0)), layout="constrained")
        if title:
            fig.suptitle(title, fontsize=10)
    elif title:
        ax.set_title(title, fontsize=9)
    ax.imshow(image, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    return ax.figure


def show_feature_maps(activation: torch.Tensor, channels: Sequence[int] | None = None, ncols: int = 8,
                      size: float = 1.0, title: str | None = None, shared_scale: bool = True):
    """Draw the channels of one feature map (C×H×W or 1×C×H×W); returns the Figure.

    Non-negative maps (after a ReLU) use the sequential colormap on [0, L]; maps with negative values the
    diverging one on [−L, L]; L is the 99th percentile of |values| over the shown channels
    (``shared_scale``, so channels are comparable) or of each channel.
    """
    if activation.ndim == 4:
        if activation.shape[0] != 1:
            raise ValueError(f"activation: expected one feature map, got a batch {tuple(activation.shape)}")
        activation = activation[0]
    if activation.ndim != 3:
        raise ValueError(f"activation: expected C×H×W, got shape {tuple(activation.shape)}")
    maps = activation.detach().float().cpu()
    channels = list(range(min(len(maps), 16))) if channels is None else list(channels)
    shown = maps[channels].numpy()
    signed = bool((shown < 0).any())
    ncols = min(ncols, len(channels))
    nrows = -(-len(channels) // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.35 if title else 0)),
                             squeeze=False)
    lim_all = clip_limit(shown)
    for i, ax in enumerate(grid.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(channels):
            ax.axis("off")
            continue
        lim = lim_all if shared_scale else clip_limit(shown[i])
        ax.imshow(shown[i], cmap=SIGNED_CMAP if signed else MAGNITUDE_CMAP, vmin=-lim if signed else 0,
                  vmax=lim, interpolation="nearest")
        ax.set_title(f"ch {channels[i]}", fontsize=7, pad=2)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


# ----------------------------------------------------------------------------- receptive fields
def layer_receptive_field(model: nn.Module, layer: str, input_shape: tuple[int, ...]) -> ReceptiveField:
    """The receptive field of the outputs of ``layer`` (any named module, e.g. ``"relu2"`` or ``"_blocks.3"``).

    ``course_utils.hooks.receptive_fields`` lists the conv/pool layers; a ReLU, BatchNorm or whole block has
    the receptive field of the last conv/pool that ran before its output was produced (``kernel``,
    ``stride`` and ``padding`` are that layer's; ``kind`` is the type of ``layer``). ``input_shape``: C×H×W.
    """
    target = get_layer(model, layer)
    convs = {rf.name: rf for rf in receptive_fields(model, input_shape)}
    names = {m: n for n, m in model.named_modules()}
    finished: list[str] = []          # module names in the order their outputs are produced
    out_shape: list[tuple[int, ...]] = []

    def hook(module, inputs, output):
        finished.append(names[module])
        if module is target and isinstance(output, torch.Tensor):
            out_shape.append(tuple(output.shape))

    handles = [m.register_forward_hook(hook) for m in model.modules() if m is not model]
    try:
        with preserved_state(model), torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
    if layer not in finished or not out_shape:
        raise ValueError(f"layer: {layer!r} does not produce a tensor in the model's forward pass")
    if len(out_shape[0]) != 4:
        raise ValueError(f"layer: {layer!r} has no spatial output (shape {out_shape[0]}); "
                         "its units see the whole input")
    before = finished[:finished.index(layer) + 1]
    last = next((n for n in reversed(before) if n in convs), None)
    kind = type(target).__name__
    if last is None:        # e.g. an activation before any conv: each unit sees one pixel
        return ReceptiveField(layer, kind, 1, 1, 0, 1, 1, 0.0, out_shape[0][-1])
    rf = convs[last]
    if out_shape[0][-1] != rf.out_size:
        raise ValueError(f"layer: {layer!r} changes the spatial size after {last!r} "
                         f"({rf.out_size} → {out_shape[0][-1]}) in a way the recursion does not model")
    return ReceptiveField(layer, kind, rf.kernel, rf.stride, rf.padding, rf.size, rf.jump, rf.start,
                          rf.out_size)


def receptive_field_box(rf: ReceptiveField, row: int, col: int) -> tuple[int, int, int]:
    """``(top, left, size)`` of the square of input pixels seen by the unit at (``row``, ``col``).

    The centre is ``start + jump·index`` on each axis and the square spans ``size`` pixels around it;
    ``top``/``left`` can be negative and the square can pass the image's far edge (padding).
    """
    for value, name in ((row, "row"), (col, "col")):
        if not 0 <= int(value) < rf.out_size:
            raise ValueError(f"{name}: expected 0 <= {name} < {rf.out_size} (the layer's output size), "
                             f"got {value}")
    top = int(round(rf.start + rf.jump * int(row) - (rf.size - 1) / 2))
    left = int(round(rf.start + rf.jump * int(col) - (rf.size - 1) / 2))
    return top, left, rf.size


def crop_patch(image: torch.Tensor, top: int, left: int, size: int, fill: float = 0.0) -> torch.Tensor:
    """The ``size``×``size`` window of ``image`` (C×H×W) whose top-left pixel is (``top``, ``left``).

    The window may stick out of the image (negative ``top``/``left`` or past the far edge): those pixels
    are ``fill``, and the image content keeps its place inside the window. Returns C×size×size.
    """
    if not isinstance(image, torch.Tensor) or image.ndim != 3:
        raise ValueError(f"image: expected a C×H×W tensor, got {getattr(image, 'shape', type(image).__name__)}")
    size = _check_positive_int(size, "size")
    _, h, w = image.shape
    out = image.new_full((image.shape[0], size, size), fill)
    r0, r1 = max(top, 0), min(top + size, h)
    c0, c1 = max(left, 0), min(left + size, w)
    if r0 < r1 and c0 < c1:
        out[:, r0 - top:r1 - top, c0 - left:c1 - left] = image[:, r0:r1, c0:c1]
    return out


def receptive_field_patches(images: torch.Tensor, rf: ReceptiveField, rows: Sequence[int],
                            cols: Sequence[int], fill: float = 0.0) -> torch.Tensor:
    """For each image ``images[i]`` (N×C×H×W) the patch under the unit at (``rows[i]``, ``cols[i]``).

    Returns N×C×S×S with S = ``rf.size``; parts of the receptive field outside the image are ``fill``.
    """
    images = _check_images(images)
    rows, cols = [int(r) for r in rows], [int(c) for c in cols]
    if not len(rows) == len(cols) == len(images):
        raise ValueError(f"rows, cols: expected {len(images)} locations each, got {len(rows)} and {len(cols)}")
    patches = []
    for image, r, c in zip(images, rows, cols):
        top, left, size = receptive_field_box(rf, r, c)
        patches.append(crop_patch(image, top, left, size, fill))
    return torch.stack(patches) if patches else images.new_zeros(0, images.shape[1], rf.size, rf.size)


def gradient_support(model: nn.Module, layer: str, inputs: torch.Tensor, row: int, col: int
                     ) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` (inclusive) of the input pixels with a nonzero gradient of the unit.

    The unit's value is the output of ``layer`` at (``row``, ``col``) summed over channels and over the batch
    ``inputs`` (N×C×H×W); summing makes a zero gradient from one dead ReLU or one max-pool switch unlikely.
    Its support lies inside the receptive field; for generic inputs it fills the part inside the image.
    Raises ``ValueError`` if the gradient is zero everywhere.
    """
    inputs = _check_images(inputs, "inputs").detach().clone().requires_grad_(True)
    with preserved_state(model), capture_activations(model, layer, detach=False) as acts:
        model(inputs)
        out = acts[layer]
        if out.ndim != 4:
            raise ValueError(f"layer: expected a conv layer with N×C×H×W outputs, got {tuple(out.shape)}")
        if not (0 <= row < out.shape[2] and 0 <= col < out.shape[3]):
            raise ValueError(f"row, col: ({row}, {col}) is outside the {out.shape[2]}×{out.shape[3]} map")
        grad, = torch.autograd.grad(out[:, :, row, col].sum(), inputs)
    nonzero = grad.abs().sum(dim=(0, 1)).nonzero()
    if len(nonzero) == 0:
        raise ValueError("the gradient is zero everywhere (all units dead for these inputs?)")
    return (int(nonzero[:, 0].min()), int(nonzero[:, 0].max()), int(nonzero[:, 1].min()),
            int(nonzero[:, 1].max()))


# ------------------------------------------------------------------- lecture 02: top-K by streaming
def reduce_channels(acts: torch.Tensor, reduce: str = "max") -> torch.Tensor:
    """One score per channel: N×C×H×W → N×C by global ``"max"`` or ``"mean"`` pooling; N×D is returned as is."""
    _check_reduce(reduce)
    if acts.ndim == 2:
        return acts
    if acts.ndim != 4:
        raise ValueError(f"acts: expected N×C×H×W (conv) or N×D (dense) activations, got {tuple(acts.shape)}")
    return acts.amax(dim=(2, 3)) if reduce == "max" else acts.mean(dim=(2, 3))


def argmax_locations(acts: torch.Tensor) -> torch.Tensor:
    """(row, col) of each channel's maximum: N×C×H×W → N×C×2 (first maximum in row-major order on ties)."""
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
        self.k = _check_positive_int(k, "k")
        self.largest = largest
        self.seen = 0
        self.values: torch.Tensor | None = None
        self.indices: torch.Tensor | None = None
        self.extra: torch.Tensor | None = None

    def update(self, scores: torch.Tensor, extra: torch.Tensor | None = None) -> None:
        if scores.ndim != 2:
            raise ValueError(f"scores: expected a B×C batch, got shape {tuple(scores.shape)}")
        scores = scores.detach().float()
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


class _StopForward(Exception):
    """Raised by a hook once every requested layer has produced its output: the rest is not needed."""


def top_k_examples(model: nn.Module, layers: str | Sequence[str], images: torch.Tensor, k: int = 9,
                   reduce: str = "max", batch_size: int = 500, keep_scores: bool = False,
                   progress: bool = True) -> ProbeResult | dict[str, ProbeResult]:
    """Top-K and bottom-K examples of every channel of ``layers`` over ``images``, in one streaming pass.

    Each batch of ``images`` (N×C×H×W) goes through ``model`` once; a conv channel's map is reduced to one
    score per image by global ``reduce`` pooling (``"max"`` or ``"mean"``; dense outputs N×D are used as
    they are), and only the K best and K worst candidates per channel are kept. The forward pass stops
    after the deepest requested layer. ``keep_scores`` also keeps all N×C scores (small: no spatial maps).
    The selection itself does not depend on ``batch_size`` (ties go to the earlier image); only the model's
    batched arithmetic can change scores in the last float digits. Returns a ``ProbeResult`` (a dict of them for a list of layers).
    The model is left as it was (eval mode inside, no hooks left).
    """
    single = isinstance(layers, str)
    names = [layers] if single else list(layers)
    if not names:
        raise ValueError("layers: expected at least one layer name")
    for name in names:
        get_layer(model, name)
    images = _check_images(images)
    k = _check_positive_int(k, "k")
    if k > len(images):
        raise ValueError(f"k: expected at most the number of images ({len(images)}), got {k}")
    _check_reduce(reduce)
    batch_size = _check_positive_int(batch_size, "batch_size")
    tops = {n: StreamingTopK(k, largest=True) for n in names}
    bottoms = {n: StreamingTopK(k, largest=False) for n in names}
    scores: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    shapes: dict[str, tuple[int, ...]] = {}
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    with preserved_state(model), torch.no_grad(), capture_activations(model, names) as acts:
        def stop_when_done(module, inputs, output):
            if all(n in acts for n in names):
                raise _StopForward
        stoppers = [get_layer(model, n).register_forward_hook(stop_when_done) for n in names]
        try:
            starts = range(0, len(images), batch_size)
            for start in _progress(starts, enabled=progress, desc="probing", total=len(starts)):
                acts.clear()
                try:
                    model(images[start:start + batch_size].to(device))
                except _StopForward:
                    pass
                for n in names:
                    a = acts[n].float().cpu()
                    shapes[n] = tuple(a.shape[1:])
                    s = reduce_channels(a, reduce)
                    where = argmax_locations(a) if a.ndim == 4 else None
                    tops[n].update(s, where)
                    bottoms[n].update(s, where)
                    if keep_scores:
                        scores[n].append(s)
        finally:
            for h in stoppers:
                h.remove()
    results = {n: ProbeResult(n, reduce, k, len(images), shapes[n],
                              TopK(tops[n].values, tops[n].indices, tops[n].extra),
                              TopK(bottoms[n].values, bottoms[n].indices, bottoms[n].extra),
                              torch.cat(scores[n]) if keep_scores else None) for n in names}
    return results[names[0]] if single else results


# -------------------------------------------------------------------- lecture 02: the classifier head
def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """n_classes×n_classes counts: entry (t, p) = number of items of true class t predicted as p."""
    if predictions.shape != labels.shape or predictions.ndim != 1:
        raise ValueError(f"predictions, labels: expected two 1-d tensors of equal length, got "
                         f"{tuple(predictions.shape)} and {tuple(labels.shape)}")
    n_classes = _check_positive_int(n_classes, "n_classes")
    for t, name in ((predictions, "predictions"), (labels, "labels")):
        if len(t) and (t.min() < 0 or t.max() >= n_classes):
            raise ValueError(f"{name}: class indices must lie in [0, {n_classes - 1}]")
    flat = labels.long() * n_classes + predictions.long()
    return torch.bincount(flat, minlength=n_classes * n_classes).view(n_classes, n_classes)


def confused_pairs(cm: torch.Tensor, n: int = 5) -> list[tuple[int, int, int]]:
    """The ``n`` largest off-diagonal entries of a confusion matrix as ``(true, predicted, count)``,
    largest first (ties: smaller true class, then smaller predicted class)."""
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm: expected a square matrix, got shape {tuple(cm.shape)}")
    pairs = [(int(cm[t, p]), t, p) for t in range(len(cm)) for p in range(len(cm)) if t != p]
    pairs.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [(t, p, count) for count, t, p in pairs[:n]]


def class_extremes(probs: torch.Tensor, labels: torch.Tensor, cls: int, k: int = 8
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Among the items of true class ``cls``: indices of the ``k`` with the highest and the ``k`` with the
    lowest probability of ``cls`` (``probs`` N×K softmax outputs, ``labels`` N). Returns two length-k tensors."""
    members = (labels == cls).nonzero().squeeze(1)
    if len(members) < k:
        raise ValueError(f"k: class {cls} has only {len(members)} items, got k={k}")
    p = probs[members, cls]
    order = p.sort(descending=True, stable=True).indices
    return members[order[:k]], members[order.flip(0)[:k]]


# ------------------------------------------------------------------------ lecture 02: photo crops
def photo_crops(model: nn.Module, names: Sequence[str] | None = None, crops_per_image: int = 4,
                min_scale: float = 0.3, max_scale: float = 0.7, seed: int = 0
                ) -> tuple[torch.Tensor, list[str]]:
    """The course photos for ``model`` plus random square crops (some mirrored), as one dataset.

    For every photo: the centre crop from ``preprocess``, then ``crops_per_image`` random squares whose side
    is ``min_scale``..``max_scale`` of the shorter side, every other one flipped left-right, each resized to
    the model's input size. Returns (N×C×S×S normalized tensor, N descriptions like ``"cat crop 2 (flip)"``).
    """
    from .data import list_images, load_image
    from .models import preprocess
    rng = np.random.default_rng(seed)
    names = list_images() if names is None else list(names)
    tensors, descriptions = [], []
    for name in names:
        image = load_image(name)
        tensors.append(preprocess(image, model))
        descriptions.append(f"{name}")
        h, w = image.shape[:2]
        for i in range(crops_per_image):
            side = int(min(h, w) * rng.uniform(min_scale, max_scale))
            top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            crop = image[top:top + side, left:left + side]
            flip = i % 2 == 1
            if flip:
                crop = crop[:, ::-1]
            tensors.append(preprocess(np.ascontiguousarray(crop), model))
            descriptions.append(f"{name} crop {i + 1}" + (" (flip)" if flip else ""))
    return torch.cat(tensors), descriptions


# ------------------------------------------------------------------------------------- figures
def _display(image: torch.Tensor) -> np.ndarray:
    x = image.detach().float().cpu().clamp(0, 1)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def show_examples(result: ProbeResult, images: torch.Tensor, channel: int, rf: ReceptiveField | None = None,
                  which: str = "top", k: int | None = None, titles: Sequence[str] | None = None, size: float = 1.1):
    """One channel's top (or bottom) examples: the images with the receptive field of the maximum outlined,
    and below them the cropped patches. ``images`` N×C×H×W in [0, 1] (display space, same order as probed).
    Returns the Figure."""
    if which not in ("top", "bottom"):
        raise ValueError(f"which: expected 'top' or 'bottom', got {which!r}")
    channels = result.top.values.shape[0]
    if not 0 <= channel < channels:
        raise ValueError(f"channel: expected 0 <= channel < {channels} for layer {result.layer}, got {channel}")
    found = getattr(result, which)
    k = result.k if k is None else min(k, result.k)
    idx = found.indices[channel, :k]
    with_patches = rf is not None and found.locations is not None
    fig, axes = plt.subplots(2 if with_patches else 1, k, figsize=(size * k, size * (2 if with_patches else 1) + 0.5),
                             squeeze=False)
    cmap = "gray" if images.shape[1] == 1 else None
    for j in range(k):
        ax = axes[0, j]
        ax.imshow(_display(images[idx[j]]), cmap=cmap, vmin=0, vmax=1)
        label = titles[int(idx[j])] if titles is not None else f"#{int(idx[j])}"
        ax.set_title(f"{label}\n{found.values[channel, j]:.2f}", fontsize=7, pad=2)
        ax.set_xticks([])
        ax.set_yticks([])
        if with_patches:
            r, c = (int(v) for v in found.locations[channel, j])
            top, left, s = receptive_field_box(rf, r, c)
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), s, s, fill=False, edgecolor="red", linewidth=1))
            patch = crop_patch(images[idx[j]], top, left, s, fill=0.0)
            axes[1, j].imshow(_display(patch), cmap=cmap, vmin=0, vmax=1)
            axes[1, j].set_xticks([])
            axes[1, j].set_yticks([])
    if with_patches:
        axes[1, 0].set_ylabel(f"{rf.size}×{rf.size} patch", fontsize=7)
    fig.suptitle(f"{result.layer} channel {channel}: {which}-{k} of {result.n_images} images "
                 f"(global {result.reduce} score under each)", fontsize=9)
    fig.tight_layout()
    return fig


def show_patch_grid(result: ProbeResult, images: torch.Tensor, rf: ReceptiveField, channels: Sequence[int],
                    k: int | None = None, size: float = 0.7, title: str | None = None, fill: float = 0.0):
    """Zeiler & Fergus style grid: one row per channel, its top-K receptive-field patches (Figure)."""
    if result.top.locations is None:
        raise ValueError(f"result: layer {result.layer} is dense; patches need a conv layer")
    k = result.k if k is None else min(k, result.k)
    channels = list(channels)
    fig, axes = plt.subplots(len(channels), k, figsize=(size * k + 0.6, size * len(channels) + 0.4), squeeze=False)
    cmap = "gray" if images.shape[1] == 1 else None
    for i, ch in enumerate(channels):
        idx = result.top.indices[ch, :k]
        loc = result.top.locations[ch, :k]
        patches = receptive_field_patches(images[idx], rf, loc[:, 0], loc[:, 1], fill=fill)
        for j in range(k):
            ax = axes[i, j]
            ax.imshow(_display(patches[j]), cmap=cmap, vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[i, 0].set_ylabel(f"ch {ch}", fontsize=7, rotation=0, ha="right", va="center")
    fig.suptitle(title or f"{result.layer}: top-{k} patches ({rf.size}×{rf.size} px) per channel", fontsize=9)
    fig.tight_layout()
    return fig
