"""Attention weights of a BERT encoder (lecture 11). Shapes: L layers, N sentences, H heads, T tokens.

* ``attention_maps(model, inputs)`` – L×N×H×T×T; ``sentence_attention`` – one sentence, L×H×T×T.
* ``head_attention(model, hidden, layer, head)`` – one head recomputed from its query/key weights.
* ``value_norm_attention`` – ‖α_ij f(x_j)‖: attention weighted by the size of what is moved.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..attribution import batches
from ..hooks import preserved_state
from ..validation import check_tensor, integer, positive_int
from .model import check_token_inputs, token_strings, tokenize


def attention_maps(model: nn.Module, inputs, batch_size: int = 16) -> torch.Tensor:
    """Attention weights of every layer and head: L×N×H×T×T, ``[l, n, h, i, j]`` = how much token i of
    sentence n takes from token j in head h of layer l. Each row sums to 1 over the real tokens;
    padding columns get 0 (rows of padding tokens are meaningless)."""
    ids, mask = check_token_inputs(inputs, model=model)
    batch_size = positive_int(batch_size, "batch_size")
    chunks = []
    with preserved_state(model), torch.no_grad():
        for sl in batches(len(ids), batch_size):
            out = model(input_ids=ids[sl], attention_mask=mask[sl], output_attentions=True)
            if getattr(out, "attentions", None) is None or out.attentions[0] is None:
                raise ValueError("model: it returned no attention weights; load it with "
                                 "attn_implementation='eager' (load_text_model does)")
            chunks.append(torch.stack(out.attentions))
    return torch.cat(chunks, dim=1)


def sentence_attention(model: nn.Module, tokenizer, sentence: str) -> tuple[list[str], torch.Tensor]:
    """One sentence → (its tokens, attention L×H×T×T)."""
    if not isinstance(sentence, str):
        raise TypeError(f"sentence: expected a string, got {type(sentence).__name__}")
    inputs = tokenize(tokenizer, sentence)
    return token_strings(tokenizer, inputs)[0], attention_maps(model, inputs)[:, 0]


def _self_attention(model: nn.Module, layer: int):
    layers = model.encoder.layer
    if not 0 <= integer(layer, "layer") < len(layers):
        raise ValueError(f"layer: expected an int in [0, {len(layers) - 1}], got {layer!r}")
    return layers[int(layer)].attention


def _check_head(model: nn.Module, head) -> int:
    n = model.config.num_attention_heads
    if not 0 <= integer(head, "head") < n:
        raise ValueError(f"head: expected an int in [0, {n - 1}], got {head!r}")
    return int(head)


def head_attention(model: nn.Module, hidden: torch.Tensor, layer: int, head: int) -> torch.Tensor:
    """Recompute one head's attention from its weights: softmax(Q_h K_hᵀ / √d_h) over the keys.

    ``hidden`` is the layer's input, T×D (``hidden_states[layer]`` of a forward pass with
    ``output_hidden_states=True``), one sentence without padding. Returns T×T.
    """
    att = _self_attention(model, layer).self
    head = _check_head(model, head)
    hidden = check_tensor(hidden, "hidden", "T×D").to(att.query.weight)
    if hidden.shape[1] != model.config.hidden_size:
        raise ValueError(f"hidden: expected T×{model.config.hidden_size} (the model's hidden size), "
                         f"got {tuple(hidden.shape)}")
    d = model.config.hidden_size // model.config.num_attention_heads
    rows = slice(head * d, (head + 1) * d)
    q = hidden @ att.query.weight[rows].T + att.query.bias[rows]
    k = hidden @ att.key.weight[rows].T + att.key.bias[rows]
    return torch.softmax(q @ k.T / math.sqrt(d), dim=-1)


def value_norm_attention(model: nn.Module, inputs, batch_size: int = 16) -> torch.Tensor:
    """Attention weighted by the size of what it moves (Kobayashi et al. 2020): L×N×H×T×T with
    ``[l, n, h, i, j] = α_ij ‖f_h(x_j)‖``, where f_h(x) = W_O,h (W_V,h x + b_V,h) is the vector head h
    adds to token i for each unit of attention on token j."""
    ids, mask = check_token_inputs(inputs, model=model)
    batch_size = positive_int(batch_size, "batch_size")
    cfg = model.config
    H, d = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
    out_all = []
    with preserved_state(model), torch.no_grad():
        for sl in batches(len(ids), batch_size):
            out = model(input_ids=ids[sl], attention_mask=mask[sl], output_attentions=True,
                        output_hidden_states=True)
            per_layer = []
            for l, alpha in enumerate(out.attentions):
                att = model.encoder.layer[l].attention
                v = att.self.value(out.hidden_states[l])                    # n×T×D
                v = v.view(*v.shape[:2], H, d)                              # n×T×H×d
                w_o = att.output.dense.weight.view(cfg.hidden_size, H, d)   # D×H×d
                f = torch.einsum("nthe,dhe->nhtd", v, w_o)                  # n×H×T×D
                per_layer.append(alpha * f.norm(dim=-1).unsqueeze(2))       # n×H×T×T
            out_all.append(torch.stack(per_layer))
    return torch.cat(out_all, dim=1)
