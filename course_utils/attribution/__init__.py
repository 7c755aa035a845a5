"""Attribution methods, all with one call shape: ``method(model, inputs, target, **options) -> Tensor``.

``inputs`` is N×C×H×W; ``target`` an int, a length-N tensor of class indices, or a callable
``target(model, x) -> Tensor[N]`` (see ``unit_target``). Results are shaped like ``inputs``
(``cam``/``grad_cam``: N×1×H×W). Every method leaves the model exactly as it found it.
"""
from ._common import batches, check_inputs, input_gradients, resolve_target, target_scores, unit_target
