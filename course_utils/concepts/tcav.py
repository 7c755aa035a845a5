"""Testing with CAVs (Kim et al. 2018): is a class's logit sensitive to a concept's direction at a layer?

For an input x of class k, with f_l(x) its activation at layer l and h_{l,k} the rest of the network up to
the logit of class k, the *directional derivative* along a CAV v_C is

    S_{C,k,l}(x) = ∇h_{l,k}(f_l(x)) · v_C,

how much the logit grows when the activation moves a little towards the concept. The *TCAV score* is the
fraction of the class's inputs where it grows: TCAV_Q = |{x ∈ X_k : S_{C,k,l}(x) > 0}| / |X_k|.

* ``layer_gradients(model, inputs, target, layer)`` – ∂logit/∂activation for every input, batched: N×(layer shape).
* ``directional_derivatives(gradients, cavs)`` – S for every input and CAV: N×K (one matrix product).
* ``tcav_score(derivatives)`` – the fraction > 0 (per column).
* ``tcav(model, inputs, target, layer, cav)`` – all three for one CAV.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..attribution.targets import class_target
from ..hooks import Layer, capture_activations, preserved_state
from ..progress import progress
from ..validation import check_bool, check_model_inputs, check_module, check_tensor, positive_int, resolve_layer
from .cav import CAV, flat_activations

__all__ = ["directional_derivatives", "layer_gradients", "tcav", "tcav_score"]


def layer_gradients(model: nn.Module, inputs: torch.Tensor, target, layer: Layer | list[Layer],
                    batch_size: int = 64, show_progress: bool = False
                    ) -> torch.Tensor | dict[str, torch.Tensor]:
    """Gradient of each input's class logit with respect to the activation of ``layer``: N×(layer shape),
    on the CPU; for a list of layers a dict {name: gradients} (one backward pass serves them all).

    ``target``: an int class or N class indices. The logit of input i depends only on its own activation
    (eval mode: BatchNorm uses its running statistics), so one backward pass per batch gives all of them.
    The model is left as it was (training flag, requires_grad, no hooks).
    """
    check_module(model)
    x = check_model_inputs(inputs, model).detach()
    target = class_target(target, len(x), "TCAV")
    single = not isinstance(layer, (list, tuple))
    names = [resolve_layer(model, one)[0] for one in ([layer] if single else layer)]
    if not names:
        raise ValueError("layer: expected at least one layer (a name such as 'relu4' or the module)")
    batch_size = positive_int(batch_size, "batch_size")
    out: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    with preserved_state(model):
        starts = range(0, len(x), batch_size)
        for s in progress(starts, enabled=check_bool(show_progress, "show_progress"), desc="gradients"):
            sl = slice(s, s + batch_size)
            xb = x[sl].clone().requires_grad_(True)     # frozen weights: the input carries the graph
            with capture_activations(model, names, detach=False) as acts:
                scores = target[sl].scores(model, xb)
            missing = [n for n in names if n not in acts]
            if missing:
                raise ValueError(f"layer: {missing} did not run in the model's forward pass")
            grads = torch.autograd.grad(scores.sum(), [acts[n] for n in names], allow_unused=True)
            for n, g in zip(names, grads):
                if g is None:
                    raise ValueError(f"layer: the class logits do not depend on {n!r}")
                out[n].append(g.detach().cpu())
    result = {n: torch.cat(g) for n, g in out.items()}
    return result[names[0]] if single else result


def _cav_matrix(cavs, dim: int) -> torch.Tensor:
    """A CAV, a list of CAVs, a vector D or a matrix K×D → D×K unit columns."""
    if isinstance(cavs, CAV):
        cavs = [cavs]
    if isinstance(cavs, (list, tuple)):
        if not cavs or not all(isinstance(c, (CAV, torch.Tensor)) for c in cavs):
            raise TypeError("cavs: expected a CAV, a non-empty list of CAVs, or a tensor D or K×D of directions")
        cavs = torch.stack([c.vector if isinstance(c, CAV) else c for c in cavs])
    v = check_tensor(cavs, "cavs", ("D", "K×D"))
    v = v[None] if v.ndim == 1 else v
    if v.shape[1] != dim:
        raise ValueError(f"cavs: expected directions of {dim} values (the layer's activation size), got "
                         f"{v.shape[1]}; was the CAV fitted at another layer?")
    norms = v.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("cavs: a direction is all zeros")
    return (v / norms).T


def directional_derivatives(gradients: torch.Tensor, cavs) -> torch.Tensor:
    """S_{C,k,l}(x) = gradient · CAV for every input and every CAV: N×K (N for a single CAV or vector).

    ``gradients``: N×C×H×W or N×D from ``layer_gradients``; ``cavs``: a ``CAV``, a list of them, or
    directions D / K×D (normalized here).
    """
    g = flat_activations(gradients, "gradients")
    single = isinstance(cavs, CAV) or (isinstance(cavs, torch.Tensor) and cavs.ndim == 1)
    s = g @ _cav_matrix(cavs, g.shape[1]).to(g)
    return s[:, 0] if single else s


def tcav_score(derivatives: torch.Tensor) -> torch.Tensor | float:
    """The fraction of inputs whose directional derivative is > 0 (exactly 0 does not count).

    ``derivatives`` N (→ a float) or N×K (→ K scores, one per CAV).
    """
    d = check_tensor(derivatives, "derivatives", ("N", "N×K"))
    score = (d > 0).double().mean(0)
    return float(score) if d.ndim == 1 else score


def tcav(model: nn.Module, inputs: torch.Tensor, target, layer: Layer, cav: CAV | Sequence[CAV] | torch.Tensor,
         batch_size: int = 64) -> float | torch.Tensor:
    """TCAV score of ``cav`` (or K scores for several) for class ``target`` on ``inputs``, at ``layer``."""
    grads = layer_gradients(model, inputs, target, layer, batch_size)
    return tcav_score(directional_derivatives(grads, cav))
