"""Checks for lecture 03 (occlusion and Bubbles): each runs your function on fresh cases and compares it
with ``course_utils.attribution`` (``occlusion``, ``masks_from_centres``, ``diagnostic_image``).

* ``check_occlusion_map(fn)`` – ``fn(model, image, target, window, stride, value)``: image C×H×W → H×W map.
* ``check_bubble_masks(fn)`` – ``fn(centres, height, width, sigma)``: centres N×K×2 → N×1×H×W masks.
* ``check_diagnostic_image(fn)`` – ``fn(masks, responses)``: M×1×H×W and M → 1×H×W (weighted method).
"""
from __future__ import annotations

import torch
from torch import nn

from ..attribution.occlusion import (diagnostic_image, grid_to_pixels, masks_from_centres, occlusion,
                                     occlusion_grid, window_positions)
from . import Case, CheckResult, compare, run_check


def _tiny_cnn(channels: int, seed: int) -> nn.Module:
    """A small random CNN (conv → ReLU → max-pool → conv → global average → 4 logits), seeded."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(channels, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 4))
    return model.eval()


def _image(c: int, h: int, w: int, seed: int) -> torch.Tensor:
    return torch.rand(c, h, w, generator=torch.Generator().manual_seed(seed))


def _diagnose(state: dict):
    """A ``compare_fn``: the usual comparison, and when it fails, the message of the first typical mistake
    whose result ``got`` reproduces (``state["alternatives"]``: (result of the mistake, message) pairs that
    the reference fills in for the current case)."""
    def compare_fn(expected, got):
        problem = compare(expected, got)
        if problem is None:
            return None
        for alt, message in state.get("alternatives", []):
            if alt is not None and isinstance(got, torch.Tensor) and got.shape == alt.shape and torch.allclose(
                    got.detach().double().nan_to_num(0.0), alt.double(), atol=1e-5, rtol=1e-4):
                return message
        return problem
    return compare_fn


# ------------------------------------------------------------------------------------------ occlusion map
def check_occlusion_map(fn) -> CheckResult:
    """``fn(model, image, target, window, stride, value)`` → H×W map of logit drops, averaged over the
    windows covering each pixel (window positions as in ``window_positions``)."""
    state: dict = {}

    def reference(model, image, target, window, stride, value):
        expected = occlusion(model, image[None], target, window, stride, value=float(value), batch_size=64)[0, 0]
        h, w = image.shape[1:]
        grid = occlusion_grid(model, image[None], target, window, stride, value=float(value))[0]
        with torch.no_grad():
            base = model(image[None])[0, target]
        drop = base - grid
        rows, cols = window_positions(h, window, stride), window_positions(w, window, stride)
        summed = torch.zeros(h, w)
        for a, top in enumerate(rows):
            for b, left in enumerate(cols):
                summed[top:top + window, left:left + window] += drop[a, b]
        # the "no last window" version: positions range(0, S − w + 1, s) only, uncovered pixels left at 0
        short_r, short_c = list(range(0, h - window + 1, stride)), list(range(0, w - window + 1, stride))
        short = None
        if (short_r, short_c) != (rows, cols):
            keep_r = torch.tensor([rows.index(t) for t in short_r])
            keep_c = torch.tensor([cols.index(t) for t in short_c])
            acc, cnt = torch.zeros(h, w), torch.zeros(h, w)
            for a in keep_r.tolist():
                for b in keep_c.tolist():
                    acc[rows[a]:rows[a] + window, cols[b]:cols[b] + window] += drop[a, b]
                    cnt[rows[a]:rows[a] + window, cols[b]:cols[b] + window] += 1
            short = torch.where(cnt > 0, acc / cnt.clamp(min=1), torch.zeros(()))
        state["alternatives"] = [
            (drop, "you returned one value per window position (a grid); spread each drop over the pixels "
                   "of its window and average where windows overlap, so the map is H×W like the image"),
            (summed, "you added the drops of overlapping windows: divide each pixel by the number of windows "
                     "that cover it (average, not sum)"),
            (short, "the pixels near the right/bottom border are wrong: when the stride does not land on "
                    "S − window, add a last window starting at S − window (see window_positions)"),
            (grid_to_pixels(grid[None], h, w, window, stride)[0],
             "you averaged the occluded scores themselves; the map is the drop score(x) − score(occluded)"),
        ]
        return expected

    m1, m3 = _tiny_cnn(1, 11), _tiny_cnn(3, 12)
    cases = [
        Case("grey 1×12×12 image, window 4, stride 4, occluder 0", (m1, _image(1, 12, 12, 1), 2, 4, 4, 0.0)),
        Case("grey 1×12×12 image, window 5, stride 2, occluder 0.5", (m1, _image(1, 12, 12, 2), 0, 5, 2, 0.5)),
        Case("RGB 3×10×13 image, window 3, stride 3, occluder 0", (m3, _image(3, 10, 13, 3), 1, 3, 3, 0.0)),
        Case("RGB 3×9×9 image, window 9 (whole image), stride 1, occluder 1", (m3, _image(3, 9, 9, 4), 3, 9, 1, 1.0)),
    ]
    return run_check("check_occlusion_map", fn, reference, cases, compare_fn=_diagnose(state),
                     hint="for every window position: copy the image, set the window (all channels) to `value`, "
                          "run the model, and add score(image) − score(copy) to the pixels under the window; "
                          "divide by how many windows covered each pixel. Use torch.no_grad().")


# ------------------------------------------------------------------------------------------- bubble masks
def check_bubble_masks(fn) -> CheckResult:
    """``fn(centres, height, width, sigma)``: N×K×2 (row, column) centres → N×1×H×W masks in [0, 1]."""
    state: dict = {}

    def reference(centres, height, width, sigma):
        i = torch.arange(height, dtype=torch.float32)[:, None]
        j = torch.arange(width, dtype=torch.float32)[None, :]
        d2 = (i - centres[:, :, 0, None, None]) ** 2 + (j - centres[:, :, 1, None, None]) ** 2   # N×K×H×W
        g = torch.exp(-d2 / (2 * sigma ** 2))
        expected = masks_from_centres(centres, height, width, sigma)
        state["alternatives"] = [
            (expected[:, 0], "the masks have no channel dimension: return N×1×H×W (e.g. `masks[:, None]`)"),
            (g.sum(1, keepdim=True), "mask values go above 1 where bubbles overlap: clip the sum at 1 "
                                     "(`.clamp(max=1)`)"),
            (g.amax(1, keepdim=True), "you combined the bubbles with a maximum; the course adds them and "
                                      "clips the sum at 1, so overlapping bubbles reinforce each other"),
            (masks_from_centres(centres.flip(-1), height, width, sigma),
             "rows and columns are swapped: a centre is (row, column), and rows index the height"),
            (masks_from_centres(centres, height, width, sigma / 2 ** 0.5),
             "the bubbles are too narrow: a Gaussian of std σ is exp(−d² / (2σ²)), not exp(−d² / σ²)"),
        ]
        return expected

    g = torch.Generator().manual_seed(303)
    square = torch.rand(2, 3, 2, generator=g) * 11
    wide = torch.rand(3, 4, 2, generator=g) * torch.tensor([7.0, 15.0])
    close = torch.tensor([[[4.0, 4.0], [5.0, 5.5], [10.0, 2.0]]])   # two overlapping bubbles
    cases = [
        Case("2 masks of 3 bubbles, 12×12, σ = 2", (square, 12, 12, 2.0)),
        Case("3 masks of 4 bubbles, 8×16, σ = 1.5", (wide, 8, 16, 1.5)),
        Case("1 mask with two overlapping bubbles, 12×12, σ = 2.5", (close, 12, 12, 2.5)),
    ]
    return run_check("check_bubble_masks", fn, reference, cases, compare_fn=_diagnose(state),
                     hint="mask(i, j) = min(1, Σ_k exp(−((i − r_k)² + (j − c_k)²) / (2σ²))); build i and j with "
                          "torch.arange and broadcast against the centres instead of looping over pixels.")


# -------------------------------------------------------------------------------------- diagnostic image
def check_diagnostic_image(fn) -> CheckResult:
    """``fn(masks, responses)``: M×1×H×W masks and M responses → 1×H×W, Σ r_i M_i / Σ r_i − mean_i M_i."""
    state: dict = {}

    def reference(masks, responses):
        expected = diagnostic_image(masks, responses, method="weighted")
        r = responses.view(-1, 1, 1, 1)
        state["alternatives"] = [
            ((r * masks).sum(0) / responses.sum(),
             "you returned the response-weighted average of the masks; subtract the plain average mask, "
             "so that places the bubbles covered by chance cancel out"),
            ((r * masks).mean(0), "you averaged r_i·M_i; normalize by the sum of the responses and subtract "
                                  "the plain average mask"),
            (masks.mean(0), "you averaged the masks without using the responses"),
        ]
        return expected

    g = torch.Generator().manual_seed(2001)
    m1 = masks_from_centres(torch.rand(40, 2, 2, generator=g) * 9, 10, 10, 1.5)
    r1 = torch.rand(40, generator=g)
    m2 = masks_from_centres(torch.rand(25, 3, 2, generator=g) * torch.tensor([5.0, 11.0]), 6, 12, 1.0)
    r2 = (m2[:, 0, :, :4].mean((1, 2)) * 3).clamp(max=1)   # responds to the left third of the image
    cases = [
        Case("40 masks 10×10, random responses in [0, 1]", (m1, r1)),
        Case("25 masks 6×12, responses driven by the left third of the image", (m2, r2)),
    ]
    return run_check("check_diagnostic_image", fn, reference, cases, compare_fn=_diagnose(state),
                     hint="D = Σ_i r_i·M_i / Σ_i r_i − (1/M)·Σ_i M_i; broadcast r to M×1×1×1 and reduce over dim 0.")
