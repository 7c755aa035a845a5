"""Token attributions for a sentence-similarity score (lecture 11), with the course's call shape
``method(model, inputs, target, **options)``.

``inputs`` is the dict ``tokenize`` returns; ``target`` is a reference sentence embedding (D or N×D; the
score is the cosine similarity to it) or a callable ``target(model, inputs_embeds, attention_mask) ->
Tensor[M]``. Shapes: N sentences, T tokens, D embedding dimensions.

* ``embedding_gradients`` – ∂score/∂(word embeddings), N×T×D; ``token_saliency`` – per token (L2 norm,
  sum, gradient × embedding), N×T.
* ``baseline_embeddings`` – [PAD] or [MASK] embeddings with [CLS]/[SEP] kept, N×T×D.
* ``integrated_gradients_path`` – IG of any function of one T×D embedding matrix, with the course's one
  quadrature (``course_utils.attribution.quadrature``); ``embedding_integrated_gradients``;
  ``completeness_error``.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..attribution import batches, quadrature
from ..hooks import preserved_state
from ..progress import progress
from ..validation import check_bool, check_finite, one_of, positive_int
from .model import check_token_inputs, pooled_embedding

Target = torch.Tensor | Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
SALIENCY_REDUCTIONS = ("l2", "sum", "grad_x_emb")


def _resolve_target(target: Target, n: int, model: nn.Module | None = None) -> Target:
    if callable(target) and not isinstance(target, torch.Tensor):
        if isinstance(target, nn.Module):
            raise TypeError("target: got an nn.Module; a callable target takes (model, inputs_embeds, "
                            "attention_mask) and returns one score per sentence")
        return target
    if isinstance(target, torch.Tensor) and target.is_floating_point():
        t = check_finite(target.detach(), "target")
        if model is not None:
            device = next((p.device for p in model.parameters()), t.device)
            if t.device != device:
                raise ValueError(f"target: is on {t.device} but the model is on {device}")
        if t.ndim == 1:
            t = t.expand(n, -1)
        if t.ndim != 2 or t.shape[0] != n:
            raise ValueError(f"target: expected a reference embedding of shape D or N×D with N = {n}, "
                             f"got {tuple(target.shape)}")
        if not bool((t.norm(dim=-1) > 0).all()):
            raise ValueError("target: a reference embedding is all zeros; the cosine similarity to it is undefined")
        return torch.nn.functional.normalize(t, dim=-1)
    raise TypeError("target: expected a float tensor of reference sentence embeddings (D or N×D) or a callable "
                    f"target(model, inputs_embeds, attention_mask) -> Tensor[M], got {type(target).__name__}"
                    + (f" {target.dtype}" if isinstance(target, torch.Tensor) else ""))


def _scores(model, embeds: torch.Tensor, mask: torch.Tensor, target: Target, rows: torch.Tensor) -> torch.Tensor:
    """One finite scalar per row: cosine similarity to the row's reference embedding, or the callable's value."""
    if callable(target):
        s = target(model, embeds, mask)
        if not isinstance(s, torch.Tensor) or s.shape != (len(embeds),):
            raise ValueError(f"target: the callable must return one score per input (shape ({len(embeds)},)), "
                             f"got {getattr(s, 'shape', type(s).__name__)}")
    else:
        e = pooled_embedding(model, embeds, mask)
        if e.shape[-1] != target.shape[-1]:
            raise ValueError(f"target: reference embeddings have {target.shape[-1]} dimensions, the model's "
                             f"sentence embeddings {e.shape[-1]}")
        s = (e * target[rows.to(target.device)].to(e.dtype)).sum(-1)
    if not bool(torch.isfinite(s.detach()).all()):
        raise ValueError("model: the score is NaN or ±inf for finite inputs; check the model's weights and the target")
    return s


def embedding_gradients(model: nn.Module, inputs, target: Target, batch_size: int = 16
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradient of each sentence's score with respect to its word embeddings.

    Returns (gradients N×T×D, word embeddings N×T×D, scores N); padding positions get zero gradient.
    """
    ids, mask = check_token_inputs(inputs, model=model)
    batch_size = positive_int(batch_size, "batch_size")
    target = _resolve_target(target, len(ids), model)
    grads, embeds, scores = [], [], []
    with preserved_state(model):
        emb = model.get_input_embeddings()
        for sl in batches(len(ids), batch_size):
            x = emb(ids[sl]).detach().requires_grad_(True)
            s = _scores(model, x, mask[sl], target, torch.arange(len(ids))[sl])
            (g,) = torch.autograd.grad(s.sum(), x)
            grads.append(g * mask[sl].unsqueeze(-1).to(g.dtype))
            embeds.append(x.detach())
            scores.append(s.detach())
    return torch.cat(grads), torch.cat(embeds), torch.cat(scores)


