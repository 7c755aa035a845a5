"""Feature visualization by optimization: find an input that a unit, a channel, a layer or a class responds to.

Three small pieces and one loop (the design of Lucid/Lucent):

* **image parameterizations** – ``PixelImage`` and ``FourierImage`` (1/f-scaled spectrum, colour
  decorrelation); both are ``nn.Module``\\ s whose ``forward()`` returns a batch N×C×H×W in [0, 1];
* **transforms** – ``jitter``, ``random_scale``, ``random_rotate``, ``pad``, ``blur``: random changes applied
  to the image before each forward pass, so the optimum must survive them;
* **objectives** – ``neuron``, ``channel``, ``deepdream``, ``class_logit``, ``class_probability``, ``diversity``
  and the penalties ``l2``, ``total_variation``, ``blur_penalty``. An objective maps the activations of one
  forward pass to one value per image (shape N) and composes with ``+``, ``-`` and ``*``::

      obj = channel("relu4", 7) - 0.05 * total_variation() + 0.5 * diversity("relu4")

``render(model, objective, image, ...)`` runs gradient ascent on the image's parameters;
``evaluate(model, objective, images)`` scores given images (e.g. a dataset, to rank its examples by the same
objective); ``high_frequency_energy(images)`` measures how much of an image's power sits in fine detail.

Objectives read their activations from a dict ``{layer name: output}`` filled by forward hooks, plus two
special entries: ``"input"`` (the image in [0, 1] before the transforms) and ``"logits"`` (the model output).
"""
from __future__ import annotations

import math
import numbers
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..hooks import get_layer, preserved_state
from ..progress import progress

INPUT, LOGITS = "input", "logits"
Activations = dict[str, torch.Tensor]
Transform = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]


# ============================================================================================= objectives
class Objective:
    """A function ``activations → Tensor[N]`` (one value per image) that knows which layers it reads.

    ``obj(acts)`` evaluates it; ``obj.layers`` lists the layer names the forward hooks must record.
    ``a + b``, ``a - b``, ``-a``, ``k * a``, ``a * b``, ``a / k`` build new objectives; numbers act as constants.
    """

    def __init__(self, fn: Callable[[Activations], torch.Tensor], layers: Sequence[str] = (), name: str = "objective"):
        self.fn = fn
        self.layers = tuple(dict.fromkeys(layers))   # ordered, without duplicates
        self.name = name

    def __call__(self, acts: Activations) -> torch.Tensor:
        missing = [name for name in self.layers if name not in acts]
        if missing:
            raise ValueError(f"objective {self.name!r}: no activations recorded for {missing}")
        return self.fn(acts)

    def __repr__(self) -> str:
        return f"Objective({self.name})"

    # --- composition: every operator returns a new Objective reading the union of both layer lists
    def _combine(self, other, op: Callable, symbol: str, reverse: bool = False) -> "Objective":
        if isinstance(other, Objective):
            left, right = (other, self) if reverse else (self, other)
            return Objective(lambda acts: op(left(acts), right(acts)), left.layers + right.layers,
                             f"{left.name} {symbol} {_paren(right.name)}")
        if isinstance(other, numbers.Real) and not isinstance(other, bool):
            k = float(other)
            if reverse:
                return Objective(lambda acts: op(k, self(acts)), self.layers, f"{k:g} {symbol} {_paren(self.name)}")
            return Objective(lambda acts: op(self(acts), k), self.layers, f"{_paren(self.name)} {symbol} {k:g}")
        return NotImplemented

    def __add__(self, other):
        return self._combine(other, lambda a, b: a + b, "+")

    def __radd__(self, other):   # makes sum([obj1, obj2]) work (it starts from 0)
        if isinstance(other, numbers.Real) and not isinstance(other, bool) and other == 0:
            return self
        return self._combine(other, lambda a, b: a + b, "+", reverse=True)

    def __sub__(self, other):
        return self._combine(other, lambda a, b: a - b, "-")

    def __rsub__(self, other):
        return self._combine(other, lambda a, b: a - b, "-", reverse=True)

    def __mul__(self, other):
        return self._combine(other, lambda a, b: a * b, "*")

    def __rmul__(self, other):
        return self._combine(other, lambda a, b: a * b, "*", reverse=True)

    def __truediv__(self, other):
        if not isinstance(other, numbers.Real) or isinstance(other, bool) or other == 0:
            raise TypeError(f"an objective can only be divided by a nonzero number, got {other!r}")
        return self * (1.0 / float(other))

    def __neg__(self) -> "Objective":
        return Objective(lambda acts: -self(acts), self.layers, f"-{_paren(self.name)}")


