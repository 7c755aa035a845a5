"""Image parameterizations: what gradient ascent changes. Each is an ``nn.Module`` whose ``forward()`` returns
a batch N×C×H×W in [0, 1].

* ``PixelImage`` – one free parameter per pixel (``PixelImage.from_images`` starts from given images);
* ``FourierImage`` – 1/f-scaled Fourier coefficients (Olah et al. 2017);
* both optionally decorrelate colour with ``IMAGENET_COLOR_SQRT``; ``color_correlation_sqrt(images)``
  measures the same matrix on other images.
"""
from __future__ import annotations

import torch
from torch import nn

from ..validation import check_bool, check_images, positive_float, positive_int
from .fourier import fourier_to_pixels, spectrum_scale
from .transforms import check_generator

__all__ = ["IMAGENET_COLOR_SQRT", "color_correlation_sqrt", "ImageParam", "PixelImage", "FourierImage"]

# Square root of ImageNet's RGB colour covariance (from its eigen-decomposition), as measured and published
# with Lucid (Olah et al. 2017). Column 0 ≈ brightness, column 1 ≈ red–blue, column 2 ≈ green–magenta.
IMAGENET_COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02],
                                    [0.27, 0.00, -0.05],
                                    [0.27, -0.09, 0.03]])


def check_pixels(x, name: str, model: nn.Module | None = None) -> torch.Tensor:
    """``check_images`` plus values in [0, 1]: images before the model's normalization, not after it."""
    x = check_images(x, name, model=model)
    lo, hi = (float(v) for v in torch.aminmax(x.detach()))
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(f"{name}: expected pixels in [0, 1] (the model's normalization is applied for you), "
                         f"got values in [{lo:.3g}, {hi:.3g}]; are these images already normalized?")
    return x


def color_correlation_sqrt(images: torch.Tensor) -> torch.Tensor:
    """The 3×3 square root S of the RGB covariance of ``images`` (N×3×H×W): S·Sᵀ = Cov, columns = principal
    colour directions (largest first, red component made non-negative) scaled by their standard deviations,
    for comparison with ``IMAGENET_COLOR_SQRT``."""
    images = check_images(images, "images", channels=3)
    pixels = images.permute(1, 0, 2, 3).reshape(3, -1).double()
    if pixels.shape[1] < 2:
        raise ValueError(f"images: a covariance needs at least 2 pixels, got shape {tuple(images.shape)}")
    cov = torch.cov(pixels)
    eigval, eigvec = torch.linalg.eigh(cov)
    order = eigval.argsort(descending=True)
    vec = eigvec[:, order]
    vec = vec * torch.where(vec[:1] < 0, -1.0, 1.0).to(vec)          # sign convention: red entry ≥ 0
    return (vec * eigval[order].clamp(min=0).sqrt()).float()


class ImageParam(nn.Module):
    """Base of the parameterizations: ``forward()`` → images N×C×H×W in [0, 1].

    Subclasses produce an unconstrained ``latent()`` image; for RGB with ``decorrelate`` its channels are
    read as decorrelated colour components and mixed by ``IMAGENET_COLOR_SQRT`` (normalized), then a sigmoid
    maps every value into (0, 1).
    """

    def __init__(self, batch: int, channels: int, height: int, width: int | None, decorrelate: bool):
        super().__init__()
        width = height if width is None else width
        self.shape = tuple(positive_int(v, name) for name, v in
                           [("batch", batch), ("channels", channels), ("height", height), ("width", width)])
        if check_bool(decorrelate, "decorrelate") and channels != 3:
            raise ValueError(f"decorrelate: colour decorrelation needs 3 channels, got {channels}")
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
        sd = positive_float(sd, "sd", allow_zero=True)
        self.pixels = nn.Parameter(sd * torch.randn(self.shape, generator=check_generator(generator)))

    @classmethod
    def from_images(cls, images: torch.Tensor, eps: float = 0.01) -> "PixelImage":
        """Start from given images (N×C×H×W in [0, 1], e.g. DeepDream on a photo): pixels = logit(images),
        with values clamped to [eps, 1 − eps] so the sigmoid is not saturated."""
        images = check_pixels(images, "images")
        if not positive_float(eps, "eps") < 0.5:
            raise ValueError(f"eps: expected a margin in (0, 0.5), got {eps}")
        n, c, h, w = images.shape
        image = cls(n, c, h, w, sd=0.0)
        image.pixels.data.copy_(torch.logit(images.detach().clamp(eps, 1 - eps)))
        return image

    def latent(self) -> torch.Tensor:
        return self.pixels


class FourierImage(ImageParam):
    """Parameters are Fourier coefficients scaled by 1/f^decay_power (Olah et al. 2017): ascent steps are
    spread over frequencies like natural images' power, so low frequencies are no longer starved.
    ``decorrelate`` defaults to True for 3 channels."""

    def __init__(self, batch: int = 1, channels: int = 3, height: int = 128, width: int | None = None,
                 sd: float = 0.01, decay_power: float = 1.0, decorrelate: bool | None = None,
                 generator: torch.Generator | None = None):
        super().__init__(batch, channels, height, width, channels == 3 if decorrelate is None else decorrelate)
        h, w = self.shape[2:]
        sd = positive_float(sd, "sd", allow_zero=True)
        self.register_buffer("scale", spectrum_scale(h, w, decay_power))
        self.spectrum = nn.Parameter(sd * torch.randn(self.shape[:2] + (h, w // 2 + 1, 2),
                                                      generator=check_generator(generator)))

    def latent(self) -> torch.Tensor:
        return fourier_to_pixels(self.spectrum, self.shape[2:], self.scale)
