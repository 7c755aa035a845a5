"""Statistical testing of TCAV scores, as Kim et al. (2018) insist: one CAV proves nothing.

A CAV depends on which random images it was trained against. So the concept is trained against many
random sets R_1 … R_n (n TCAV scores), and so are random sets R'_1 … R'_n that stand for "no concept at
all" (n random-vs-random scores, the null distribution). A two-sided t-test compares the two lists; only
a concept whose scores differ significantly from the random ones is reported (Bonferroni-corrected when
several concepts/classes/layers are tested together).

* ``t_test(a, b)`` – two-sided Student's t-test (pooled variance, as ``scipy.stats.ttest_ind``).
* ``fit_cav_runs(concept_acts, random_acts, n_runs)`` – the concept's CAVs and the random-vs-random CAVs.
* ``tcav_test(gradients, runs)`` – TCAV scores of both, the t-test → ``TCAVResult``.
* ``tcav_experiment(model, class_inputs, target, layer, concept_inputs, random_inputs)`` – all of it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from ..hooks import Layer
from ..validation import check_model_inputs, check_tensor, integer, positive_float, positive_int, resolve_layer
from .cav import CAV, Rows, check_fraction, check_sets, fit_rows, layer_activations
from .tcav import directional_derivatives, layer_gradients, tcav_score

__all__ = ["CAVRuns", "TCAVResult", "fit_cav_runs", "t_test", "tcav_experiment", "tcav_test"]


def _scores(x, name: str) -> torch.Tensor:
    """Scores as a float64 vector (checked: 1-d, finite, at least two of them)."""
    if isinstance(x, (list, tuple)) and any(isinstance(v, bool) for v in x):
        raise TypeError(f"{name}: expected numbers (TCAV scores), got bools")
    try:
        x = torch.as_tensor(x, dtype=torch.float64) if not isinstance(x, torch.Tensor) else x
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name}: expected a 1-d tensor (or list) of scores, got {type(x).__name__}") from None
    check_tensor(x, name, "N")                 # validates (it returns a float32 copy; the test keeps float64)
    if len(x) < 2:
        raise ValueError(f"{name}: expected at least 2 scores (a t-test needs a variance), got {len(x)}")
    return x.detach().double().cpu()


def t_test(a, b) -> tuple[float, float]:
    """Two-sided two-sample Student's t-test with pooled variance: (t, p), as ``scipy.stats.ttest_ind(a, b)``.

    t = (mean a − mean b) / (s_p √(1/n_a + 1/n_b)), s_p² = ((n_a−1) s_a² + (n_b−1) s_b²)/(n_a+n_b−2), p from
    the t distribution with n_a + n_b − 2 degrees of freedom. When both lists are constant, the answer is
    exact: p = 1 if they are equal (t = 0), p = 0 if not (t = ±inf).
    """
    from scipy.special import stdtr          # the t distribution's CDF (lighter to import than scipy.stats)
    a, b = _scores(a, "a"), _scores(b, "b")
    na, nb = len(a), len(b)
    diff = float(a.mean() - b.mean())
    pooled = ((na - 1) * a.var() + (nb - 1) * b.var()) / (na + nb - 2)
    se = float(pooled.sqrt()) * math.sqrt(1 / na + 1 / nb)
    if se == 0:
        return (0.0, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0)
    t = diff / se
    return t, float(2 * stdtr(na + nb - 2, -abs(t)))


@dataclass
class CAVRuns:
    """The CAVs of one concept at one layer, and of random "concepts" for comparison.

    ``concept[i]``: the concept against random set R_i; ``random[i]``: another random set R'_i (sharing no
    image with R_i) against the same R_i — what a concept that is no concept at all scores.
    ``random_sets`` / ``reference_sets``: the n×m pool indices of R_1 … R_n and R'_1 … R'_n.
    """
    concept: list[CAV]
    random: list[CAV]
    random_sets: torch.Tensor
    reference_sets: torch.Tensor
    _pool: Rows | None = field(default=None, repr=False)   # the pool's rows, for ``reuse``

    @property
    def accuracies(self) -> torch.Tensor:
        """Held-out accuracy of the concept's CAVs: Tensor n."""
        return torch.tensor([c.accuracy for c in self.concept])

    @property
    def random_accuracies(self) -> torch.Tensor:
        """Held-out accuracy of the random-vs-random CAVs: Tensor n (about 0.5 when all is well)."""
        return torch.tensor([c.accuracy for c in self.random])


