"""Neuron Shapley (being split into modules by concept)."""
from .games import *  # noqa: F401,F403
from .games import bernstein_bound, layer_activations  # noqa: F401
