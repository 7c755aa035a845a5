"""Concept-based explanations (lecture 12): which human concepts a class's decision is sensitive to, and
which units detect which objects. One module per idea:

* ``cav`` – ``layer_activations`` (batched, one or several layers in one pass), ``logistic_regression``
  (plain, L2-regularized, solved exactly in torch) and ``fit_cav`` → ``CAV``: the concept activation vector
  of Kim et al. (2018), the unit normal of a linear boundary between concept and random activations;
* ``tcav`` – ``layer_gradients`` (∂logit/∂activation, batched), ``directional_derivatives`` (gradient · CAV),
  ``tcav_score`` (fraction > 0) and ``tcav`` (all three);
* ``stats`` – ``fit_cav_runs`` (the concept against many random sets, and random-vs-random CAVs),
  ``tcav_test`` (scores of both and a two-sided t-test → ``TCAVResult``), ``t_test``, ``tcav_experiment``;
* ``dissection`` – Bau et al. (2017) in the small: ``unit_thresholds``, ``active_regions``, ``dataset_iou``,
  ``dissect`` →
  ``Dissection`` (IoU of every unit with every class's masks);
* ``textures`` – concept images made offline: ``texture_images`` (stripes, dots, checkerboard, zigzag) and
  ``photo_textures`` (scikit-image's bundled brick, grass and gravel photos);
* ``plots`` – ``plot_tcav``, ``plot_runs``, ``plot_iou``.

A layer is given by its name (``"relu4"``) or as the module; every function leaves the model as it was.
"""
from .cav import CAV, fit_cav, flat_activations, layer_activations, logistic_regression
from .dissection import Dissection, active_regions, dataset_iou, dissect, unit_thresholds
from .plots import plot_iou, plot_runs, plot_tcav
from .stats import CAVRuns, TCAVResult, fit_cav_runs, t_test, tcav_experiment, tcav_test
from .tcav import directional_derivatives, layer_gradients, tcav, tcav_score
from .textures import PHOTO_TEXTURES, TEXTURES, photo_textures, texture_images

__all__ = ["CAV", "CAVRuns", "Dissection", "PHOTO_TEXTURES", "TCAVResult", "TEXTURES", "active_regions", "dataset_iou",
           "directional_derivatives", "dissect", "fit_cav", "fit_cav_runs", "flat_activations",
           "layer_activations", "layer_gradients", "logistic_regression", "photo_textures", "plot_iou",
           "plot_runs", "plot_tcav", "t_test", "tcav", "tcav_experiment", "tcav_score", "tcav_test",
           "texture_images", "unit_thresholds"]