def fit_cav_runs(concept_acts: torch.Tensor, random_acts: torch.Tensor, n_runs: int = 20,
                 set_size: int | None = None, l2: float = 0.01, test_fraction: float = 0.25,
                 seed: int = 0, reuse: CAVRuns | None = None) -> CAVRuns:
    """Fit the concept against ``n_runs`` random sets R_i, and a fresh random set R'_i against each R_i.

    ``concept_acts``: the concept examples' activations (N×…); ``random_acts``: a pool of random images'
    activations (P×…, same layer) from which every random set (``set_size`` images, default: as many as
    the concept has) is drawn. Each null run has its own random "concept" R'_i, so the null scores are
    independent draws rather than n views of one random set's quirks.

    ``reuse``: the runs of another concept on the same pool and layer; its random sets and its
    random-vs-random CAVs (which do not depend on the concept) are used again, so only the concept's CAVs
    are fitted, and the two concepts are tested against the same null.
    """
    test_fraction = check_fraction(test_fraction)
    concept, pool = check_sets(concept_acts, random_acts, test_fraction)
    l2, seed = positive_float(l2, "l2"), integer(seed, "seed")
    gen = torch.Generator().manual_seed(seed)
    concept_rows = torch.arange(len(concept))
    if reuse is not None:
        if not isinstance(reuse, CAVRuns):
            raise TypeError(f"reuse: expected the CAVRuns of an earlier fit_cav_runs, got {type(reuse).__name__}")
        if reuse._pool is None or len(reuse._pool) != len(pool) or reuse._pool.X.shape[1] != pool.shape[1] \
                or not torch.equal(reuse._pool.X[:5].float(), pool[:5].to(reuse._pool.X.device)):
            raise ValueError("reuse: those runs were fitted on another pool of random activations (or at "
                             "another layer); pass the same random_acts")
        rows = reuse._pool.prepend(concept)
        shift = len(concept)               # pool image j is row shift + j
        concept_cavs = fit_rows(rows, [concept_rows] * len(reuse.random_sets), list(reuse.random_sets + shift),
                                l2, test_fraction, gen)
        return CAVRuns(concept_cavs, list(reuse.random), reuse.random_sets, reuse.reference_sets, reuse._pool)
    n_runs = positive_int(n_runs, "n_runs", minimum=2)
    set_size = len(concept) if set_size is None else positive_int(set_size, "set_size", minimum=2)
    if 2 * set_size > len(pool):
        raise ValueError(f"random_acts: expected at least 2 × set_size = {2 * set_size} random images (two "
                         f"disjoint random sets per run), got {len(pool)}")
    # all inner products of the pool at once when the runs' own products would cost more
    pool_rows = Rows(pool, gram=len(pool) ** 2 <= n_runs * (2 * set_size) ** 2)
    rows, shift = pool_rows.prepend(concept), len(concept)
    draws = torch.stack([torch.randperm(len(pool), generator=gen)[:2 * set_size] for _ in range(n_runs)])
    sets, references = draws[:, :set_size], draws[:, set_size:]
    concept_cavs = fit_rows(rows, [concept_rows] * n_runs, list(sets + shift), l2, test_fraction, gen)
    random_cavs = fit_rows(rows, list(references + shift), list(sets + shift), l2, test_fraction, gen)
    return CAVRuns(concept_cavs, random_cavs, sets, references, pool_rows)


@dataclass
class TCAVResult:
    """TCAV scores of a concept over random runs, against random-vs-random scores, and the t-test.

    ``scores`` / ``random_scores``: Tensor n each; ``accuracies``: the concept CAVs' held-out accuracies;
    ``t``, ``p_value``: two-sided Student's t-test of the two lists (``t_test``).
    """
    concept: str
    target: str
    layer: str
    scores: torch.Tensor
    random_scores: torch.Tensor
    accuracies: torch.Tensor
    t: float
    p_value: float

    @property
    def mean(self) -> float:
        return float(self.scores.mean())

    @property
    def std(self) -> float:
        return float(self.scores.std())

    def significant(self, alpha: float = 0.05, n_tests: int = 1) -> bool:
        """p < alpha / n_tests (Bonferroni correction for ``n_tests`` tests run together)."""
        alpha = positive_float(alpha, "alpha")
        return self.p_value < alpha / positive_int(n_tests, "n_tests")

    def __repr__(self) -> str:
        return (f"TCAV({self.concept!r} → {self.target!r} at {self.layer}: {self.mean:.2f} ± {self.std:.2f} over "
                f"{len(self.scores)} runs, random {float(self.random_scores.mean()):.2f} ± "
                f"{float(self.random_scores.std()):.2f}, p = {self.p_value:.2g}, CAV accuracy "
                f"{float(self.accuracies.mean()):.2f})")


def tcav_test(gradients: torch.Tensor, runs: CAVRuns, concept: str = "concept", target: str = "class",
              layer: str = "layer") -> TCAVResult:
    """TCAV scores of ``runs`` (from ``fit_cav_runs``) on the class inputs' ``gradients`` (from
    ``layer_gradients``, same layer), and the t-test of concept against random-vs-random scores."""
    if not isinstance(runs, CAVRuns):
        raise TypeError(f"runs: expected the CAVRuns of fit_cav_runs, got {type(runs).__name__}")
    both = tcav_score(directional_derivatives(gradients, runs.concept + runs.random))   # one product for all
    scores, random_scores = both[:len(runs.concept)], both[len(runs.concept):]
    t, p = t_test(scores, random_scores)
    return TCAVResult(str(concept), str(target), str(layer), scores, random_scores, runs.accuracies, t, p)


def tcav_experiment(model: nn.Module, class_inputs: torch.Tensor, target, layer: Layer,
                    concept_inputs: torch.Tensor, random_inputs: torch.Tensor, n_runs: int = 20,
                    set_size: int | None = None, l2: float = 0.01, test_fraction: float = 0.25, seed: int = 0,
                    concept: str = "concept", batch_size: int = 64) -> TCAVResult:
    """The whole test for one (concept, class, layer): activations, CAV runs, gradients, scores, t-test.

    ``class_inputs``: images of class ``target`` (an int); ``concept_inputs``: the concept's examples;
    ``random_inputs``: the pool of random images (at least 2 × ``set_size``). Each image goes through the
    model once.
    """
    name, _ = resolve_layer(model, layer)
    target = integer(target, "target")
    concept_acts = layer_activations(model, name, concept_inputs, batch_size, name="concept_inputs")
    random_acts = layer_activations(model, name, random_inputs, batch_size, name="random_inputs")
    runs = fit_cav_runs(concept_acts, random_acts, n_runs, set_size, l2, test_fraction, seed)
    class_inputs = check_model_inputs(class_inputs, model, "class_inputs")
    grads = layer_gradients(model, class_inputs, target, name, batch_size)
    return tcav_test(grads, runs, concept, str(target), name)