def token_saliency(model: nn.Module, inputs, target: Target, reduce: str = "l2", batch_size: int = 16) -> torch.Tensor:
    """Gradient saliency per token, N×T (0 on padding), from g = ∂score/∂e_t (e_t: word embedding of token t):

    ``"l2"``: ‖g‖₂ (how sensitive, unsigned); ``"sum"``: Σ_d g_d (the effect of adding 1 to every
    coordinate); ``"grad_x_emb"``: Σ_d g_d e_d = g·e (first-order effect of removing the embedding, signed).
    """
    one_of(reduce, "reduce", SALIENCY_REDUCTIONS)
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
    ids, mask = check_token_inputs(inputs, model=model)
    emb = model.get_input_embeddings()
    with torch.no_grad():
        x = emb(ids)
        if isinstance(baseline, torch.Tensor):
            if not baseline.is_floating_point():
                raise TypeError("baseline: a tensor baseline must hold float embeddings (use an int for a token id)")
            if baseline.device != x.device:
                raise ValueError(f"baseline: is on {baseline.device} but the model is on {x.device}")
            check_finite(baseline, "baseline")
            try:
                return baseline.detach().to(x.dtype).expand_as(x).clone()
            except RuntimeError:
                raise ValueError(f"baseline: cannot broadcast shape {tuple(baseline.shape)} to the embeddings "
                                 f"{tuple(x.shape)}") from None
        if baseline is None or (isinstance(baseline, str) and baseline == "pad"):
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


def integrated_gradients_path(score_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                              baseline: torch.Tensor, steps: int = 32, rule: str = "gauss_legendre",
                              batch_size: int = 32) -> torch.Tensor:
    """Integrated gradients of ``score_fn`` at one input ``x`` (e.g. T×D embeddings) from ``baseline``:

        IG = (x − b) ⊙ ∫₀¹ ∂f/∂x (b + α(x − b)) dα,

    the integral by the quadrature ``rule`` with ``steps`` points (``course_utils.attribution.quadrature``:
    ``"gauss_legendre"``, ``"midpoint"``, ``"left"``, ``"right"``, ``"trapezoid"``), the path points
    evaluated in batches: ``score_fn`` maps M×(shape of x) → M scores. Returns a tensor shaped like ``x``.
    """
    if not callable(score_fn):
        raise TypeError(f"score_fn: expected a function M×(shape of x) → M scores, got {type(score_fn).__name__}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x: expected a float tensor, got "
                        + (f"a {x.dtype} tensor" if isinstance(x, torch.Tensor) else type(x).__name__))
    check_finite(x, "x")
    if not isinstance(baseline, torch.Tensor) or baseline.shape != x.shape:
        raise ValueError(f"baseline: expected a tensor of the shape of x {tuple(x.shape)}, "
                         f"got {getattr(baseline, 'shape', type(baseline).__name__)}")
    if baseline.device != x.device:
        raise ValueError(f"baseline: is on {baseline.device} but x is on {x.device}")
    check_finite(baseline, "baseline")
    batch_size = positive_int(batch_size, "batch_size")
    alphas, weights = quadrature(steps, rule)          # trapezoid: steps + 1 nodes
    alphas, weights = alphas.to(x.device), weights.to(x.device)
    x, b = x.detach(), baseline.detach().to(x.dtype)
    total = torch.zeros_like(x, dtype=torch.float64)
    for sl in batches(len(alphas), batch_size):
        a = alphas[sl].to(x.dtype).view(-1, *([1] * x.ndim))
        path = (b + a * (x - b)).requires_grad_(True)
        s = score_fn(path)
        if not isinstance(s, torch.Tensor) or s.shape != (len(path),):
            raise ValueError(f"score_fn: expected one score per path point (shape ({len(path)},)), "
                             f"got {getattr(s, 'shape', type(s).__name__)}")
        if not bool(torch.isfinite(s.detach()).all()):
            raise ValueError("score_fn: returned NaN or ±inf on the path from the baseline to x")
        (g,) = torch.autograd.grad(s.sum(), path)
        total += (g.double() * weights[sl].view(-1, *([1] * x.ndim))).sum(0)
    return ((x - b).double() * total).to(x.dtype)


