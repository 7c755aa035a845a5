"""What LIME and KernelSHAP share: the result they return, the loop that asks a game for many values, and
the float64 argument check of their regressions."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..progress import progress
from ..shapley.games import evaluate
from ..validation import check_tensor


@dataclass
class Explanation:
    """One value per segment (player) from a surrogate fitted to sampled coalitions.

    ``values``: float64 tensor n (LIME: the surrogate's coefficients; KernelSHAP: Shapley value estimates);
    ``intercept``: the surrogate's value with no segment (KernelSHAP: V(∅) exactly); ``n_evaluations``:
    distinct coalitions whose value was asked for (the cost, in forward passes without a cache);
    ``seconds``: wall time; ``method``: a name.
    """
    values: torch.Tensor
    intercept: float
    n_evaluations: int
    seconds: float
    method: str

    def top(self, k: int) -> torch.Tensor:
        """Indices of the ``k`` segments with the largest values, largest first."""
        from ..validation import positive_int
        positive_int(k, "k")
        return torch.argsort(self.values, descending=True, stable=True)[:k]

    def __repr__(self) -> str:
        return (f"Explanation({self.method}: {len(self.values)} segments, {self.n_evaluations} evaluations, "
                f"{self.seconds:.2f} s)")


def distinct_rows(coalitions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct rows of a K×n bool tensor and, for each row, the index of its copy: (D×n, K)."""
    n = coalitions.shape[1]
    if n > 62:                                         # no int64 key: compare whole rows (slower)
        return torch.unique(coalitions, dim=0, return_inverse=True)
    keys = coalitions.long() @ (1 << torch.arange(n))  # the bits of a coalition as one integer
    unique, inverse = torch.unique(keys, return_inverse=True)
    return ((unique[:, None] >> torch.arange(n)) & 1).bool(), inverse


def values_of(game, coalitions: torch.Tensor, chunk: int, show_progress: bool, desc: str) -> torch.Tensor:
    """V of each coalition (K×n bool) → K finite float64 values, asking the game ``chunk`` rows at a time."""
    parts = [evaluate(game, coalitions[s:s + chunk])
             for s in progress(range(0, len(coalitions), chunk), enabled=show_progress, desc=desc)]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)


def as_float64(t, name: str, layout: str) -> torch.Tensor:
    """``t`` checked (a finite tensor of the layout; bool is read as 0/1) and returned in float64: the
    regressions need float64 to give Shapley values to 1e-6."""
    if isinstance(t, torch.Tensor) and t.dtype == torch.bool:
        t = t.double()
    check_tensor(t, name, layout)                  # errors only: it would cast float64 down to float32
    return t.detach().cpu().double()
