"""Ablation curves: the value as players are removed one after another, in a ranking's order or at random.

A ranking is good when removing its first players makes the value drop fastest.
"""
from __future__ import annotations

from typing import Sequence

import torch

from ..validation import positive_int
from .games import check_game, evaluate
from .removal import indices

__all__ = ["ablation_curve", "random_ablation_curves"]


def ablation_curve(game, order: Sequence[int], max_removed: int | None = None) -> torch.Tensor:
    """V(N ∖ {order[0..k−1]}) for k = 0..max_removed: the value as the players are removed in ``order``.

    One call to the game with all the coalitions. Returns a float64 tensor of length max_removed + 1.
    """
    n = check_game(game)
    order = indices(order, n, "order", what="player")
    if len(order) == 0 or len(set(order.tolist())) != len(order):
        raise ValueError(f"order: expected distinct player indices in 0..{n - 1}, got {order.tolist()[:10]}")
    m = len(order) if max_removed is None else positive_int(max_removed, "max_removed", minimum=0)
    if m > len(order):
        raise ValueError(f"max_removed: expected 0..{len(order)} (the length of order), got {max_removed!r}")
    keep = torch.ones(m + 1, n, dtype=torch.bool)
    for j in range(1, m + 1):
        keep[j:, order[j - 1]] = False
    return evaluate(game, keep)


def random_ablation_curves(game, n_orders: int = 10, max_removed: int | None = None, seed: int = 0) -> torch.Tensor:
    """``n_orders`` × (max_removed + 1) ablation curves for random removal orders (a baseline)."""
    n = check_game(game)
    n_orders, seed = positive_int(n_orders, "n_orders"), positive_int(seed, "seed", minimum=0)
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([ablation_curve(game, torch.randperm(n, generator=gen), max_removed) for _ in range(n_orders)])
