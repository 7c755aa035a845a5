"""Evaluating explanations: measured, not argued.

* Deletion and insertion curves (Petsiuk, Das & Saenko 2018): remove (or insert) pixels in the order an
  attribution ranks them and follow the model's score; ``deletion_curve``, ``insertion_curve``,
  ``perturbation_curve``, ``auc``, ``pixel_order``.
* Localisation against ground truth: ``make_localization_dataset`` places Fashion-MNIST items at random
  positions on a larger canvas and records each item's box; ``box_mask``, ``mass_inside_box`` (share of the
  attribution inside the box) and ``pointing_game`` (Zhang et al. 2016: is the map's maximum in the box?);
  ``PHOTO_BOXES``: boxes drawn by hand around the object in four course photos, for EfficientNet-Lite0.
* Sanity checks (Adebayo et al. 2018): ``randomized_models`` re-initializes layers top-down (cascading) or
  one at a time (independent); ``map_rank_correlation`` (Spearman, per image), ``model_randomization_test``
  and ``summarize_correlations`` measure how much a method's maps change when the weights do.
* ``course_methods(layer)`` – every course attribution method under one name each, plus a random baseline.
* ``localization_cnn()`` – the shipped FashionCNN trained on canvas images
  (``scripts/train_localization_cnn.py``).

Maps are N×C×H×W (or N×H×W); where a ranking or a maximum is needed, channels are summed first
(``reduce_channels``). Everything is batched (``batch_size``) and leaves the model as it found it.
"""
from __future__ import annotations

from typing import Callable, Iterator

import torch
from torch import nn

from .attribution import make_baseline, randomize_layers, rank_correlation as _spearman
from .attribution._common import auto_batch_size, batches, check_inputs, resolve_target, target_scores
from .data import DATA_DIR
from .hooks import get_layer, preserved_state
from .progress import progress

LOCALIZATION_CHECKPOINT = DATA_DIR / "models" / "localization_cnn.pt"
CANVAS_SIZE = 56


