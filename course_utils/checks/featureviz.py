"""Checks for lecture 08's exercises (feature visualization): total variation, jitter, gradient ascent.

* ``check_total_variation(fn)`` – ``fn(x)``: N×C×H×W → Tensor[N], compared with ``featureviz.total_variation``.
* ``check_jitter(fn)`` – ``fn(x, max_shift, generator)``: a random wrap-around shift; checked by its
  properties (a roll of x, within range, both directions, the full range reached, reproducible).
* ``check_gradient_ascent(fn)`` – ``fn(model, layer, channel, x, steps, lr)``: plain gradient ascent on the
  input, compared with an independent loop; also checks that the model is left as it was.
"""
from __future__ import annotations

import copy
from collections import OrderedDict

import torch
from torch import nn

from . import Case, CheckResult, compare, run_check
from .. import featureviz


def _fresh(seed: int, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _named_variant(got, variants: dict[str, torch.Tensor]) -> str | None:
    """The name of the first wrong variant ``got`` matches (a known mistake), else None."""
    if not isinstance(got, torch.Tensor):
        return None
    for message, value in variants.items():
        if got.shape == value.shape and torch.allclose(got.detach().float(), value.float(), atol=1e-5, rtol=1e-4):
            return message
    return None


# ------------------------------------------------------------------------------------ total variation
def _tv_mistakes(x: torch.Tensor) -> dict[str, torch.Tensor]:
    dy = x[:, :, 1:, :] - x[:, :, :-1, :]
    dx = x[:, :, :, 1:] - x[:, :, :, :-1]
    return {
        "you squared the differences; this total variation uses their absolute values":
            dy.pow(2).flatten(1).mean(1) + dx.pow(2).flatten(1).mean(1),
        "only the vertical differences (along H) are counted; add the horizontal ones (along W)":
            dy.abs().flatten(1).mean(1),
        "only the horizontal differences (along W) are counted; add the vertical ones (along H)":
            dx.abs().flatten(1).mean(1),
        "you summed the differences; the formula takes the mean of each direction separately":
            dy.abs().flatten(1).sum(1) + dx.abs().flatten(1).sum(1),
        "you forgot the absolute value, so rising and falling steps cancel":
            dy.flatten(1).mean(1) + dx.flatten(1).mean(1),
    }


def check_total_variation(fn) -> CheckResult:
    """Check ``fn(x)`` = mean|vertical differences| + mean|horizontal differences|, one value per image."""
    cases = [Case("1 grey image 1×1×4×4", (_fresh(80, 1, 1, 4, 4),)),
             Case("2 RGB images 2×3×5×7 (not square)", (_fresh(81, 2, 3, 5, 7),)),
             Case("3 images 3×2×6×3, one of them flat", (torch.cat([_fresh(82, 2, 2, 6, 3),
                                                                      torch.full((1, 2, 6, 3), 0.3)]),))]

    def reference(x):
        reference.last = x
        return featureviz.total_variation(x)

    def judge(expected, got):
        problem = compare(expected, got)
        if problem is None:
            return None
        if isinstance(got, torch.Tensor) and got.ndim == 0:
            return (f"expected one value per image (shape {tuple(expected.shape)}), got a single number: "
                    "reduce over C, H and W only, not over the batch")
        return _named_variant(got, _tv_mistakes(reference.last)) or problem

    return run_check("check_total_variation", fn, reference, cases, compare_fn=judge,
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


def check_jitter(fn) -> CheckResult:
    """Check ``fn(x, max_shift, generator)``: a roll of the whole batch by a random (dy, dx) in
    [−max_shift, max_shift]², drawn from ``generator``."""
    name = "check_jitter"
    hint = ("draw dy and dx with torch.randint(-max_shift, max_shift + 1, ..., generator=generator) and "
            "return torch.roll(x, shifts=(dy, dx), dims=(2, 3)).")

    def fail(message: str) -> CheckResult:
        return CheckResult(name, "failed", f"❌ {name}: {message}\n   Hint: {hint}")

    if not callable(fn):
        return CheckResult(name, "failed", f"❌ {name}: expected a function, got {type(fn).__name__}")
    x = _fresh(83, 2, 3, 11, 13)     # odd sizes: every shift in range is distinguishable
    original = x.clone()
    shifts = []
    for seed in range(40):
        try:
            y = fn(x, 3, torch.Generator().manual_seed(seed))
        except NotImplementedError:
            return CheckResult(name, "not implemented",
                               f"⏳ {name}: not implemented yet — replace the `raise NotImplementedError` line "
                               "with your code, run that cell, then run this check again.")
        except Exception as err:
            return fail(f"calling it on a 2×3×11×13 batch with max_shift=3 raised {type(err).__name__}: {err}")
        if not torch.equal(x, original):
            return fail("it changed the input tensor in place; return a new tensor (torch.roll does)")
        if not isinstance(y, torch.Tensor):
            return fail(f"expected a torch.Tensor, got {type(y).__name__}")
        if y.shape != x.shape:
            return fail(f"the shape changed from {tuple(x.shape)} to {tuple(y.shape)}: the transform must keep it "
                        "(torch.roll wraps pixels around instead of cropping or padding)")
        shift = _find_roll(x, y)
        if shift is None:
            return fail("the result is not a shifted copy of the input: shift the whole batch by one (dy, dx), "
                        "along H and W (dims 2 and 3), with wrap-around")
        if max(abs(shift[0]), abs(shift[1])) > 3:
            return fail(f"with max_shift=3 it shifted by {shift}: shifts must lie in [−3, 3]")
        shifts.append(shift)
    again = fn(x, 3, torch.Generator().manual_seed(7))
    if _find_roll(x, again) != shifts[7]:
        return fail("two calls with generators seeded alike gave different shifts: draw the random numbers "
                    "from the `generator` argument")
    dys, dxs = [s[0] for s in shifts], [s[1] for s in shifts]
    if len(set(shifts)) == 1:
        return fail(f"every call shifted by {shifts[0]}: the shift must be random")
    if min(dys) >= 0 or min(dxs) >= 0 or max(dys) <= 0 or max(dxs) <= 0:
        return fail("in 40 calls the image only moved one way along an axis: draw shifts from −max_shift to "
                    "+max_shift, for H and W independently")
    if max(dys + dxs) < 3 or min(dys + dxs) > -3:
        return fail("in 40 calls the shift never reached +max_shift or never −max_shift: torch.randint's "
                    "upper bound is exclusive (use max_shift + 1)")
    try:
        y0 = fn(x, 0, torch.Generator().manual_seed(0))
    except Exception as err:
        return fail(f"with max_shift=0 it raised {type(err).__name__}: {err}")
    if not (isinstance(y0, torch.Tensor) and torch.equal(y0, x)):
        return fail("with max_shift=0 the image must come back unchanged")
    return CheckResult(name, "passed", f"✅ {name}: passed — 40 random shifts of a 2×3×11×13 batch, all within "
                                       "±3, in both directions, reproducible; max_shift=0 leaves it unchanged")


# ------------------------------------------------------------------------------------- gradient ascent
def _tiny_model(seed: int, channels: int = 1, train: bool = False) -> nn.Sequential:
    torch.manual_seed(seed)
    model = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(channels, 4, 3, padding=1)), ("bn1", nn.BatchNorm2d(4)), ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(4, 3, 3, padding=1)), ("relu2", nn.ReLU()),
        ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(3, 2))]))
    with torch.no_grad():
        model.bn1.running_mean.uniform_(-0.2, 0.2)
        model.bn1.running_var.uniform_(0.5, 2.0)
        model.conv2.bias.fill_(0.2)          # keep the target channels alive at the start
    return model.train(train)


