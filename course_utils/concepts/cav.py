"""Concept activation vectors (Kim et al. 2018): the direction, in a layer's activation space, of a concept.

A *concept* is a set of example images (striped textures, images with a marker). Their activations at a
layer are separated from the activations of random images by a linear classifier; the CAV is the unit
normal of its decision boundary, pointing towards the concept.

* ``layer_activations(model, layers, inputs)`` – the output of one layer (or of several, in one pass) for
  every input, batched.
* ``logistic_regression(X, y, l2)`` – a plain L2-regularized logistic regression in torch, solved exactly.
* ``fit_cav(concept_acts, random_acts)`` – a ``CAV``: unit vector, bias and held-out accuracy.

Activations are N×C×H×W (conv) or N×D (dense); a CAV lives in the flattened space, D = C·H·W.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ..hooks import Layer, forward_to, preserved_state
from ..progress import progress
from ..validation import (check_bool, check_model_inputs, check_module, check_tensor, integer, positive_float,
                          positive_int, resolve_layer)

__all__ = ["CAV", "fit_cav", "flat_activations", "layer_activations", "logistic_regression"]


def layer_activations(model: nn.Module, layers: Layer | list[Layer], inputs: torch.Tensor,
                      batch_size: int = 256, show_progress: bool = False,
                      name: str = "inputs") -> torch.Tensor | dict[str, torch.Tensor]:
    """The output of ``layers`` for every input N×C×H×W, on the CPU: N×C'×H'×W' (or N×D) for one layer, a
    dict {name: activations} for a list (one forward pass per batch, stopping after the deepest).

    ``layers``: names or modules. The model runs in eval mode without gradients and is restored.
    ``name``: how error messages call ``inputs``.
    """
    check_module(model)
    single = not isinstance(layers, (list, tuple))
    names = [resolve_layer(model, layer, "layers")[0] for layer in ([layers] if single else layers)]
    if not names:
        raise ValueError("layers: expected at least one layer (a name such as 'relu4' or the module)")
    x = check_model_inputs(inputs, model, name)
    batch_size = positive_int(batch_size, "batch_size")
    out: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    with preserved_state(model), torch.no_grad():
        starts = range(0, len(x), batch_size)
        for s in progress(starts, enabled=check_bool(show_progress, "show_progress"), desc="activations"):
            acts = forward_to(model, x[s:s + batch_size], names)
            for n in names:
                out[n].append(acts[n].cpu())
    result = {n: torch.cat(a) for n, a in out.items()}
    return result[names[0]] if single else result


def flat_activations(acts, name: str) -> torch.Tensor:
    """Activations N×C×H×W, N×C×L or N×D → N×D float32 (each row one input's point in activation space)."""
    acts = check_tensor(acts, name, ("N×D", "N×C×L", "N×C×H×W"))
    return acts.flatten(1)


@contextmanager
def _one_thread():
    """Run the block on one CPU thread, then restore the thread count. The CAV problems are small (N of a
    few hundred): with two threads each tiny BLAS/LAPACK call waits for the other thread, and on a busy
    machine 40 fits took 6 s instead of 1 s on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _newton_on_gram(G: torch.Tensor, y: torch.Tensor, l2: float, max_iter: int = 100, tol: float = 1e-10
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """K logistic regressions (of ``logistic_regression``) at once, from their Gram matrices G = X Xᵀ
    (K×N×N, float64) and labels y (K×N): (α K×N, b K) with w = Xᵀ α for each.

    By the representer theorem w lies in the span of the rows of X: with G = U Λ Uᵀ each problem becomes a
    logistic regression on the features Z = U Λ^(1/2) (directions with Λ ≈ 0 carry nothing and get
    weight 0), solved by Newton's method with a backtracking line search until the loss is within a 1e-12
    fraction of its optimum or the gradient is below ``tol`` — a few dozen steps, even when D is 20,000 and
    the two sets are separable (the L2 term keeps w finite); then α = U Λ^(-1/2) β. All K problems advance
    together: tensor operations on K×N instead of K Python loops.
    """
    k, n = y.shape
    lam, U = torch.linalg.eigh(G)
    keep = lam > lam.amax(1, keepdim=True).clamp_min(0) * 1e-12
    if not bool(keep.any(1).all()):
        raise ValueError("X: every row is zero; no direction separates the two sets")
    root = torch.where(keep, lam.clamp_min(0).sqrt(), torch.zeros_like(lam))
    inv_root = torch.where(keep, 1 / root.clamp_min(1e-300), torch.zeros_like(lam))
    Z = torch.cat([U * root[:, None, :], torch.ones(k, n, 1, dtype=G.dtype, device=G.device)], 2)  # K×N×(N+1)
    penalty = torch.full((n + 1,), l2, dtype=G.dtype, device=G.device)
    penalty[-1] = 0.0                                   # the bias is free
    eye = torch.diag(penalty)
    eye[-1, -1] = 1e-12                                 # all points classified with certainty: keep it solvable

    def loss(theta):                                    # K values
        f = (Z @ theta[..., None])[..., 0]
        return (torch.nn.functional.softplus(f) - y * f).mean(1) + 0.5 * (penalty * theta * theta).sum(1)

    theta = torch.zeros(k, n + 1, dtype=G.dtype, device=G.device)
    current = loss(theta)
    done = torch.zeros(k, dtype=torch.bool, device=G.device)
    for _ in range(max_iter):
        p = torch.sigmoid((Z @ theta[..., None])[..., 0])
        grad = (Z.transpose(1, 2) @ (p - y)[..., None])[..., 0] / n + penalty * theta
        hess = (Z.transpose(1, 2) * (p * (1 - p))[:, None, :]) @ Z / n + eye
        step = torch.linalg.solve(hess, grad)
        slope = (grad * step).sum(1)                    # the squared Newton decrement: about 2 (loss − optimum)
        # solved problems stand still while the others finish: the gradient is (numerically) zero, or the
        # loss is within a 1e-12 fraction of its optimum (the gradient's rounding floor grows with the data)
        done |= (grad.abs().amax(1) < tol) | (slope <= 2e-12 * current.abs())
        if bool(done.all()):
            break
        step = torch.where(done[:, None], torch.zeros_like(step), step)
        t = torch.ones(k, 1, dtype=G.dtype, device=G.device)
        for _ in range(40):                             # backtracking: Newton may overshoot far from the optimum
            new = loss(theta - t * step)
            ok = done | (new <= current - 1e-4 * t[:, 0] * slope)     # Armijo's condition
            if bool(ok.all()):
                break
            t = torch.where(ok[:, None], t, t / 2)
        done |= ~ok                                     # no decrease left to find: as good as it gets
        theta = torch.where(ok[:, None], theta - t * step, theta)
        current = torch.where(ok, new, current)
    return (U @ (theta[:, :n] * inv_root)[..., None])[..., 0], theta[:, -1]


def _labels(y, n: int) -> torch.Tensor:
    if not isinstance(y, torch.Tensor) or y.shape != (n,):
        raise ValueError(f"y: expected a tensor of {n} labels (0/1 or bools), got "
                         f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}")
    if y.is_complex() or not bool(((y == 0) | (y == 1)).all()):
        raise ValueError("y: expected labels 0 or 1 (or bools)")
    if not 0 < int(y.sum()) < n:
        raise ValueError("y: expected both labels (0 and 1) to occur")
    return y.double()


def logistic_regression(X: torch.Tensor, y: torch.Tensor, l2: float = 0.01) -> tuple[torch.Tensor, float]:
    """Minimize mean_i log(1 + exp(−s_i (x_i·w + b))) + l2/2 ‖w‖² (s_i = ±1 from ``y`` ∈ {0, 1}): (w D, b).

    ``X`` N×D, ``y`` N bools or 0/1. The bias is not penalized. Solved exactly (float64 inside) in the
    span of the data (``_newton_on_gram``); w is returned as float32.
    """
    X = check_tensor(X, "X", "N×D").double()
    y = _labels(y, len(X)).to(X.device)
    l2 = positive_float(l2, "l2")
    with _one_thread():
        alpha, b = _newton_on_gram((X @ X.T)[None], y[None], l2)
        return (X.T @ alpha[0]).float(), float(b[0])


@dataclass(frozen=True)
class CAV:
    """A concept activation vector.

    ``vector``: unit vector D pointing from the random set towards the concept; ``bias``: the classifier's
    decision is ``acts.flatten(1) @ (scale · vector) + bias > 0`` (``scale`` = ‖w‖); ``accuracy``: the
    classifier's accuracy on held-out activations (on the training ones when ``test_fraction`` was 0);
    ``n_concept``, ``n_random``: how many examples each side had.
    """
    vector: torch.Tensor
    bias: float
    scale: float
    accuracy: float
    n_concept: int
    n_random: int

    def decision(self, acts: torch.Tensor) -> torch.Tensor:
        """Signed score of each activation N×… (> 0: classified as the concept): Tensor N."""
        a = flat_activations(acts, "acts")
        if a.shape[1] != len(self.vector):
            raise ValueError(f"acts: expected {len(self.vector)} values per input (the CAV's dimension), "
                             f"got {a.shape[1]}")
        return a @ (self.scale * self.vector.to(a)) + self.bias


def _split(n: int, test_fraction: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.randperm(n, generator=gen)
    n_test = min(max(int(round(n * test_fraction)), 1), n - 1) if test_fraction > 0 else 0
    return order[n_test:], order[:n_test]


def check_fraction(test_fraction) -> float:
    """``test_fraction`` as a float in [0, 1)."""
    test_fraction = positive_float(test_fraction, "test_fraction", allow_zero=True)
    if not test_fraction < 1:
        raise ValueError(f"test_fraction: expected a value in [0, 1), got {test_fraction}")
    return test_fraction


def check_sets(concept_acts, random_acts, test_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Both activation sets flattened to N×D, checked to come from one layer and to be large enough."""
    concept = flat_activations(concept_acts, "concept_acts")
    random = flat_activations(random_acts, "random_acts")
    if concept.shape[1] != random.shape[1]:
        raise ValueError(f"random_acts: expected {concept.shape[1]} values per input like concept_acts "
                         f"(the same layer), got {random.shape[1]}")
    smallest = 2 if test_fraction > 0 else 1
    for name, a in (("concept_acts", concept), ("random_acts", random)):
        if len(a) < smallest:
            raise ValueError(f"{name}: expected at least {smallest} examples (one is held out to measure the "
                             f"CAV's accuracy), got {len(a)}")
    return concept, random


class Rows:
    """Activation rows N×D (float64) for many fits on subsets of them, with their inner products.

    With ``gram=True`` all N×N inner products are computed once (worth it when the subsets together are
    larger than N², e.g. 20 runs on a pool of 60 images of 30,000 values each); otherwise each fit
    multiplies only its own rows. ``prepend(rows)`` adds rows in front and reuses the known products.
    """

    def __init__(self, X: torch.Tensor, gram: bool = False, _gram: torch.Tensor | None = None) -> None:
        self.X = X.double()
        self.G = _gram if _gram is not None else (self.X @ self.X.T if gram else None)

    def __len__(self) -> int:
        return len(self.X)

    def prepend(self, X: torch.Tensor) -> "Rows":
        X = X.double().to(self.X.device)
        if self.G is None:
            return Rows(torch.cat([X, self.X]))
        cross = X @ self.X.T
        G = torch.cat([torch.cat([X @ X.T, cross], 1), torch.cat([cross.T, self.G], 1)])
        return Rows(torch.cat([X, self.X]), _gram=G)

    def gram(self, idx: torch.Tensor) -> torch.Tensor:
        return self.G[idx][:, idx] if self.G is not None else self.X[idx] @ self.X[idx].T


def fit_checked(concept: torch.Tensor, random: torch.Tensor, l2: float, test_fraction: float,
                gen: torch.Generator) -> CAV:
    """``fit_cav`` on activations already checked by ``check_sets`` (N×D each)."""
    rows = Rows(torch.cat([concept, random]))
    return fit_rows(rows, [torch.arange(len(concept))], [torch.arange(len(concept), len(rows))], l2,
                    test_fraction, gen)[0]


def fit_rows(rows: Rows, positives: list[torch.Tensor], negatives: list[torch.Tensor], l2: float,
             test_fraction: float, gen: torch.Generator) -> list[CAV]:
    """K CAVs at once: CAV i separates ``rows[positives[i]]`` (a concept) from ``rows[negatives[i]]``
    (random images). All positive sets have one size, all negative sets another."""
    if len({len(p) for p in positives}) != 1 or len({len(q) for q in negatives}) != 1:
        raise ValueError("positives, negatives: every run needs sets of the same sizes")
    with _one_thread():
        train, test, y, test_y = [], [], [], []
        for pos, neg in zip(positives, negatives):
            p_train, p_test = (pos[i] for i in _split(len(pos), test_fraction, gen))
            n_train, n_test = (neg[i] for i in _split(len(neg), test_fraction, gen))
            train.append(torch.cat([p_train, n_train]))
            y.append(torch.cat([torch.ones(len(p_train)), torch.zeros(len(n_train))]))
            if test_fraction > 0:
                test.append(torch.cat([p_test, n_test]))
                test_y.append(torch.cat([torch.ones(len(p_test)), torch.zeros(len(n_test))]))
            else:
                test.append(train[-1])
                test_y.append(y[-1])
        G = torch.stack([rows.gram(idx) for idx in train])
        alpha, b = _newton_on_gram(G, torch.stack(y).double().to(G.device), l2)
        # every w = X[train_i]ᵀ α_i in one product: the coefficients scattered onto all rows (no row copies)
        coefficients = torch.zeros(len(train), len(rows), dtype=alpha.dtype, device=alpha.device)
        for i, idx in enumerate(train):
            coefficients[i, idx] = alpha[i]
        W = coefficients @ rows.X                                        # K×D
        scales = W.norm(dim=1)
        if bool((scales == 0).any()):
            raise ValueError("concept_acts, random_acts: the two sets have identical activations; no "
                             "direction separates them")
        decisions = rows.X @ W.T + b                                     # every row against every CAV
        cavs = []
        for i in range(len(train)):
            correct = (decisions[test[i], i] > 0).double().cpu() == test_y[i].double()
            cavs.append(CAV((W[i] / scales[i]).float().cpu(), float(b[i]), float(scales[i]),
                            float(correct.double().mean()), len(positives[i]), len(negatives[i])))
        return cavs


def fit_cav(concept_acts: torch.Tensor, random_acts: torch.Tensor, l2: float = 0.01,
            test_fraction: float = 0.25, seed: int = 0) -> CAV:
    """The CAV separating ``concept_acts`` from ``random_acts`` (N×C×H×W or N×D each, same shape per row).

    A logistic regression (``logistic_regression``, penalty ``l2``) is fitted on a random
    ``1 − test_fraction`` of each set and scored on the rest (Kim et al. hold out a third);
    ``test_fraction=0`` fits on everything and reports the training accuracy. Deterministic for ``seed``.
    """
    test_fraction = check_fraction(test_fraction)
    concept, random = check_sets(concept_acts, random_acts, test_fraction)
    gen = torch.Generator().manual_seed(integer(seed, "seed"))
    return fit_checked(concept, random, positive_float(l2, "l2"), test_fraction, gen)
