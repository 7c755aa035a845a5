"""Neuron Shapley (Ghorbani & Zou 2020): how much each channel of a layer contributes to a model's accuracy.

Channels are the *players* of a cooperative game; a *coalition* S is a set of channels kept, every other
channel being *removed* (its activation replaced by its mean over held-out data, or by zero). The value
V(S) is the model's performance with only S kept. The Shapley value of player i averages its marginal
contribution V(S ∪ {i}) − V(S) over all orders in which the players could join:

    φ_i = Σ_{S ⊆ N∖{i}}  |S|! (n − |S| − 1)! / n!  · (V(S ∪ {i}) − V(S)).

One module per idea:

* ``removal`` – ``removed_channels(model, layer, channels, replacement)`` (a context manager),
  ``layer_activations`` and ``channel_means(model, layer, inputs)``;
* ``games`` – ``LayerGame`` (channels of a layer, activations cached once, coalitions evaluated in
  batches), ``FunctionGame`` and the textbook games ``additive_game``, ``glove_game``, ``voting_game``;
  a game maps a K×n bool tensor of coalitions to K values;
* ``estimators`` – ``exact_shapley`` (enumeration, n ≤ 20), ``permutation_shapley`` (Monte Carlo over
  permutations, optionally truncated) and ``tmab_shapley`` (the paper's truncated multi-armed bandit that
  only refines players whose confidence interval straddles the top-k boundary; exact when 2^n coalitions
  cost less than its budget, and "no gap at the boundary" reported when the k-th and (k+1)-th cannot be
  separated), each returning a ``ShapleyResult``;
* ``ablation`` – ``ablation_curve`` / ``random_ablation_curves``;
* ``plots`` – ``plot_shapley``, ``plot_ablation``.

A layer is given by its name (``"relu4"``) or as the module (``model.relu4``).
"""
from .ablation import ablation_curve, random_ablation_curves
from .estimators import (ShapleyResult, bernstein_bound, evaluations_until_top, exact_shapley, permutation_shapley,
                         straddling, tmab_shapley)
from .games import (FunctionGame, LayerGame, additive_game, coalition_masks, glove_game, marginal_range,
                    voting_game)
from .plots import plot_ablation, plot_shapley
from .removal import channel_means, layer_activations, removed_channels

__all__ = [
    "removed_channels", "layer_activations", "channel_means", "LayerGame", "FunctionGame", "additive_game",
    "glove_game", "voting_game", "coalition_masks", "ShapleyResult", "exact_shapley", "permutation_shapley",
    "bernstein_bound", "straddling", "tmab_shapley", "evaluations_until_top", "marginal_range", "ablation_curve",
    "random_ablation_curves", "plot_shapley", "plot_ablation",
]
