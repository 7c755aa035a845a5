"""Head patterns (lecture 11): which heads attend to [CLS], [SEP], the previous or next token, the same word.

* ``pattern_mask(tokens, pattern)`` – the T×T (query, key) pairs a pattern looks for (``PATTERNS``);
  ``batch_pattern_masks`` – N×T×T for a padded batch; ``word_ids`` – WordPiece tokens → words.
* ``pattern_scores(attentions, masks)`` – the share of each head's attention that follows a pattern;
  ``head_pattern_scores`` over a set of sentences; ``top_heads`` – the best heads of an L×H table.
"""
from __future__ import annotations

import numbers
from typing import Sequence

import torch
from torch import nn

from ..validation import check_finite, check_tensor, one_of, positive_int
from .attention import attention_maps
from .model import SPECIAL_TOKENS, token_strings, tokenize

PATTERNS = ("cls", "sep", "previous", "next", "same_word")


def word_ids(tokens: Sequence[str]) -> list[int | None]:
    """Word index of every WordPiece token ("##" pieces continue the previous word); None for specials."""
    _check_tokens(tokens)
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


def _check_tokens(tokens, name: str = "tokens") -> list[str]:
    if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
        raise TypeError(f"{name}: expected a list of token strings (tx.token_strings gives them), "
                        f"got {type(tokens).__name__}")
    return list(tokens)


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
    one_of(pattern, "pattern", PATTERNS)
    if isinstance(tokens, numbers.Integral) and not isinstance(tokens, bool):
        if pattern not in ("previous", "next"):
            raise ValueError(f"tokens: pattern {pattern!r} needs the token strings, not only a length")
        T = int(tokens)
    else:
        T = len(_check_tokens(tokens))
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
    if not attentions.is_floating_point():
        raise TypeError(f"attentions: expected float attention weights, got {attentions.dtype}")
    check_finite(attentions, "attentions")
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"masks: expected a boolean tensor, got {type(masks).__name__}")
    if masks.device != attentions.device:
        raise ValueError(f"masks: is on {masks.device} but the attentions are on {attentions.device}")
    if masks.dtype != torch.bool and not bool(((masks == 0) | (masks == 1)).all()):
        raise ValueError("masks: expected a boolean mask (or 0/1 values), got other values")
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
    if not isinstance(tokens, (list, tuple)) or not tokens:
        raise TypeError(f"tokens: expected a non-empty list of token lists (one per sentence), got "
                        f"{type(tokens).__name__}")
    rows = [_check_tokens(toks, f"tokens[{n}]") for n, toks in enumerate(tokens)]
    T = positive_int(T, "T")
    if max(len(r) for r in rows) > T:
        raise ValueError(f"T: the longest sentence has {max(len(r) for r in rows)} tokens, more than T = {T}")
    out = torch.zeros(len(rows), T, T, dtype=torch.bool)
    for n, toks in enumerate(rows):
        k = len(toks)
        out[n, :k, :k] = pattern_mask(toks, pattern)
    return out


def head_pattern_scores(model: nn.Module, tokenizer, sentences: Sequence[str],
                        patterns: Sequence[str] = PATTERNS, batch_size: int = 16) -> dict[str, torch.Tensor]:
    """Score every head for every pattern over a set of sentences: {pattern: L×H tensor in [0, 1]}."""
    patterns = (patterns,) if isinstance(patterns, str) else tuple(patterns)
    if not patterns:
        raise ValueError(f"patterns: expected at least one of {PATTERNS}")
    for p in patterns:
        one_of(p, "patterns", PATTERNS)
    inputs = tokenize(tokenizer, list(sentences))
    attn = attention_maps(model, inputs, batch_size=batch_size)
    toks = token_strings(tokenizer, inputs)
    T = attn.shape[-1]
    return {p: pattern_scores(attn, batch_pattern_masks(toks, p, T)) for p in patterns}


def top_heads(scores: torch.Tensor, k: int = 3) -> list[tuple[int, int, float]]:
    """The ``k`` highest entries of an L×H score table as (layer, head, score), best first."""
    scores = check_tensor(scores, "scores", "L×H")
    k = positive_int(k, "k")
    values, idx = scores.flatten().topk(min(k, scores.numel()))
    H = scores.shape[1]
    return [(int(i) // H, int(i) % H, float(v)) for v, i in zip(values, idx)]
