"""Perturbation methods: occlusion (Zeiler & Fergus 2014) and Bubbles (Gosselin & Schyns 2001).

Both only need forward passes: change part of the input, run the model, compare its score with the score
of the untouched input. Every perturbed copy is built with tensor operations and evaluated in batches of
``batch_size`` (never one forward pass per window in a Python loop); ``None`` picks the batch from the
image size (``attribution.auto_batch_size``: 4 copies of a 224² photo, hundreds of 28² images).

Occlusion
---------
A ``window`` (h×w pixels) slides over the image with a ``stride``; at each position the pixels under the
window, in every channel, are replaced by an occluder (``value``). Window positions along an axis of size S
are ``0, s, 2s, …`` up to ``S − w``, plus ``S − w`` itself when the stride does not land on it, so the last
rows and columns are probed too (see ``window_positions``; with a stride larger than the window, the pixels
between windows are never covered and get 0). For window position p the score drop is

    Δ_p = f(x) − f(x with window p occluded)

and the map at pixel (i, j) is the mean of Δ_p over the windows that cover (i, j) (``grid_to_pixels``). The
map has the input's shape (the value is repeated over channels, since a window hides all channels at once).

* ``occlusion(model, inputs, target, window, stride, value, ...)`` → N×C×H×W map of score drops.
* ``occlusion_grid(...)`` → N×Gh×Gw occluded target scores, one per window position.
* ``grid_to_pixels(grid, H, W, window, stride, mode)`` → per-pixel map (mean over covering windows, or the
  nearest window's value for categorical grids).
* ``occlusion_outputs(...)`` → N×Gh×Gw×K full model outputs per window (probability maps, most likely class).
* ``occluder_fill(inputs, value)`` → N×C×H×W image the occluder copies its pixels from.

Bubbles
-------
Instead of hiding one window, show the image only through a few random Gaussian apertures ("bubbles") and
record the model's response; regions whose visibility goes with a high response are diagnostic.

* ``bubble_masks(n, height, width, n_bubbles, sigma, generator)`` → n×1×H×W masks in [0, 1].
* ``masks_from_centres(centres, height, width, sigma)`` → the same from given bubble centres.
* ``apply_bubbles(inputs, masks, value)``: ``mask·x + (1 − mask)·fill``.
* ``bubbles_responses(model, inputs, target, masks, ...)`` → N×M responses.
* ``diagnostic_image(masks, responses, method)`` → 1×H×W signed diagnostic image.
* ``bubbles(model, inputs, target, ...)`` → N×C×H×W diagnostic images (all the steps above).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..hooks import preserved_state
from ..progress import progress
from ._common import Target, auto_batch_size, check_inputs, resolve_target
from .integrated import gaussian_blur  # shared with integrated gradients' blurred baseline

OCCLUDERS = ("zero", "mean", "blur", "bright")
SCORES = ("logit", "probability")


# ------------------------------------------------------------------------------------------ argument checks
def _pair(v, name: str) -> tuple[int, int]:
    """An int or a pair of ints → a pair of positive ints (raises naming ``name``)."""
    if isinstance(v, bool):
        raise TypeError(f"{name}: expected a positive int or a pair (h, w) of positive ints, got a bool")
    if isinstance(v, int):
        v = (v, v)
    if (not isinstance(v, (tuple, list)) or len(v) != 2
            or not all(isinstance(a, int) and not isinstance(a, bool) for a in v)):
        raise TypeError(f"{name}: expected a positive int or a pair (h, w) of positive ints, got {v!r}")
    if min(v) < 1:
        raise ValueError(f"{name}: expected positive sizes, got {tuple(v)}")
    return int(v[0]), int(v[1])


def _check_window(window, stride, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
    wh, ww = _pair(window, "window")
    sh, sw = _pair(stride, "stride")
    if wh > height or ww > width:
        raise ValueError(f"window: {wh}×{ww} is larger than the image ({height}×{width})")
    return (wh, ww), (sh, sw)


def window_positions(size: int, window: int, stride: int) -> list[int]:
    """Start indices of a window sliding along an axis of length ``size``: 0, s, 2s, … ≤ size − window,
    plus ``size − window`` when the stride does not land on it (so the last pixels are covered too).

    >>> window_positions(10, 4, 3)
    [0, 3, 6]
    >>> window_positions(10, 4, 4)
    [0, 4, 6]
    """
    if window > size:
        raise ValueError(f"window: {window} is larger than the image side ({size})")
    if stride < 1:
        raise ValueError(f"stride: expected a positive int, got {stride}")
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


def _coverage(size: int, window: int, stride: int) -> torch.Tensor:
    """size×G matrix, 1 where pixel i lies inside window g (along one axis)."""
    starts = torch.tensor(window_positions(size, window, stride))
    i = torch.arange(size)[:, None]
    return ((i >= starts) & (i < starts + window)).float()


def grid_to_pixels(grid: torch.Tensor, height: int, width: int, window, stride, mode: str = "mean") -> torch.Tensor:
    """Per-window values …×Gh×Gw → per-pixel map …×H×W.

    ``mode="mean"``: each pixel gets the mean over the windows covering it (pixels no window covers, when the
    stride exceeds the window, get 0). The sum over covering windows is ``A_rows @ grid @ A_colsᵀ`` with the
    0/1 coverage matrices of the two axes; the number of covering windows is the same product on ones.
    ``mode="nearest"``: each pixel gets the value of the window whose centre is nearest (for categorical
    grids such as the most likely class; works for any dtype).
    """
    (wh, ww), (sh, sw) = _check_window(window, stride, height, width)
    rows, cols = _coverage(height, wh, sh), _coverage(width, ww, sw)
    if grid.ndim < 2 or grid.shape[-2:] != (rows.shape[1], cols.shape[1]):
        raise ValueError(f"grid: expected ...×{rows.shape[1]}×{cols.shape[1]} values for this window and "
                         f"stride, got shape {tuple(grid.shape)}")
    if mode == "nearest":
        def nearest(size: int, k: int, s: int) -> torch.Tensor:
            centres = torch.tensor(window_positions(size, k, s)) + (k - 1) / 2
            return (torch.arange(size)[:, None] - centres).abs().argmin(1).to(grid.device)
        return grid[..., nearest(height, wh, sh)[:, None], nearest(width, ww, sw)[None, :]]
    if mode != "mean":
        raise ValueError(f"mode: expected 'mean' or 'nearest', got {mode!r}")
    rows, cols = rows.to(grid), cols.to(grid)
    total = rows @ grid @ cols.T
    count = rows.sum(1)[:, None] * cols.sum(1)[None, :]
    return total / count.clamp(min=1)


def occluder_fill(inputs: torch.Tensor, value: str | float | torch.Tensor = "zero",
                  blur_sigma: float = 4.0) -> torch.Tensor:
    """The image an occluder copies its pixels from, N×C×H×W, in the model's input units.

    ``value``:
    * ``"zero"`` – 0 (black for FashionCNN's [0, 1] pixels; mid-grey for Lite0's normalized pixels),
    * ``"mean"`` – each image's own per-channel mean,
    * ``"blur"`` – the image blurred with a Gaussian of std ``blur_sigma`` (keeps colour, removes detail),
    * ``"bright"`` – each image's own per-channel maximum (a white square on most photos),
    * a number – that constant; a tensor of shape C (one value per channel), C×H×W or N×C×H×W (a baseline
      image whose pixels are copied, e.g. a dataset-mean image).
    """
    check_inputs(inputs)
    n, c, h, w = inputs.shape
    x = inputs.detach()
    if isinstance(value, str):
        if value == "zero":
            return torch.zeros_like(x)
        if value == "mean":
            return x.mean((2, 3), keepdim=True).expand_as(x)
        if value == "bright":
            return x.amax((2, 3), keepdim=True).expand_as(x)
        if value == "blur":
            return gaussian_blur(x, blur_sigma)
        raise ValueError(f"value: expected one of {OCCLUDERS}, a number or a tensor, got {value!r}")
    if isinstance(value, bool):
        raise TypeError("value: expected a name, a number or a tensor, got a bool")
    if isinstance(value, (int, float)):
        return torch.full_like(x, float(value))
    if isinstance(value, torch.Tensor):
        v = value.detach().to(x)
        if v.ndim == 0:
            return torch.full_like(x, v.item())
        if v.shape in ((c,), (c, 1, 1)):
            return v.reshape(1, c, 1, 1).expand_as(x)
        if v.shape == (c, h, w):
            return v[None].expand_as(x)
        if v.shape == (n, c, h, w):
            return v
        raise ValueError(f"value: a tensor occluder must have shape ({c},), ({c}, {h}, {w}) or "
                         f"({n}, {c}, {h}, {w}) to match inputs {tuple(x.shape)}, got {tuple(v.shape)}")
    raise TypeError(f"value: expected one of {OCCLUDERS}, a number or a tensor, got {type(value).__name__}")


def _check_score(score: str, target) -> None:
    if score not in SCORES:
        raise ValueError(f"score: expected one of {SCORES}, got {score!r}")
    if score == "probability" and callable(target):
        raise ValueError("score: 'probability' needs class-index targets; a callable target gives its own score")


def _scores(model: nn.Module, x: torch.Tensor, target, idx: torch.Tensor, score: str) -> torch.Tensor:
    """Scores of a batch ``x`` whose rows belong to images ``idx``: the target logit/probability, or target(model, x)."""
    if callable(target):
        s = target(model, x)
        if not isinstance(s, torch.Tensor) or s.shape != (len(x),):
            raise ValueError(f"target: the callable must return one score per input (shape ({len(x)},)), "
                             f"got {tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__}")
        return s
    out = _outputs(model, x)
    t = target[idx].to(out.device)
    if t.min() < 0 or t.max() >= out.shape[1]:
        raise ValueError(f"target: class indices must lie in [0, {out.shape[1] - 1}], "
                         f"got {t.min().item()}..{t.max().item()}")
    if score == "probability":
        out = out.softmax(1)
    return out.gather(1, t.view(-1, 1)).squeeze(1)


def _outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    if out.ndim != 2:
        raise ValueError(f"model: expected outputs N×K (logits), got shape {tuple(out.shape)}; "
                         "pass a callable target to select a unit")
    return out


# ----------------------------------------------------------------------------------------------- occlusion
def _evaluate_windows(model: nn.Module, inputs: torch.Tensor, fn: Callable, window, stride, value,
                      blur_sigma, batch_size: int | None, show_progress: bool) -> torch.Tensor:
    """``fn(model, occluded_batch, image_index_batch)`` for every (image, window) pair → N×Gh×Gw×… ."""
    check_inputs(inputs)
    batch_size = auto_batch_size(batch_size, inputs.shape[1:])
    n, c, h, w = inputs.shape
    (wh, ww), (sh, sw) = _check_window(window, stride, h, w)
    x = inputs.detach()
    fill = occluder_fill(x, value, blur_sigma if blur_sigma is not None else max(wh, ww) / 4)
    tops = torch.tensor(window_positions(h, wh, sh), device=x.device)
    lefts = torch.tensor(window_positions(w, ww, sw), device=x.device)
    gh, gw = len(tops), len(lefts)
    total = n * gh * gw
    rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    results = []
    with preserved_state(model), torch.no_grad():
        chunks = [slice(a, min(a + batch_size, total)) for a in range(0, total, batch_size)]
        for sl in progress(chunks, enabled=show_progress, desc="occlusion"):
            k = torch.arange(sl.start, sl.stop, device=x.device)
            img, pos = k // (gh * gw), k % (gh * gw)
            top, left = tops[pos // gw], lefts[pos % gw]
            in_rows = (rows >= top[:, None]) & (rows < top[:, None] + wh)          # B×H
            in_cols = (cols >= left[:, None]) & (cols < left[:, None] + ww)        # B×W
            mask = (in_rows[:, :, None] & in_cols[:, None, :])[:, None]           # B×1×H×W
            occluded = torch.where(mask, fill[img], x[img])
            results.append(fn(model, occluded, img).detach())
    out = torch.cat(results)
    return out.reshape(n, gh, gw, *out.shape[1:])


def occlusion_grid(model: nn.Module, inputs: torch.Tensor, target: Target, window=16, stride=8,
                   value: str | float | torch.Tensor = "zero", score: str = "logit", blur_sigma: float | None = None,
                   batch_size: int | None = None, show_progress: bool = False) -> torch.Tensor:
    """Target score of every occluded copy: ``inputs`` N×C×H×W → N×Gh×Gw (one value per window position).

    ``target``: class index (int or N indices) or a callable ``target(model, x) -> Tensor[B]`` (an inner
    unit, see ``unit_target``); ``score``: ``"logit"`` or ``"probability"`` (softmax) for class targets.
    ``window``/``stride``: int or (h, w); ``value``: see ``occluder_fill`` (``blur_sigma`` defaults to
    window/4). Grid positions are ``window_positions(H, wh, sh)`` × ``window_positions(W, ww, sw)``.
    """
    check_inputs(inputs)
    _check_score(score, target)
    target = resolve_target(target, len(inputs))
    return _evaluate_windows(model, inputs, lambda m, xb, idx: _scores(m, xb, target, idx, score),
                             window, stride, value, blur_sigma, batch_size, show_progress)


def occlusion_outputs(model: nn.Module, inputs: torch.Tensor, window=16, stride=8,
                      value: str | float | torch.Tensor = "zero", blur_sigma: float | None = None,
                      batch_size: int | None = None, show_progress: bool = False) -> torch.Tensor:
    """The model's full output for every occluded copy: N×C×H×W → N×Gh×Gw×K (e.g. logits).

    Use it for several maps from one set of forward passes: the probability of the true class
    (``out.softmax(-1)[..., c]``) and the most likely class at each window position (``out.argmax(-1)``).
    """
    return _evaluate_windows(model, inputs, lambda m, xb, idx: _outputs(m, xb), window, stride, value,
                             blur_sigma, batch_size, show_progress)


def occlusion(model: nn.Module, inputs: torch.Tensor, target: Target, window=16, stride=8,
              value: str | float | torch.Tensor = "zero", score: str = "logit", blur_sigma: float | None = None,
              batch_size: int | None = None, show_progress: bool = False) -> torch.Tensor:
    """Occlusion sensitivity map (Zeiler & Fergus 2014), shaped like ``inputs`` (N×C×H×W).

    At each pixel: the mean, over the windows covering it, of ``score(x) − score(x with the window
    occluded)``; positive where hiding the pixels lowers the score. Channels hold the same value.
    Options as in ``occlusion_grid``. Costs N·Gh·Gw forward passes, run in batches of ``batch_size``.
    The model is left as it was (eval mode and frozen parameters only inside the call).
    """
    check_inputs(inputs)
    _check_score(score, target)
    t = resolve_target(target, len(inputs))
    n, c, h, w = inputs.shape
    batch_size = auto_batch_size(batch_size, inputs.shape[1:])
    grid = occlusion_grid(model, inputs, t, window, stride, value, score, blur_sigma, batch_size, show_progress)
    with preserved_state(model), torch.no_grad():
        base = torch.cat([_scores(model, inputs[a:a + batch_size].detach(), t,
                                  torch.arange(a, min(a + batch_size, n)), score)
                          for a in range(0, n, batch_size)])
    drop = base.view(n, 1, 1).to(grid) - grid
    return grid_to_pixels(drop, h, w, window, stride)[:, None].expand(n, c, h, w).contiguous()


# ------------------------------------------------------------------------------------------------- bubbles
def masks_from_centres(centres: torch.Tensor, height: int, width: int, sigma: float) -> torch.Tensor:
    """Bubble masks from their centres: N×K×2 (row, column) → N×1×H×W in [0, 1].

    mask(i, j) = min(1, Σ_k exp(−((i − r_k)² + (j − c_k)²) / (2σ²))); the Gaussian is separable, so the sum
    over bubbles is one product of N×K×H row factors and N×K×W column factors.
    """
    if not isinstance(centres, torch.Tensor) or centres.ndim != 3 or centres.shape[-1] != 2:
        raise ValueError(f"centres: expected a tensor N×K×2 of (row, column) positions, got "
                         f"{tuple(centres.shape) if isinstance(centres, torch.Tensor) else type(centres).__name__}")
    if not sigma > 0:
        raise ValueError(f"sigma: expected a positive bubble size in pixels, got {sigma}")
    c = centres.float()
    i = torch.arange(height, dtype=c.dtype, device=c.device)
    j = torch.arange(width, dtype=c.dtype, device=c.device)
    gy = torch.exp(-(i - c[..., :1]) ** 2 / (2 * sigma ** 2))      # N×K×H
    gx = torch.exp(-(j - c[..., 1:]) ** 2 / (2 * sigma ** 2))      # N×K×W
    return torch.einsum("nkh,nkw->nhw", gy, gx).clamp(max=1.0)[:, None]


def bubble_centres(n: int, n_bubbles: int, height: int, width: int,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` sets of ``n_bubbles`` centres drawn uniformly over the image: n×K×2 (row, column) floats."""
    for name, v in (("n", n), ("n_bubbles", n_bubbles), ("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}: expected a positive int, got {v!r}")
    u = torch.rand(n, n_bubbles, 2, generator=generator)
    return u * torch.tensor([height - 1, width - 1], dtype=u.dtype)


def bubble_masks(n: int, height: int, width: int, n_bubbles: int = 10, sigma: float | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` random Bubbles masks, n×1×H×W in [0, 1]: ``n_bubbles`` Gaussian apertures of std ``sigma``
    (default min(H, W)/16) at uniformly drawn centres. Seeded through ``generator``."""
    sigma = sigma if sigma is not None else min(height, width) / 16
    return masks_from_centres(bubble_centres(n, n_bubbles, height, width, generator), height, width, sigma)


def apply_bubbles(inputs: torch.Tensor, masks: torch.Tensor, value: str | float | torch.Tensor = "zero",
                  blur_sigma: float = 4.0) -> torch.Tensor:
    """Show one image through every mask: ``inputs`` 1×C×H×W, ``masks`` M×1×H×W → M×C×H×W.

    Each result is ``mask·x + (1 − mask)·fill`` with ``fill = occluder_fill(x, value)``.
    """
    check_inputs(inputs)
    if inputs.shape[0] != 1:
        raise ValueError(f"inputs: expected one image 1×C×H×W, got {tuple(inputs.shape)}")
    if masks.ndim != 4 or masks.shape[1] != 1 or masks.shape[2:] != inputs.shape[2:]:
        raise ValueError(f"masks: expected M×1×{inputs.shape[2]}×{inputs.shape[3]}, got {tuple(masks.shape)}")
    fill = occluder_fill(inputs, value, blur_sigma)
    m = masks.to(inputs)
    return m * inputs.detach() + (1 - m) * fill


def bubbles_responses(model: nn.Module, inputs: torch.Tensor, target: Target, masks: torch.Tensor,
                      value: str | float | torch.Tensor = "zero", score: str = "probability",
                      blur_sigma: float = 4.0, batch_size: int | None = None, show_progress: bool = False) -> torch.Tensor:
    """The model's response to every image seen through every mask: N×C×H×W and M×1×H×W → N×M.

    The response is the target's probability (default) or logit, or ``target(model, x)`` for a callable.
    """
    check_inputs(inputs)
    batch_size = auto_batch_size(batch_size, inputs.shape[1:])
    _check_score(score, target)
    t = resolve_target(target, len(inputs))
    n, m = len(inputs), len(masks)
    out = []
    with preserved_state(model), torch.no_grad():
        chunks = [(i, a) for i in range(n) for a in range(0, m, batch_size)]
        for i, a in progress(chunks, enabled=show_progress, desc="bubbles"):
            xb = apply_bubbles(inputs[i:i + 1], masks[a:a + batch_size], value, blur_sigma)
            out.append(_scores(model, xb, t, torch.full((len(xb),), i), score).detach())
    return torch.cat(out).view(n, m)


def diagnostic_image(masks: torch.Tensor, responses: torch.Tensor, method: str = "weighted",
                     quantile: float = 0.5) -> torch.Tensor:
    """Bubbles diagnostic image from masks M×1×H×W and one response per mask (M) → 1×H×W, signed.

    * ``"weighted"``: Σ_i r_i M_i / Σ_i r_i − (1/M) Σ_i M_i — where the bubbles were on the trials with a
      high response, minus where they were on average (= Σ_i (r_i − r̄) M_i / Σ_i r_i). Needs Σ r_i > 0.
    * ``"contrast"``: mean mask of the trials with a response above the ``quantile`` of the responses
      minus the mean mask of the others (Gosselin & Schyns: correct minus incorrect trials).
    Positive where seeing the pixel goes with a high response.
    """
    if masks.ndim != 4 or masks.shape[1] != 1:
        raise ValueError(f"masks: expected M×1×H×W, got {tuple(masks.shape)}")
    r = responses.detach().reshape(-1).to(masks)
    if len(r) != len(masks):
        raise ValueError(f"responses: expected one response per mask ({len(masks)}), got {len(r)}")
    if method == "weighted":
        if not r.sum() > 0:
            raise ValueError("responses: the weighted diagnostic needs responses with a positive sum "
                             "(use probabilities), or use method='contrast'")
        w = (r - r.mean()) / r.sum()
        return torch.einsum("m,mchw->chw", w, masks)
    if method == "contrast":
        if not 0 < quantile < 1:
            raise ValueError(f"quantile: expected a number in (0, 1), got {quantile}")
        high = r > torch.quantile(r, quantile)
        if high.all() or not high.any():
            return torch.zeros_like(masks[0])
        return masks[high].mean(0) - masks[~high].mean(0)
    raise ValueError(f"method: expected 'weighted' or 'contrast', got {method!r}")


def bubbles(model: nn.Module, inputs: torch.Tensor, target: Target, n_masks: int = 200, n_bubbles: int = 10,
            sigma: float | None = None, value: str | float | torch.Tensor = "zero", score: str = "probability",
            method: str = "weighted", seed: int = 0, blur_sigma: float = 4.0, batch_size: int | None = None,
            show_progress: bool = False) -> torch.Tensor:
    """Bubbles diagnostic images (Gosselin & Schyns 2001), shaped like ``inputs`` (N×C×H×W).

    Draws ``n_masks`` masks of ``n_bubbles`` Gaussian bubbles (std ``sigma``, default min(H, W)/16) with a
    generator seeded by ``seed`` (the same masks for every image), records each image's response through
    each mask (``bubbles_responses``) and combines them with ``diagnostic_image(method)``.
    Costs N·n_masks forward passes in batches of ``batch_size``.
    """
    check_inputs(inputs)
    n, c, h, w = inputs.shape
    masks = bubble_masks(n_masks, h, w, n_bubbles, sigma, torch.Generator().manual_seed(seed)).to(inputs.device)
    r = bubbles_responses(model, inputs, target, masks, value, score, blur_sigma, batch_size, show_progress)
    d = torch.stack([diagnostic_image(masks, r[i], method) for i in range(n)])
    return d.expand(n, c, h, w).contiguous()


def reveal(inputs: torch.Tensor, diagnostic: torch.Tensor, value: str | float | torch.Tensor = "zero",
           blur_sigma: float = 4.0) -> torch.Tensor:
    """The image seen through its diagnostic regions: 1×C×H×W and a diagnostic (…×H×W) → 1×C×H×W.

    The positive part of the diagnostic, scaled to [0, 1], is used as a mask (as in Gosselin & Schyns'
    figures of what the observer used); ``value`` fills the rest.
    """
    d = diagnostic.detach().reshape(-1, *diagnostic.shape[-2:])[:1].clamp(min=0)
    d = d / d.max() if d.max() > 0 else d
    return apply_bubbles(inputs, d[None], value, blur_sigma)


# -------------------------------------------------------------------------------------------------- plots
def show_class_map(labels, class_names, ax=None, image=None, max_classes: int = 6, title: str | None = None):
    """Draw a map of class indices over an image, one colour per class: a pixel map H×W (e.g.
    ``grid_to_pixels(outputs.argmax(-1), H, W, window, stride, mode="nearest")``, the most likely class with
    the occluder nearest to each pixel) or a coarse grid stretched over the image, with a legend naming the ``max_classes`` most frequent
    classes (the rest grouped as "other"). Returns the Axes."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from ..plotting import to_numpy_image

    lab = torch.as_tensor(labels).cpu()
    if lab.ndim != 2:
        raise ValueError(f"labels: expected a 2-d grid of class indices, got shape {tuple(lab.shape)}")
    ids, counts = lab.unique(return_counts=True)
    order = ids[counts.argsort(descending=True)].tolist()
    shown = order[:max_classes]
    codes = torch.full_like(lab, len(shown))
    for k, cls in enumerate(shown):
        codes[lab == cls] = k
    colours = list(plt.get_cmap("tab10").colors[:len(shown)]) + [(0.6, 0.6, 0.6)]
    ax = ax or plt.subplots(figsize=(3.5, 3))[1]
    extent = None
    if image is not None:
        img = to_numpy_image(image)
        ax.imshow(img if img.ndim == 3 else img, cmap=None if img.ndim == 3 else "gray")
        extent = (-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5)
    ax.imshow(codes.numpy(), cmap=ListedColormap(colours), vmin=-0.5, vmax=len(colours) - 0.5,
              alpha=0.55 if image is not None else 1.0, extent=extent, interpolation="nearest")
    handles = [Patch(color=colours[k], label=str(class_names[cls])) for k, cls in enumerate(shown)]
    if len(order) > len(shown):
        handles.append(Patch(color=colours[-1], label=f"{len(order) - len(shown)} other classes"))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax
