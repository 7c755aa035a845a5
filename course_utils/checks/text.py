"""Checks for lecture 11 (attention and token attributions in a transformer).

* ``check_head_attention(fn)`` – one head's attention from the query/key weights, T×T.
* ``check_previous_token_score(fn)`` – a head's mean attention to the previous token.
* ``check_embedding_saliency(fn)`` – L2 norm of the gradient w.r.t. each token's word embedding, N×T.
* ``check_integrated_gradients(fn)`` – integrated gradients of a function of one T×D embedding matrix
  (midpoint Riemann sum).
* ``check_attention_rollout(fn)`` – attention rollout (Abnar & Zuidema 2020) of L×H×T×T attention, T×T.

References are independent of the notebook: the attention a small, freshly initialised BERT computes itself,
and the ``course_utils.text`` implementations. Every case is new (random weights drawn from their own
generators, sentences of random token ids, some padded).
"""
from __future__ import annotations

import math

import torch

from . import Case, CheckResult, exercise_check, generator, run_check


def tiny_bert(seed: int, hidden: int = 16, heads: int = 4, layers: int = 2, vocab: int = 40, scale: float = 0.25):
    """A small randomly initialised BERT (eager attention) whose weights are large enough for peaky attention.

    Every weight matrix, embedding and bias is drawn from a generator seeded with ``seed`` (LayerNorms keep
    their ones and zeros), so the model does not depend on the global random state."""
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=2 * hidden, max_position_embeddings=32, attn_implementation="eager")
    model = BertModel(cfg, add_pooling_layer=False)
    g = generator(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 2 and "LayerNorm" not in name:
                p.copy_(torch.randn(p.shape, generator=g) * scale)
            elif "LayerNorm" in name:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * scale)
    return model.eval()


def _tiny_inputs(seed: int, n: int, T: int, vocab: int = 40, pad_last: int = 0) -> dict[str, torch.Tensor]:
    """A batch of ``n`` random "sentences" [CLS] w … w [SEP], the last one ``pad_last`` tokens shorter."""
    g = generator(seed)
    ids = torch.randint(5, vocab, (n, T), generator=g)
    ids[:, 0], ids[:, -1] = 1, 2
    mask = torch.ones(n, T, dtype=torch.long)
    special = torch.zeros(n, T, dtype=torch.long)
    special[:, 0] = special[:, -1] = 1
    if pad_last:
        k = T - pad_last
        ids[-1, k - 1], ids[-1, k:] = 2, 0
        mask[-1, k:] = 0
        special[-1, k - 1:] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids),
            "special_tokens_mask": special}


# ---------------------------------------------------------------------------------------- head attention
def _attention(hidden, wq, bq, wk, bk, head, n_heads, rows=None, bias=True, scale=None, dim=-1, transpose=False):
    """softmax(Q Kᵀ / √d) of one head, with switches reproducing the usual mistakes."""
    d = wq.shape[0] // n_heads
    rows = slice(head * d, (head + 1) * d) if rows is None else rows
    q = hidden @ wq[rows].T + (bq[rows] if bias else 0)
    k = hidden @ wk[rows].T + (bk[rows] if bias else 0)
    a = torch.softmax(q @ k.T / (math.sqrt(d) if scale is None else scale), dim)
    return a.T if transpose else a


@exercise_check
def check_head_attention(fn) -> CheckResult:
    """``fn(hidden T×D, W_q D×D, b_q D, W_k D×D, b_k D, head, n_heads) -> T×T`` against the model's own attention."""
    cases = []
    for seed, hidden, heads, layer, head, T in [(11, 16, 4, 0, 1, 6), (12, 24, 3, 1, 2, 9), (13, 12, 2, 1, 0, 5)]:
        model = tiny_bert(seed, hidden, heads)
        inputs = _tiny_inputs(seed, 1, T)
        with torch.no_grad():
            out = model(input_ids=inputs["input_ids"], output_attentions=True, output_hidden_states=True)
        att = model.encoder.layer[layer].attention.self
        args = (out.hidden_states[layer][0].clone(), att.query.weight.detach().clone(), att.query.bias.detach().clone(),
                att.key.weight.detach().clone(), att.key.bias.detach().clone(), head, heads)
        if not torch.allclose(_attention(*args), out.attentions[layer][0, head], atol=1e-5):   # the check's own test
            raise RuntimeError("check_head_attention: the formula disagrees with the model's attention")
        cases.append(Case(f"random BERT, hidden {hidden}, {heads} heads, layer {layer}, head {head}, {T} tokens", args))
    mistakes = {
        "you forgot to divide the scores by √d_head before the softmax": lambda *a: _attention(*a, scale=1.0),
        "you divided by √(hidden size); divide by √d_head, d_head = hidden size / number of heads":
            lambda *a: _attention(*a, scale=math.sqrt(a[1].shape[0])),
        "the softmax runs over the queries (dim 0): each row (one query) must sum to 1 over the keys":
            lambda *a: _attention(*a, dim=0),
        "the matrix is transposed: rows are queries, columns keys (Q Kᵀ, not K Qᵀ)":
            lambda *a: _attention(*a, transpose=True),
        "you forgot the biases of the query/key projections": lambda *a: _attention(*a, bias=False),
        "wrong rows of W_q/W_k: head h owns the consecutive rows h·d_head … (h+1)·d_head − 1":
            lambda *a: _attention(*a, rows=slice(a[5], None, a[6])),
    }
    return run_check("check_head_attention", fn, _attention, cases, mistakes=mistakes,
                     hint="Q = hidden @ W_q[rows].T + b_q[rows] with rows = slice(head*d, (head+1)*d), K likewise; "
                          "softmax(Q @ K.T / sqrt(d), dim=-1)")


# ------------------------------------------------------------------------------------ previous-token score
def _previous_reference(attentions):
    from ..text import pattern_mask, pattern_scores
    return pattern_scores(attentions, pattern_mask(attentions.shape[-1], "previous"))


@exercise_check
def check_previous_token_score(fn) -> CheckResult:
    """``fn(attentions (..., T, T)) -> (...)``: mean over queries i ≥ 1 of the attention on token i − 1."""
    g = generator(7)
    nxt = torch.diag(torch.ones(4), 1)               # every token attends only to the next one
    nxt[-1, -1] = 1.0
    prev = torch.diag(torch.ones(5), -1)             # every token attends only to the previous one
    prev[0, 0] = 1.0
    cases = [
        Case("one head, 7 tokens", (torch.softmax(2 * torch.randn(7, 7, generator=g), -1),)),
        Case("6 layers × 4 heads, 9 tokens", (torch.softmax(2 * torch.randn(6, 4, 9, 9, generator=g), -1),)),
        Case("a pure next-token head, 5 tokens (score must be 0)", (nxt,)),
        Case("a pure previous-token head, 6 tokens (score must be 1)", (prev,)),
        Case("3 heads, 2 tokens", (torch.softmax(torch.randn(3, 2, 2, generator=g), -1),)),
    ]

    def rolled(a):
        T = a.shape[-1]
        return a.gather(-1, (torch.arange(T) - 1).remainder(T).expand(*a.shape[:-1]).unsqueeze(-1)).squeeze(-1).mean(-1)

    mistakes = {
        "you measured attention to the NEXT token (A[..., i, i+1], or A[..., i-1, i]: the query is the row); "
        "the previous token is A[..., i, i-1]": lambda a: a.diagonal(offset=1, dim1=-2, dim2=-1).mean(-1),
        "the first query has no previous token: average over the T − 1 queries i = 1 … T−1 "
        "(a wrap-around such as torch.roll pairs token 0 with the last token)": rolled,
        "you divided by T; only the T − 1 queries i ≥ 1 have a previous token":
            lambda a: a.diagonal(offset=-1, dim1=-2, dim2=-1).sum(-1) / a.shape[-1],
        "that is the attention of each token to itself (the diagonal): the previous token is the sub-diagonal, "
        "offset=-1": lambda a: a.diagonal(dim1=-2, dim2=-1).mean(-1),
    }
    return run_check("check_previous_token_score", fn, _previous_reference, cases, mistakes=mistakes,
                     hint="the sub-diagonal: attentions.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1)")


# --------------------------------------------------------------------------------------- token saliency
def _saliency_cases():
    from ..text import pooled_embedding
    cases = []
    specs = [(21, 16, 4, 2, 7, 0, "cosine to a random reference embedding"),
             (22, 24, 3, 3, 8, 3, "first coordinate of the mean last hidden state"),
             (23, 12, 2, 1, 5, 0, "squared norm of the [CLS] output")]
    for seed, hidden, heads, n, T, pad, what in specs:
        model = tiny_bert(seed, hidden, heads)
        inputs = _tiny_inputs(seed, n, T, pad_last=pad)
        ref = torch.nn.functional.normalize(torch.randn(hidden, generator=generator(seed)), dim=0)
        if what.startswith("cosine"):
            def score(model, embeds, mask, ref=ref):
                return pooled_embedding(model, embeds, mask) @ ref
        elif what.startswith("first"):
            def score(model, embeds, mask):
                h = model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
                m = mask.unsqueeze(-1).to(h.dtype)
                return ((h * m).sum(1) / m.sum(1))[:, 0]
        else:
            def score(model, embeds, mask):
                return model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state[:, 0].pow(2).sum(-1)
        cases.append(Case(f"random BERT, {n} sentence(s) of {T} tokens" + (f" (one padded by {pad})" if pad else "")
                          + f", score = {what}", (model, inputs, score)))
    return cases


@exercise_check
def check_embedding_saliency(fn) -> CheckResult:
    """``fn(model, inputs, score_fn) -> N×T``: ‖∂score/∂(word embedding of token t)‖₂ for every token."""
    from ..text import embedding_gradients, token_saliency

    def grads(model, inputs, score_fn):
        return embedding_gradients(model, inputs, score_fn)[0]

    mistakes = {
        "you summed the gradient over the embedding dimensions; take its L2 norm (.norm(dim=-1))":
            lambda *a: grads(*a).sum(-1),
        "you computed gradient × embedding; this exercise asks for the L2 norm of the gradient":
            lambda *a: (lambda g, e, _: (g * e).sum(-1))(*embedding_gradients(*a)),
        "you took the L1 norm (sum of |g|); take the L2 norm": lambda *a: grads(*a).abs().sum(-1),
        "you took the largest |g| over the dimensions; take the L2 norm": lambda *a: grads(*a).abs().amax(-1),
        "that is the squared norm: take the L2 norm itself, .norm(dim=-1)": lambda *a: grads(*a).pow(2).sum(-1),
    }
    return run_check("check_embedding_saliency", fn,
                     lambda model, inputs, score_fn: token_saliency(model, inputs, score_fn, reduce="l2"),
                     _saliency_cases(), mistakes=mistakes, atol=1e-5, rtol=1e-3,
                     hint="x = model.get_input_embeddings()(inputs['input_ids']).detach().requires_grad_(True); "
                          "s = score_fn(model, x, inputs['attention_mask']); g, = torch.autograd.grad(s.sum(), x); "
                          "return g.norm(dim=-1)")


# -------------------------------------------------------------------------------- integrated gradients
def _path_grads(score_fn, x, baseline, alphas) -> torch.Tensor:
    """The mean gradient of ``score_fn`` at baseline + α(x − baseline) over ``alphas``."""
    path = (baseline + alphas.view(-1, *([1] * x.ndim)) * (x - baseline)).requires_grad_(True)
    (gr,) = torch.autograd.grad(score_fn(path).sum(), path)
    return gr.mean(0)


@exercise_check
def check_integrated_gradients(fn) -> CheckResult:
    """``fn(score_fn, x T×D, baseline T×D, steps) -> T×D``: IG with the midpoint rule α_k = (k + ½)/steps."""
    from ..text import integrated_gradients_path, pooled_embedding
    g = generator(31)
    w = torch.randn(6, generator=g)
    x1, b1 = torch.randn(4, 6, generator=g), torch.zeros(4, 6)

    def f1(e):   # M×4×6 → M: a smooth non-linear function
        return torch.tanh(e @ w).sum(-1) + (e ** 2).mean((1, 2))

    model = tiny_bert(32, 16, 4)
    ids = _tiny_inputs(32, 1, 6)["input_ids"]
    with torch.no_grad():
        x2 = model.get_input_embeddings()(ids)[0]
        b2 = x2.clone()
        b2[1:-1] = model.get_input_embeddings().weight[0]   # [PAD] embedding between [CLS] and [SEP]
    ref = torch.nn.functional.normalize(torch.randn(16, generator=g), dim=0)
    for p in model.parameters():
        p.requires_grad_(False)

    def f2(e):
        return pooled_embedding(model, e, torch.ones(e.shape[:2], dtype=torch.long)) @ ref

    x3 = torch.randn(3, 5, generator=g)
    b3 = torch.randn(3, 5, generator=g)

    def f3(e):
        return (e[:, 0] * e[:, 2]).sum(-1) ** 2

    cases = [Case("tanh/quadratic function, 4×6 input, zero baseline, 8 steps", (f1, x1, b1, 8)),
             Case("random BERT, cosine to a reference, [PAD] baseline, 16 steps", (f2, x2, b2, 16)),
             Case("product of two rows squared, random baseline, 5 steps", (f3, x3, b3, 5))]

    def nodes(steps, rule):
        k = torch.arange(steps)
        return {"mid": (k + 0.5) / steps, "left": k / steps, "right": (k + 1.0) / steps}[rule]

    mistakes = {
        "you forgot to multiply the averaged gradient by (x − baseline)":
            lambda f, x, b, m: _path_grads(f, x, b, nodes(m, "mid")),
        "left Riemann sum (α = k/steps, k = 0 … steps−1); use the midpoints α = (k + ½)/steps":
            lambda f, x, b, m: (x - b) * _path_grads(f, x, b, nodes(m, "left")),
        "right Riemann sum (α = (k+1)/steps); use the midpoints α = (k + ½)/steps":
            lambda f, x, b, m: (x - b) * _path_grads(f, x, b, nodes(m, "right")),
        "you multiplied by x instead of (x − baseline)": lambda f, x, b, m: x * _path_grads(f, x, b, nodes(m, "mid")),
        "you summed the gradients along the path: average them (divide by steps)":
            lambda f, x, b, m: (x - b) * _path_grads(f, x, b, nodes(m, "mid")) * m,
    }
    return run_check("check_integrated_gradients", fn,
                     lambda score_fn, x, baseline, steps: integrated_gradients_path(score_fn, x, baseline, steps,
                                                                                    rule="midpoint"),
                     cases, mistakes=mistakes, atol=1e-5, rtol=1e-3,
                     hint="alphas = (torch.arange(steps) + 0.5) / steps; path = baseline + alphas[:, None, None] * "
                          "(x - baseline); one autograd.grad of score_fn(path).sum(); (x - baseline) * grads.mean(0)",
                     slow_hint="evaluate the whole path in one call of score_fn (it takes M×T×D)")


