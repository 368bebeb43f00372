"""GPT-2 124M on the CPU: PyTorch against Inkwell's ONNX variants, all in one run.

    python bench/bench_core.py [--prompts 64,512] [--new 32] [--repeats 3] [--threads 2]

The model is GPT-2 124M's configuration with random weights (the same compute as the real one),
saved as a Hugging Face checkpoint and exported with ``model.export`` exactly as a user's model
would be. Each row generates ``--new`` tokens greedily after a random prompt: "prefill" is the
first call (the whole prompt, empty cache), "decode" the one-token steps after it. Rows:

- PyTorch, no cache: every step recomputes the whole sequence (what a cache saves).
- PyTorch, KV cache: ``model.gpt2.GPT2`` with its cache. The baseline of the ratios.
- ONNX fp32 / int8 / fp16: the bundle's fused graphs (GroupQueryAttention updating the cache in
  place, SkipLayerNormalization, FastGelu; int8 = MatMulNBits 8-bit blocks), run by the engine's
  ``Decoder``.
- ONNX int8 per-channel: the same fused graph with ``DynamicQuantizeMatMul`` (per-channel
  weights), the kernel that onnxruntime's ``quantize_dynamic`` produces.
- ONNX int8 plain: ``torch.onnx.export`` of the PyTorch model with its cache, then
  ``quantize_dynamic``: the usual recipe, for reference (``--no-plain`` skips it).

Threads: ONNX Runtime sessions use ``intra_op_num_threads=--threads`` (2: the laptop this is
for) and the engine's other session options (``app.engine.session.session_options``); PyTorch uses
``torch.set_num_threads(--threads)``. Each figure is
the best of ``--repeats`` runs (the median is printed beside it), because other programs on the
machine only ever make a run slower; "PyTorch, no cache" runs once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import onnxruntime as ort
import torch

from app.engine.session import Decoder, session_options
from core.config import PRESETS
from model.export import export_bundle
from model.gpt2 import GPT2
from model.hf import save_gpt2


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class OnnxRunner:
    """A graph run as the engine runs it: its session options and, for Inkwell's graphs, the cache
    updated in place (``capacity``); a graph of another contract (``capacity=None``) gets a new
    cache back from every step."""

    def __init__(self, path: Path, threads: int, n_layer: int, n_head: int, head_dim: int, kv_dtype=np.float32,
                 capacity: int | None = None):
        started = time.perf_counter()
        if capacity:
            self.decoder = Decoder(path, ["CPUExecutionProvider"], threads, n_layer, n_head, head_dim,
                                   PRESETS["gpt2"].vocab_size, capacity)
            self.session = self.decoder.session
        else:
            self.decoder = None
            self.session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
        self.load_ms = (time.perf_counter() - started) * 1e3
        self.n_layer, self.n_head, self.head_dim, self.kv_dtype = n_layer, n_head, head_dim, kv_dtype

    def _steps(self):
        """A function (ids, start) -> logits that keeps the cache between calls."""
        if self.decoder is not None:
            cache = self.decoder.new_cache()
            return lambda ids, start: self.decoder.run(ids, np.arange(start, start + ids.shape[1])[None], cache)
        past = [np.zeros((1, self.n_head, 0, self.head_dim), self.kv_dtype)] * (2 * self.n_layer)

        def step(ids, start):
            nonlocal past
            feeds = {"input_ids": ids, "position_ids": np.arange(start, start + ids.shape[1], dtype=np.int64)[None]}
            for i in range(self.n_layer):
                feeds[f"past_key_values.{i}.key"] = past[2 * i]
                feeds[f"past_key_values.{i}.value"] = past[2 * i + 1]
            logits, *past = self.session.run(None, feeds)
            return logits

        return step

    def generate(self, prompt: np.ndarray, new: int) -> tuple[float, float, list[int]]:
        step = self._steps()
        tokens: list[int] = []
        ids, start = prompt[None, :], 0
        times = []
        for _ in range(new):
            t = time.perf_counter()
            logits = step(ids, start)
            times.append(time.perf_counter() - t)
            token = int(logits[0].argmax())
            tokens.append(token)
            start += ids.shape[1]
            ids = np.array([[token]], dtype=np.int64)
        return times[0] * 1e3, (new - 1) / sum(times[1:]), tokens


class TorchRunner:
    def __init__(self, model: GPT2, cache: bool):
        self.model, self.cache = model, cache

    @torch.inference_mode()
    def generate(self, prompt: np.ndarray, new: int) -> tuple[float, float, list[int]]:
        ids = torch.from_numpy(prompt)[None]
        past = None
        tokens: list[int] = []
        times = []
        seq = ids
        for _ in range(new):
            t = time.perf_counter()
            if self.cache:
                logits, past = self.model(ids, past, last_only=True)
            else:
                logits, _ = self.model(seq, last_only=True)
            times.append(time.perf_counter() - t)
            token = int(logits[0].argmax())
            tokens.append(token)
            ids = torch.tensor([[token]])
            seq = torch.cat([seq, ids], dim=1)
        return times[0] * 1e3, (new - 1) / sum(times[1:]), tokens


def plain_int8(model: GPT2, folder: Path) -> Path:
    """torch.onnx.export (with the cache as inputs and outputs) + quantize_dynamic."""
    import warnings

    from onnxruntime.quantization import QuantType, quantize_dynamic

    cfg = model.config
    n = cfg.n_layer

    class Flat(torch.nn.Module):
        def __init__(self, m: GPT2):
            super().__init__()
            self.m = m

        def forward(self, input_ids, position_ids, *past):
            pkv = [(past[2 * i], past[2 * i + 1]) for i in range(n)]
            logits, presents = self.m(input_ids, pkv, position_ids, last_only=True)
            return (logits, *[t for kv in presents for t in kv])

    names_in = ["input_ids", "position_ids"] + [f"past_key_values.{i}.{k}" for i in range(n) for k in ("key", "value")]
    names_out = ["logits"] + [f"present.{i}.{k}" for i in range(n) for k in ("key", "value")]
    dynamic = {"input_ids": {0: "batch", 1: "sequence"}, "position_ids": {0: "batch", 1: "sequence"}, "logits": {0: "batch"}}
    dynamic.update({name: {0: "batch", 2: "past"} for name in names_in[2:]})
    dynamic.update({name: {0: "batch", 2: "total"} for name in names_out[1:]})
    example = (torch.zeros(1, 2, dtype=torch.long), torch.tensor([[3, 4]]),
               *[torch.zeros(1, cfg.n_head, 3, cfg.head_dim) for _ in range(2 * n)])
    fp32 = folder / "plain.fp32.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The wrapper must be in eval mode: the exporter applies its mode to the whole tree.
        torch.onnx.export(Flat(model).eval(), example, str(fp32), input_names=names_in, output_names=names_out,
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)
    model.eval()
    out = folder / "plain.int8.onnx"
    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8)
    return out


def per_channel_int8(model: GPT2, folder: Path) -> Path:
    import onnx

    from core.onnx_graph import GraphSpec, QuantOptions, build_graph

    cfg = model.config
    spec = GraphSpec(cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.vocab_size, cfg.n_positions, cfg.layer_norm_epsilon)
    weights = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    path = folder / "per-channel.int8.onnx"
    onnx.save_model(build_graph(spec, weights, "int8", QuantOptions(kernel="dq")), str(path))
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("--prompts", default="64,512")
    p.add_argument("--new", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-plain", action="store_true", help="skip the torch.onnx.export + quantize_dynamic row")
    p.add_argument("--keep", type=Path, help="folder to keep the exported bundle in")
    args = p.parse_args(argv)
    prompts = [int(x) for x in args.prompts.split(",")]
    torch.set_num_threads(args.threads)
    print(f"load average at start: {_load()}  ({os.cpu_count()} CPUs)", flush=True)

    torch.manual_seed(0)
    cfg = PRESETS["gpt2"]
    model = GPT2(cfg).eval()
    work = Path(tempfile.mkdtemp(prefix="inkwell-bench-"))
    try:
        hf = work / "hf"
        save_gpt2(model, hf)
        out = args.keep or work / "bundle"
        started = time.perf_counter()
        bundle = export_bundle(hf, out, name="gpt2-124m-random", hf_dtype="none", force=args.keep is not None)
        print(f"export: {time.perf_counter() - started:.1f} s", flush=True)
        for v in bundle.variants:
            info = bundle.variant_info(v)
            extra = f", top-1 agreement {info['top1_agreement']:.3f}" if "top1_agreement" in info else ""
            print(f"  {v}: {info['bytes'] / 1e6:.1f} MB{extra}")
        print(f"  fp32 max |logit diff| vs PyTorch: {bundle.manifest['provenance']['fp32_max_abs_logit_diff']:.2e}")

        shape = (cfg.n_layer, cfg.n_head, cfg.head_dim)
        ours = {"capacity": cfg.n_positions}  # Inkwell's graphs: the cache updated in place
        runners: list[tuple[str, object, int]] = [
            ("PyTorch, no cache", TorchRunner(model, cache=False), 1),
            ("PyTorch, KV cache", TorchRunner(model, cache=True), args.repeats),
            ("ONNX fp32", OnnxRunner(bundle.variant_path("fp32"), args.threads, *shape, **ours), args.repeats),
            ("ONNX fp16 (CPU)", OnnxRunner(bundle.variant_path("fp16"), args.threads, *shape, kv_dtype=np.float16, **ours),
             args.repeats),
            ("ONNX int8 per-channel", OnnxRunner(per_channel_int8(model, work), args.threads, *shape, **ours), args.repeats),
            ("ONNX int8 (bundle)", OnnxRunner(bundle.variant_path("int8"), args.threads, *shape, **ours), args.repeats),
        ]
        if not args.no_plain:
            runners.insert(2, ("ONNX int8 plain", OnnxRunner(plain_int8(model, work), args.threads, *shape), args.repeats))

        rng = np.random.default_rng(0)
        results: dict[tuple[str, int], tuple[list[float], list[float], list[int]]] = {}
        for n in prompts:
            prompt = rng.integers(0, cfg.vocab_size, size=n).astype(np.int64)
            for rep in range(args.repeats):
                # Interleaved repeats: a burst of load elsewhere hits every row alike.
                for name, runner, reps in runners:
                    if rep >= reps:
                        continue
                    if rep == 0 and isinstance(runner, OnnxRunner):
                        runner.generate(prompt[:8], 3)  # warm-up: first-run allocations
                    pf, dec, tokens = runner.generate(prompt, args.new)
                    entry = results.setdefault((name, n), ([], [], tokens))
                    entry[0].append(pf)
                    entry[1].append(dec)
            print(f"prompt {n}: done (load average {_load()})", flush=True)

        print()
        print(f"GPT-2 124M (random weights), greedy, {args.new} new tokens, {args.threads} threads; "
              f"best of {args.repeats} (median in brackets)")
        head = (f"| {'backend':<22} | {'prompt':>6} | {'prefill ms':>18} | {'decode tok/s':>18} | "
                f"{'prefill x':>9} | {'decode x':>8} | {'same tokens':>11} |")
        print(head)
        print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
        for n in prompts:
            base_pf = min(results[("PyTorch, KV cache", n)][0])
            base_dec = max(results[("PyTorch, KV cache", n)][1])
            ref_tokens = results[("PyTorch, KV cache", n)][2]
            for name, _, _ in runners:
                pfs, decs, tokens = results[(name, n)]
                same = sum(a == b for a, b in zip(tokens, ref_tokens))
                print(f"| {name:<22} | {n:>6} | {min(pfs):>8.1f} ({statistics.median(pfs):>7.1f}) | "
                      f"{max(decs):>8.1f} ({statistics.median(decs):>7.1f}) | {base_pf / min(pfs):>8.2f}x | "
                      f"{max(decs) / base_dec:>7.2f}x | {same:>5}/{len(ref_tokens):<5} |")
        print()
        print("session load ms: " + ", ".join(f"{name} {r.load_ms:.0f}" for name, r, _ in runners
                                            if isinstance(r, OnnxRunner)))
        print(f"load average at end: {_load()}")
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