def _ascend(model, layer, channel, x, steps, lr, descend=False, accumulate=False, eval_mode=True):
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
            value = acts[layer][:, channel].mean(dim=(1, 2)).sum()
            (grad,) = torch.autograd.grad(value, x)
            total = total + grad if accumulate else grad
            with torch.no_grad():
                x += -lr * total if descend else lr * total
    return x.detach()


def _n_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


def check_gradient_ascent(fn) -> CheckResult:
    """Check ``fn(model, layer, channel, x, steps, lr)``: ``steps`` plain ascent steps on the input,
    x ← x + lr · ∂/∂x Σ_images mean_{h,w} activation[layer][image, channel], returned detached; the model,
    its hooks and ``x`` untouched."""
    name = "check_gradient_ascent"
    models = {seed: _tiny_model(seed, ch, train) for seed, ch, train in [(84, 1, False), (85, 3, True), (86, 1, False)]}
    cases = [Case("tiny 1-channel CNN, relu2 channel 1, one 1×1×6×6 image, 3 steps, lr 0.1",
                  (models[84], "relu2", 1, _fresh(84, 1, 1, 6, 6)), {"steps": 3, "lr": 0.1}),
             Case("tiny RGB CNN left in training mode, relu1 channel 2, two 2×3×5×5 images, 4 steps, lr 0.05",
                  (models[85], "relu1", 2, _fresh(85, 2, 3, 5, 5)), {"steps": 4, "lr": 0.05}),
             Case("tiny CNN, conv2 channel 0 (pre-ReLU), 1×1×7×7, 5 steps, lr 0.2",
                  (models[86], "conv2", 0, _fresh(86, 1, 1, 7, 7)), {"steps": 5, "lr": 0.2})]
    hint = ("inside `with preserved_state(model):` repeat: capture the layer with capture_activations(..., "
            "detach=False), value = acts[layer][:, channel].mean(dim=(1, 2)).sum(), grad = "
            "torch.autograd.grad(value, x)[0], then x = x + lr * grad (on a detached copy of x).")
    state = {}

    def reference(model, layer, channel, x, steps, lr):
        state.update(model=model, args=(model, layer, channel, x, steps, lr), x=x.clone(),
                     training={m: m.training for m in model.modules()},
                     grad={p: p.requires_grad for p in model.parameters()})
        return _ascend(model, layer, channel, x, steps, lr)

    def judge(expected, got):
        model, args = state["model"], state["args"]
        if _n_hooks(model):
            return f"{_n_hooks(model)} hook(s) are still registered on the model: remove them (use a `with` block)"
        if any(m.training != t for m, t in state["training"].items()):
            return "the model's training flags changed: restore them (use `with preserved_state(model):`)"
        if any(p.requires_grad != g for p, g in state["grad"].items()):
            return "the parameters' requires_grad changed: restore them (use `with preserved_state(model):`)"
        if not torch.equal(args[3], state["x"]):
            return "the input tensor was changed in place: work on `x.detach().clone()`"
        if isinstance(got, torch.Tensor) and got.requires_grad:
            return "the result is still attached to the autograd graph: return `x.detach()`"
        problem = compare(expected, got, atol=1e-5, rtol=1e-4)
        if problem is None:
            return None
        variants = {
            "you went downhill: gradient *ascent* adds the gradient (x + lr · grad)":
                _ascend(*args, descend=True),
            "the gradients add up across steps: use a fresh gradient each step (torch.autograd.grad, or zero "
            "x.grad before backward)": _ascend(*args, accumulate=True),
            "the model ran in training mode (BatchNorm used batch statistics): ascend inside "
            "`with preserved_state(model):`, which switches to eval mode": _ascend(*args, eval_mode=False),
        }
        return _named_variant(got, variants) or problem

    return run_check(name, fn, reference, cases, compare_fn=judge, hint=hint)


