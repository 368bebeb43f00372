"""Inkwell's ONNX decoder graph for GPT-2, written straight from the weights.

The graph is built from ONNX Runtime's fused transformer operators rather than traced from
PyTorch: one ``GroupQueryAttention`` per layer (causal, query/key/value packed, as many key/value
heads as query heads), ``SkipLayerNormalization`` for residual + LayerNorm + bias, ``FastGelu``
with the bias folded in. Decoding one token runs about nine kernels per layer instead of the ~40
of a traced graph, and kernel launches, not arithmetic, dominate a single-token step of a small
model. GroupQueryAttention (unlike MultiHeadAttention) can write the new keys and values into
the past buffer itself when the caller binds the same buffer as past and present: the cache
then stays in one fixed-size buffer instead of being copied into a new one at every step, which
at 512 tokens of context is most of the memory traffic of a step. The export checks every graph
it builds against the PyTorch model (``model.export``), so this second description of GPT-2
cannot drift from the first unnoticed.

Interface (docs/architecture.md): inputs ``input_ids``, ``position_ids`` int64 [batch, seq] and
``past_key_values.{i}.key/value`` [batch, n_head, past or capacity, head_dim]; outputs ``logits``
float32 [batch, vocab] for the last position only and ``present.{i}.key/value``. Batch, seq and
past are dynamic, and past may be 0. Rows hold positions 0..n-1, so each row's cache length is its
last position id + 1; a past buffer may be longer (a fixed-size cache), and what lies beyond that
length is ignored. Several new tokens after a non-empty past need batch 1 (an ONNX Runtime rule).

Variants:
- ``fp32``: the reference.
- ``int8``: every projection and the tied embedding/LM head hold 8-bit weights with one float
  scale per block of inputs (symmetric); activations are quantized on the fly (see
  ``QuantOptions``). The embedding lookup reads the same 8-bit matrix as the LM head, so the
  largest tensor of a small GPT-2 is stored once, at a quarter of its fp32 size.
- ``fp16``: weights, activations and KV cache in float16 (for CUDA); logits stay float32.

Torch-free: it takes numpy arrays named like ``model.gpt2.GPT2``'s state dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
EXTERNAL_DATA_BYTES = 1_800_000_000
MS_DOMAIN = "com.microsoft"
VARIANTS = ("fp32", "int8", "fp16")


@dataclass(frozen=True)
class GraphSpec:
    n_layer: int
    n_head: int
    n_embd: int
    vocab_size: int
    n_positions: int
    layer_norm_epsilon: float = 1e-5


@dataclass(frozen=True)
class QuantOptions:
    """How the int8 variant quantizes weights.

    ``kernel="nbits"`` (the default): ``MatMulNBits`` with 8-bit weights, one scale per block of
    ``block_size`` inputs of each output, activations quantized per block on the fly
    (accuracy_level 4, int8 dot products). Measured on a 2-core AVX512-VNNI machine with GPT-2
    124M: a decode step costs ~27% less CPU than ``DynamicQuantizeMatMul`` and agrees with
    PyTorch more often (finer scales); a long prefill costs ~35% more. Suggestions are mostly
    decode steps (the engine reuses the cache of the text before the cursor), so decode wins.
    A second graph for prompts (per-channel weights requantized from the 8-bit blocks, shared
    cache) was measured and left out: on an AMD EPYC it made a 64-token chunk 1.23x faster with
    activations quantized per token (MatMulInteger) and 1.29x with DynamicQuantizeMatMul (one
    scale per tensor), but the bundled model's top-1 agreement with fp32 fell from 98.1% to
    96.8% and 95.9% (1,000 held-out prompts), and it would hold the weights twice.

    ``kernel="dq"``: ``DynamicQuantizeMatMul``, one scale per output channel, what onnxruntime's
    ``quantize_dynamic`` produces; kept for comparison in the benchmark. ``reduce_range`` (7-bit
    weights) only applies to it: CPUs without VNNI can saturate its u8*s8 multiply-adds.
    """

    kernel: str = "nbits"
    block_size: int = 128
    reduce_range: bool = False
    kv_cache: str = "float"  # or "int8": see build_graph's note on the cache


def shape_problem(n_embd: int, n_head: int) -> str | None:
    """Why the graph cannot be built for this width and head count, or None. ONNX Runtime's
    GroupQueryAttention needs a head size that is a multiple of 8 (every GPT-2 size has 64)."""
    if n_head < 1 or n_embd % n_head:
        return f"n_embd ({n_embd}) must be divisible by n_head ({n_head})"
    if (n_embd // n_head) % 8:
        return (f"the head size n_embd / n_head = {n_embd // n_head} is not a multiple of 8, "
                "which ONNX Runtime's attention kernel needs")
    return None


def input_names(n_layer: int) -> list[str]:
    names = ["input_ids", "position_ids"]
    for i in range(n_layer):
        names += [f"past_key_values.{i}.key", f"past_key_values.{i}.value"]
    return names


def output_names(n_layer: int) -> list[str]:
    names = ["logits"]
    for i in range(n_layer):
        names += [f"present.{i}.key", f"present.{i}.value"]
    return names


def quantize_columns(w: np.ndarray, reduce_range: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 quantization of ``w`` [K, N] with one scale per column (output channel)."""
    qmax = 63.0 if reduce_range else 127.0
    amax = np.abs(w).max(axis=0)
    scale = np.where(amax > 0, amax / qmax, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale), -qmax, qmax).astype(np.int8)
    return q, scale


