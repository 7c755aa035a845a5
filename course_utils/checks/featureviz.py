"""Checks for lecture 08's exercises (feature visualization): total variation, jitter, gradient ascent,
high-frequency energy, the Fourier parameterization.

* ``check_total_variation(fn)`` – ``fn(x)``: N×C×H×W → Tensor[N], compared with ``featureviz.total_variation``.
* ``check_jitter(fn)`` – ``fn(x, max_shift, generator)``: a random wrap-around shift; checked by its
  properties (a roll of x, within range, both directions, dy and dx drawn independently, the full range
  reached, reproducible).
* ``check_gradient_ascent(fn)`` – ``fn(model, layer, channel, x, steps, lr)``: plain gradient ascent on the
  input, compared with an independent loop; ``run_check`` also checks that the model is left as it was.
* ``check_high_frequency_energy(fn)`` – ``fn(x, cutoff)``: the fraction of each image's power above ``cutoff``.
* ``check_image_from_spectrum(fn)`` – ``fn(spectrum, height, width, decay_power)``: pixels from a 1/f-scaled
  (real, imaginary) spectrum, the latent image of ``featureviz.FourierImage`` up to its constant factor.
"""
from __future__ import annotations

import copy
from collections import OrderedDict

import torch
from torch import nn

from . import (Case, CheckResult, StudentError, agree, call_student, compare, exercise_check, failed, generator,
               not_a_function, not_implemented, passed, run_check, seeded, slow_notice)
from .. import featureviz


def _fresh(seed: int, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=generator(seed))


def _one_per_image(expected, got, what: str) -> str | None:
    if isinstance(got, torch.Tensor) and got.ndim == 0 and expected.ndim == 1:
        return (f"expected one value per image (shape {tuple(expected.shape)}), got a single number: "
                f"{what}, not over the batch")
    return None


