"""Attribution methods, all with one call shape: ``method(model, inputs, target, **options) -> Tensor``.

``inputs`` is N×C×H×W; ``target`` an int, a length-N tensor of class indices, or a callable
``target(model, x) -> Tensor[N]`` (see ``unit_target``). Results are shaped like ``inputs``
(``cam``/``grad_cam``: N×1×H×W). Every method leaves the model exactly as it found it.
"""
from ._common import (auto_batch_size, batches, check_inputs, input_gradients, resolve_target, target_scores,
                      unit_target)
from .gradients import input_x_gradient, noise_scale, reduce_channels, saliency, smoothgrad
from .guided import (RELU_BACKWARD_RULES, deconvnet, guided_backprop, modified_gradient, override_relu_backward,
                     randomize_layers, rank_correlation, relu_backward_deconvnet, relu_backward_gradient,
                     relu_backward_guided)
from .integrated import integrated_gradients, make_baseline, quadrature
from .cam import cam, grad_cam, guided_grad_cam
from .occlusion import (apply_bubbles, bubble_centres, bubble_masks, bubbles, bubbles_responses, diagnostic_image, grid_to_pixels, masks_from_centres, occluder_fill, occlusion, occlusion_grid, occlusion_outputs, reveal, show_class_map, window_positions)
