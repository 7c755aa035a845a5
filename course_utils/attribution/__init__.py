"""Attribution methods, all with one call shape: ``method(model, inputs, target, **options) -> Tensor``.

``inputs`` is N×C×H×W (checked once: finite float, channels and device matching the model); ``target``
an int, a length-N tensor of class indices, ``probability(c)``, ``unit_target(layer, channel, ...)`` or a
callable ``target(model, x) -> Tensor[N]`` (see ``attribution.targets``). Results are shaped like
``inputs`` (``cam``/``grad_cam``: N×1×H×W). Every method leaves the model exactly as it found it.
"""
from ._common import auto_batch_size, batches, input_gradients
from .targets import Target, probability, resolve_target, strongest_channel, target_scores, unit_target
from .gradients import (SMOOTHGRAD_STATISTICS, input_x_gradient, noise_scale, noisy_gradients, reduce_channels,
                        reduce_samples, saliency, smoothgrad)
from .guided import (RELU_BACKWARD_RULES, deconvnet, guided_backprop, modified_gradient, override_relu_backward,
                     relu_backward_deconvnet, relu_backward_gradient, relu_backward_guided)
from .integrated import adaptive_rule, integrated_gradients, make_baseline
from .quadrature import (adaptive_quadrature, gauss_legendre_pieces, quadrature, simpson_errors, simpson_pieces,
                         split_points, trapezoid_pieces)
from .cam import cam, grad_cam, guided_grad_cam
from .occlusion import (apply_bubbles, bubble_centres, bubble_masks, bubbles, bubbles_responses, diagnostic_image,
                        grid_to_pixels, masks_from_centres, occluder_fill, occlusion, occlusion_grid,
                        occlusion_outputs, reveal, window_positions)
from ..plotting import show_class_map  # re-exported: lecture 03 imports it from here


def __getattr__(name: str):
    """The sanity-check helpers live in ``course_utils.evaluation``; notebooks import them from here too
    (lazily, since evaluation itself imports the attribution methods)."""
    if name in ("rank_correlation", "randomize_layers"):
        from .. import evaluation
        return getattr(evaluation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
