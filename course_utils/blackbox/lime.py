"""LIME (Ribeiro, Singh & Guestrin 2016): a weighted linear surrogate fitted to random coalitions.

Sample coalitions z ∈ {0,1}^n around the image (z = 1: the segment is kept), weight each by its
closeness to the full image, π(z) = exp(−d(z, 1)² / σ²), and fit g(z) = b + w·z by weighted ridge
regression on V(z):

    min_{b, w}  Σ_k π(z_k) (V(z_k) − b − w·z_k)²  +  α ‖w‖².

The coefficients w are LIME's explanation. Like the ``lime`` package's image explainer, the first sample
is the full image and the others keep each segment with probability 1/2; the distance is the cosine
distance d(z, 1) = 1 − √(|z|/n) (or the fraction of segments removed, ``distance="hamming"``). Nothing ties
w to Shapley values: it depends on σ, α and the samples, and does not converge to them.
"""
from __future__ import annotations

import time

import torch

from ..shapley.games import check_game
from ..validation import check_bool, one_of, positive_float, positive_int
from .explanation import Explanation, as_float64, distinct_rows, values_of

__all__ = ["lime_coalitions", "lime_kernel", "weighted_ridge", "lime"]


def lime_coalitions(n_players: int, n_samples: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n_samples`` coalitions (n_samples×n_players bool): the full coalition, then uniform random ones."""
    n, k = positive_int(n_players, "n_players"), positive_int(n_samples, "n_samples")
    z = torch.rand(k, n, generator=generator) < 0.5
    z[0] = True
    return z


def lime_kernel(coalitions: torch.Tensor, kernel_width: float = 0.25, distance: str = "cosine") -> torch.Tensor:
    """π(z) = exp(−d(z, 1)² / σ²) for coalitions K×n → K float64 weights (σ = ``kernel_width``).

    ``distance``: ``"cosine"`` (1 − √(|z|/n), the ``lime`` package's choice for images) or ``"hamming"``
    (the fraction of segments removed). The empty coalition is at distance 1 under both.
    """
    if not isinstance(coalitions, torch.Tensor) or coalitions.ndim != 2 or coalitions.dtype != torch.bool:
        raise TypeError("coalitions: expected a K×n bool tensor (True = segment kept), got "
                        f"{getattr(coalitions, 'dtype', type(coalitions).__name__)}"
                        f"{'' if not isinstance(coalitions, torch.Tensor) else ' of shape ' + str(tuple(coalitions.shape))}")
    sigma = positive_float(kernel_width, "kernel_width")
    share = coalitions.double().mean(1)                        # |z| / n
    d = 1 - share.sqrt() if one_of(distance, "distance", ("cosine", "hamming")) == "cosine" else 1 - share
    return torch.exp(-d ** 2 / sigma ** 2)


def weighted_ridge(features: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor,
                   alpha: float = 1.0) -> tuple[torch.Tensor, float]:
    """Weighted ridge regression with an unpenalized intercept → (coefficients n, intercept).

    Minimizes Σ_k w_k (y_k − b − x_k·β)² + α‖β‖² for ``features`` K×n, ``targets`` K, ``weights`` K ≥ 0:
    centre X and y on their weighted means, solve (XcᵀWXc + αI) β = XcᵀW yc, then b = ȳ − x̄·β.
    As in scikit-learn's ``Ridge(alpha).fit(X, y, sample_weight=w)``: α counts against the *sum* of the
    weights, so the same α regularizes less when there are more samples.
    """
    x, y, w = (as_float64(t, name, layout) for t, name, layout in
               ((features, "features", "K×n"), (targets, "targets", "K"), (weights, "weights", "K")))
    if not (len(x) == len(y) == len(w)):
        raise ValueError(f"targets, weights: expected {len(x)} of each (one per row of features), got "
                         f"{len(y)} and {len(w)}")
    if bool((w < 0).any()) or float(w.sum()) <= 0:
        raise ValueError("weights: expected non-negative weights with a positive sum")
    alpha = positive_float(alpha, "alpha", allow_zero=True)
    x_mean, y_mean = w @ x / w.sum(), w @ y / w.sum()   # weighted means
    xc, yc = x - x_mean, y - y_mean
    xt = xc.T.contiguous()                           # a transposed view makes float64 matmuls ~40× slower
    gram = xt @ (w[:, None] * xc) + alpha * torch.eye(x.shape[1], dtype=torch.float64)
    beta = torch.linalg.lstsq(gram, xt @ (w * yc), driver="gelsd").solution
    return beta, float(y_mean - x_mean @ beta)


def lime(game, n_samples: int = 1000, kernel_width: float = 0.25, alpha: float = 1.0, distance: str = "cosine",
         seed: int = 0, batch_size: int = 256, show_progress: bool = True) -> Explanation:
    """LIME's explanation of ``game`` (e.g. a ``SegmentGame``): one coefficient per player.

    ``n_samples`` coalitions (``lime_coalitions``, drawn from a generator seeded with ``seed``), weighted
    by ``lime_kernel(kernel_width, distance)``, fitted by ``weighted_ridge(alpha)``; the game is asked
    ``batch_size`` coalitions at a time. ``n_evaluations`` counts distinct coalitions.
    """
    n = check_game(game)
    n_samples = positive_int(n_samples, "n_samples")
    kernel_width, alpha = positive_float(kernel_width, "kernel_width"), positive_float(alpha, "alpha", allow_zero=True)
    one_of(distance, "distance", ("cosine", "hamming"))
    seed, batch_size = positive_int(seed, "seed", minimum=0), positive_int(batch_size, "batch_size")
    check_bool(show_progress, "show_progress")
    start = time.perf_counter()
    z = lime_coalitions(n, n_samples, torch.Generator().manual_seed(seed))
    unique, inverse = distinct_rows(z)                                # a repeated coalition is run once
    v = values_of(game, unique, batch_size, show_progress, "LIME samples")[inverse]
    coef, intercept = weighted_ridge(z.double(), v, lime_kernel(z, kernel_width, distance), alpha)
    return Explanation(coef, intercept, len(unique), time.perf_counter() - start, "LIME")
