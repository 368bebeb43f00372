"""Hugging Face's GPT-2 tensor names and layouts, torch-free (the engine reads hf/ with numpy)."""

from __future__ import annotations

# Hugging Face's Conv1D stores [in, out]; nn.Linear (and Inkwell's graph) stores [out, in].
CONV1D_SUFFIXES = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
# Buffers and the tied head that some checkpoints carry and that hold no information of their own.
IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")
IGNORED_KEYS = {"lm_head.weight"}
PREFIX = "transformer."


def gpt2_name(key: str) -> str | None:
    """``model.gpt2.GPT2``'s name for a checkpoint tensor, or None for one that carries nothing."""
    name = key[len(PREFIX):] if key.startswith(PREFIX) else key
    if name in IGNORED_KEYS or key in IGNORED_KEYS or name.endswith(IGNORED_SUFFIXES):
        return None
    return name


def is_conv1d(name: str) -> bool:
    return name.endswith(CONV1D_SUFFIXES)