# ------------------------------------------------------------------------------------ total variation
def _differences(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[:, :, 1:, :] - x[:, :, :-1, :], x[:, :, :, 1:] - x[:, :, :, :-1]


def _mean(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).mean(1)


@exercise_check
def check_total_variation(fn) -> CheckResult:
    """Check ``fn(x)`` = mean|vertical differences| + mean|horizontal differences|, one value per image."""
    mistakes = {
        "you squared the differences; this total variation uses their absolute values":
            lambda x: sum(_mean(d.pow(2)) for d in _differences(x)),
        "only the vertical differences (along H) are counted; add the horizontal ones (along W)":
            lambda x: _mean(_differences(x)[0].abs()),
        "only the horizontal differences (along W) are counted; add the vertical ones (along H)":
            lambda x: _mean(_differences(x)[1].abs()),
        "you summed the differences; the formula takes the mean of each direction separately":
            lambda x: sum(d.abs().flatten(1).sum(1) for d in _differences(x)),
        "you forgot the absolute value, so rising and falling steps cancel":
            lambda x: sum(_mean(d) for d in _differences(x)),
        "you averaged both directions together (one mean over all differences); the formula adds the mean "
        "of each direction": lambda x: torch.cat([d.abs().flatten(1) for d in _differences(x)], 1).mean(1),
    }
    cases = [Case("1 grey image 1×1×4×4", (_fresh(80, 1, 1, 4, 4),)),
             Case("2 RGB images 2×3×5×7 (not square)", (_fresh(81, 2, 3, 5, 7),)),
             Case("3 images 3×2×6×3, one of them flat", (torch.cat([_fresh(82, 2, 2, 6, 3),
                                                                      torch.full((1, 2, 6, 3), 0.3)]),))]
    return run_check("check_total_variation", fn, featureviz.total_variation, cases, mistakes=mistakes,
                     compare_fn=lambda e, g: _one_per_image(e, g, "reduce over C, H and W only") or compare(e, g),
                     hint="TV(x) = mean |x[:, :, 1:, :] − x[:, :, :-1, :]| + mean |x[:, :, :, 1:] − x[:, :, :, :-1]|, "
                          "means over C, H, W of each image.")


# ---------------------------------------------------------------------------------------------- jitter
def _find_roll(x: torch.Tensor, y: torch.Tensor) -> tuple[int, int] | None:
    """The (dy, dx) with torch.roll(x, (dy, dx), (2, 3)) == y, smallest |shift| representative, or None."""
    h, w = x.shape[-2:]
    for dy in sorted(range(-(h // 2), h - h // 2), key=abs):
        for dx in sorted(range(-(w // 2), w - w // 2), key=abs):
            if torch.equal(torch.roll(x, (dy, dx), (2, 3)), y):
                return dy, dx
    return None


@exercise_check
def check_jitter(fn) -> CheckResult:
    """Check ``fn(x, max_shift, generator)``: a roll of the whole batch by a random (dy, dx) in
    [−max_shift, max_shift]², drawn from ``generator``."""
    name = "check_jitter"
    hint = ("draw dy and dx with torch.randint(-max_shift, max_shift + 1, (2,), generator=generator) and "
            "return torch.roll(x, shifts=(dy, dx), dims=(2, 3)).")
    failure = not_a_function(name, fn)
    if failure is not None:
        return failure
    x = _fresh(83, 2, 3, 11, 13)     # odd sizes: every shift in range is distinguishable
    original = x.clone()
    shifts, slowest = [], 0.0
    try:
        for seed in range(40):
            y, seconds = call_student(fn, x, 3, generator(seed))
            slowest = max(slowest, seconds)
            if not torch.equal(x, original):
                return failed(name, "it changed the input tensor in place; return a new tensor (torch.roll does)", hint)
            if y is None:
                return failed(name, "your function returned None (a missing `return`?)", hint)
            if not isinstance(y, torch.Tensor):
                return failed(name, f"expected a torch.Tensor, got {type(y).__name__}", hint)
            if y.shape != x.shape:
                return failed(name, f"the shape changed from {tuple(x.shape)} to {tuple(y.shape)}: the transform must "
                                    "keep it (torch.roll wraps pixels around instead of cropping or padding)", hint)
            shift = _find_roll(x, y)
            if shift is None:
                return failed(name, "the result is not a shifted copy of the input: shift the whole batch by one "
                                    "(dy, dx), along H and W (dims 2 and 3), with wrap-around", hint)
            if max(abs(shift[0]), abs(shift[1])) > 3:
                return failed(name, f"with max_shift=3 it shifted by {shift}: shifts must lie in [−3, 3]", hint)
            shifts.append(shift)
        again, _ = call_student(fn, x, 3, generator(7))
    except NotImplementedError:
        return not_implemented(name)
    except StudentError as err:
        return failed(name, f"calling it on a 2×3×11×13 batch raised {err}", hint)
    notice = slow_notice(slowest, "one call")
    if not isinstance(again, torch.Tensor) or _find_roll(x, again) != shifts[7]:
        return failed(name, "two calls with generators seeded alike gave different shifts: draw the random numbers "
                            "from the `generator` argument", hint, notice)
    dys, dxs = [s[0] for s in shifts], [s[1] for s in shifts]
    if len(set(shifts)) == 1:
        return failed(name, f"every call shifted by {shifts[0]}: the shift must be random", hint, notice)
    if all(dy == dx for dy, dx in shifts):
        return failed(name, "in 40 calls dy always equalled dx (the image only moved diagonally): draw dy and dx "
                            "independently — two numbers, e.g. torch.randint(..., (2,), generator=generator)",
                      hint, notice)
    if min(dys) >= 0 or min(dxs) >= 0 or max(dys) <= 0 or max(dxs) <= 0:
        return failed(name, "in 40 calls the image only moved one way along an axis: draw shifts from −max_shift "
                            "to +max_shift, for H and W independently", hint, notice)
    if max(dys + dxs) < 3 or min(dys + dxs) > -3:
        return failed(name, "in 40 calls the shift never reached +max_shift or never −max_shift: torch.randint's "
                            "upper bound is exclusive (use max_shift + 1)", hint, notice)
    try:
        y0, _ = call_student(fn, x, 0, generator(0))
    except StudentError as err:
        return failed(name, f"with max_shift=0 it raised {err}", hint, notice)
    if not (isinstance(y0, torch.Tensor) and torch.equal(y0, x)):
        return failed(name, "with max_shift=0 the image must come back unchanged", hint, notice)
    return passed(name, "passed — 40 random shifts of a 2×3×11×13 batch, all within ±3, in both directions, dy and "
                        "dx independent, reproducible; max_shift=0 leaves it unchanged", notice)


# ------------------------------------------------------------------------------------- gradient ascent
def _tiny_model(seed: int, channels: int = 1, train: bool = False) -> nn.Sequential:
    model = seeded(nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(channels, 4, 3, padding=1)), ("bn1", nn.BatchNorm2d(4)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(4, 3, 3, padding=1)), ("relu2", nn.ReLU()),
        ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(3, 2))])), seed)
    g = generator(seed + 1)
    with torch.no_grad():
        model.bn1.running_mean.uniform_(-0.2, 0.2, generator=g)
        model.bn1.running_var.uniform_(0.5, 2.0, generator=g)
        model.conv2.bias.fill_(0.2)          # keep the target channels alive at the start
    return model.train(train)


def _ascend(model, layer, channel, x, steps, lr, descend=False, accumulate=False, eval_mode=True,
            positions="mean", images="sum"):
    """Independent reference: x ← x ± lr · ∂/∂x Σ_images mean_{h,w} a[layer][:, channel] (the flags
    reproduce typical mistakes; the model is copied so even a training-mode run leaves it untouched)."""
    from ..hooks import capture_activations, preserved_state
    model = copy.deepcopy(model)
    x = x.detach().clone().requires_grad_(True)
    total = torch.zeros_like(x)
    with preserved_state(model, eval_mode=eval_mode):
        for _ in range(steps):
            with capture_activations(model, layer, detach=False) as acts:
                model(x)
            a = acts[layer][:, channel]
            per_image = a.mean(dim=(1, 2)) if positions == "mean" else a.sum(dim=(1, 2))
            value = per_image.sum() if images == "sum" else per_image.mean()
            (grad,) = torch.autograd.grad(value, x)
            total = total + grad if accumulate else grad
            with torch.no_grad():
                x += -lr * total if descend else lr * total
    return x.detach()


@exercise_check
def check_gradient_ascent(fn) -> CheckResult:
    """Check ``fn(model, layer, channel, x, steps, lr)``: ``steps`` plain ascent steps on the input,
    x ← x + lr · ∂/∂x Σ_images mean_{h,w} activation[layer][image, channel], returned detached; the model,
    its hooks and ``x`` untouched."""
    mistakes = {
        "you went downhill: gradient *ascent* adds the gradient (x + lr · grad)":
            lambda *a, **k: _ascend(*a, **k, descend=True),
        "the gradients add up across steps: use a fresh gradient each step (torch.autograd.grad, or zero x.grad "
        "before backward)": lambda *a, **k: _ascend(*a, **k, accumulate=True),
        "the model ran in training mode (BatchNorm used batch statistics): ascend inside "
        "`with preserved_state(model):`, which switches to eval mode": lambda *a, **k: _ascend(*a, **k, eval_mode=False),
        "you ascended the channel's sum over positions: the objective is its mean over (h, w)":
            lambda *a, **k: _ascend(*a, **k, positions="sum"),
        "you averaged the objective over the images: sum it, so each image follows its own gradient at full "
        "strength": lambda *a, **k: _ascend(*a, **k, images="mean"),
    }
    cases = [Case("tiny 1-channel CNN, relu2 channel 1, one 1×1×6×6 image, 3 steps, lr 0.1",
                  (_tiny_model(84, 1, False), "relu2", 1, _fresh(84, 1, 1, 6, 6)), {"steps": 3, "lr": 0.1}),
             Case("tiny RGB CNN left in training mode, relu1 channel 2, two 2×3×5×5 images, 4 steps, lr 0.05",
                  (_tiny_model(85, 3, True), "relu1", 2, _fresh(85, 2, 3, 5, 5)), {"steps": 4, "lr": 0.05}),
             Case("tiny CNN, conv2 channel 0 (pre-ReLU), 1×1×7×7, 5 steps, lr 0.2",
                  (_tiny_model(86, 1, False), "conv2", 0, _fresh(86, 1, 1, 7, 7)), {"steps": 5, "lr": 0.2})]
    return run_check("check_gradient_ascent", fn, _ascend, cases, mistakes=mistakes,
                     hint="inside `with preserved_state(model):` repeat: capture the layer with capture_activations(..., "
                          "detach=False), value = acts[layer][:, channel].mean(dim=(1, 2)).sum(), grad = "
                          "torch.autograd.grad(value, x)[0], then x = x + lr * grad (on a detached copy of x).")


# ------------------------------------------------------------------------------- high-frequency energy
def _fraction(x: torch.Tensor, cutoff: float, centre=True, power=True, above=True, radians=False) -> torch.Tensor:
    """The fraction of power above (or below) ``cutoff`` cycles/pixel, with switches for the usual mistakes."""
    h, w = x.shape[-2:]
    f = torch.sqrt(torch.fft.fftfreq(h).view(-1, 1) ** 2 + torch.fft.fftfreq(w).view(1, -1) ** 2)
    f = f * 2 * torch.pi if radians else f
    x = x - x.mean(dim=(2, 3), keepdim=True) if centre else x
    spectrum = torch.fft.fft2(x.double()).abs()
    p = (spectrum.pow(2) if power else spectrum).sum(1)
    mask = f > cutoff if above else f <= cutoff
    total = p.flatten(1).sum(1)
    frac = torch.where(total > 0, (p * mask).flatten(1).sum(1) / total.clamp(min=1e-30), torch.zeros_like(total))
    return frac.to(x.dtype)


@exercise_check
def check_high_frequency_energy(fn) -> CheckResult:
    """Check ``fn(x, cutoff)`` = fraction of each image's power (means removed) above ``cutoff`` cycles/pixel."""
    mistakes = {
        "the channel means were not removed, so the DC term inflates the total power":
            lambda x, cutoff=0.25: _fraction(x, cutoff, centre=False),
        "you used amplitudes |X|; the energy is the power |X|²": lambda x, cutoff=0.25: _fraction(x, cutoff, power=False),
        "you returned the fraction *below* the cutoff; the exercise asks for the power above it":
            lambda x, cutoff=0.25: _fraction(x, cutoff, above=False),
        "the frequencies are off by a factor: use torch.fft.fftfreq (cycles per pixel), not indices or radians":
            lambda x, cutoff=0.25: _fraction(x, cutoff, radians=True),
    }
    g = generator(87)
    yy, xx = torch.meshgrid(torch.arange(12.0), torch.arange(10.0), indexing="ij")
    stripes = (0.5 + 0.5 * torch.cos(torch.pi * xx)).expand(1, 3, 12, 10)       # 0.5 cycles/pixel along W
    mixed = 0.4 * torch.sin(2 * torch.pi * yy / 12) + 0.3 * torch.cos(torch.pi * (yy + xx))
    cases = [Case("2 grey images 1×16×16: noise and a flat one", (torch.cat([torch.rand(1, 1, 16, 16, generator=g),
                                                                           torch.full((1, 1, 16, 16), 0.5)]),)),
             Case("1 RGB image 3×12×10 of vertical stripes plus noise, cutoff 0.3",
                  (stripes + 0.05 * torch.rand(1, 3, 12, 10, generator=g),), {"cutoff": 0.3}),
             Case("3 images 2×12×10: a slow wave plus a checkerboard, at three brightness offsets",
                  (torch.stack([torch.stack([mixed + b, 0.5 * mixed]) for b in (0.0, 0.5, 2.0)]),))]
    return run_check("check_high_frequency_energy", fn, featureviz.high_frequency_energy, cases, mistakes=mistakes,
                     atol=1e-4, rtol=1e-3,
                     compare_fn=lambda e, g: _one_per_image(e, g, "sum the power over channels and positions")
                     or compare(e, g, atol=1e-4, rtol=1e-3),
                     hint="x − mean over (H, W); power = |fft2|² summed over channels; fraction of it where "
                          "sqrt(fy² + fx²) > cutoff, fy/fx from torch.fft.fftfreq.")


# --------------------------------------------------------------------------- Fourier parameterization
def _spectrum_image(spectrum: torch.Tensor, height: int, width: int, decay_power: float = 1.0, *, scale="1/f",
                    floor="1/max", norm="ortho", sizes=True, swap=False, power=True) -> torch.Tensor:
    """Pixels from a (real, imaginary) spectrum scaled by 1/max(f, 1/max(H, W))^decay_power, through
    ``featureviz``'s own frequency grid; the keywords reproduce typical mistakes."""
    f = featureviz.frequency_grid(height, width)
    if floor == "1/max":
        f = f.clamp(min=1.0 / max(height, width))
    elif floor == "1/min":
        f = f.clamp(min=1.0 / min(height, width))
    elif floor == "one":                                     # f = 0 replaced by 1
        f = torch.where(f > 0, f, torch.ones_like(f))
    weight = {"1/f": lambda: f.pow(-(decay_power if power else 1.0)), "f": lambda: f.pow(decay_power),
              "none": lambda: torch.ones_like(f)}[scale]()
    real, imag = (spectrum[..., 1], spectrum[..., 0]) if swap else (spectrum[..., 0], spectrum[..., 1])
    coeffs = torch.complex(real, imag) * weight
    return torch.fft.irfft2(coeffs, s=(height, width) if sizes else None, norm=norm)


def _same_answer(a, b) -> bool:
    """``agree``, except that an answer with NaN/inf matches only another one with NaN/inf at the same places
    (so that the no-floor mistake, NaN everywhere, is compared without NumPy warnings)."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.shape == b.shape:
        bad_a, bad_b = ~torch.isfinite(a), ~torch.isfinite(b)
        if bad_a.any() or bad_b.any():
            return bool(torch.equal(bad_a, bad_b)) and agree(a[~bad_a], b[~bad_b])
    return agree(a, b)


def _reference_spectrum_image(spectrum, height, width, decay_power=1.0):
    scale = featureviz.frequency_grid(height, width).clamp(min=1.0 / max(height, width)).pow(-decay_power)
    return featureviz.fourier_to_pixels(spectrum, (height, width), scale)


@exercise_check
def check_image_from_spectrum(fn) -> CheckResult:
    """Check ``fn(spectrum, height, width, decay_power)``: N×C×H×(W//2+1)×2 (real, imaginary) coefficients
    → N×C×H×W pixels, the orthonormal inverse real FFT of the coefficients times 1/max(f, 1/max(H, W))^decay_power,
    f the radial frequency in cycles per pixel (the latent image of ``featureviz.FourierImage``, up to its
    constant factor)."""
    mistakes = {
        "the coefficients were not scaled at all: multiply each by 1/f^decay_power":
            lambda *a, **k: _spectrum_image(*a, **k, scale="none"),
        "you multiplied by f^decay_power: the 1/f scale *divides* by the frequency, so low frequencies get the "
        "largest amplitudes": lambda *a, **k: _spectrum_image(*a, **k, scale="f"),
        "decay_power was ignored (you always used 1/f): raise f to the power decay_power":
            lambda *a, **k: _spectrum_image(*a, **k, power=False),
        "the zero frequency f = 0 got 1/0 = inf, which spreads NaN/inf over every pixel: floor f at 1/max(H, W) "
        "first (f.clamp(min=1 / max(height, width)))": lambda *a, **k: _spectrum_image(*a, **k, floor="none"),
        "you floored f at 1/min(H, W): on a non-square image the floor is 1/max(H, W), the lowest non-zero "
        "frequency of the longer side": lambda *a, **k: _spectrum_image(*a, **k, floor="1/min"),
        "you replaced f = 0 by 1, so the mean brightness gets the smallest scale; floor f at 1/max(H, W) "
        "instead, the lowest non-zero frequency": lambda *a, **k: _spectrum_image(*a, **k, floor="one"),
        "the result is off by √(H·W): use the orthonormal transform, torch.fft.irfft2(..., norm=\"ortho\")":
            lambda *a, **k: _spectrum_image(*a, **k, norm="backward"),
        "without s=(height, width), irfft2 cannot know the width was odd and returns width − 1 columns: pass "
        "s=(height, width)": lambda *a, **k: _spectrum_image(*a, **k, sizes=False),
        "the real and imaginary parts are swapped: spectrum[..., 0] is the real part, spectrum[..., 1] the "
        "imaginary one": lambda *a, **k: _spectrum_image(*a, **k, swap=True),
    }

    def spectrum(seed: int, n: int, c: int, h: int, w: int) -> torch.Tensor:
        return torch.randn(n, c, h, w // 2 + 1, 2, generator=generator(seed))

    cases = [Case("1 grey image 8×8, decay_power 1", (spectrum(88, 1, 1, 8, 8), 8, 8)),
             Case("2 RGB images 6×7 (odd width, not square), decay_power 1", (spectrum(89, 2, 3, 6, 7), 6, 7)),
             Case("1 image with 2 channels 5×10, decay_power 1.5", (spectrum(90, 1, 2, 5, 10), 5, 10),
                  {"decay_power": 1.5}),
             Case("1 image 9×9, decay_power 0 (no scaling: a plain inverse FFT)", (spectrum(91, 1, 1, 9, 9), 9, 9),
                  {"decay_power": 0.0})]
    return run_check("check_image_from_spectrum", fn, _reference_spectrum_image, cases, mistakes=mistakes,
                     match=_same_answer,
                     hint="f = sqrt(fftfreq(height)[:, None]² + rfftfreq(width)[None, :]²), floored at "
                          "1/max(height, width); coefficients = complex(spectrum[..., 0], spectrum[..., 1]) · "
                          "f^(−decay_power); return torch.fft.irfft2(coefficients, s=(height, width), norm=\"ortho\").")
