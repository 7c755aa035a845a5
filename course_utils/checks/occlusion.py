"""Checks for lecture 03 (occlusion and Bubbles): each runs your function on fresh cases and compares it
with ``course_utils.attribution`` (``occlusion``, ``masks_from_centres``, ``diagnostic_image``).

* ``check_occlusion_map(fn)`` – ``fn(model, image, target, window, stride, value)``: image C×H×W → H×W map.
* ``check_bubble_masks(fn)`` – ``fn(centres, height, width, sigma)``: centres N×K×2 → N×1×H×W masks.
* ``check_diagnostic_image(fn)`` – ``fn(masks, responses)``: M×1×H×W and M → 1×H×W (weighted method).
"""
from __future__ import annotations

import torch
from torch import nn

from ..attribution.occlusion import diagnostic_image, masks_from_centres, occlusion, window_positions
from . import Case, CheckResult, exercise_check, generator, run_check, seeded


def _tiny_cnn(channels: int, seed: int) -> nn.Module:
    """A small random CNN (conv → ReLU → max-pool → conv → global average → 4 logits)."""
    return seeded(nn.Sequential(nn.Conv2d(channels, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                nn.Linear(8, 4)), seed).eval()


def _image(c: int, h: int, w: int, seed: int) -> torch.Tensor:
    return torch.rand(c, h, w, generator=generator(seed))


# ------------------------------------------------------------------------------------------ occlusion map
def _occlusion(model, image, target, window, stride, value, short=False, uncovered=0.0, reduce="mean",
               grid=False, drop=True, first_channel=False, probability=False):
    """The occlusion map written out, with switches reproducing the usual mistakes."""
    c, h, w = image.shape
    positions = (lambda n: list(range(0, n - window + 1, stride))) if short else \
        (lambda n: window_positions(n, window, stride))
    rows, cols = positions(h), positions(w)
    copies = image.repeat(len(rows) * len(cols), 1, 1, 1)
    for k, (top, left) in enumerate((t, l) for t in rows for l in cols):
        copies[k, :1 if first_channel else c, top:top + window, left:left + window] = value
    with torch.no_grad():
        score = (lambda x: model(x).softmax(1)[:, target]) if probability else (lambda x: model(x)[:, target])
        values = (score(image[None]) - score(copies)) if drop else score(copies)
    if grid:
        return values.view(len(rows), len(cols))
    total, count = torch.zeros(h, w), torch.zeros(h, w)
    for (top, left), v in zip(((t, l) for t in rows for l in cols), values):
        total[top:top + window, left:left + window] += v
        count[top:top + window, left:left + window] += 1
    if reduce == "sum":
        return total
    return torch.where(count > 0, total / count.clamp(min=1), torch.full((), uncovered))


@exercise_check
def check_occlusion_map(fn) -> CheckResult:
    """``fn(model, image, target, window, stride, value)`` → H×W map of logit drops, averaged over the
    windows covering each pixel (window positions as in ``window_positions``)."""
    def reference(model, image, target, window, stride, value):
        return occlusion(model, image[None], target, window, stride, value=float(value), batch_size=64)[0, 0]

    border = ("the pixels near the right/bottom border are wrong: when the stride does not land on S − window, "
              "add a last window starting at S − window (see window_positions)")
    mistakes = {
        "you returned one value per window position (a grid); spread each drop over the pixels of its window "
        "and average where windows overlap, so the map is H×W like the image": lambda *a: _occlusion(*a, grid=True),
        "you added the drops of overlapping windows: divide each pixel by the number of windows that cover it "
        "(average, not sum)": lambda *a: _occlusion(*a, reduce="sum"),
        border: (lambda *a: _occlusion(*a, short=True),
                 lambda *a: _occlusion(*a, short=True, uncovered=float("nan"))),
        "you averaged the occluded scores themselves; the map is the drop score(x) − score(occluded)":
            lambda *a: _occlusion(*a, drop=False),
        "the result has the wrong sign everywhere: the map is the drop score(image) − score(occluded)":
            lambda *a: -_occlusion(*a),
        "you occluded the first channel only: set the window to `value` in every channel (image[:, top:…, left:…])":
            lambda *a: _occlusion(*a, first_channel=True),
        "use the target's logit (the model's output), not its softmax probability":
            lambda *a: _occlusion(*a, probability=True),
        "the occluded pixels must be set to `value`, not to 0":
            lambda model, image, target, window, stride, value: _occlusion(model, image, target, window, stride, 0.0),
    }
    cases = [
        Case("grey 1×12×12 image, window 4, stride 4, occluder 0", (_tiny_cnn(1, 11), _image(1, 12, 12, 1), 2, 4, 4, 0.0)),
        Case("grey 1×12×12 image, window 5, stride 2, occluder 0.5", (_tiny_cnn(1, 12), _image(1, 12, 12, 2), 0, 5, 2, 0.5)),
        Case("RGB 3×10×13 image, window 3, stride 3, occluder 0", (_tiny_cnn(3, 13), _image(3, 10, 13, 3), 1, 3, 3, 0.0)),
        Case("RGB 3×9×9 image, window 9 (whole image), stride 1, occluder 1",
             (_tiny_cnn(3, 14), _image(3, 9, 9, 4), 3, 9, 1, 1.0)),
    ]
    return run_check("check_occlusion_map", fn, reference, cases, mistakes=mistakes,
                     hint="for every window position: copy the image, set the window (all channels) to `value`, "
                          "run the model, and add score(image) − score(copy) to the pixels under the window; "
                          "divide by how many windows covered each pixel. Use torch.no_grad().",
                     slow_hint="stack all the occluded copies into one batch and run the model once")


# ------------------------------------------------------------------------------------------- bubble masks
def _bubbles(centres, height, width, sigma, denominator=None, squared=True, combine="clip"):
    i = torch.arange(height, dtype=torch.float32)[:, None]
    j = torch.arange(width, dtype=torch.float32)[None, :]
    d2 = (i - centres[:, :, 0, None, None]) ** 2 + (j - centres[:, :, 1, None, None]) ** 2   # N×K×H×W
    g = torch.exp(-(d2 if squared else d2.sqrt()) / (2 * sigma ** 2 if denominator is None else denominator))
    if combine == "sum":
        return g.sum(1, keepdim=True)
    if combine == "max":
        return g.amax(1, keepdim=True)
    return g.sum(1, keepdim=True).clamp(max=1)


@exercise_check
def check_bubble_masks(fn) -> CheckResult:
    """``fn(centres, height, width, sigma)``: N×K×2 (row, column) centres → N×1×H×W masks in [0, 1]."""
    mistakes = {
        "the masks have no channel dimension: return N×1×H×W (e.g. `masks[:, None]`)":
            lambda c, h, w, s: masks_from_centres(c, h, w, s)[:, 0],
        "mask values go above 1 where bubbles overlap: clip the sum at 1 (`.clamp(max=1)`)":
            lambda c, h, w, s: _bubbles(c, h, w, s, combine="sum"),
        "you combined the bubbles with a maximum; the course adds them and clips the sum at 1, so overlapping "
        "bubbles reinforce each other": lambda c, h, w, s: _bubbles(c, h, w, s, combine="max"),
        "rows and columns are swapped: a centre is (row, column), and rows index the height":
            lambda c, h, w, s: masks_from_centres(c.flip(-1), h, w, s),
        "the bubbles are too narrow: a Gaussian of std σ is exp(−d² / (2σ²)), not exp(−d² / σ²)":
            lambda c, h, w, s: _bubbles(c, h, w, s, denominator=s ** 2),
        "the denominator is 2σ² (σ squared), not 2σ": lambda c, h, w, s: _bubbles(c, h, w, s, denominator=2 * s),
        "use the squared distance d² = (i − row)² + (j − col)², not the distance":
            lambda c, h, w, s: _bubbles(c, h, w, s, squared=False),
    }
    g = generator(303)
    cases = [
        Case("2 masks of 3 bubbles, 12×12, σ = 3", (torch.rand(2, 3, 2, generator=g) * 11, 12, 12, 3.0)),
        Case("3 masks of 4 bubbles, 8×16, σ = 1.5", (torch.rand(3, 4, 2, generator=g) * torch.tensor([7.0, 15.0]),
                                                     8, 16, 1.5)),
        Case("1 mask with two overlapping bubbles, 12×12, σ = 2.5",
             (torch.tensor([[[4.0, 4.0], [5.0, 5.5], [10.0, 2.0]]]), 12, 12, 2.5)),
    ]
    return run_check("check_bubble_masks", fn, masks_from_centres, cases, mistakes=mistakes,
                     hint="mask(i, j) = min(1, Σ_k exp(−((i − r_k)² + (j − c_k)²) / (2σ²))); build i and j with "
                          "torch.arange and broadcast against the centres instead of looping over pixels.")


# -------------------------------------------------------------------------------------- diagnostic image
@exercise_check
def check_diagnostic_image(fn) -> CheckResult:
    """``fn(masks, responses)``: M×1×H×W masks and M responses → 1×H×W, Σ r_i M_i / Σ r_i − mean_i M_i."""
    def weighted(masks, responses):
        return (responses.view(-1, 1, 1, 1) * masks).sum(0)

    mistakes = {
        "you returned the response-weighted average of the masks; subtract the plain average mask, so that "
        "places the bubbles covered by chance cancel out": lambda m, r: weighted(m, r) / r.sum(),
        "you averaged r_i·M_i; normalize by the sum of the responses and subtract the plain average mask":
            lambda m, r: weighted(m, r) / len(r),
        "you divided Σ r_i·M_i by the number of masks: divide by the sum of the responses, Σ r_i":
            lambda m, r: weighted(m, r) / len(r) - m.mean(0),
        "you averaged the masks without using the responses": lambda m, r: m.mean(0),
        "the result has the wrong sign everywhere: it is the weighted average minus the plain average":
            lambda m, r: m.mean(0) - weighted(m, r) / r.sum(),
        "keep the channel dimension: the diagnostic image is 1×H×W (no squeeze)":
            lambda m, r: diagnostic_image(m, r, method="weighted")[0],
    }
    g = generator(2001)
    m1 = masks_from_centres(torch.rand(40, 2, 2, generator=g) * 9, 10, 10, 1.5)
    r1 = torch.rand(40, generator=g)
    m2 = masks_from_centres(torch.rand(25, 3, 2, generator=g) * torch.tensor([5.0, 11.0]), 6, 12, 1.0)
    r2 = (m2[:, 0, :, :4].mean((1, 2)) * 3).clamp(max=1)   # responds to the left third of the image
    cases = [
        Case("40 masks 10×10, random responses in [0, 1]", (m1, r1)),
        Case("25 masks 6×12, responses driven by the left third of the image", (m2, r2)),
    ]
    return run_check("check_diagnostic_image", fn, lambda m, r: diagnostic_image(m, r, method="weighted"), cases,
                     mistakes=mistakes,
                     hint="D = Σ_i r_i·M_i / Σ_i r_i − (1/M)·Σ_i M_i; broadcast r to M×1×1×1 and reduce over dim 0.")