def block_size_for(n_embd: int, largest: int = 128) -> int:
    """The largest power-of-two block (16..``largest``) that divides ``n_embd`` (and so the MLP's
    4*n_embd): no padded blocks. 16 (with padding) if none does."""
    size = largest
    while size > 16 and n_embd % size:
        size //= 2
    return size


def quantize_blocks(w: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """MatMulNBits' 8-bit layout for ``w`` [N, K]: uint8 [N, ceil(K/block), block] with the
    default zero point 128 (symmetric), one scale per block."""
    n, k = w.shape
    nb = -(-k // block)
    if nb * block != k:  # the last block is padded with zeros
        w = np.concatenate([w, np.zeros((n, nb * block - k), w.dtype)], axis=1)
    blocks = w.reshape(n, nb, block)
    amax = np.abs(blocks).max(axis=-1)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(blocks / scale[..., None]), -127, 127) + 128
    return q.astype(np.uint8), scale


class _Builder:
    def __init__(self, variant: str, quant: QuantOptions):
        self.variant = variant
        self.quant = quant
        self.float_type = TensorProto.FLOAT16 if variant == "fp16" else TensorProto.FLOAT
        self.np_float = np.float16 if variant == "fp16" else np.float32
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0
        self._names: set[str] = set()

    def const(self, name: str, array: np.ndarray) -> str:
        if name not in self._names:  # small shared constants (axes, shapes) are asked for twice
            self._names.add(name)
            self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def weight(self, name: str, array: np.ndarray) -> str:
        return self.const(name, array.astype(self.np_float))

    def op(self, op_type: str, inputs: list[str], outputs: int | list[str] = 1,
           domain: str = "", **attrs: Any) -> list[str]:
        self._count += 1
        tag = f"{op_type}_{self._count}"
        if isinstance(outputs, int):
            outputs = [f"{tag}_out{j}" for j in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=tag, domain=domain, **attrs))
        return outputs

    def nbits(self, x: str, weight: np.ndarray, name: str, bias: str = "") -> str:
        blob, scale = quantize_blocks(weight, self.quant.block_size)
        n, k = weight.shape
        inputs = [x, self.const(name + ".q", blob), self.const(name + ".scale", scale)]
        if bias:  # inputs 3 and 4 (zero points, group index) stay empty
            inputs += ["", "", bias]
        return self.op("MatMulNBits", inputs, 1, domain=MS_DOMAIN, K=k, N=n, bits=8,
                       block_size=self.quant.block_size, accuracy_level=4)[0]

    def linear(self, x: str, weight: np.ndarray, name: str, bias: str = "") -> str:
        """``x @ weight.T`` for an nn.Linear weight [out, in], plus ``bias`` when given (else the
        consumer folds the bias into its own kernel)."""
        if self.variant == "int8" and self.quant.kernel == "nbits":
            return self.nbits(x, weight, name, bias)
        if self.variant == "int8":
            q, scale = quantize_columns(weight.T, self.quant.reduce_range)
            inputs = [x, self.const(name + ".q", q), self.const(name + ".scale", scale)]
            return self.op("DynamicQuantizeMatMul", inputs + (["", bias] if bias else []), domain=MS_DOMAIN)[0]
        y = self.op("MatMul", [x, self.weight(name, weight.T)])[0]
        return self.op("Add", [y, bias])[0] if bias else y