def embedding_integrated_gradients(model: nn.Module, inputs, target: Target,
                                   baseline: int | str | torch.Tensor | None = None, steps: int = 32,
                                   rule: str = "gauss_legendre", batch_size: int = 32,
                                   per_token: bool = True, return_error: bool = False,
                                   show_progress: bool = False):
    """Integrated gradients on the word embeddings (Sundararajan et al. 2017), one sentence at a time.

    The path runs from the baseline embeddings (``baseline_embeddings``: [PAD] by default) to the real
    ones; position and segment embeddings are added inside the model and stay fixed. ``steps`` and
    ``rule``: the quadrature, as in ``course_utils.attribution.integrated_gradients``. Returns N×T
    (summed over the D embedding dimensions; 0 on padding) or N×T×D with ``per_token=False``; with
    ``return_error`` also the completeness error N: Σ attributions − (score(x) − score(baseline)).
    """
    ids, mask = check_token_inputs(inputs, model=model)
    batch_size = positive_int(batch_size, "batch_size")
    quadrature(steps, rule)                                # argument errors before any work
    check_bool(per_token, "per_token")
    check_bool(return_error, "return_error")
    target = _resolve_target(target, len(ids), model)
    base = baseline_embeddings(model, inputs, baseline)
    attributions, errors = [], []
    with preserved_state(model):
        x_all = model.get_input_embeddings()(ids).detach()
        for n in progress(range(len(ids)), enabled=show_progress, desc="integrated gradients"):
            keep = mask[n].bool()
            x, b, m = x_all[n, keep], base[n, keep], mask[n, keep][None]
            row = torch.tensor([n])

            def score_fn(path: torch.Tensor) -> torch.Tensor:
                return _scores(model, path, m.expand(len(path), -1), target, row.expand(len(path)))

            ig = integrated_gradients_path(score_fn, x, b, steps, rule, batch_size)
            full = torch.zeros_like(x_all[n])
            full[keep] = ig
            attributions.append(full)
            if return_error:
                with torch.no_grad():
                    ends = score_fn(torch.stack([x, b]))
                errors.append(ig.double().sum() - (ends[0] - ends[1]).double())
    attr = torch.stack(attributions)
    attr = attr.sum(-1) if per_token else attr
    return (attr, torch.stack(errors).float()) if return_error else attr


def completeness_error(model: nn.Module, inputs, target: Target, attributions: torch.Tensor,
                       baseline: int | str | torch.Tensor | None = None) -> torch.Tensor:
    """Σ attributions − (score(inputs) − score(baseline)) per sentence, N (0 for exact integrated gradients).

    ``attributions`` is N×T or N×T×D (as ``embedding_integrated_gradients`` returns).
    """
    ids, mask = check_token_inputs(inputs, model=model)
    if not isinstance(attributions, torch.Tensor) or attributions.ndim not in (2, 3) \
            or attributions.shape[:2] != ids.shape:
        raise ValueError(f"attributions: expected N×T or N×T×D with N×T = {tuple(ids.shape)}, "
                         f"got {getattr(attributions, 'shape', type(attributions).__name__)}")
    check_finite(attributions, "attributions")
    target = _resolve_target(target, len(ids), model)
    base = baseline_embeddings(model, inputs, baseline)
    rows = torch.arange(len(ids))
    with preserved_state(model), torch.no_grad():
        x = model.get_input_embeddings()(ids)
        gap = _scores(model, x, mask, target, rows) - _scores(model, base, mask, target, rows)
    return attributions.flatten(1).double().sum(1).float().to(gap.device) - gap