# ------------------------------------------------------------------------------------- attention rollout
def _rollout(attentions, residual=True, reduce="mean", normalise=True, order="bottom_up", last_only=False):
    """Rollout of L×H×T×T attention, with switches reproducing the usual mistakes."""
    a = attentions.mean(1) if reduce == "mean" else attentions.amax(1)
    eye = torch.eye(a.shape[-1], dtype=a.dtype)
    if residual:
        a = 0.5 * a + 0.5 * eye if normalise else a + eye
    if normalise:
        a = a / a.sum(-1, keepdim=True)
    if last_only:
        return a[-1]
    out = eye
    for layer in (a if order == "bottom_up" else a.flip(0)):
        out = layer @ out
    return out


def _random_attention(g, L: int, H: int, T: int, sharp: float = 2.0) -> torch.Tensor:
    return torch.softmax(sharp * torch.randn(L, H, T, T, generator=g), -1)


@exercise_check
def check_attention_rollout(fn) -> CheckResult:
    """``fn(attentions L×H×T×T) -> T×T``: Â_l = ½·mean_h A_l + ½·I (rows renormalised), Ã = Â_{L−1} ··· Â_0."""
    from ..text import attention_rollout
    g = generator(41)
    heads_differ = torch.zeros(2, 2, 3, 3)
    heads_differ[:, 0, :, 0] = 1.0                 # head 0 reads token 0, head 1 token 2
    heads_differ[:, 1, :, 2] = 1.0
    shift = torch.zeros(3, 1, 4, 4)                # every layer: token i reads token i + 1 (the last reads itself)
    for i in range(4):
        shift[:, 0, i, min(i + 1, 3)] = 1.0
    cases = [
        Case("6 layers × 4 heads, 7 tokens, random attention", (_random_attention(g, 6, 4, 7),)),
        Case("3 layers × 1 head, 4 tokens, each token reads its right neighbour", (shift,),
             note="the layers are the same, so only the residual and the normalisation matter here"),
        Case("2 layers × 2 heads, 3 tokens: head 0 reads token 0, head 1 token 2", (heads_differ,)),
        Case("1 layer × 3 heads, 5 tokens (rollout = Â of that layer)", (_random_attention(g, 1, 3, 5),)),
        Case("4 layers × 2 heads, 6 tokens, peaky attention", (_random_attention(g, 4, 2, 6, sharp=5.0),)),
    ]
    mistakes = {
        "you forgot the residual connection: Â = ½·A + ½·I (the identity is each token keeping its own "
        "vector), not A alone": lambda a: _rollout(a, residual=False),
        "you multiplied in the wrong order: the bottom layer acts first, Ã = Â_{L−1} ··· Â_1 Â_0 "
        "(new = Â_l @ rollout, not rollout @ Â_l)": lambda a: _rollout(a, order="top_down"),
        "you added the identity without renormalising: A + I has rows summing to 2; use ½·A + ½·I "
        "(or divide each row by its sum)": lambda a: _rollout(a, normalise=False),
        "you took the maximum over heads; rollout averages the heads (mean over dim 1)":
            lambda a: _rollout(a, reduce="max"),
        "that is only the top layer's Â: rollout multiplies the Â of every layer":
            lambda a: _rollout(a, last_only=True),
        "the result is transposed: row i (a top-layer token) must sum to 1 over the input tokens j":
            lambda a: _rollout(a).T,
    }
    return run_check("check_attention_rollout", fn, attention_rollout, cases, mistakes=mistakes,
                     hint="a = attentions.mean(1); a = 0.5 * a + 0.5 * torch.eye(T); a = a / a.sum(-1, keepdim=True); "
                          "rollout = a[0]; for layer in a[1:]: rollout = layer @ rollout")
