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

* ``occlusion(model, inputs, target, window, stride, value, ...)`` → N×C×H×W map of score drops (the target
  is a class logit, ``probability(c)``, ``unit_target(...)`` or any callable; see ``attribution.targets``).
* ``occlusion_grid(...)`` → N×Gh×Gw occluded target scores, one per window position.
* ``grid_to_pixels(grid, H, W, window, stride, mode)`` → per-pixel map (mean over covering windows, or the
  nearest window's value for categorical grids).
* ``occlusion_outputs(...)`` → N×Gh×Gw×K full model outputs per window (probability maps, most likely class).
* ``occluder_fill(inputs, value)`` → N×C×H×W image the occluder copies its pixels from.

Inside the network: with ``target=unit_target(layer, channel)`` the same sweep records a feature map's
activity (its mean, the total over positions divided by their number) as a function of the occluder's
position — Zeiler & Fergus's Fig. 7b, for the channel ``strongest_channel(model, image, layer)`` that is
most active on the unoccluded image; ``unit_target(layer, channel, y, x)`` records a single unit.

Bubbles
-------
Instead of hiding one window, show the image only through a few random Gaussian apertures ("bubbles") and
record the model's response; regions whose visibility goes with a high response are diagnostic.

* ``bubble_masks(n, height, width, n_bubbles, sigma, generator)`` → n×1×H×W masks in [0, 1].
* ``masks_from_centres(centres, height, width, sigma)`` → the same from given bubble centres.
* ``apply_bubbles(inputs, masks, value)``: ``mask·x + (1 − mask)·fill``.
* ``bubbles_responses(model, inputs, target, masks, ...)`` → N×M responses (Gosselin & Schyns' observer
  answers right or wrong: pass ``probability(c)`` for the model's equivalent; a logit can be negative).
* ``diagnostic_image(masks, responses, method)`` → 1×H×W signed diagnostic image.
* ``bubbles(model, inputs, target, ...)`` → N×C×H×W diagnostic images (all the steps above).

Gosselin & Schyns scored each trial right or wrong: binarise the responses (``(r > 0.5).float()``) to do
the same. With ``target=unit_target(...)`` the response is a hidden unit's activation (Bubbles on a unit).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ..hooks import preserved_state
from ..progress import progress
from ..validation import check_finite, check_images, one_of, positive_float, positive_int
from ._common import auto_batch_size, check_call
from .integrated import gaussian_blur  # shared with integrated gradients' blurred baseline

OCCLUDERS = ("zero", "mean", "blur", "bright")


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
    height, width = positive_int(height, "height"), positive_int(width, "width")
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
    size, window, stride = (positive_int(v, name) for v, name in ((size, "size"), (window, "window"),
                                                                   (stride, "stride")))
    if window > size:
        raise ValueError(f"window: {window} is larger than the image side ({size})")
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
    one_of(mode, "mode", ("mean", "nearest"))
    rows, cols = _coverage(height, wh, sh), _coverage(width, ww, sw)
    if not isinstance(grid, torch.Tensor):
        raise TypeError(f"grid: expected a tensor …×Gh×Gw, got {type(grid).__name__}")
    if grid.is_floating_point():
        check_finite(grid, "grid")
    if grid.ndim < 2 or grid.shape[-2:] != (rows.shape[1], cols.shape[1]):
        raise ValueError(f"grid: expected ...×{rows.shape[1]}×{cols.shape[1]} values for this window and "
                         f"stride, got shape {tuple(grid.shape)}")
    if mode == "nearest":
        def nearest(size: int, k: int, s: int) -> torch.Tensor:
            centres = torch.tensor(window_positions(size, k, s)) + (k - 1) / 2
            return (torch.arange(size)[:, None] - centres).abs().argmin(1).to(grid.device)
        return grid[..., nearest(height, wh, sh)[:, None], nearest(width, ww, sw)[None, :]]
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
    checked = check_images(inputs, "inputs")
    return _fill(inputs if inputs.dtype == torch.float64 else checked, value, blur_sigma)


def _fill(x: torch.Tensor, value, blur_sigma: float) -> torch.Tensor:
    """``occluder_fill`` on checked inputs ``x``."""
    n, c, h, w = x.shape
    x = x.detach()
    if isinstance(value, str):
        one_of(value, "value", OCCLUDERS)
        if value == "zero":
            return torch.zeros_like(x)
        if value == "mean":
            return x.mean((2, 3), keepdim=True).expand_as(x)
        if value == "bright":
            return x.amax((2, 3), keepdim=True).expand_as(x)
        return gaussian_blur(x, positive_float(blur_sigma, "blur_sigma", allow_zero=True))
    if isinstance(value, bool):
        raise TypeError("value: expected a name, a number or a tensor, got a bool")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"value: expected a finite occluder value, got {value}")
        return torch.full_like(x, float(value))
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            value = value.float()
        v = check_finite(value.detach(), "value").to(x)
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


def _outputs(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"model: expected outputs N×K (logits), got {shape}")
    return check_finite(out, "model")


# ----------------------------------------------------------------------------------------------- occlusion
def _evaluate_windows(model: nn.Module, x: torch.Tensor, fn: Callable, window, stride, value,
                      blur_sigma, batch_size: int | None, show_progress: bool) -> torch.Tensor:
    """``fn(model, occluded_batch, image_index_batch)`` for every (image, window) pair → N×Gh×Gw×… ;
    ``x`` is already checked (``check_call``)."""
    batch_size = auto_batch_size(batch_size, x.shape[1:])
    n, c, h, w = x.shape
    (wh, ww), (sh, sw) = _check_window(window, stride, h, w)
    if blur_sigma is not None:
        positive_float(blur_sigma, "blur_sigma", allow_zero=True)
    fill = _fill(x, value, blur_sigma if blur_sigma is not None else max(wh, ww) / 4)
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


def occlusion_grid(model: nn.Module, inputs: torch.Tensor, target, window=16, stride=8,
                   value: str | float | torch.Tensor = "zero", blur_sigma: float | None = None,
                   batch_size: int | None = None, show_progress: bool = False) -> torch.Tensor:
    """Target score of every occluded copy: ``inputs`` N×C×H×W → N×Gh×Gw (one value per window position).

    ``target``: class index (int or N indices: the logit), ``probability(c)``, or a callable
    ``target(model, x) -> Tensor[B]`` (an inner unit, see ``unit_target``).
    ``window``/``stride``: int or (h, w); ``value``: see ``occluder_fill`` (``blur_sigma`` defaults to
    window/4). Grid positions are ``window_positions(H, wh, sh)`` × ``window_positions(W, ww, sw)``.
    """
    x, target = check_call(model, inputs, target)
    return _evaluate_windows(model, x, lambda m, xb, idx: target[idx].scores(m, xb),
                             window, stride, value, blur_sigma, batch_size, show_progress)


def occlusion_outputs(model: nn.Module, inputs: torch.Tensor, window=16, stride=8,
                      value: str | float | torch.Tensor = "zero", blur_sigma: float | None = None,
                      batch_size: int | None = None, show_progress: bool = False) -> torch.Tensor:
    """The model's full output for every occluded copy: N×C×H×W → N×Gh×Gw×K (e.g. logits).

    Use it for several maps from one set of forward passes: the probability of the true class
    (``out.softmax(-1)[..., c]``) and the most likely class at each window position (``out.argmax(-1)``).
    """
    x, _ = check_call(model, inputs, 0)
    return _evaluate_windows(model, x, lambda m, xb, idx: _outputs(m, xb), window, stride, value,
                             blur_sigma, batch_size, show_progress)


def occlusion(model: nn.Module, inputs: torch.Tensor, target, window=16, stride=8,
              value: str | float | torch.Tensor = "zero", blur_sigma: float | None = None,
              batch_size: int | None = None, show_progress: bool = False) -> torch.Tensor:
    """Occlusion sensitivity map (Zeiler & Fergus 2014), shaped like ``inputs`` (N×C×H×W).

    At each pixel: the mean, over the windows covering it, of ``score(x) − score(x with the window
    occluded)``; positive where hiding the pixels lowers the score. Channels hold the same value.
    Options as in ``occlusion_grid``. Costs N·Gh·Gw forward passes, run in batches of ``batch_size``.
    The model is left as it was (eval mode and frozen parameters only inside the call).
    """
    x, t = check_call(model, inputs, target)
    n, c, h, w = x.shape
    batch_size = auto_batch_size(batch_size, x.shape[1:])
    grid = occlusion_grid(model, x, t, window, stride, value, blur_sigma, batch_size, show_progress)
    with preserved_state(model), torch.no_grad():
        base = torch.cat([t[a:a + batch_size].scores(model, x[a:a + batch_size]) for a in range(0, n, batch_size)])
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
    height, width = positive_int(height, "height"), positive_int(width, "width")
    sigma = positive_float(sigma, "sigma")
    c = check_finite(centres.float(), "centres")
    i = torch.arange(height, dtype=c.dtype, device=c.device)
    j = torch.arange(width, dtype=c.dtype, device=c.device)
    gy = torch.exp(-(i - c[..., :1]) ** 2 / (2 * sigma ** 2))      # N×K×H
    gx = torch.exp(-(j - c[..., 1:]) ** 2 / (2 * sigma ** 2))      # N×K×W
    return torch.einsum("nkh,nkw->nhw", gy, gx).clamp(max=1.0)[:, None]


def bubble_centres(n: int, n_bubbles: int, height: int, width: int,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` sets of ``n_bubbles`` centres drawn uniformly over the image: n×K×2 (row, column) floats."""
    for name, v in (("n", n), ("n_bubbles", n_bubbles), ("height", height), ("width", width)):
        positive_int(v, name)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    u = torch.rand(n, n_bubbles, 2, generator=generator)
    return u * torch.tensor([height - 1, width - 1], dtype=u.dtype)


def bubble_masks(n: int, height: int, width: int, n_bubbles: int = 10, sigma: float | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` random Bubbles masks, n×1×H×W in [0, 1]: ``n_bubbles`` Gaussian apertures of std ``sigma``
    (default min(H, W)/16) at uniformly drawn centres. Seeded through ``generator``."""
    centres = bubble_centres(n, n_bubbles, height, width, generator)
    sigma = positive_float(sigma, "sigma") if sigma is not None else min(height, width) / 16
    return masks_from_centres(centres, height, width, sigma)


def _check_masks(masks, height: int, width: int) -> torch.Tensor:
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"masks: expected a tensor M×1×{height}×{width}, got {type(masks).__name__}")
    if masks.ndim != 4 or masks.shape[1] != 1 or tuple(masks.shape[2:]) != (height, width) or not len(masks):
        raise ValueError(f"masks: expected M×1×{height}×{width}, got {tuple(masks.shape)}")
    if not masks.is_floating_point():
        masks = masks.float()
    return check_finite(masks, "masks")


def apply_bubbles(inputs: torch.Tensor, masks: torch.Tensor, value: str | float | torch.Tensor = "zero",
                  blur_sigma: float = 4.0) -> torch.Tensor:
    """Show one image through every mask: ``inputs`` 1×C×H×W, ``masks`` M×1×H×W → M×C×H×W.

    Each result is ``mask·x + (1 − mask)·fill`` with ``fill = occluder_fill(x, value)``.
    """
    checked = check_images(inputs, "inputs")
    x = (inputs if inputs.dtype == torch.float64 else checked).detach()
    if x.shape[0] != 1:
        raise ValueError(f"inputs: expected one image 1×C×H×W, got {tuple(x.shape)}")
    m = _check_masks(masks, *x.shape[2:]).to(x)
    return m * x + (1 - m) * _fill(x, value, blur_sigma)


def bubbles_responses(model: nn.Module, inputs: torch.Tensor, target, masks: torch.Tensor,
                      value: str | float | torch.Tensor = "zero", blur_sigma: float = 4.0,
                      batch_size: int | None = None, show_progress: bool = False) -> torch.Tensor:
    """The model's response to every image seen through every mask: N×C×H×W and M×1×H×W → N×M.

    The response is the target's score: ``probability(c)`` (Bubbles' usual response, positive), a class
    index (its logit), or ``target(model, x)`` for a callable.
    """
    x, t = check_call(model, inputs, target)
    batch_size = auto_batch_size(batch_size, x.shape[1:])
    masks = _check_masks(masks, *x.shape[2:])
    n, m = len(x), len(masks)
    out = []
    with preserved_state(model), torch.no_grad():
        chunks = [(i, a) for i in range(n) for a in range(0, m, batch_size)]
        for i, a in progress(chunks, enabled=show_progress, desc="bubbles"):
            xb = apply_bubbles(x[i:i + 1], masks[a:a + batch_size], value, blur_sigma)
            out.append(t[[i] * len(xb)].scores(model, xb).detach())
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
    if not isinstance(masks, torch.Tensor) or masks.ndim != 4 or masks.shape[1] != 1:
        raise ValueError(f"masks: expected M×1×H×W, got "
                         f"{tuple(masks.shape) if isinstance(masks, torch.Tensor) else type(masks).__name__}")
    masks = _check_masks(masks, *masks.shape[2:])
    one_of(method, "method", ("weighted", "contrast"))
    if not isinstance(responses, torch.Tensor):
        raise TypeError(f"responses: expected a tensor of {len(masks)} responses, got {type(responses).__name__}")
    r = check_finite(responses.detach().reshape(-1).to(masks), "responses")
    if len(r) != len(masks):
        raise ValueError(f"responses: expected one response per mask ({len(masks)}), got {len(r)}")
    if method == "weighted":
        if not r.sum() > 0:
            raise ValueError("responses: the weighted diagnostic needs responses with a positive sum "
                             "(use probability(c) as the target), or use method='contrast'")
        w = (r - r.mean()) / r.sum()
        return torch.einsum("m,mchw->chw", w, masks)
    quantile = positive_float(quantile, "quantile")
    if not quantile < 1:
        raise ValueError(f"quantile: expected a number in (0, 1), got {quantile}")
    high = r > torch.quantile(r, quantile)
    if high.all() or not high.any():
        return torch.zeros_like(masks[0])
    return masks[high].mean(0) - masks[~high].mean(0)


def bubbles(model: nn.Module, inputs: torch.Tensor, target, n_masks: int = 200, n_bubbles: int = 10,
            sigma: float | None = None, value: str | float | torch.Tensor = "zero", method: str = "weighted",
            seed: int = 0, blur_sigma: float = 4.0, batch_size: int | None = None,
            show_progress: bool = False) -> torch.Tensor:
    """Bubbles diagnostic images (Gosselin & Schyns 2001), shaped like ``inputs`` (N×C×H×W).

    Draws ``n_masks`` masks of ``n_bubbles`` Gaussian bubbles (std ``sigma``, default min(H, W)/16) with a
    generator seeded by ``seed`` (the same masks for every image), records each image's response through
    each mask (``bubbles_responses``; ``probability(c)`` is the usual target) and combines them with
    ``diagnostic_image(method)``. Costs N·n_masks forward passes in batches of ``batch_size``.
    """
    x, t = check_call(model, inputs, target)
    n_masks = positive_int(n_masks, "n_masks")
    one_of(method, "method", ("weighted", "contrast"))
    n, c, h, w = x.shape
    masks = bubble_masks(n_masks, h, w, n_bubbles, sigma, torch.Generator().manual_seed(positive_int(seed, "seed", 0)))
    r = bubbles_responses(model, x, t, masks.to(x.device), value, blur_sigma, batch_size, show_progress)
    d = torch.stack([diagnostic_image(masks.to(x.device), r[i], method) for i in range(n)])
    return d.expand(n, c, h, w).contiguous()


def reveal(inputs: torch.Tensor, diagnostic: torch.Tensor, value: str | float | torch.Tensor = "zero",
           blur_sigma: float = 4.0) -> torch.Tensor:
    """The image seen through its diagnostic regions: 1×C×H×W and a diagnostic (…×H×W) → 1×C×H×W.

    The positive part of the diagnostic, scaled to [0, 1], is used as a mask (as in Gosselin & Schyns'
    figures of what the observer used); ``value`` fills the rest.
    """
    checked = check_images(inputs, "inputs")
    if not isinstance(diagnostic, torch.Tensor):
        raise TypeError(f"diagnostic: expected a tensor …×H×W, got {type(diagnostic).__name__}")
    if diagnostic.ndim < 2 or tuple(diagnostic.shape[-2:]) != tuple(checked.shape[-2:]):
        raise ValueError(f"diagnostic: expected …×{checked.shape[2]}×{checked.shape[3]} like inputs, got "
                         f"{tuple(diagnostic.shape)}")
    d = check_finite(diagnostic.detach().float(), "diagnostic")
    d = d.reshape(-1, *d.shape[-2:])[:1].clamp(min=0)
    d = d / d.max() if d.max() > 0 else d
    return apply_bubbles(inputs, d[None], value, blur_sigma)
