"""The course's attribution methods side by side, and the random map every method should beat."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..validation import check_bool, check_model_inputs, integer, one_of, positive_int


def random_attribution(model: nn.Module, inputs: torch.Tensor, target=None, seed: int = 0) -> torch.Tensor:
    """A baseline "method" that ignores model and target: uniform noise N×1×H×W (fixed ``seed``)."""
    inputs = check_model_inputs(inputs, model)
    gen = torch.Generator().manual_seed(integer(seed, "seed"))
    n, _, h, w = inputs.shape
    return torch.rand(n, 1, h, w, generator=gen).to(inputs)


def course_methods(layer: str | nn.Module, occlusion_window: int = 4, occlusion_stride: int = 2, ig_steps: int = 32,
                   smoothgrad_samples: int = 25, with_random: bool = True, ig_rule: str = "gauss_legendre",
                   ig_scan_steps: int | None = None, batch_size: int | None = None) -> dict[str, Callable]:
    """Every attribution method of the course as ``name -> method(model, inputs, target)``, ready to compare.

    ``layer`` is the conv layer for CAM and Grad-CAM (``"relu4"`` for FashionCNN, ``"_head_act"`` for
    EfficientNet-Lite0; a name or the module); the occlusion window/stride are in pixels; integrated gradients
    uses ``ig_steps`` gradients placed by ``ig_rule`` (``"adaptive"``: after a forward scan of ``ig_scan_steps``
    + 1 points, see ``course_utils.attribution.integrated_gradients``). Results are
    N×C×H×W (CAM, Grad-CAM: N×1×H×W). With ``with_random`` a ``"random"`` map is added as the floor every
    method should beat. ``batch_size`` (rows per forward/backward pass) goes to every method; ``None`` keeps
    each method's default (integrated gradients and occlusion then size their batches by ``VALUES_PER_PASS``,
    at most ``ROWS_PER_PASS`` rows).
    """
    from .. import attribution as A
    if not isinstance(layer, (str, nn.Module)):
        raise TypeError(f"layer: expected a layer name or a module, got {type(layer).__name__}")
    occlusion_window = positive_int(occlusion_window, "occlusion_window")
    occlusion_stride = positive_int(occlusion_stride, "occlusion_stride")
    ig_steps, smoothgrad_samples = positive_int(ig_steps, "ig_steps"), positive_int(smoothgrad_samples,
                                                                                   "smoothgrad_samples")
    check_bool(with_random, "with_random")
    from ..attribution.quadrature import ALL_RULES
    one_of(ig_rule, "ig_rule", ALL_RULES)
    ig_options = {"steps": ig_steps, "rule": ig_rule}
    if ig_scan_steps is not None:
        if ig_rule != "adaptive":
            raise ValueError(f"ig_scan_steps: only ig_rule='adaptive' scans the path, got ig_rule={ig_rule!r}")
        ig_options["scan_steps"] = positive_int(ig_scan_steps, "ig_scan_steps")
    batch = {} if batch_size is None else {"batch_size": positive_int(batch_size, "batch_size")}
    methods: dict[str, Callable] = {
        "saliency": lambda m, x, t: A.saliency(m, x, t, **batch),
        "input×gradient": lambda m, x, t: A.input_x_gradient(m, x, t, **batch),
        "SmoothGrad": lambda m, x, t: A.smoothgrad(m, x, t, n_samples=smoothgrad_samples, **batch),
        "guided backprop": lambda m, x, t: A.guided_backprop(m, x, t, **batch),
        "deconvnet": lambda m, x, t: A.deconvnet(m, x, t, **batch),
        "integrated gradients": lambda m, x, t: A.integrated_gradients(m, x, t, **ig_options, **batch),
        "occlusion": lambda m, x, t: A.occlusion(m, x, t, window=occlusion_window, stride=occlusion_stride, **batch),
        "CAM": lambda m, x, t: A.cam(m, x, t, layer=layer, **batch),
        "Grad-CAM": lambda m, x, t: A.grad_cam(m, x, t, layer=layer, **batch),
    }
    if with_random:
        methods["random"] = random_attribution
    return methods
