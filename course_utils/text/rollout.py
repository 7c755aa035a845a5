"""Attention rollout and attention flow (Abnar & Zuidema 2020): where a top-layer token's information comes
from, following attention down through every layer and the residual connections (lecture 11).

Shapes: L layers, N sentences, H heads, T tokens. Both methods start from the *residual-augmented* attention
of each layer, averaged over its heads,

    Â_l = ½ · mean_h A_l,h + ½ · I, rows renormalised to sum to 1,

(the identity stands for the residual connection that carries each token's own vector past the layer).

* ``residual_attention(attentions)`` – Â per layer, L×T×T (or L×N×T×T for a batch).
* ``attention_rollout(attentions)`` – Ã = Â_{L−1} ··· Â_1 Â_0 (the bottom layer acts first), T×T:
  row i = how much top-layer token i draws from each input token j; rows sum to 1.
* ``max_flow(capacity, source, sink)`` – the maximum flow of a small directed graph (Dinic's algorithm:
  shortest augmenting paths, found a level graph at a time), exact up to floating-point rounding.
* ``attention_flow(attentions)`` – [i, j] = max flow from token i of the top layer to token j of the input
  in the layered graph whose edges (layer l+1, a) → (layer l, b) have capacity Â_l[a, b], T×T;
  ``normalize=True`` divides each row by its sum, as the authors' code does.
"""
from __future__ import annotations

from collections import deque

import numpy as np
import torch

from ..progress import progress
from ..validation import check_bool, check_finite, integer

_LAYOUTS = "L×H×T×T (one sentence) or L×N×H×T×T (a batch, as attention_maps returns)"


