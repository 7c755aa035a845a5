"""The frequency domain: the 1/f-scaled Fourier basis of ``FourierImage`` and how much of an image is fine detail.

* ``frequency_grid(h, w)`` – radial frequency of each ``rfft2`` coefficient;
* ``spectrum_scale(h, w, decay_power)`` – the 1/f amplitude each coefficient gets;
* ``fourier_to_pixels`` / ``pixels_to_fourier`` – between coefficients and pixels;
* ``high_frequency_energy(images, cutoff)`` – the fraction of power above ``cutoff`` cycles per pixel.
"""
from __future__ import annotations

import torch

from ..validation import check_finite, check_images, finite_number, positive_float, positive_int

__all__ = ["frequency_grid", "spectrum_scale", "fourier_to_pixels", "pixels_to_fourier", "high_frequency_energy"]


def frequency_grid(height: int, width: int) -> torch.Tensor:
    """Radial frequency (cycles per pixel) of each entry of ``torch.fft.rfft2``'s output: height×(width//2+1)."""
    height, width = positive_int(height, "height"), positive_int(width, "width")
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
    scale = f.pow(-positive_float(decay_power, "decay_power", allow_zero=True))
    # pixel (0, 0) is a linear function of the (real, imaginary) coefficients; the norm of its weight
    # vector is its standard deviation for unit-variance coefficients
    with torch.enable_grad():
        probe = torch.zeros(height, width // 2 + 1, 2, requires_grad=True)
        corner = fourier_to_pixels(probe, (height, width), scale)[0, 0]
        (weights,) = torch.autograd.grad(corner, probe)
    return scale / weights.norm()


def _check_scale(scale, grid: tuple[int, int], what: str) -> torch.Tensor:
    if not isinstance(scale, torch.Tensor) or tuple(scale.shape) != grid:
        got = tuple(scale.shape) if isinstance(scale, torch.Tensor) else type(scale).__name__
        raise ValueError(f"scale: expected spectrum_scale(H, W) of shape {grid} for {what}, got {got}")
    return scale


def fourier_to_pixels(spectrum: torch.Tensor, size: tuple[int, int], scale: torch.Tensor) -> torch.Tensor:
    """N×C×H×(W//2+1)×2 (real, imaginary) coefficients → N×C×H×W pixels: inverse orthonormal FFT of spectrum·scale."""
    if not isinstance(spectrum, torch.Tensor) or not spectrum.is_floating_point():
        raise TypeError(f"spectrum: expected a float tensor …×H×(W//2+1)×2, got "
                        f"{spectrum.dtype if isinstance(spectrum, torch.Tensor) else type(spectrum).__name__}")
    if spectrum.ndim < 3 or spectrum.shape[-1] != 2:
        raise ValueError(f"spectrum: expected (real, imaginary) pairs in a last dimension of size 2, "
                         f"…×H×(W//2+1)×2, got shape {tuple(spectrum.shape)}")
    check_finite(spectrum, "spectrum")
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise TypeError(f"size: expected (H, W), got {size!r}")
    h, w = positive_int(size[0], "size"), positive_int(size[1], "size")
    grid = (h, w // 2 + 1)
    if tuple(spectrum.shape[-3:-1]) != grid:
        raise ValueError(f"size: {h}×{w} pixels have {grid[0]}×{grid[1]} coefficients, the spectrum has "
                         f"{spectrum.shape[-3]}×{spectrum.shape[-2]}")
    coeffs = torch.view_as_complex(spectrum.contiguous()) * _check_scale(scale, grid, f"{h}×{w} pixels")
    return torch.fft.irfft2(coeffs, s=(h, w), norm="ortho")


def pixels_to_fourier(pixels: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Inverse of ``fourier_to_pixels``: N×C×H×W pixels → N×C×H×(W//2+1)×2 coefficients."""
    pixels = check_images(pixels, "pixels")
    h, w = pixels.shape[-2:]
    coeffs = torch.fft.rfft2(pixels, norm="ortho") / _check_scale(scale, (h, w // 2 + 1), f"{h}×{w} pixels")
    return torch.view_as_real(coeffs).contiguous()


def high_frequency_energy(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Fraction of each image's power (mean removed per channel) at radial frequency > ``cutoff`` → Tensor[N].

    Frequencies are in cycles per pixel (0.5 = Nyquist along an axis, checkerboard ≈ 0.71); 0 for a flat image.
    Naive pixel-space ascent scores high (noise-like patterns), natural photos low.
    """
    images = check_images(images, "images")
    cutoff = finite_number(cutoff, "cutoff")
    if not 0 <= cutoff < 0.75:
        raise ValueError(f"cutoff: expected a frequency in [0, 0.71) cycles/pixel, got {cutoff!r}")
    x = images.double()
    x = x - x.mean(dim=(2, 3), keepdim=True)                          # in float64, a flat image becomes exactly 0
    power = torch.fft.fft2(x).abs().pow(2).sum(1)                      # N×H×W, summed over channels
    h, w = images.shape[-2:]
    f = torch.sqrt(torch.fft.fftfreq(h).view(-1, 1) ** 2 + torch.fft.fftfreq(w).view(1, -1) ** 2)
    total = power.flatten(1).sum(1)
    high = (power * (f > cutoff)).flatten(1).sum(1)
    return torch.where(total > 0, high / total.clamp(min=1e-300), torch.zeros_like(total)).float()