# ------------------------------------------------------------------------------------------- helpers
def reduce_channels(attributions: torch.Tensor, name: str = "attributions") -> torch.Tensor:
    """An N×C×H×W (or N×H×W) map → N×H×W by summing the channels (signed: positive evidence stays positive)."""
    if not isinstance(attributions, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor N×C×H×W or N×H×W, got {type(attributions).__name__}")
    if attributions.ndim == 4:
        return attributions.detach().float().sum(1)
    if attributions.ndim == 3:
        return attributions.detach().float()
    raise ValueError(f"{name}: expected N×C×H×W or N×H×W, got shape {tuple(attributions.shape)}")


def pixel_order(attributions: torch.Tensor) -> torch.Tensor:
    """N×(H·W) pixel indices (row-major), most important first; ties keep the row-major order."""
    maps = reduce_channels(attributions).flatten(1)
    return torch.argsort(maps, dim=1, descending=True, stable=True)


def _baseline(inputs: torch.Tensor, baseline, model: nn.Module) -> torch.Tensor:
    """What deleted pixels become / inserted pixels start from: a tensor shaped like ``inputs``.

    Anything ``course_utils.attribution.make_baseline`` takes (``"black"``, ``"zeros"``, ``"blur"``,
    ``"noise"``, a number), ``"mean"`` (each image's per-channel mean) or a tensor broadcastable to inputs.
    """
    if isinstance(baseline, str) and baseline == "mean":
        return inputs.mean(dim=(2, 3), keepdim=True).expand_as(inputs).clone()
    if isinstance(baseline, torch.Tensor):
        try:
            return baseline.detach().to(inputs).expand_as(inputs).clone()
        except RuntimeError:
            raise ValueError(f"baseline: shape {tuple(baseline.shape)} does not broadcast to the inputs' "
                             f"{tuple(inputs.shape)}") from None
    if isinstance(baseline, bool) or not isinstance(baseline, (str, int, float)):
        raise TypeError(f"baseline: expected a name, a number or a tensor, got {type(baseline).__name__}")
    return make_baseline(baseline, inputs, model)


# ------------------------------------------------------------------------------ the methods side by side
def random_attribution(model: nn.Module, inputs: torch.Tensor, target=None, seed: int = 0) -> torch.Tensor:
    """A baseline "method" that ignores model and target: uniform noise N×1×H×W (fixed ``seed``)."""
    check_inputs(inputs)
    gen = torch.Generator().manual_seed(seed)
    n, _, h, w = inputs.shape
    return torch.rand(n, 1, h, w, generator=gen).to(inputs)


def course_methods(layer: str, occlusion_window: int = 4, occlusion_stride: int = 2, ig_steps: int = 32,
                   smoothgrad_samples: int = 25, with_random: bool = True) -> dict[str, Callable]:
    """Every attribution method of the course as ``name -> method(model, inputs, target)``, ready to compare.

    ``layer`` is the conv layer for CAM and Grad-CAM (``"relu4"`` for FashionCNN, ``"_head_act"`` for
    EfficientNet-Lite0); the occlusion window/stride are in pixels. Results are N×C×H×W (CAM, Grad-CAM:
    N×1×H×W). With ``with_random`` a ``"random"`` map is added as the floor every method should beat.
    """
    from . import attribution as A
    methods: dict[str, Callable] = {
        "saliency": lambda m, x, t: A.saliency(m, x, t),
        "input×gradient": lambda m, x, t: A.input_x_gradient(m, x, t),
        "SmoothGrad": lambda m, x, t: A.smoothgrad(m, x, t, n_samples=smoothgrad_samples),
        "guided backprop": lambda m, x, t: A.guided_backprop(m, x, t),
        "deconvnet": lambda m, x, t: A.deconvnet(m, x, t),
        "integrated gradients": lambda m, x, t: A.integrated_gradients(m, x, t, steps=ig_steps),
        "occlusion": lambda m, x, t: A.occlusion(m, x, t, window=occlusion_window, stride=occlusion_stride),
        "CAM": lambda m, x, t: A.cam(m, x, t, layer=layer),
        "Grad-CAM": lambda m, x, t: A.grad_cam(m, x, t, layer=layer),
    }
    if with_random:
        methods["random"] = random_attribution
    return methods


# -------------------------------------------------------------------------- deletion / insertion curves
def perturbation_curve(model: nn.Module, inputs: torch.Tensor, attributions: torch.Tensor, target,
                       mode: str = "deletion", steps: int = 20, baseline="black", probabilities: bool = True,
                       batch_size: int | None = None, show_progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Deletion or insertion curve of each input, ranking pixels by ``attributions``.

    ``inputs`` N×C×H×W, ``attributions`` N×C'×H×W or N×H×W (channels summed, then pixels ranked by value,
    largest first). At step k = 0..``steps`` the top ``(k·H·W) // steps`` pixels (all their channels) are
    *deleted* – replaced by the ``baseline`` – or, for ``mode="insertion"``, the image starts as the baseline
    and those pixels are *inserted* from the input. Baseline: ``"black"`` (black pixels in the model's input
    space), ``"zeros"``, ``"blur"`` (Gaussian, σ = a tenth of the side), ``"mean"`` (per image and channel),
    a number or a tensor broadcastable to ``inputs``.

    Returns (fractions of pixels changed, ``steps``+1 values in [0, 1]; scores N×(``steps``+1)): the softmax
    probability of ``target`` (``probabilities=True``) or its logit. All N·(steps+1) perturbed images are
    evaluated in batches of ``batch_size`` (``None``: chosen from the image size, see ``auto_batch_size``).
    """
    check_inputs(inputs)
    batch_size = auto_batch_size(batch_size, inputs.shape[1:])
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"mode: expected 'deletion' or 'insertion', got {mode!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive int, got {steps!r}")
    maps = reduce_channels(attributions)
    n, _, h, w = inputs.shape
    if maps.shape != (n, h, w):
        raise ValueError(f"attributions: expected {n} maps of {h}×{w} (like the inputs), got shape "
                         f"{tuple(attributions.shape)}")
    target = resolve_target(target, n)
    if callable(target):
        raise TypeError("target: deletion/insertion curves need class indices (an int or N ints), not a callable")
    steps = min(steps, h * w)
    inputs = inputs.detach()
    base = _baseline(inputs, baseline, model)
    start, end = (inputs, base) if mode == "deletion" else (base, inputs)
    # rank[i, p] = position of pixel p in image i's ordering; pixel p is changed at step k iff rank < count_k
    order = pixel_order(maps)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(h * w, device=order.device).expand(n, -1))
    counts = torch.tensor([(k * h * w) // steps for k in range(steps + 1)], device=inputs.device)
    pairs = [(i, k) for i in range(n) for k in range(steps + 1)]      # one perturbed image per (input, step)
    scores = torch.empty(n * (steps + 1))
    with preserved_state(model), torch.no_grad():
        for sl in progress(list(batches(len(pairs), batch_size)), enabled=show_progress, desc=mode):
            idx = torch.tensor([pairs[j][0] for j in range(sl.start, sl.stop)])
            ks = torch.tensor([pairs[j][1] for j in range(sl.start, sl.stop)])
            changed = (rank[idx] < counts[ks].view(-1, 1)).view(-1, 1, h, w)
            x = torch.where(changed, end[idx], start[idx])
            if probabilities:
                out = model(x)
                if out.ndim != 2:
                    raise ValueError(f"model: expected outputs N×K (logits), got shape {tuple(out.shape)}")
                t = target[idx].to(out.device)
                if t.min() < 0 or t.max() >= out.shape[1]:
                    raise ValueError(f"target: class indices must lie in [0, {out.shape[1] - 1}]")
                s = out.softmax(1).gather(1, t.view(-1, 1)).squeeze(1)
            else:
                s = target_scores(model, x, target[idx])
            scores[sl] = s.float().cpu()
    fractions = counts.float().cpu() / (h * w)
    return fractions, scores.view(n, steps + 1)


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
    scores = scores.detach().double()
    if fractions is None:
        fractions = torch.linspace(0, 1, scores.shape[-1], dtype=torch.float64)
    fractions = torch.as_tensor(fractions).detach().double().to(scores.device)
    if fractions.shape != scores.shape[-1:]:
        raise ValueError(f"fractions: expected {scores.shape[-1]} values (one per point), got shape "
                         f"{tuple(fractions.shape)}")
    if (fractions.diff() < 0).any():
        raise ValueError("fractions: expected non-decreasing values")
    return torch.trapezoid(scores, fractions, dim=-1).float()


# ---------------------------------------------------------------------------------------- localisation
def make_localization_dataset(images: torch.Tensor, labels: torch.Tensor, canvas_size: int = CANVAS_SIZE,
                              noise: float = 0.1, threshold: float = 0.05, seed: int = 0
                              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Place each item at a random position on a larger canvas; record where it is.

    ``images`` N×1×h×w in [0, 1] (Fashion-MNIST: 28×28), ``labels`` N. Each canvas is ``canvas_size``²,
    filled with uniform noise in [0, ``noise``] (so that a zero input is not a give-away); the item is
    pasted at a uniformly random position with ``max(canvas, item)``. Returns (canvases N×1×S×S, labels N,
    boxes N×4 int64 as (y0, x0, y1, x1), end exclusive): the tight box around the item's pixels brighter
    than ``threshold``. Deterministic for a given ``seed``.
    """
    check_inputs(images, "images")
    if images.shape[1] != 1:
        raise ValueError(f"images: expected one channel (N×1×h×w), got {images.shape[1]}")
    if not isinstance(labels, torch.Tensor) or labels.shape != (len(images),):
        raise ValueError(f"labels: expected a tensor of {len(images)} labels, got "
                         f"{tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__}")
    n, _, h, w = images.shape
    if not isinstance(canvas_size, int) or canvas_size < max(h, w):
        raise ValueError(f"canvas_size: expected an int ≥ the item size {max(h, w)}, got {canvas_size!r}")
    if not 0 <= noise < 1:
        raise ValueError(f"noise: expected a value in [0, 1), got {noise}")
    gen = torch.Generator().manual_seed(seed)
    canvas = noise * torch.rand(n, 1, canvas_size, canvas_size, generator=gen)
    tops = torch.randint(0, canvas_size - h + 1, (n,), generator=gen)
    lefts = torch.randint(0, canvas_size - w + 1, (n,), generator=gen)
    # paste all items at once: canvas row tops[i] + r, column lefts[i] + c gets images[i, 0, r, c]
    rows = (tops.view(n, 1, 1) + torch.arange(h).view(1, h, 1)).expand(n, h, w)
    cols = (lefts.view(n, 1, 1) + torch.arange(w).view(1, 1, w)).expand(n, h, w)
    batch = torch.arange(n).view(n, 1, 1).expand(n, h, w)
    canvas[batch, 0, rows, cols] = torch.maximum(canvas[batch, 0, rows, cols], images[:, 0].float())
    # tight box of the item's bright pixels, in item coordinates, then shifted onto the canvas
    on = images[:, 0] > threshold
    any_row, any_col = on.any(2), on.any(1)
    empty = ~any_row.any(1)
    first = lambda m: m.float().argmax(1)                                         # noqa: E731
    last = lambda m: m.shape[1] - 1 - m.flip(1).float().argmax(1)                 # noqa: E731
    y0, y1 = first(any_row), last(any_row) + 1
    x0, x1 = first(any_col), last(any_col) + 1
    full = torch.stack([torch.zeros(n, dtype=torch.long), torch.zeros(n, dtype=torch.long),
                        torch.full((n,), h), torch.full((n,), w)], 1)
    boxes = torch.stack([y0, x0, y1, x1], 1)
    boxes = torch.where(empty.view(-1, 1), full, boxes)       # an empty item: its whole patch
    boxes = boxes + torch.stack([tops, lefts, tops, lefts], 1)
    return canvas, labels.clone(), boxes.long()


# Hand-drawn boxes (y0, x0, y1, x1; end exclusive) around the object EfficientNet-Lite0 names in four course
# photos, on the 224×224 crops ``course_utils.models.preprocess`` makes. Drawn by eye for lecture 10: a
# small ground truth for the pointing game on a real model, not a benchmark.
PHOTO_BOXES: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "camera": ("tripod", (100, 88, 224, 182)),
    "coffee": ("espresso", (0, 14, 168, 206)),
    "rocket": ("missile", (14, 104, 206, 142)),
    "motorcycle": ("moped", (70, 0, 214, 224)),
}


