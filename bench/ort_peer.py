"""The best plain ONNX Runtime int8 graph of a GPT-2 checkpoint: the peer bench_engine.py measures.

    python bench/ort_peer.py CHECKPOINT_DIR OUT_DIR [--quant dynamic|nbits]

What someone gets from ONNX Runtime's own tools, well used: ``torch.onnx.export`` of the PyTorch
model with its cache as inputs and outputs (a new cache returned by every step), the language
model head untied (its own matrix, so that it is quantized like the others) and only the last
position's logits, then onnxruntime.transformers' optimizer (model_type "gpt2": it fuses
LayerNormalization, SkipLayerNormalization and FastGelu, but recognises none of this export's
attention, which stays MatMul and Softmax; peer.json lists what it fused), then int8 weights.

Of the two int8 recipes, ``quantize_dynamic`` (``--quant dynamic``: MatMulInteger with int8
weights, one scale per matrix, the embedding table too) is the peer: on a 2-core AMD EPYC it
decoded as fast as MatMulNBits (``--quant nbits``: 8 bits in blocks of 32, int8 activations,
accuracy_level 4; 0.98x at 64 tokens of context, 1.07x at 512) and its time to first token was
0.56x MatMulNBits' at 64 tokens and 0.88x at 512. Runs with torch (a subprocess of the benchmark).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.gpt2 import GPT2
from model.hf import load_gpt2

GRAPH = "peer.int8.onnx"
LABEL = "ORT plain int8"
NBITS_BLOCK = 32


class _Untied(torch.nn.Module):
    """GPT-2 with the cache flattened into inputs and outputs and a head of its own."""

    def __init__(self, model: GPT2):
        super().__init__()
        self.m = model
        self.head = torch.nn.Parameter(model.wte.weight.detach().t().contiguous().clone())

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, *past: torch.Tensor) -> tuple:
        pkv = [(past[2 * i], past[2 * i + 1]) for i in range(len(past) // 2)]
        x, presents = self.m.hidden_states(input_ids, pkv, position_ids)
        logits = self.m.ln_f(x[:, -1, :]) @ self.head
        return (logits, *[t for kv in presents for t in kv])


def export_fp32(model: GPT2, path: Path) -> None:
    cfg = model.config
    n = cfg.n_layer
    names_in = ["input_ids", "position_ids"] + [f"past_key_values.{i}.{k}" for i in range(n) for k in ("key", "value")]
    names_out = ["logits"] + [f"present.{i}.{k}" for i in range(n) for k in ("key", "value")]
    dynamic = {"input_ids": {0: "batch", 1: "sequence"}, "position_ids": {0: "batch", 1: "sequence"},
               "logits": {0: "batch"}}
    dynamic.update({name: {0: "batch", 2: "past"} for name in names_in[2:]})
    dynamic.update({name: {0: "batch", 2: "total"} for name in names_out[1:]})
    example = (torch.zeros(1, 2, dtype=torch.long), torch.tensor([[3, 4]]),
               *[torch.zeros(1, cfg.n_head, 3, cfg.head_dim) for _ in range(2 * n)])
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Untied(model).eval(), example, str(path), input_names=names_in, output_names=names_out,
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)


def fuse(src: Path, dst: Path, model: GPT2) -> dict:
    """onnxruntime.transformers' optimizer; the fused operators it reports."""
    from onnxruntime.transformers.optimizer import optimize_model

    cfg = model.config
    fused = optimize_model(str(src), model_type="gpt2", num_heads=cfg.n_head, hidden_size=cfg.n_embd)
    fused.save_model_to_file(str(dst))
    return {k: v for k, v in fused.get_fused_operator_statistics().items() if v}


def quantize(src: Path, dst: Path, recipe: str) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    if recipe == "dynamic":
        # The fused operators are outside the standard domain, so shape inference cannot type them.
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        return
    config = DefaultWeightOnlyQuantConfig(block_size=NBITS_BLOCK, is_symmetric=True, accuracy_level=4, bits=8)
    quantizer = MatMulNBitsQuantizer(str(src), algo_config=config)
    quantizer.process()
    quantizer.model.save_model_to_file(str(dst))


def build(checkpoint: Path, out: Path, recipe: str = "dynamic") -> None:
    out.mkdir(parents=True, exist_ok=True)
    model = load_gpt2(checkpoint).eval()
    plain, fused = out / "peer.fp32.onnx", out / "peer.fused.fp32.onnx"
    export_fp32(model, plain)
    stats = fuse(plain, fused, model)
    quantize(fused, out / GRAPH, recipe)
    for path in (plain, fused):
        path.unlink()
    (out / "peer.json").write_text(json.dumps({"quantization": recipe, "fused": stats}, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--quant", choices=("dynamic", "nbits"), default="dynamic")
    args = ap.parse_args(argv)
    build(args.checkpoint, args.out, args.quant)
    return 0


if __name__ == "__main__":
    sys.exit(main())
