"""Probing what single units respond to (lectures 01 and 02), one module per idea.

Lecture 01 — weights and activations:
* ``linear`` – ``train_linear_classifier(images, labels)`` (softmax regression whose weight rows are class
  templates), ``class_templates(model, shape)``, ``predict_logits``, ``accuracy(model, images, labels)``.
* ``filters`` – ``normalize_filters(weights, mode)``: conv kernels to displayable [0, 1] images.
* ``receptive`` – ``layer_receptive_field(model, layer, input_shape)``, ``receptive_field_box``,
  ``crop_patch``, ``receptive_field_patches``; ``gradient_support(model, layer, inputs, row, col)`` – the box
  of input pixels whose gradient is nonzero, to check the receptive field empirically.

Lecture 02 — maximally activating examples:
* ``topk`` – ``pool_spatial(acts, reduce)`` (N×C×H×W → N×C by global max/mean), ``argmax_locations``,
  ``StreamingTopK`` and ``top_k_examples(model, layers, images, k)``: top-K and bottom-K dataset examples of
  every channel in one batched pass, keeping only K candidates per channel (memory bounded).
* ``errors`` – ``confusion_matrix``, ``confused_pairs``, ``class_extremes``: probing the classifier head.
* ``photos`` – ``photo_crops(model)``: the course photos plus random crops and flips, for EfficientNet-Lite0.

Figures (``plots``): ``tile``, ``show_filters``, ``show_feature_maps``, ``show_examples``, ``show_patch_grid``.
"""
from .errors import class_extremes, confused_pairs, confusion_matrix
from .filters import FILTER_MODES, normalize_filters
from .linear import accuracy, class_templates, predict_logits, train_linear_classifier
from .photos import photo_crops
from .plots import show_examples, show_feature_maps, show_filters, show_patch_grid, tile
from .receptive import (crop_patch, gradient_support, layer_receptive_field, receptive_field_box,
                        receptive_field_patches)
from .topk import REDUCTIONS, ProbeResult, StreamingTopK, TopK, argmax_locations, pool_spatial, top_k_examples

__all__ = ["FILTER_MODES", "REDUCTIONS", "ProbeResult", "StreamingTopK", "TopK", "accuracy", "argmax_locations",
           "class_extremes", "class_templates", "confused_pairs", "confusion_matrix", "crop_patch",
           "gradient_support", "layer_receptive_field", "normalize_filters", "photo_crops", "pool_spatial",
           "predict_logits", "receptive_field_box", "receptive_field_patches", "show_examples",
           "show_feature_maps", "show_filters", "show_patch_grid", "tile", "top_k_examples",
           "train_linear_classifier"]
