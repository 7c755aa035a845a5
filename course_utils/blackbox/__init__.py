"""Model-agnostic explanations: LIME and KernelSHAP on image segments, with exact Shapley values as the reference.

The model is a black box: we only run it on copies of one image in which some *segments* (superpixels or
square patches) are kept and the others replaced by a *fill*. A coalition S of segments has the value
V(S) = the target score of that copy — a cooperative game, as in lecture 09 but with the input's parts as
players, so ``course_utils.shapley.exact_shapley`` computes its exact Shapley values (2^n forward passes).

* ``segments``    – ``slic_segments``, ``square_patches``, ``check_segments``, ``paint``, ``segment_totals``;
* ``coalitions``  – ``fill_image``, ``apply_coalitions``, ``SegmentGame`` (batched, cached value function);
* ``lime``        – ``lime`` (Ribeiro et al. 2016) and its parts ``lime_coalitions``, ``lime_kernel``,
  ``weighted_ridge``;
* ``kernel_shap`` – ``kernel_shap`` (Lundberg & Lee 2017) and its parts ``shapley_kernel``,
  ``kernel_shap_coalitions``, ``kernel_regression``;
* ``explanation`` – ``Explanation``, what both return;
* ``plots``       – ``plot_segments``, ``plot_segment_values``, ``plot_convergence``.

    game = SegmentGame(model, x, target, square_patches(28, 28, 7), fill="black")
    exact = shapley.exact_shapley(game)                 # 2^16 coalitions
    est = kernel_shap(game, n_samples=500)              # ≈ exact.values, sums to V(N) − V(∅)
"""
from .coalitions import FILLS, SegmentGame, apply_coalitions, fill_image
from .explanation import Explanation
from .kernel_shap import kernel_regression, kernel_shap, kernel_shap_coalitions, shapley_kernel
from .lime import lime, lime_coalitions, lime_kernel, weighted_ridge
from .plots import plot_convergence, plot_segment_values, plot_segments
from .segments import check_segments, paint, segment_totals, slic_segments, square_patches

__all__ = [
    "slic_segments", "square_patches", "check_segments", "paint", "segment_totals",
    "FILLS", "fill_image", "apply_coalitions", "SegmentGame", "Explanation",
    "lime", "lime_coalitions", "lime_kernel", "weighted_ridge",
    "kernel_shap", "kernel_shap_coalitions", "kernel_regression", "shapley_kernel",
    "plot_segments", "plot_segment_values", "plot_convergence",
]