def _check_boxes(boxes: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
    if not isinstance(boxes, torch.Tensor) or boxes.shape != (n, 4):
        raise ValueError(f"boxes: expected a tensor N×4 = {n}×4 of (y0, x0, y1, x1), got "
                         f"{tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__}")
    boxes = boxes.long()
    y0, x0, y1, x1 = boxes.unbind(1)
    if ((y0 < 0) | (x0 < 0) | (y1 > h) | (x1 > w) | (y1 <= y0) | (x1 <= x0)).any():
        raise ValueError(f"boxes: expected 0 ≤ y0 < y1 ≤ {h} and 0 ≤ x0 < x1 ≤ {w} (end exclusive)")
    return boxes


def box_mask(boxes: torch.Tensor, height: int, width: int | None = None) -> torch.Tensor:
    """N×H×W bool masks of boxes N×4 (y0, x0, y1, x1), end exclusive."""
    width = width or height
    boxes = _check_boxes(boxes, len(boxes) if isinstance(boxes, torch.Tensor) else -1, height, width)
    ys = torch.arange(height).view(1, -1, 1)
    xs = torch.arange(width).view(1, 1, -1)
    y0, x0, y1, x1 = (b.view(-1, 1, 1) for b in boxes.unbind(1))
    return (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)


def mass_inside_box(attributions: torch.Tensor, boxes: torch.Tensor, kind: str = "positive") -> torch.Tensor:
    """Share of each map's attribution that lies inside its box: N values in [0, 1].

    Channels are summed first. ``kind="positive"`` counts only positive attribution (evidence *for* the
    target), ``"abs"`` counts |attribution|. An all-zero map scores 0. Chance level for a map spread
    uniformly is the box's share of the image (``box_mask(...).float().mean((1, 2))``).
    """
    maps = reduce_channels(attributions)
    n, h, w = maps.shape
    if kind == "positive":
        maps = maps.clamp(min=0)
    elif kind == "abs":
        maps = maps.abs()
    else:
        raise ValueError(f"kind: expected 'positive' or 'abs', got {kind!r}")
    inside = box_mask(_check_boxes(boxes, n, h, w), h, w)
    total = maps.flatten(1).sum(1)
    share = (maps * inside).flatten(1).sum(1) / total.clamp(min=1e-30)
    return torch.where(total > 0, share, torch.zeros_like(share))


def pointing_game(attributions: torch.Tensor, boxes: torch.Tensor, tolerance: int = 0) -> torch.Tensor:
    """Pointing game (Zhang et al. 2016): N bools, True where the map's maximum lies in the box.

    Channels are summed first; the box is grown by ``tolerance`` pixels on every side (the paper uses 15 px
    at ImageNet resolution). Ties: a hit if *any* maximal pixel lies in the box. An all-equal map (e.g. all
    zero) never hits.
    """
    maps = reduce_channels(attributions)
    n, h, w = maps.shape
    boxes = _check_boxes(boxes, n, h, w)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
        raise ValueError(f"tolerance: expected a non-negative int, got {tolerance!r}")
    grown = boxes + torch.tensor([-tolerance, -tolerance, tolerance, tolerance])
    grown = torch.stack([grown[:, 0].clamp(min=0), grown[:, 1].clamp(min=0),
                         grown[:, 2].clamp(max=h), grown[:, 3].clamp(max=w)], 1)
    inside = box_mask(grown, h, w)
    flat = maps.flatten(1)
    is_max = (maps == flat.amax(1).view(-1, 1, 1))
    constant = flat.amax(1) == flat.amin(1)
    return (is_max & inside).flatten(1).any(1) & ~constant


def draw_box(ax, box, color: str = "lime", label: str | None = None, linewidth: float = 1.5):
    """Outline a box (y0, x0, y1, x1), end exclusive, on an image drawn with imshow; returns the Axes."""
    from matplotlib.patches import Rectangle
    y0, x0, y1, x1 = (int(v) for v in box)
    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=color,
                           linewidth=linewidth, label=label))
    return ax


