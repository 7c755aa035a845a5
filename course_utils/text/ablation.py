"""Head ablation (lecture 11): remove one attention head's output and measure what changes downstream.

A head's output, before the layer's output projection W_O, is its context vector c_h = Σ_j α_ij v_j
(d = D / H numbers per token; the heads sit side by side in the D columns of the input of
``layer.attention.output.dense``). Ablating head h replaces c_h by 0 (``"zero"``) or by its mean over the
real tokens of a set of sentences (``"mean"``, ``head_means``), so the head no longer depends on the input.

* ``head_means(model, inputs)`` – each head's mean context vector, L×H×d.
* ``ablate_heads(model, heads, mode, means)`` – a context manager: inside it the listed heads are ablated.
* ``ablated_embeddings(model, inputs, heads, …)`` – sentence embeddings N×D with the heads ablated.
* ``head_ablation_effects(model, inputs, …)`` – for every head on its own, the mean over the sentences of
  1 − cos(embedding, embedding with the head ablated), L×H.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

import torch
from torch import nn

from ..attribution import batches
from ..hooks import preserved_state
from ..progress import progress
from ..validation import check_bool, check_tensor, integer, one_of, positive_int
from .model import check_token_inputs, pooled_embedding

ABLATIONS = ("zero", "mean")


def _sizes(model: nn.Module) -> tuple[int, int, int]:
    cfg = getattr(model, "config", None)
    if cfg is None or not hasattr(model, "encoder"):
        raise TypeError(f"model: expected a transformers BERT encoder (load_text_model), got {type(model).__name__}")
    return cfg.num_hidden_layers, cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads


def _check_heads(model: nn.Module, heads) -> list[tuple[int, int]]:
    """``heads`` as a list of (layer, head) pairs in range; one pair alone is accepted too."""
    L, H, _ = _sizes(model)
    if isinstance(heads, tuple) and len(heads) == 2 and not isinstance(heads[0], (tuple, list)):
        heads = [heads]
    if not isinstance(heads, (list, tuple)) and not isinstance(heads, str) and hasattr(heads, "__iter__") \
            and not isinstance(heads, torch.Tensor):
        heads = list(heads)                                              # a generator of pairs
    if not isinstance(heads, (list, tuple)):
        raise TypeError(f"heads: expected a list of (layer, head) pairs, got {type(heads).__name__}")
    out = []
    for k, pair in enumerate(heads):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TypeError(f"heads: item {k} must be a (layer, head) pair, got {pair!r}")
        layer, head = integer(pair[0], "heads"), integer(pair[1], "heads")
        if not 0 <= layer < L:
            raise ValueError(f"heads: item {k} has layer {layer}; the model has layers 0 … {L - 1}")
        if not 0 <= head < H:
            raise ValueError(f"heads: item {k} has head {head}; each layer has heads 0 … {H - 1}")
        out.append((layer, head))
    return out


def _check_means(model: nn.Module, means) -> torch.Tensor:
    L, H, d = _sizes(model)
    if means is None:
        raise ValueError("means: mode='mean' needs the heads' mean outputs, means = head_means(model, inputs)")
    means = check_tensor(means, "means", "L×H×d")
    if tuple(means.shape) != (L, H, d):
        raise ValueError(f"means: expected L×H×d = {(L, H, d)}, got {tuple(means.shape)}")
    return means


def _projection(model: nn.Module, layer: int) -> nn.Module:
    """The output projection W_O of a layer's attention: its input holds the heads' context vectors."""
    return model.encoder.layer[layer].attention.output.dense


def head_means(model: nn.Module, inputs, batch_size: int = 16) -> torch.Tensor:
    """Each head's context vector c_h averaged over the real tokens of ``inputs`` (the dict ``tokenize``
    returns): L×H×d."""
    L, H, d = _sizes(model)
    ids, mask = check_token_inputs(inputs, model=model)
    batch_size = positive_int(batch_size, "batch_size")
    sums = torch.zeros(L, H, d, dtype=torch.float64)
    store: dict[int, torch.Tensor] = {}
    handles = [_projection(model, l).register_forward_pre_hook(
        lambda m, args, l=l: store.__setitem__(l, args[0].detach())) for l in range(L)]
    try:
        with preserved_state(model), torch.no_grad():
            for sl in batches(len(ids), batch_size):
                model(input_ids=ids[sl], attention_mask=mask[sl])
                m = mask[sl].to(torch.float64)[..., None]
                for l in range(L):
                    c = store[l].double() * m                                   # n×T×D, padding zeroed
                    sums[l] += c.sum((0, 1)).view(H, d).cpu()
    finally:
        for h in handles:
            h.remove()
    return (sums / mask.sum().item()).to(next(model.parameters()).dtype)


@contextmanager
def ablate_heads(model: nn.Module, heads, mode: str = "zero", means: torch.Tensor | None = None
                 ) -> Iterator[nn.Module]:
    """Inside the ``with`` block, the listed heads ((layer, head) pairs) are ablated: their context vectors
    are replaced by 0 (``mode="zero"``) or by ``means[layer, head]`` (``mode="mean"``; ``means`` L×H×d from
    ``head_means``). The hooks are removed on exit, even after an error."""
    pairs = _check_heads(model, heads)
    one_of(mode, "mode", ABLATIONS)
    L, H, d = _sizes(model)
    if mode == "mean":
        means = _check_means(model, means)
    by_layer: dict[int, list[int]] = {}
    for layer, head in pairs:
        by_layer.setdefault(layer, []).append(head)

    def hook_for(layer: int):
        def replace(module, args):
            c = args[0].clone()
            for head in by_layer[layer]:
                cols = slice(head * d, (head + 1) * d)
                c[..., cols] = 0 if mode == "zero" else means[layer, head].to(c)
            return (c, *args[1:])
        return replace

    handles = [_projection(model, layer).register_forward_pre_hook(hook_for(layer)) for layer in by_layer]
    try:
        yield model
    finally:
        for h in handles:
            h.remove()


def ablated_embeddings(model: nn.Module, inputs, heads=(), mode: str = "zero", means: torch.Tensor | None = None,
                       batch_size: int = 16) -> torch.Tensor:
    """Sentence embeddings N×D (unit length, as ``encode``) with ``heads`` ablated (none: the clean ones)."""
    _sizes(model)
    ids, mask = check_token_inputs(inputs, model=model)
    batch_size = positive_int(batch_size, "batch_size")
    out = []
    with preserved_state(model), torch.no_grad(), ablate_heads(model, heads, mode, means):
        emb = model.get_input_embeddings()
        for sl in batches(len(ids), batch_size):
            out.append(pooled_embedding(model, emb(ids[sl]), mask[sl]))
    return torch.cat(out)


def _layer_inputs(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> list[tuple[tuple, dict]]:
    """One clean forward pass, recording what each encoder layer is called with: [(args, kwargs)] per layer
    (args[0] is its input hidden state), so a later run can restart at any layer."""
    calls: list[tuple[tuple, dict]] = []
    handles = [layer.register_forward_pre_hook(lambda m, args, kwargs: calls.append((args, kwargs)),
                                               with_kwargs=True) for layer in model.encoder.layer]
    try:
        model(input_ids=ids, attention_mask=mask)
    finally:
        for h in handles:
            h.remove()
    return calls


def _repeat(x, n: int, k: int):
    """``x`` stacked ``k`` times along the batch if it is a tensor with ``n`` rows (hidden states, masks)."""
    if isinstance(x, torch.Tensor) and x.ndim > 0 and x.shape[0] == n:
        return torch.cat([x] * k)
    return x


def _run_from(model: nn.Module, calls: list[tuple[tuple, dict]], layer: int, mask: torch.Tensor,
              copies: int = 1) -> torch.Tensor:
    """Sentence embeddings (copies·N)×D computed from layer ``layer``'s recorded input onwards (the layers below
    are unchanged by an ablation at or above ``layer``, so they need not run again); the batch is repeated
    ``copies`` times, so one run can ablate a different head in each copy."""
    n = len(mask)
    h = _repeat(calls[layer][0][0], n, copies)
    for k in range(layer, len(calls)):
        args, kwargs = calls[k]
        out = model.encoder.layer[k](h, *(_repeat(a, n, copies) for a in args[1:]),
                                     **{key: _repeat(v, n, copies) for key, v in kwargs.items()})
        h = out[0] if isinstance(out, tuple) else out
    m = _repeat(mask, n, copies).to(h.dtype).unsqueeze(-1)
    return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1).clamp_min(1e-9), dim=-1)


@contextmanager
def _ablate_one_head_per_copy(model: nn.Module, layer: int, heads: list[int], n: int, mode: str,
                              means: torch.Tensor | None) -> Iterator[None]:
    """In a batch of len(heads) copies of n sentences, ablate heads[k] in copy k (rows k·n … (k+1)·n − 1)."""
    _, _, d = _sizes(model)

    def replace(module, args):
        c = args[0].clone()
        for k, head in enumerate(heads):
            cols = slice(head * d, (head + 1) * d)
            c[k * n:(k + 1) * n, :, cols] = 0 if mode == "zero" else means[layer, head].to(c)
        return (c, *args[1:])

    handle = _projection(model, layer).register_forward_pre_hook(replace)
    try:
        yield
    finally:
        handle.remove()


def head_ablation_effects(model: nn.Module, inputs, mode: str = "mean", means: torch.Tensor | None = None,
                          heads: Iterable[tuple[int, int]] | None = None, batch_size: int = 16,
                          show_progress: bool = False) -> torch.Tensor:
    """How much each head matters to the sentence embeddings: for each head ablated on its own, the mean
    over the sentences of 1 − cos(clean embedding, ablated embedding), an L×H table (0: no effect; heads
    not listed in ``heads`` get NaN). ``mode="mean"`` uses ``means`` (default: ``head_means`` of
    ``inputs`` itself). Each ablation reruns only the layers from the head's own upwards, all heads of a
    layer in one batch (the same numbers as ``ablated_embeddings``, which runs the whole model)."""
    L, H, _ = _sizes(model)
    ids, mask = check_token_inputs(inputs, model=model)
    one_of(mode, "mode", ABLATIONS)
    batch_size = positive_int(batch_size, "batch_size")
    check_bool(show_progress, "show_progress")
    pairs = [(l, h) for l in range(L) for h in range(H)] if heads is None else _check_heads(model, heads)
    if mode == "mean":
        means = _check_means(model, head_means(model, inputs, batch_size) if means is None else means)
    total = torch.zeros(L, H, dtype=torch.float64)
    with preserved_state(model), torch.no_grad():
        for sl in batches(len(ids), batch_size):
            calls = _layer_inputs(model, ids[sl], mask[sl])
            clean = _run_from(model, calls, 0, mask[sl])
            layers = sorted({layer for layer, _ in pairs})
            for layer in progress(layers, enabled=show_progress, desc="head ablation"):
                heads_here = [head for l, head in pairs if l == layer]        # one copy of the batch per head
                with _ablate_one_head_per_copy(model, layer, heads_here, len(clean), mode, means):
                    e = _run_from(model, calls, layer, mask[sl], copies=len(heads_here))
                change = (1 - (e * clean.repeat(len(heads_here), 1)).sum(-1)).double().view(len(heads_here), -1)
                for head, c in zip(heads_here, change.sum(1).cpu()):
                    total[layer, head] += c
    effects = torch.full((L, H), float("nan"))
    for layer, head in pairs:
        effects[layer, head] = float(total[layer, head]) / len(ids)
    return effects
