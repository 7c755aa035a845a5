"""Evaluating explanations: measured, not argued (lecture 10), one module per idea.

* ``curves`` – deletion and insertion curves (Petsiuk, Das & Saenko 2018): remove (or insert) pixels in the
  order an attribution ranks them and follow the model's score; ``deletion_curve``, ``insertion_curve``,
  ``perturbation_curve``, ``perturbation_curves`` (several maps in one pass), ``auc``, ``pixel_order``.
* ``localization`` – ground truth: ``make_localization_dataset`` places Fashion-MNIST items at random
  positions on a larger canvas and records each item's box; ``box_mask``, ``mass_inside_box`` (share of the
  attribution inside the box) and ``pointing_game`` (Zhang et al. 2016: is the map's maximum in the box?);
  ``PHOTO_BOXES``: boxes drawn by hand around the object in four course photos, for EfficientNet-Lite0;
  ``localization_cnn()`` – the shipped FashionCNN trained on canvas images.
* ``sanity`` – sanity checks (Adebayo et al. 2018): ``randomize_layers``, ``randomized_models`` (top-down
  cascading or one at a time), ``rank_correlation``, ``map_rank_correlation`` (Spearman, per image),
  ``model_randomization_test`` and ``summarize_correlations``.
* ``methods`` – ``course_methods(layer)``: every course attribution method under one name each, plus the
  ``random_attribution`` baseline.
* ``stats`` – ``compare_methods`` (mean ± standard error over images, paired bootstrap interval of the
  difference to the random map, a verdict), ``bootstrap_interval``, ``sign_test`` (a handful of images),
  ``format_scores`` (the text table).
* ``plots`` – ``draw_box``, ``plot_curves``.

Maps are N×C×H×W (or N×H×W); where a ranking or a maximum is needed, channels are summed first
(``sum_channels``; NaN/inf are an error). Everything is batched (``batch_size``) and leaves the model as
it found it.
"""
from ..attribution import probability   # the target for curves of class probabilities (Petsiuk et al.)
from .curves import auc, deletion_curve, insertion_curve, perturbation_curve, perturbation_curves, pixel_order
from .localization import (CANVAS_SIZE, LOCALIZATION_CHECKPOINT, PHOTO_BOXES, box_mask, localization_cnn,
                           make_localization_dataset, mass_inside_box, pointing_game)
from .maps import sum_channels
from .methods import course_methods, random_attribution
from .plots import draw_box, plot_curves
from .stats import Comparison, bootstrap_interval, compare_methods, format_scores, sign_test
from .sanity import (map_rank_correlation, model_randomization_test, parameter_layers, randomize_layers,
                     randomized_models, rank_correlation, summarize_correlations)

__all__ = ["CANVAS_SIZE", "Comparison", "bootstrap_interval", "compare_methods", "format_scores", "sign_test", "LOCALIZATION_CHECKPOINT", "PHOTO_BOXES", "auc", "box_mask", "course_methods",
           "deletion_curve", "draw_box", "insertion_curve", "localization_cnn", "make_localization_dataset",
           "map_rank_correlation", "mass_inside_box", "model_randomization_test", "parameter_layers",
           "perturbation_curve", "perturbation_curves", "pixel_order", "probability", "plot_curves", "pointing_game",
           "random_attribution",
           "randomize_layers", "randomized_models", "rank_correlation", "sum_channels", "summarize_correlations"]