def build_graph(spec: GraphSpec, weights: dict[str, np.ndarray], variant: str = "fp32",
                quant: QuantOptions = QuantOptions(), name: str = "inkwell-gpt2") -> onnx.ModelProto:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} (expected one of {', '.join(VARIANTS)})")
    problem = shape_problem(spec.n_embd, spec.n_head)
    if problem:
        raise ValueError(problem)
    g = _Decoder(spec, weights, variant, quant)
    h, x = g.embeddings()
    lengths = g.cache_lengths()
    for i in range(spec.n_layer):
        last = i == spec.n_layer - 1
        h, x = g.attention(i, h, x, lengths, last)
        h, x = g.mlp(i, h, x, last)
    g.head(h)
    return g.model(name)


class _Decoder:
    """GPT-2's decoder graph, one method per block; ``build_graph`` calls them in graph order,
    which also fixes the node names, so one checkpoint always gives the same graph."""

    def __init__(self, spec: GraphSpec, weights: dict[str, np.ndarray], variant: str, quant: QuantOptions):
        self.b = _Builder(variant, quant)
        self.spec, self.w, self.variant, self.quant = spec, weights, variant, quant
        self.n_head, self.head_dim = spec.n_head, spec.n_embd // spec.n_head
        self.eps = float(spec.layer_norm_epsilon)
        self.nbits = variant == "int8" and quant.kernel == "nbits"
        # An int8 cache (int8 variant, quant.kv_cache "int8") holds keys and values in 8 bits with
        # one fixed scale per head channel, calibrated at export (core/cache_calibration.py: the
        # scales are h.{i}.attn.k_scale / v_scale in ``weights``). At long context the cache, not
        # the weights, is what a decode step reads most; GroupQueryAttention quantizes new entries
        # as it writes them. The price is paid at prefill: there its attention takes about twice
        # the float cache's time (GPT-2 124M, a 512-token prompt in 64-token chunks: 204 against
        # 91 ms of ORT's profile, ~20% of the prompt's time).
        self.int8_cache = variant == "int8" and quant.kv_cache == "int8"
        self.token_table: list[str] = []  # the token embedding as stored: the LM head reads it too

    def ln(self, prefix: str) -> tuple[str, str]:
        w = self.w
        return (self.b.weight(prefix + ".weight", w[prefix + ".weight"]),
                self.b.weight(prefix + ".bias", w[prefix + ".bias"]))

    def bias(self, name: str) -> str:
        return self.b.weight(name, self.w[name])

    def skip_ln(self, a: str, x: str, ln_prefix: str, bias: str | None = None) -> tuple[str, str]:
        """SkipLayerNormalization returns LN(a + x + bias) and, as its 4th output, the sum itself:
        the residual stream. Returns (normalized, residual)."""
        g, beta = self.ln(ln_prefix)
        inputs = [a, x, g, beta] + ([self.bias(bias)] if bias else [])
        h, _, _, x = self.b.op("SkipLayerNormalization", inputs, 4, domain=MS_DOMAIN, epsilon=self.eps)
        return h, x

    def embeddings(self) -> tuple[str, str]:
        """Token plus position embeddings, normalized by the first block's ln_1."""
        b = self.b
        tok = self._tokens()
        pos = b.op("Gather", [b.weight("wpe.weight", self.w["wpe.weight"]), "position_ids"])[0]
        h, x = self.skip_ln(tok, pos, "h.0.ln_1")
        self.seq_last = b.const("slice_last", np.array([-1], np.int64))
        self.seq_end = b.const("slice_end", np.array([np.iinfo(np.int64).max], np.int64))
        self.axis_seq = b.const("axis_seq", np.array([1], np.int64))
        return h, x

    def _tokens(self) -> str:
        """The token embeddings. In int8 the LM head's quantized matrix serves the lookup too:
        gather the token's rows (or columns, in the per-channel layout) and scale them."""
        b, w, spec, quant = self.b, self.w, self.spec, self.quant
        if self.nbits:
            blob, bscale = quantize_blocks(w["wte.weight"], quant.block_size)
            self.token_table = [b.const("wte.weight.q", blob), b.const("wte.weight.scale", bscale)]
            rows = b.op("Gather", [self.token_table[0], "input_ids"])[0]  # [batch, seq, blocks, block]
            rows = b.op("Cast", [rows], to=TensorProto.FLOAT)[0]
            rows = b.op("Sub", [rows, b.const("zero_point", np.array(128, np.float32))])[0]
            scales = b.op("Gather", [self.token_table[1], "input_ids"])[0]
            scales = b.op("Unsqueeze", [scales, b.const("axis_last", np.array([-1], np.int64))])[0]
            rows = b.op("Mul", [rows, scales])[0]
            tok = b.op("Reshape", [rows, b.const("shape_bsd", np.array([0, 0, -1], np.int64))])[0]
            if blob.shape[1] * blob.shape[2] != spec.n_embd:  # drop the padding of the last block
                tok = b.op("Slice", [tok, b.const("zero", np.array([0], np.int64)),
                                     b.const("n_embd", np.array([spec.n_embd], np.int64)),
                                     b.const("axis_last", np.array([-1], np.int64))])[0]
            return tok
        if self.variant == "int8":
            wte_q, wte_scale = quantize_columns(w["wte.weight"].T, quant.reduce_range)
            self.token_table = [b.const("wte.q", wte_q), b.const("wte.scale", wte_scale)]
            cols = b.op("Gather", [self.token_table[0], "input_ids"], axis=1)[0]  # [n_embd, batch, seq]
            cols = b.op("Cast", [cols], to=TensorProto.FLOAT)[0]
            tok = b.op("Transpose", [cols], perm=[1, 2, 0])[0]
            scales = b.op("Gather", [self.token_table[1], "input_ids"])[0]
            scales = b.op("Unsqueeze", [scales, b.const("axis_last", np.array([-1], np.int64))])[0]
            return b.op("Mul", [tok, scales])[0]
        self.token_table = [b.weight("wte.weight", w["wte.weight"])]
        return b.op("Gather", [self.token_table[0], "input_ids"])[0]

    def cache_lengths(self) -> tuple[str, str]:
        """GroupQueryAttention wants each row's length minus one (int32) and the longest length.
        A row holds positions 0..n-1, so both follow from the last position id."""
        b = self.b
        last_pos = b.op("Gather", ["position_ids", b.const("minus_one", np.array(-1, np.int64))], axis=1)[0]
        seqlens_k = b.op("Cast", [last_pos], to=TensorProto.INT32)[0]
        longest = b.op("ReduceMax", [seqlens_k], keepdims=0)[0]
        total_len = b.op("Add", [longest, b.const("one_i32", np.array(1, np.int32))])[0]
        return seqlens_k, total_len

    def attention(self, i: int, h: str, x: str, lengths: tuple[str, str], last: bool) -> tuple[str, str]:
        """Block ``i``'s attention, reading and writing its cache, and the residual add with ln_2."""
        b, w, p = self.b, self.w, f"h.{i}"
        qkv = b.linear(h, w[f"{p}.attn.c_attn.weight"], f"{p}.attn.c_attn.weight", self.bias(f"{p}.attn.c_attn.bias"))
        attention_in = [qkv, "", "", f"past_key_values.{i}.key", f"past_key_values.{i}.value", *lengths]
        attrs: dict[str, Any] = {}
        if self.int8_cache:
            attrs = {"k_quant_type": "PER_CHANNEL", "v_quant_type": "PER_CHANNEL", "kv_cache_bit_width": 8}
            kv_scales = [b.const(f"{p}.attn.{kind}_scale",
                                 _cache_scale(w, f"{p}.attn.{kind}_scale", self.n_head, self.head_dim))
                         for kind in ("k", "v")]
            attention_in += [""] * 5 + kv_scales  # inputs 7-11 (rotary caches, positions, bias, sink) stay empty
        out = b.op(
            "GroupQueryAttention", attention_in, [f"{p}.attn.out", f"present.{i}.key", f"present.{i}.value"],
            domain=MS_DOMAIN, num_heads=self.n_head, kv_num_heads=self.n_head, scale=float(self.head_dim ** -0.5),
            **attrs,
        )[0]
        if last:
            # Only the last position's logits leave the graph: the rest of the last layer runs
            # for one position.
            out = b.op("Slice", [out, self.seq_last, self.seq_end, self.axis_seq])[0]
            x = b.op("Slice", [x, self.seq_last, self.seq_end, self.axis_seq])[0]
        a = b.linear(out, w[f"{p}.attn.c_proj.weight"], f"{p}.attn.c_proj.weight")
        return self.skip_ln(a, x, f"{p}.ln_2", f"{p}.attn.c_proj.bias")

    def mlp(self, i: int, h: str, x: str, last: bool) -> tuple[str, str]:
        """Block ``i``'s MLP and the residual add with the next block's ln_1 (ln_f after the last)."""
        b, w, p = self.b, self.w, f"h.{i}"
        m = b.linear(h, w[f"{p}.mlp.c_fc.weight"], f"{p}.mlp.c_fc.weight")
        m = b.op("FastGelu", [m, self.bias(f"{p}.mlp.c_fc.bias")], domain=MS_DOMAIN)[0]
        m = b.linear(m, w[f"{p}.mlp.c_proj.weight"], f"{p}.mlp.c_proj.weight")
        return self.skip_ln(m, x, "ln_f" if last else f"h.{i + 1}.ln_1", f"{p}.mlp.c_proj.bias")

    def head(self, h: str) -> None:
        """The LM head, tied to the token embedding: the last position's logits."""
        b, spec = self.b, self.spec
        h = b.op("Squeeze", [h, self.axis_seq])[0]  # [batch, n_embd]
        if self.nbits:
            b.op("MatMulNBits", [h, *self.token_table], ["logits"], domain=MS_DOMAIN, K=spec.n_embd,
                 N=spec.vocab_size, bits=8, block_size=self.quant.block_size, accuracy_level=4)
        elif self.variant == "int8":
            b.op("DynamicQuantizeMatMul", [h, *self.token_table], ["logits"], domain=MS_DOMAIN)
        elif self.variant == "fp16":
            lg = b.op("Gemm", [h, self.token_table[0]], transB=1)[0]
            b.op("Cast", [lg], ["logits"], to=TensorProto.FLOAT)
        else:
            b.op("Gemm", [h, self.token_table[0]], ["logits"], transB=1)

    def model(self, name: str) -> onnx.ModelProto:
        """The graph's inputs and outputs (token and position ids in, logits out, and each
        layer's cache both ways) around the nodes built."""
        spec, n_head, head_dim = self.spec, self.n_head, self.head_dim
        kv_type = TensorProto.INT8 if self.int8_cache else self.b.float_type
        kv_shape: list[str | int] = ["batch", n_head, "past_sequence", head_dim]
        inputs = [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("position_ids", TensorProto.INT64, ["batch", "sequence"]),
        ]
        outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", spec.vocab_size])]
        present_shape: list[str | int] = ["batch", n_head, "total_sequence", head_dim]
        for i in range(spec.n_layer):
            for kind in ("key", "value"):
                inputs.append(helper.make_tensor_value_info(f"past_key_values.{i}.{kind}", kv_type, kv_shape))
                outputs.append(helper.make_tensor_value_info(f"present.{i}.{kind}", kv_type, present_shape))
        graph = helper.make_graph(self.b.nodes, name, inputs, outputs, self.b.initializers)
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid(MS_DOMAIN, 1)],
            producer_name="inkwell",
        )
        model.ir_version = 8
        return model


def _cache_scale(weights: dict[str, np.ndarray], name: str, n_head: int, head_dim: int) -> np.ndarray:
    if name not in weights:
        raise ValueError(f"an int8 cache needs the calibrated scale {name!r}")
    scale = np.asarray(weights[name], dtype=np.float32)
    if scale.shape != (n_head, head_dim) or not np.all(np.isfinite(scale)) or not np.all(scale > 0):
        raise ValueError(f"{name}: expected [{n_head}, {head_dim}] positive finite scales")
    return scale.reshape(1, n_head, 1, head_dim)


def save_graph(graph: onnx.ModelProto, path: Path) -> list[str]:
    """Write ``graph``; returns the names of any files written beside it. Protobuf cannot hold
    more than 2 GB, so the weights of large models (GPT-2 large and XL in fp32) go to
    ``<file>.data``, which onnxruntime finds next to the graph."""
    weight_bytes = sum(len(t.raw_data) for t in graph.graph.initializer)
    if weight_bytes < EXTERNAL_DATA_BYTES:
        onnx.save_model(graph, str(path))
        return []
    data = path.name + ".data"
    onnx.save_model(graph, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data, size_threshold=1024)
    return [data]