# ------------------------------------------------------------------------------- high-frequency energy
def _hf_mistakes(x: torch.Tensor, cutoff: float) -> dict[str, torch.Tensor]:
    h, w = x.shape[-2:]
    f = torch.sqrt(torch.fft.fftfreq(h).view(-1, 1) ** 2 + torch.fft.fftfreq(w).view(1, -1) ** 2)

    def fraction(power, mask):
        total = power.flatten(1).sum(1)
        return torch.where(total > 0, (power * mask).flatten(1).sum(1) / total.clamp(min=1e-30), torch.zeros_like(total))

    centred = x - x.mean(dim=(2, 3), keepdim=True)
    power = torch.fft.fft2(centred.double()).abs().pow(2).sum(1)
    return {
        "the channel means were not removed, so the DC term inflates the total power":
            fraction(torch.fft.fft2(x.double()).abs().pow(2).sum(1), f > cutoff),
        "you used amplitudes |X|; the energy is the power |X|²":
            fraction(torch.fft.fft2(centred.double()).abs().sum(1), f > cutoff),
        "you returned the fraction *below* the cutoff; the exercise asks for the power above it":
            fraction(power, f <= cutoff),
        "the frequencies are off by a factor: use torch.fft.fftfreq (cycles per pixel), not indices or radians":
            fraction(power, f * 2 * torch.pi > cutoff),
    }


def check_high_frequency_energy(fn) -> CheckResult:
    """Check ``fn(x, cutoff)`` = fraction of each image's power (means removed) above ``cutoff`` cycles/pixel."""
    g = torch.Generator().manual_seed(87)
    yy, xx = torch.meshgrid(torch.arange(12.0), torch.arange(10.0), indexing="ij")
    stripes = (0.5 + 0.5 * torch.cos(torch.pi * xx)).expand(1, 3, 12, 10)       # 0.5 cycles/pixel along W
    mixed = 0.4 * torch.sin(2 * torch.pi * yy / 12) + 0.3 * torch.cos(torch.pi * (yy + xx))
    cases = [Case("2 grey images 1×16×16: noise and a flat one", (torch.cat([torch.rand(1, 1, 16, 16, generator=g),
                                                                           torch.full((1, 1, 16, 16), 0.5)]),)),
             Case("1 RGB image 3×12×10 of vertical stripes plus noise, cutoff 0.3",
                  (stripes + 0.05 * torch.rand(1, 3, 12, 10, generator=g),), {"cutoff": 0.3}),
             Case("3 images 2×12×10: a slow wave plus a checkerboard, at three brightness offsets",
                  (torch.stack([torch.stack([mixed + b, 0.5 * mixed]) for b in (0.0, 0.5, 2.0)]),))]
    last = {}

    def reference(x, cutoff=0.25):
        last.update(x=x, cutoff=cutoff)
        return featureviz.high_frequency_energy(x, cutoff)

    def judge(expected, got):
        problem = compare(expected, got, atol=1e-4, rtol=1e-3)
        if problem is None:
            return None
        if isinstance(got, torch.Tensor) and got.ndim == 0:
            return (f"expected one value per image (shape {tuple(expected.shape)}), got a single number: "
                    "sum the power over channels and positions, not over the batch")
        found = _named_variant(got.float() if isinstance(got, torch.Tensor) else got,
                               {k: v.float() for k, v in _hf_mistakes(last["x"], last["cutoff"]).items()})
        return found or problem

    return run_check("check_high_frequency_energy", fn, reference, cases, compare_fn=judge, atol=1e-4, rtol=1e-3,
                     hint="x − mean over (H, W); power = |fft2|² summed over channels; fraction of it where "
                          "sqrt(fy² + fx²) > cutoff, fy/fx from torch.fft.fftfreq.")