def _check_attentions(attentions, name: str = "attentions") -> torch.Tensor:
    """A finite, non-negative float tensor L×H×T×T or L×N×H×T×T."""
    if not isinstance(attentions, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor {_LAYOUTS}, got {type(attentions).__name__}")
    if attentions.ndim not in (4, 5) or attentions.shape[-1] != attentions.shape[-2]:
        raise ValueError(f"{name}: expected a tensor {_LAYOUTS}, got shape {tuple(attentions.shape)}"
                         + (" (stack the layers first: torch.stack(out.attentions))"
                            if attentions.ndim == 3 else ""))
    if attentions.is_complex() or not attentions.is_floating_point():
        raise TypeError(f"{name}: expected float attention weights, got {attentions.dtype}")
    if attentions.numel() == 0:
        raise ValueError(f"{name}: expected at least one layer, head and token, got shape {tuple(attentions.shape)}")
    check_finite(attentions, name)
    if bool((attentions < 0).any()):
        raise ValueError(f"{name}: attention weights must be ≥ 0, got a minimum of {float(attentions.min()):.3g}")
    return attentions


def _check_mask(attention_mask, attentions: torch.Tensor) -> torch.Tensor | None:
    """None, or a 0/1 mask N×T (T for one sentence) matching ``attentions``, as a bool tensor."""
    if attention_mask is None:
        return None
    T = attentions.shape[-1]
    want = (T,) if attentions.ndim == 4 else (attentions.shape[1], T)
    if not isinstance(attention_mask, torch.Tensor):
        raise TypeError(f"attention_mask: expected a tensor of shape {want} (inputs['attention_mask']), "
                        f"got {type(attention_mask).__name__}")
    if tuple(attention_mask.shape) != want:
        raise ValueError(f"attention_mask: expected shape {want} for attentions of shape "
                         f"{tuple(attentions.shape)}, got {tuple(attention_mask.shape)}")
    if attention_mask.device != attentions.device:
        raise ValueError(f"attention_mask: is on {attention_mask.device} but the attentions are on "
                         f"{attentions.device}")
    if not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
        raise ValueError("attention_mask: must hold 0 (padding) and 1 (real token), got other values")
    mask = attention_mask.bool()
    if not bool(mask.any(-1).all()):
        raise ValueError("attention_mask: a sentence has no real token (its row is all 0)")
    return mask


def residual_attention(attentions: torch.Tensor, residual: bool = True) -> torch.Tensor:
    """Each layer's attention averaged over its heads, with the residual connection as half the weight:
    Â = ½·mean_h A + ½·I, each row divided by its sum (a row of zeros, e.g. padding without the
    residual, stays zero). ``attentions`` L×H×T×T → L×T×T, or L×N×H×T×T → L×N×T×T.
    ``residual=False`` gives the plain head average (what "forgetting the residual" computes)."""
    a = _check_attentions(attentions)
    check_bool(residual, "residual")
    a = a.mean(-3)                                                   # L×(N×)T×T
    if residual:
        a = 0.5 * a + 0.5 * torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    return a / a.sum(-1, keepdim=True).clamp_min(torch.finfo(a.dtype).tiny)


def _zero_padding(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Set rows and columns of padding tokens to 0 (x: (…, N, T, T) with mask N×T, or (…, T, T) with T)."""
    if mask is None:
        return x
    keep = (mask[..., :, None] & mask[..., None, :]).to(x.dtype)
    return x * keep


def attention_rollout(attentions: torch.Tensor, attention_mask: torch.Tensor | None = None,
                      residual: bool = True, all_layers: bool = False) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020): Ã_0 = Â_0, Ã_l = Â_l · Ã_{l−1}, so the top layer's
    Ã = Â_{L−1} ··· Â_1 Â_0 (``residual_attention`` gives Â).

    ``attentions`` L×H×T×T → T×T, or L×N×H×T×T → N×T×T (padded sentences: pass ``attention_mask`` N×T to
    zero the padding rows and columns; the real rows are the same either way, since no real token attends
    to padding). Row i: how much top-layer token i draws from each input token j; each real row sums to 1.
    ``all_layers=True`` returns every Ã_l, L×T×T (L×N×T×T).
    """
    check_bool(all_layers, "all_layers")
    a_hat = residual_attention(attentions, residual)
    mask = _check_mask(attention_mask, attentions)
    out = [a_hat[0]]
    for layer in a_hat[1:]:
        out.append(layer @ out[-1])                    # the new layer acts on what the layers below produced
    result = torch.stack(out) if all_layers else out[-1]
    return _zero_padding(result, mask)


# -------------------------------------------------------------------------------------------- max flow
def _check_capacity(capacity) -> np.ndarray:
    if isinstance(capacity, torch.Tensor):
        if capacity.is_complex() or not capacity.is_floating_point():
            raise TypeError(f"capacity: expected float capacities, got {capacity.dtype}")
        capacity = capacity.detach().cpu().double().numpy()
    elif isinstance(capacity, np.ndarray):
        if not np.issubdtype(capacity.dtype, np.floating) and not np.issubdtype(capacity.dtype, np.integer) \
                or capacity.dtype == bool:
            raise TypeError(f"capacity: expected numbers, got dtype {capacity.dtype}")
        capacity = capacity.astype(np.float64)
    else:
        raise TypeError(f"capacity: expected a V×V tensor or array of edge capacities, got {type(capacity).__name__}")
    if capacity.ndim != 2 or capacity.shape[0] != capacity.shape[1] or capacity.shape[0] == 0:
        raise ValueError(f"capacity: expected a square V×V matrix (capacity[u, v] of the edge u → v), "
                         f"got shape {capacity.shape}")
    if not np.isfinite(capacity).all():
        raise ValueError("capacity: holds NaN or ±inf values")
    if (capacity < 0).any():
        raise ValueError(f"capacity: capacities must be ≥ 0, got a minimum of {capacity.min():.3g}")
    return capacity


def _node(value, name: str, V: int) -> int:
    v = integer(value, name)
    if not 0 <= v < V:
        raise ValueError(f"{name}: expected a node index in [0, {V - 1}], got {v}")
    return v


def _dinic(residual: list[list[float]], adjacency: list[list[int]], s: int, t: int, tol: float) -> float:
    """Maximum flow from s to t; ``residual`` (V×V lists) is consumed (it ends as the residual graph)."""
    V, total = len(residual), 0.0
    while True:
        level = [-1] * V                               # BFS levels over edges with residual capacity
        level[s] = 0
        queue = deque([s])
        while queue:
            u = queue.popleft()
            for v in adjacency[u]:
                if level[v] < 0 and residual[u][v] > tol:
                    level[v] = level[u] + 1
                    queue.append(v)
        if level[t] < 0:
            return total                               # no augmenting path left: the flow is maximal
        nxt = [0] * V                                  # per node, the first edge not yet known to be useless
        path = [s]
        while path:                                    # depth-first search for shortest augmenting paths
            u = path[-1]
            if u == t:
                pushed = min(residual[a][b] for a, b in zip(path, path[1:]))
                for a, b in zip(path, path[1:]):
                    residual[a][b] -= pushed
                    residual[b][a] += pushed
                total += pushed
                path = [s]                             # the saturated edge is skipped from now on
                continue
            edges = adjacency[u]
            while nxt[u] < len(edges):
                v = edges[nxt[u]]
                if level[v] == level[u] + 1 and residual[u][v] > tol:
                    break
                nxt[u] += 1
            if nxt[u] < len(edges):
                path.append(edges[nxt[u]])
            else:                                      # dead end: never enter u again in this phase
                level[u] = -1
                path.pop()


def max_flow(capacity, source: int, sink: int) -> float:
    """The maximum flow from ``source`` to ``sink`` in the directed graph with edge capacities
    ``capacity[u, v] ≥ 0`` (V×V tensor or array; 0 = no edge), by Dinic's algorithm.

    Exact up to floating-point rounding: it stops only when no path with residual capacity above
    1e-12 × the largest capacity is left, and the value equals the capacity of the minimum s–t cut
    (max-flow min-cut theorem).
    """
    cap = _check_capacity(capacity)
    V = cap.shape[0]
    s, t = _node(source, "source", V), _node(sink, "sink", V)
    if s == t:
        raise ValueError(f"sink: must differ from source (both are {s})")
    return _flow_between(cap, [s], [t])[0]


def _flow_between(cap: np.ndarray, sources: list[int], sinks: list[int]) -> list[float]:
    """max_flow for each (source, sink) pair of one graph (the graph is set up once)."""
    tol = 1e-12 * float(cap.max()) if cap.size else 0.0
    linked = (cap > 0) | (cap.T > 0)
    adjacency = [np.flatnonzero(row).tolist() for row in linked]
    base = cap.tolist()
    return [_dinic([row[:] for row in base], adjacency, s, t, tol) for s, t in zip(sources, sinks)]


def layered_capacity(a_hat: torch.Tensor) -> np.ndarray:
    """The attention graph of one sentence as a ((L+1)·T)×((L+1)·T) capacity matrix: node l·T + j is token j
    after l layers (l = 0: the input), and the edge (l+1, a) → (l, b) has capacity Â_l[a, b]
    (``a_hat``: L×T×T, e.g. ``residual_attention`` of one sentence)."""
    a = a_hat.detach().cpu().double().numpy() if isinstance(a_hat, torch.Tensor) else np.asarray(a_hat, float)
    L, T, _ = a.shape
    cap = np.zeros(((L + 1) * T, (L + 1) * T))
    for l in range(L):
        cap[(l + 1) * T:(l + 2) * T, l * T:(l + 1) * T] = a[l]
    return cap


def attention_flow(attentions: torch.Tensor, attention_mask: torch.Tensor | None = None,
                   residual: bool = True, normalize: bool = True, show_progress: bool = False) -> torch.Tensor:
    """Attention flow (Abnar & Zuidema 2020): [i, j] = the maximum flow from token i of the top layer to
    token j of the input, in the graph of ``layered_capacity`` (capacities Â_l from ``residual_attention``).

    Where rollout multiplies the layers' mixing matrices (every path counts, weighted by its product),
    flow is limited by the narrowest cut between i and j: a path is only as wide as its weakest edge.
    ``attentions`` L×H×T×T → T×T, or L×N×H×T×T → N×T×T (``attention_mask`` N×T: flows are computed on the
    real tokens only, padding gets 0). ``normalize=True`` divides each row by its sum (the authors' code
    does; the raw flows lie in [0, 1]). T² max-flow problems per sentence (each on (L+1)·T nodes): fine
    for sentences of a few dozen tokens.
    """
    check_bool(normalize, "normalize")
    check_bool(show_progress, "show_progress")
    a_hat = residual_attention(attentions, residual)
    mask = _check_mask(attention_mask, attentions)
    single = attentions.ndim == 4
    if single:
        a_hat, mask = a_hat[:, None], (None if mask is None else mask[None])
    L, N, T, _ = a_hat.shape
    out = torch.zeros(N, T, T, dtype=torch.float64)
    for n in progress(range(N), enabled=show_progress, desc="attention flow"):
        keep = torch.arange(T) if mask is None else mask[n].cpu().nonzero().flatten()
        k = len(keep)
        cap = layered_capacity(a_hat[:, n][:, keep][:, :, keep])
        pairs = [(i, j) for i in range(k) for j in range(k)]
        values = _flow_between(cap, [L * k + i for i, _ in pairs], [j for _, j in pairs])
        flows = torch.tensor(values, dtype=torch.float64).view(k, k)
        if normalize:
            flows = flows / flows.sum(-1, keepdim=True).clamp_min(1e-300)
        out[n, keep[:, None], keep[None, :]] = flows
    out = out.to(device=attentions.device, dtype=attentions.dtype)
    return out[0] if single else out