def _paren(name: str) -> str:
    return f"({name})" if any(s in name for s in " +-*") else name


def _check_layer_name(layer) -> str:
    if not isinstance(layer, str) or not layer:
        raise TypeError(f"layer: expected a layer name (str, e.g. 'relu4' or '_blocks.5'), got {layer!r}")
    return layer


def _indices(value, name: str) -> int | tuple[int, ...]:
    """An int (same unit for every image) or a sequence of ints (one per image of the batch)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{name}: expected a non-negative index, got {value}")
        return int(value)
    if isinstance(value, torch.Tensor):
        value = value.reshape(-1).tolist()
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0 for v in value):
        return tuple(int(v) for v in value)
    raise TypeError(f"{name}: expected a non-negative int or a non-empty list of them (one per image), got {value!r}")


def _pick(a: torch.Tensor, index: int | tuple[int, ...], name: str, layer: str) -> torch.Tensor:
    """Row ``index`` (or ``index[i]`` for image i) of dimension 1 of ``a`` (N×C×... → N×...)."""
    n, c = a.shape[0], a.shape[1]
    idx = torch.full((n,), index, dtype=torch.long) if isinstance(index, int) else torch.tensor(index)
    if len(idx) != n:
        raise ValueError(f"{name}: {len(idx)} indices given (one per image) for a batch of {n} images")
    if int(idx.max()) >= c:
        raise ValueError(f"{name}: {layer!r} has {c} entries along dimension 1, got index {int(idx.max())}")
    return a[torch.arange(n, device=a.device), idx.to(a.device)]


def neuron(layer: str, channel: int | Sequence[int], y: int | None = None, x: int | None = None) -> Objective:
    """The activation of one unit: channel ``channel`` of ``layer`` at position (y, x) (default: the centre).

    ``channel`` may be a list with one entry per image, to optimize several units in one batch.
    On a fully connected layer (N×K output) the unit is simply column ``channel``.
    """
    layer = _check_layer_name(layer)
    index = _indices(channel, "channel")

    def fn(acts: Activations) -> torch.Tensor:
        a = _pick(acts[layer], index, "channel", layer)          # N×H×W (or N for a dense layer)
        if a.ndim == 1:
            return a
        h, w = a.shape[-2:]
        yy, xx = (h // 2 if y is None else y), (w // 2 if x is None else x)
        if not (0 <= yy < h and 0 <= xx < w):
            raise ValueError(f"y, x: ({yy}, {xx}) lies outside the {h}×{w} map of {layer!r}")
        return a[:, yy, xx]

    return Objective(fn, [layer], f"neuron({layer}:{channel})")


def channel(layer: str, channel: int | Sequence[int]) -> Objective:
    """The mean activation of channel ``channel`` of ``layer`` over all positions (one list entry per image)."""
    layer = _check_layer_name(layer)
    index = _indices(channel, "channel")

    def fn(acts: Activations) -> torch.Tensor:
        a = _pick(acts[layer], index, "channel", layer)
        return a.flatten(1).mean(1) if a.ndim > 1 else a

    return Objective(fn, [layer], f"channel({layer}:{channel})")


def deepdream(layer: str) -> Objective:
    """DeepDream's layer objective: the mean of the squared activations of the whole layer, per image.

    (Mean rather than sum, so the same weight works for layers of any size; the maximizer is the same.)
    """
    layer = _check_layer_name(layer)
    return Objective(lambda acts: acts[layer].pow(2).flatten(1).mean(1), [layer], f"deepdream({layer})")


def class_logit(target: int | Sequence[int]) -> Objective:
    """The logit (pre-softmax score S_c) of class ``target`` (one list entry per image)."""
    index = _indices(target, "target")
    return Objective(lambda acts: _pick(acts[LOGITS], index, "target", LOGITS), [LOGITS], f"logit({target})")


def class_probability(target: int | Sequence[int], log: bool = False) -> Objective:
    """The softmax probability of class ``target`` (``log=True``: its logarithm, z_k − logsumexp z).

    Raising it may also mean lowering the other classes. The probability's gradient p(1 − p)·∂z vanishes
    where p ≈ 0 (a start the model confidently puts in another class); the log-probability's does not.
    """
    index = _indices(target, "target")
    if log:
        return Objective(lambda acts: _pick(acts[LOGITS].log_softmax(1), index, "target", LOGITS), [LOGITS],
                         f"log_probability({target})")
    return Objective(lambda acts: _pick(acts[LOGITS].softmax(1), index, "target", LOGITS), [LOGITS],
                     f"probability({target})")


def l2(center: float = 0.5) -> Objective:
    """Penalty: mean squared distance of the image from a flat grey ``center``, per image (subtract it)."""
    return Objective(lambda acts: (acts[INPUT] - center).pow(2).flatten(1).mean(1), [INPUT], "l2")


def total_variation(x: torch.Tensor | None = None):
    """Penalty: mean |difference| between vertical neighbours plus the same for horizontal ones, per image.

    TV(x) = mean_{c,i,j} |x[c,i+1,j] − x[c,i,j]| + mean_{c,i,j} |x[c,i,j+1] − x[c,i,j]|.
    Called with a tensor N×C×H×W it returns TV as a Tensor[N]; without arguments it returns the penalty as
    an Objective on the rendered image (subtract it: ``obj - 0.1 * total_variation()``).
    """
    if x is None:
        return Objective(lambda acts: total_variation(acts[INPUT]), [INPUT], "tv")
    _check_images(x, "x")
    dy = (x[:, :, 1:, :] - x[:, :, :-1, :]).abs().flatten(1).mean(1)
    dx = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().flatten(1).mean(1)
    return dy + dx


def blur_penalty(sigma: float = 1.0) -> Objective:
    """Penalty: 0.5·mean (x − blur(x))², with blur(x) held constant; its gradient step pulls x toward its blur.

    The optimizer's step on −penalty moves the image a little toward a Gaussian-blurred copy of itself
    every iteration: Yosinski et al.'s (2015) periodic blurring, written as an objective.
    """
    smooth = blur(sigma)
    return Objective(lambda acts: 0.5 * (acts[INPUT] - smooth(acts[INPUT]).detach()).pow(2).flatten(1).mean(1),
                     [INPUT], f"blur_penalty({sigma:g})")


def gram_matrices(a: torch.Tensor) -> torch.Tensor:
    """N×C×H×W activations → N×C×C Gram matrices G[c, d] = mean over positions of a_c · a_d."""
    if a.ndim != 4:
        raise ValueError(f"activations: expected N×C×H×W, got shape {tuple(a.shape)}")
    flat = a.flatten(2)
    return flat @ flat.transpose(1, 2) / flat.shape[2]


def diversity(layer: str) -> Objective:
    """Reward for images of a batch that differ in style: minus the mean cosine similarity of each image's
    Gram matrix (at ``layer``) to those of the other images. Value per image in [−1, 1]; 0 for a batch of one.

    Gram matrices ignore where a pattern is, so the term pushes images to use different patterns, not
    merely to shift the same one (Olah et al. 2017, "Diversity").
    """
    layer = _check_layer_name(layer)

    def fn(acts: Activations) -> torch.Tensor:
        g = F.normalize(gram_matrices(acts[layer]).flatten(1), dim=1)   # N × C²
        n = g.shape[0]
        if n < 2:
            return g.new_zeros(n)
        sim = g @ g.T                                                   # N×N cosine similarities
        return -(sim.sum(1) - sim.diagonal()) / (n - 1)

    return Objective(fn, [layer], f"diversity({layer})")


# ============================================================================================= transforms
def _check_images(x, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor N×C×H×W, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a 4-d tensor N×C×H×W, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got {x.dtype}")
    return x


def _randint(low: int, high: int, generator: torch.Generator | None) -> int:
    """A random int in [low, high] (inclusive), drawn from ``generator``."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def jitter(max_shift: int) -> Transform:
    """Shift the whole batch by a random (dy, dx) in [−max_shift, max_shift]² with wrap-around (keeps shape)."""
    if not isinstance(max_shift, int) or max_shift < 0:
        raise ValueError(f"max_shift: expected a non-negative int, got {max_shift!r}")

    def apply(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        dy = _randint(-max_shift, max_shift, generator)
        dx = _randint(-max_shift, max_shift, generator)
        return torch.roll(x, shifts=(dy, dx), dims=(2, 3))

    return apply


def _affine(x: torch.Tensor, scale: float = 1.0, angle_deg: float = 0.0) -> torch.Tensor:
    """Zoom by ``scale`` and rotate by ``angle_deg`` about the centre, keeping the size (edges reflected)."""
    a = math.radians(angle_deg)
    cos, sin = math.cos(a) / scale, math.sin(a) / scale   # affine_grid maps output → input coordinates
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def random_scale(scales: Sequence[float] = (0.9, 0.95, 1.0, 1.05, 1.1)) -> Transform:
    """Zoom the batch by a factor drawn from ``scales`` (keeps shape; >1 enlarges the content)."""
    scales = tuple(float(s) for s in scales)
    if not scales or min(scales) <= 0:
        raise ValueError(f"scales: expected positive zoom factors, got {scales}")

    def apply(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return _affine(x, scale=scales[_randint(0, len(scales) - 1, generator)])

    return apply


def random_rotate(degrees: Sequence[float] = tuple(range(-10, 11))) -> Transform:
    """Rotate the batch by an angle (degrees) drawn from ``degrees`` (keeps shape)."""
    degrees = tuple(float(d) for d in degrees)
    if not degrees:
        raise ValueError("degrees: expected at least one angle")

    def apply(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return _affine(x, angle_deg=degrees[_randint(0, len(degrees) - 1, generator)])

    return apply


def pad(width: int, mode: str = "reflect", value: float = 0.5) -> Transform:
    """Pad every side by ``width`` pixels (H×W → (H+2w)×(W+2w)), so the image's edges stop being special.

    ``mode``: ``"reflect"`` (mirror the image) or ``"constant"`` (grey ``value``).
    """
    if not isinstance(width, int) or width < 0:
        raise ValueError(f"width: expected a non-negative int, got {width!r}")
    if mode not in ("reflect", "constant"):
        raise ValueError(f"mode: expected 'reflect' or 'constant', got {mode!r}")

    def apply(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if mode == "constant":
            return F.pad(x, (width,) * 4, mode="constant", value=value)
        return F.pad(x, (width,) * 4, mode="reflect")

    return apply


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """A normalized 1-d Gaussian of standard deviation ``sigma`` pixels, radius ⌈3σ⌉."""
    if not isinstance(sigma, numbers.Real) or sigma <= 0:
        raise ValueError(f"sigma: expected a positive number, got {sigma!r}")
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def blur(sigma: float = 1.0) -> Transform:
    """Gaussian blur of standard deviation ``sigma`` pixels, each channel separately (keeps shape)."""
    k = gaussian_kernel(sigma)
    r = len(k) // 2

    def apply(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        c = x.shape[1]
        kk = k.to(x)
        mode = "reflect" if min(x.shape[-2:]) > r else "replicate"
        x = F.conv2d(F.pad(x, (r, r, 0, 0), mode=mode), kk.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        return F.conv2d(F.pad(x, (0, 0, r, r), mode=mode), kk.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)

    return apply


def compose(transforms: Sequence[Transform]) -> Transform:
    """Apply ``transforms`` one after the other."""
    transforms = list(transforms)
    for t in transforms:
        if not callable(t):
            raise TypeError(f"transforms: expected callables (x, generator) -> x, got {type(t).__name__}")

    def apply(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for t in transforms:
            x = t(x, generator)
        return x

    return apply


def standard_transforms(size: int) -> list[Transform]:
    """Lucid's robustness recipe scaled to an image side of ``size`` pixels: pad, jitter, scale, rotate, jitter."""
    unit = max(1, size // 32)
    return [pad(2 * unit), jitter(2 * unit), random_scale((1.0, 0.975, 1.025, 0.95, 1.05)),
            random_rotate(tuple(range(-5, 6))), jitter(unit)]


# ===================================================================================== parameterizations
# Square root of ImageNet's RGB colour covariance (from its eigen-decomposition), as measured and published
# with Lucid (Olah et al. 2017). Column 0 ≈ brightness, column 1 ≈ red–blue, column 2 ≈ green–magenta.
IMAGENET_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02],
                                    [0.27, 0.00, -0.05],
                                    [0.27, -0.09, 0.03]])


def color_correlation_sqrt(images: torch.Tensor) -> torch.Tensor:
    """The 3×3 square root S of the RGB covariance of ``images`` (N×3×H×W): S·Sᵀ = Cov, columns = principal
    colour directions (largest first, red component made non-negative) scaled by their standard deviations,
    for comparison with ``IMAGENET_COLOR_SQRT``."""
    _check_images(images, "images")
    if images.shape[1] != 3:
        raise ValueError(f"images: expected 3 colour channels, got {images.shape[1]}")
    pixels = images.permute(1, 0, 2, 3).reshape(3, -1).double()
    cov = torch.cov(pixels)
    eigval, eigvec = torch.linalg.eigh(cov)
    order = eigval.argsort(descending=True)
    vec = eigvec[:, order]
    vec = vec * torch.where(vec[:1] < 0, -1.0, 1.0).to(vec)          # sign convention: red entry ≥ 0
    return (vec * eigval[order].clamp(min=0).sqrt()).float()


def frequency_grid(height: int, width: int) -> torch.Tensor:
    """Radial frequency (cycles per pixel) of each entry of ``torch.fft.rfft2``'s output: height×(width//2+1)."""
    fy = torch.fft.fftfreq(height).view(-1, 1)
    fx = torch.fft.rfftfreq(width).view(1, -1)
    return torch.sqrt(fy ** 2 + fx ** 2)


def spectrum_scale(height: int, width: int, decay_power: float = 1.0) -> torch.Tensor:
    """Per-frequency amplitude ∝ 1/f^decay_power (f floored at 1/max(H, W)): height×(width//2+1).

    Natural images have amplitude spectra falling roughly like 1/f; giving every Fourier coefficient this
    scale makes equal-sized steps in the parameters equal-sized steps in a "natural" image space.
    The constant factor is chosen so that coefficients drawn i.i.d. with standard deviation σ give pixels
    with standard deviation σ, for any image size.
    """
    f = frequency_grid(height, width).clamp(min=1.0 / max(height, width))
    scale = f.pow(-float(decay_power))
    # pixel (0, 0) is a linear function of the (real, imaginary) coefficients; the norm of its weight
    # vector is its standard deviation for unit-variance coefficients
    with torch.enable_grad():
        probe = torch.zeros(height, width // 2 + 1, 2, requires_grad=True)
        corner = fourier_to_pixels(probe, (height, width), scale)[0, 0]
        (weights,) = torch.autograd.grad(corner, probe)
    return scale / weights.norm()


def fourier_to_pixels(spectrum: torch.Tensor, size: tuple[int, int], scale: torch.Tensor) -> torch.Tensor:
    """N×C×H×(W//2+1)×2 (real, imaginary) coefficients → N×C×H×W pixels: inverse orthonormal FFT of spectrum·scale."""
    coeffs = torch.view_as_complex(spectrum.contiguous()) * scale
    return torch.fft.irfft2(coeffs, s=size, norm="ortho")


def pixels_to_fourier(pixels: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Inverse of ``fourier_to_pixels``: N×C×H×W pixels → N×C×H×(W//2+1)×2 coefficients."""
    coeffs = torch.fft.rfft2(pixels, norm="ortho") / scale
    return torch.view_as_real(coeffs).contiguous()


class ImageParam(nn.Module):
    """Base of the parameterizations: ``forward()`` → images N×C×H×W in [0, 1].

    Subclasses produce an unconstrained ``latent()`` image; for RGB with ``decorrelate`` its channels are
    read as decorrelated colour components and mixed by ``IMAGENET_COLOR_SQRT`` (normalized), then a sigmoid
    maps every value into (0, 1).
    """

    def __init__(self, batch: int, channels: int, height: int, width: int | None, decorrelate: bool):
        super().__init__()
        width = height if width is None else width
        for name, v in [("batch", batch), ("channels", channels), ("height", height), ("width", width)]:
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        if decorrelate and channels != 3:
            raise ValueError(f"decorrelate: colour decorrelation needs 3 channels, got {channels}")
        self.shape = (batch, channels, height, width)
        self.decorrelate = decorrelate
        m = IMAGENET_COLOR_SQRT / IMAGENET_COLOR_SQRT.norm(dim=0).max()
        self.register_buffer("color_matrix", m)

    def latent(self) -> torch.Tensor:
        raise NotImplementedError

    def forward(self) -> torch.Tensor:
        z = self.latent()
        if self.decorrelate:
            z = torch.einsum("rc,nchw->nrhw", self.color_matrix, z)
        return torch.sigmoid(z)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, decorrelate={self.decorrelate}"


class PixelImage(ImageParam):
    """One free parameter per pixel (and channel): the plain parameterization; starts near flat grey."""

    def __init__(self, batch: int = 1, channels: int = 3, height: int = 128, width: int | None = None,
                 sd: float = 0.01, decorrelate: bool = False, generator: torch.Generator | None = None):
        super().__init__(batch, channels, height, width, decorrelate)
        self.pixels = nn.Parameter(sd * torch.randn(self.shape, generator=generator))

    @classmethod
    def from_images(cls, images: torch.Tensor, eps: float = 0.01) -> "PixelImage":
        """Start from given images (N×C×H×W in [0, 1], e.g. DeepDream on a photo): pixels = logit(images),
        with values clamped to [eps, 1 − eps] so the sigmoid is not saturated."""
        _check_images(images, "images")
        n, c, h, w = images.shape
        image = cls(n, c, h, w, sd=0.0)
        image.pixels.data.copy_(torch.logit(images.detach().clamp(eps, 1 - eps)))
        return image

    def latent(self) -> torch.Tensor:
        return self.pixels


class FourierImage(ImageParam):
    """Parameters are Fourier coefficients scaled by 1/f^decay_power (Olah et al. 2017): ascent steps are
    spread over frequencies like natural images' power, so low frequencies are no longer starved."""

    def __init__(self, batch: int = 1, channels: int = 3, height: int = 128, width: int | None = None,
                 sd: float = 0.01, decay_power: float = 1.0, decorrelate: bool | None = None,
                 generator: torch.Generator | None = None):
        super().__init__(batch, channels, height, width, channels == 3 if decorrelate is None else decorrelate)
        h, w = self.shape[2:]
        self.register_buffer("scale", spectrum_scale(h, w, decay_power))
        self.spectrum = nn.Parameter(sd * torch.randn(batch, channels, h, w // 2 + 1, 2, generator=generator))

    def latent(self) -> torch.Tensor:
        return fourier_to_pixels(self.spectrum, self.shape[2:], self.scale)


# ============================================================================================ the loop
class _StopForward(Exception):
    """Raised by a hook once every layer an objective needs has been computed: the rest of the network
    cannot change the objective, so skipping it saves time (a lot, for early layers of a deep model)."""


def input_normalizer(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The map from images in [0, 1] to what ``model`` expects (as in ``course_utils.models.preprocess``).

    The course's models and torchvision's ImageNet models get their normalization; any other model gets
    the images unchanged.
    """
    from ..models import EfficientNetLite0, FashionCNN, _norm_stats
    known = isinstance(model, (EfficientNetLite0, FashionCNN)) or type(model).__module__.startswith("torchvision")
    if not known:
        return lambda x: x
    mean, std, _ = _norm_stats(model)
    mean_t, std_t = torch.tensor(mean).view(1, -1, 1, 1), torch.tensor(std).view(1, -1, 1, 1)
    return lambda x: (x - mean_t.to(x)) / std_t.to(x)


@contextmanager
def _recording(model: nn.Module, layers: Sequence[str], stop_early: bool) -> Iterator[Activations]:
    """Forward hooks storing the outputs of ``layers`` (kept in the graph); removed on exit, even on error."""
    store: Activations = {}
    modules = {name: get_layer(model, name) for name in layers}

    def make_hook(name: str):
        def hook(module, inputs, output):
            store[name] = output
            if stop_early and len(store) == len(modules):
                raise _StopForward
        return hook

    handles = [m.register_forward_hook(make_hook(name)) for name, m in modules.items()]
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def _forward(model: nn.Module, objective: Objective, images: torch.Tensor, transform: Transform | None,
             normalize: Callable, generator: torch.Generator | None) -> torch.Tensor:
    """One evaluation of ``objective`` on ``images`` (N×C×H×W in [0, 1]) → Tensor[N]."""
    layers = [name for name in objective.layers if name not in (INPUT, LOGITS)]
    needs_logits = LOGITS in objective.layers
    x = transform(images, generator) if transform is not None else images
    with _recording(model, layers, stop_early=not needs_logits) as acts:
        if layers or needs_logits:
            try:
                out = model(normalize(x))
                if needs_logits:
                    acts[LOGITS] = out
            except _StopForward:
                pass
        acts[INPUT] = images
        values = objective(acts)
    if not isinstance(values, torch.Tensor) or values.shape != (len(images),):
        raise ValueError(f"objective: expected one value per image (shape ({len(images)},)), got "
                         f"{tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__}")
    return values


def _check_objective(objective) -> Objective:
    if not isinstance(objective, Objective):
        raise TypeError(f"objective: expected an Objective (e.g. channel('relu4', 3)), got {type(objective).__name__}")
    return objective


def _model_channels(model: nn.Module) -> int | None:
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return first.in_channels if first is not None else None


def render(model: nn.Module, objective: Objective, image: ImageParam | None = None, *, size: int = 128,
           batch: int = 1, steps: int = 128, lr: float = 0.05, transforms: Sequence[Transform] = (),
           normalize: Callable | None = None, seed: int = 0, history: list | None = None,
           show_progress: bool = True) -> torch.Tensor:
    """Maximize ``objective`` by gradient ascent on the parameters of ``image``; return images N×C×H×W in [0, 1].

    ``image``: a parameterization (``FourierImage``/``PixelImage``); default a ``FourierImage`` of ``batch``
    images ``size``×``size`` with the model's number of input channels. Every step: make the images, apply
    ``transforms`` (random, drawn from a generator seeded by ``seed``), normalize for the model, run it, and
    take one Adam step (learning rate ``lr``) up the sum over the batch of the objective. ``history``, if a
    list, receives each step's per-image objective values (Tensor[N]). The model is left exactly as it was.
    """
    _check_objective(objective)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive int, got {steps!r}")
    if not isinstance(lr, numbers.Real) or lr <= 0:
        raise ValueError(f"lr: expected a positive learning rate, got {lr!r}")
    generator = torch.Generator().manual_seed(seed)
    if image is None:
        image = FourierImage(batch, _model_channels(model) or 3, size, generator=generator)
    if not isinstance(image, ImageParam):
        raise TypeError(f"image: expected a FourierImage or PixelImage, got {type(image).__name__}")
    expected = _model_channels(model)
    if expected is not None and image.shape[1] != expected:
        raise ValueError(f"image: the model takes {expected} input channels, the image has {image.shape[1]}")
    transform = compose(transforms)
    normalize = normalize or input_normalizer(model)
    optimizer = torch.optim.Adam(image.parameters(), lr=lr)

    with preserved_state(model):
        bar = progress(range(steps), enabled=show_progress, desc=objective.name[:40])
        for step in bar:
            optimizer.zero_grad()
            values = _forward(model, objective, image(), transform, normalize, generator)
            (-values.sum()).backward()        # the optimizer minimizes, we want to go up
            optimizer.step()
            if history is not None:
                history.append(values.detach())
            if hasattr(bar, "set_postfix") and step % 16 == 0:
                bar.set_postfix(objective=f"{values.mean().item():.3g}")
    return image().detach()


def evaluate(model: nn.Module, objective: Objective, images: torch.Tensor, *, batch_size: int = 256,
             normalize: Callable | None = None) -> torch.Tensor:
    """The objective's value on each of ``images`` (N×C×H×W in [0, 1], no transforms) → Tensor[N].

    Use it to score rendered images, or a dataset to find its maximally activating examples by the very
    same objective. Per-image index lists (``channel(layer, [..])``) need ``batch_size`` ≥ N.
    """
    _check_objective(objective)
    _check_images(images, "images")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    normalize = normalize or input_normalizer(model)
    out = []
    with preserved_state(model), torch.no_grad():
        for start in range(0, len(images), batch_size):
            out.append(_forward(model, objective, images[start:start + batch_size], None, normalize, None))
    return torch.cat(out)


# ============================================================================================ measuring
def high_frequency_energy(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Fraction of each image's power (mean removed per channel) at radial frequency > ``cutoff`` → Tensor[N].

    Frequencies are in cycles per pixel (0.5 = Nyquist along an axis, checkerboard ≈ 0.71); 0 for a flat image.
    Naive pixel-space ascent scores high (noise-like patterns), natural photos low.
    """
    _check_images(images, "images")
    if not isinstance(cutoff, numbers.Real) or not 0 <= cutoff < 0.75:
        raise ValueError(f"cutoff: expected a frequency in [0, 0.71) cycles/pixel, got {cutoff!r}")
    x = images.double()
    x = x - x.mean(dim=(2, 3), keepdim=True)                          # in float64, a flat image becomes exactly 0
    power = torch.fft.fft2(x).abs().pow(2).sum(1)                      # N×H×W, summed over channels
    h, w = images.shape[-2:]
    f = torch.sqrt(torch.fft.fftfreq(h).view(-1, 1) ** 2 + torch.fft.fftfreq(w).view(1, -1) ** 2)
    total = power.flatten(1).sum(1)
    high = (power * (f > cutoff)).flatten(1).sum(1)
    return torch.where(total > 0, high / total.clamp(min=1e-300), torch.zeros_like(total)).float()
