"""A GPT-2 Hugging Face checkpoint as a GGUF file with Q8_0 weights, for llama.cpp.

    python bench/gguf_gpt2.py CHECKPOINT_DIR OUT.gguf [--type q8_0|f32]

llama.cpp's own converter (convert_hf_to_gguf.py) is not part of the llama-cpp-python wheel, so
the benchmark writes the file itself, with the ``gguf`` package (the bench extra), following that
converter's GPT-2 class: Conv1D weights transposed to [out, in], norms, biases and the position
table in float32, every other matrix (the token table and the output head included) in the
chosen type. numpy and safetensors only: the bench process stays torch-free.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import gguf
import numpy as np
from safetensors.numpy import load_file

TOKENIZER = Path(__file__).resolve().parent.parent / "resources" / "tokenizer" / "gpt2"
EOT = "<|endoftext|>"
T = gguf.MODEL_TENSOR
# Hugging Face names (after "transformer.") -> GGUF tensors; blocks are "h.N." + these.
_BLOCK = {"ln_1": T.ATTN_NORM, "attn.c_attn": T.ATTN_QKV, "attn.c_proj": T.ATTN_OUT,
          "ln_2": T.FFN_NORM, "mlp.c_fc": T.FFN_UP, "mlp.c_proj": T.FFN_DOWN}
_TOP = {"wte": T.TOKEN_EMBD, "wpe": T.POS_EMBD, "ln_f": T.OUTPUT_NORM}
# GPT-2's Conv1D stores [in, out]; ggml wants nn.Linear's [out, in].
_CONV1D = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
TYPES = {"q8_0": (gguf.GGMLQuantizationType.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
         "f32": (gguf.GGMLQuantizationType.F32, gguf.LlamaFileType.ALL_F32)}


def gguf_tensors(tensors: dict[str, np.ndarray], n_layer: int) -> Iterator[tuple[str, np.ndarray]]:
    """(GGUF name, float32 array in ggml's layout) for every tensor llama.cpp's GPT-2 reads."""
    tensors = {k.removeprefix("transformer."): v for k, v in tensors.items()}
    for hf, kind in _TOP.items():
        yield from _pair(tensors, hf, gguf.TENSOR_NAMES[kind])
    for i in range(n_layer):
        for hf, kind in _BLOCK.items():
            yield from _pair(tensors, f"h.{i}.{hf}", gguf.TENSOR_NAMES[kind].format(bid=i), transpose=hf in _CONV1D)
    # An untied head keeps its own matrix; a tied one (GPT-2's) is written out as a copy, as
    # llama.cpp's converter does, so that the file is complete on its own.
    head = tensors.get("lm_head.weight", tensors["wte.weight"])
    yield gguf.TENSOR_NAMES[T.OUTPUT] + ".weight", np.asarray(head, dtype=np.float32)


def _pair(tensors: dict[str, np.ndarray], hf: str, name: str, transpose: bool = False) -> Iterator[tuple[str, np.ndarray]]:
    for part in ("weight", "bias"):
        if f"{hf}.{part}" in tensors:
            value = np.asarray(tensors[f"{hf}.{part}"], dtype=np.float32)
            yield f"{name}.{part}", np.ascontiguousarray(value.T) if transpose and part == "weight" else value


def tensor_type(name: str, value: np.ndarray, wanted: gguf.GGMLQuantizationType) -> gguf.GGMLQuantizationType:
    """llama.cpp's rule: vectors, norms and the position table stay float32."""
    if value.ndim <= 1 or name.startswith(gguf.TENSOR_NAMES[T.POS_EMBD]) or "_norm." in name:
        return gguf.GGMLQuantizationType.F32
    return wanted


def vocabulary(folder: Path = TOKENIZER) -> tuple[list[str], list[int], list[str]]:
    """GPT-2's tokens (in id order), their types and its merges, from OpenAI's own files."""
    encoder: dict[str, int] = json.loads((folder / "encoder.json").read_text(encoding="utf-8"))
    tokens = sorted(encoder, key=encoder.__getitem__)
    if [encoder[t] for t in tokens] != list(range(len(tokens))):
        raise ValueError(f"{folder / 'encoder.json'}: token ids are not 0..{len(tokens) - 1}")
    types = [gguf.TokenType.CONTROL if t == EOT else gguf.TokenType.NORMAL for t in tokens]
    lines = (folder / "vocab.bpe").read_text(encoding="utf-8").splitlines()
    merges = [line for line in lines if line and not line.startswith("#version")]
    return tokens, [int(t) for t in types], merges


def convert(checkpoint: Path, out: Path, kind: str = "q8_0", name: str = "gpt2-random") -> Path:
    config = json.loads((checkpoint / "config.json").read_text(encoding="utf-8"))
    n_embd, n_layer = config["n_embd"], config["n_layer"]
    qtype, ftype = TYPES[kind]
    tokens, types, merges = vocabulary()
    if config["vocab_size"] != len(tokens):
        raise ValueError(f"{checkpoint}: vocab_size {config['vocab_size']} is not GPT-2's {len(tokens)}")
    writer = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.GPT2])
    writer.add_name(name)
    writer.add_block_count(n_layer)
    writer.add_context_length(config["n_positions"])
    writer.add_embedding_length(n_embd)
    writer.add_feed_forward_length(config.get("n_inner") or 4 * n_embd)
    writer.add_head_count(config["n_head"])
    writer.add_layer_norm_eps(config.get("layer_norm_epsilon", 1e-5))
    writer.add_file_type(ftype)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    eot = tokens.index(EOT)
    writer.add_bos_token_id(eot)
    writer.add_eos_token_id(eot)
    writer.add_add_bos_token(False)  # GPT-2 prompts start with their first word, as Inkwell sends them
    for tensor_name, value in gguf_tensors(load_file(str(checkpoint / "model.safetensors")), n_layer):
        dtype = tensor_type(tensor_name, value, qtype)
        writer.add_tensor(tensor_name, gguf.quants.quantize(value, dtype), raw_dtype=dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--type", choices=sorted(TYPES), default="q8_0")
    args = ap.parse_args(argv)
    convert(args.checkpoint, args.out, args.type)
    return 0


if __name__ == "__main__":
    sys.exit(main())