def plot_curves(fractions: torch.Tensor, curves: dict[str, torch.Tensor], ax=None, title: str = "",
                ylabel: str = "probability of the target class"):
    """One line per method (curves: name → K scores, or N×K averaged over N), AUC in the legend; returns Axes."""
    import matplotlib.pyplot as plt
    ax = ax or plt.subplots(figsize=(4, 3))[1]
    for name, c in curves.items():
        c = c.float().reshape(-1, len(fractions)).mean(0)
        style = dict(color="k", linestyle="--") if name == "random" else {}
        ax.plot(fractions.numpy(), c.numpy(), label=f"{name} ({auc(c, fractions).item():.2f})", **style)
    ax.set_xlabel("fraction of pixels changed")
    ax.set_ylabel(ylabel)
    ax.set_xlim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=6, title="method (AUC)", title_fontsize=6)
    return ax


def localization_cnn():
    """FashionCNN trained on 56×56 canvases (``scripts/train_localization_cnn.py``), eval mode."""
    from .models import load_fashion_checkpoint
    return load_fashion_checkpoint(LOCALIZATION_CHECKPOINT, "train_localization_cnn.py")


# ------------------------------------------------------------------------------------------ sanity checks
def parameter_layers(model: nn.Module) -> list[str]:
    """Names of the model's Conv2d and Linear layers, from the output back to the input (cascading order)."""
    names = [name for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    return names[::-1]


def randomized_models(model: nn.Module, layers: list[str] | None = None, mode: str = "cascading",
                      seed: int = 0) -> Iterator[tuple[str, nn.Module]]:
    """Yield (layer name, randomized copy of ``model``) for each of ``layers`` in turn (Adebayo et al. 2018).

    ``layers`` defaults to ``parameter_layers(model)`` (top first). ``"cascading"``: the k-th copy has
    layers[0..k] re-initialized (randomization proceeds from the output towards the input);
    ``"independent"``: the k-th copy has only layers[k] re-initialized. Weights are redrawn by
    ``course_utils.attribution.randomize_layers`` (PyTorch's default initialization, BatchNorm kept), seeded
    by ``seed``. ``model`` itself is never modified; copies are made one at a time.
    """
    if mode not in ("cascading", "independent"):
        raise ValueError(f"mode: expected 'cascading' or 'independent', got {mode!r}")
    layers = parameter_layers(model) if layers is None else list(layers)
    if not layers:
        raise ValueError("layers: expected at least one layer name")
    for name in layers:
        get_layer(model, name)          # a clear error for a misspelt name before any work is done
    for k, name in enumerate(layers):
        chosen = layers[:k + 1] if mode == "cascading" else [name]
        yield name, randomize_layers(model, chosen, seed=seed)


def map_rank_correlation(a: torch.Tensor, b: torch.Tensor, absolute: bool = True) -> torch.Tensor:
    """Spearman rank correlation between maps ``a`` and ``b`` (N×C×H×W or N×H×W, channels summed): N values.

    With ``absolute`` the magnitudes are compared (Adebayo et al. report both, since many methods' signs
    are unreliable). A constant map has no ranking: its correlation is NaN.
    """
    ma, mb = reduce_channels(a, "a"), reduce_channels(b, "b")
    if ma.shape != mb.shape:
        raise ValueError(f"b: expected the same shape as a {tuple(a.shape)}, got {tuple(b.shape)}")
    if absolute:
        ma, mb = ma.abs(), mb.abs()
    return _spearman(ma, mb).float()


def model_randomization_test(method: Callable, model: nn.Module, inputs: torch.Tensor, target,
                             mode: str = "cascading", layers: list[str] | None = None, seed: int = 0,
                             absolute: bool = True, **method_options) -> dict[str, torch.Tensor]:
    """Rank correlation between ``method``'s maps on ``model`` and on randomized copies of it.

    ``method(model, inputs, target, **method_options)`` is any attribution method of the course. Returns
    ``{layer: correlations N, ...}`` in the order the layers were randomized (see ``randomized_models``).
    A method that explains the *model* gives correlations that fall towards 0 as more weights are
    randomized; one that stays high is mostly showing the input.
    """
    if not callable(method):
        raise TypeError(f"method: expected an attribution function, got {type(method).__name__}")
    reference = method(model, inputs, target, **method_options).detach()
    results = {}
    for name, randomized in randomized_models(model, layers, mode, seed):
        maps = method(randomized, inputs, target, **method_options).detach()
        results[name] = map_rank_correlation(reference, maps, absolute)
    return results


def summarize_correlations(results: dict[str, dict[str, torch.Tensor]], digits: int = 2) -> str:
    """A text table of mean rank correlations: rows = methods, columns = randomized layers.

    ``results`` maps a method's name to the output of ``model_randomization_test``. NaNs (constant maps)
    are left out of the means.
    """
    if not results:
        raise ValueError("results: expected at least one method")
    columns = list(next(iter(results.values())))
    width = max(len(c) for c in columns + ["0.00"]) + 1
    name_width = max(len(m) for m in results) + 1
    lines = [" " * name_width + "".join(c.rjust(width) for c in columns)]
    for method, per_layer in results.items():
        if list(per_layer) != columns:
            raise ValueError(f"results: method {method!r} has layers {list(per_layer)}, expected {columns}")
        cells = [f"{torch.nanmean(per_layer[c].double()).item():.{digits}f}" for c in columns]
        lines.append(method.ljust(name_width) + "".join(x.rjust(width) for x in cells))
    return "\n".join(lines)
