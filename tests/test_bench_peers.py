"""bench/gguf_gpt2.py: a GPT-2 checkpoint as llama.cpp reads it (the peer bench_engine.py --peers runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf", reason="the bench extra is not installed (pip install -e '.[bench]')")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import gguf_gpt2  # noqa: E402 - bench/ is no package

Q8_0, F32 = gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.F32


@pytest.fixture(scope="module")
def tiny_tensors(tiny_hf_dir):
    """The tiny model's tensors as the converter writes them: name -> (array, GGUF type)."""
    from safetensors.numpy import load_file

    n_layer = json.loads((tiny_hf_dir / "config.json").read_text())["n_layer"]
    return {name: (value, gguf_gpt2.tensor_type(name, value, Q8_0))
            for name, value in gguf_gpt2.gguf_tensors(load_file(str(tiny_hf_dir / "model.safetensors")), n_layer)}


def test_names_shapes_and_types(tiny_hf_dir, tiny_tensors):
    cfg = json.loads((tiny_hf_dir / "config.json").read_text())
    d, n_layer, vocab = cfg["n_embd"], cfg["n_layer"], cfg["vocab_size"]
    # numpy's order, [out, in] for a matrix (ggml lists it reversed)
    expected = {"token_embd.weight": (vocab, d), "position_embd.weight": (cfg["n_positions"], d),
                "output_norm.weight": (d,), "output_norm.bias": (d,), "output.weight": (vocab, d)}
    for i in range(n_layer):
        for name, shape in (("attn_norm", (d,)), ("attn_qkv", (3 * d, d)), ("attn_output", (d, d)),
                            ("ffn_norm", (d,)), ("ffn_up", (4 * d, d)), ("ffn_down", (d, 4 * d))):
            expected[f"blk.{i}.{name}.weight"] = shape
            expected[f"blk.{i}.{name}.bias"] = shape[:1]
    assert {name: value.shape for name, (value, _) in tiny_tensors.items()} == expected
    # Every name is one llama.cpp's GPT-2 knows.
    known = {gguf.TENSOR_NAMES[t].format(bid=0) for t in gguf.MODEL_TENSORS[gguf.MODEL_ARCH.GPT2]}
    assert {name.rsplit(".", 1)[0].replace("blk.1.", "blk.0.") for name in expected} == known
    for name, (value, qtype) in tiny_tensors.items():
        matrix = value.ndim == 2 and not name.startswith("position_embd")
        assert qtype == (Q8_0 if matrix else F32), name


def test_conv1d_weights_are_transposed(tiny_hf_dir, tiny_tensors):
    """GPT-2 stores Conv1D weights [in, out]; llama.cpp reads nn.Linear's [out, in]."""
    from safetensors.numpy import load_file

    source = load_file(str(tiny_hf_dir / "model.safetensors"))
    for hf, name in (("h.0.attn.c_attn", "blk.0.attn_qkv"), ("h.1.mlp.c_proj", "blk.1.ffn_down")):
        np.testing.assert_array_equal(tiny_tensors[f"{name}.weight"][0], source[f"transformer.{hf}.weight"].T)
        np.testing.assert_array_equal(tiny_tensors[f"{name}.bias"][0], source[f"transformer.{hf}.bias"])
    np.testing.assert_array_equal(tiny_tensors["output.weight"][0], source["transformer.wte.weight"])  # tied


def test_vocabulary():
    tokens, types, merges = gguf_gpt2.vocabulary()
    assert len(tokens) == len(types) == 50257
    assert tokens[50256] == "<|endoftext|>" and types[50256] == gguf.TokenType.CONTROL
    assert tokens[262] == "\u0120the" and types[262] == gguf.TokenType.NORMAL
    assert merges[0] == "\u0120 t" and len(merges) == 50000


def test_llama_cpp_computes_the_same_model(tiny_hf_dir, tmp_path):
    """The float32 file through llama.cpp gives PyTorch's logits (Q8_0 only adds rounding)."""
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the bench extra)")
    import torch

    from model.hf import load_gpt2

    ids = [464, 2068, 7586, 21831, 18045, 625, 262, 16931]
    with torch.inference_mode():
        want = load_gpt2(tiny_hf_dir).eval()(torch.tensor([ids]))[0][0].numpy()
    for kind, atol in (("f32", 1e-3), ("q8_0", 0.05)):
        path = gguf_gpt2.convert(tiny_hf_dir, tmp_path / f"tiny.{kind}.gguf", kind)
        llm = llama_cpp.Llama(str(path), n_ctx=64, n_threads=1, logits_all=True, verbose=False)
        llm.eval(ids)
        np.testing.assert_allclose(llm.scores[: len(ids)], want, atol=atol, err_msg=kind)
