"""Engine benchmark on the GPT-2 124M configuration with random weights (same compute as GPT-2).

    python bench/bench_engine.py [--bundle DIR] [--repeats N] [--threads N]

Without --bundle it exports the model once into ~/.cache/inkwell-bench (a torch subprocess;
this process stays torch-free, like the editor). Everything is measured in one run and printed
as a table with ratios. Decode speed is the best of the repeats (the least disturbed by other
processes); latencies are medians. The llama.cpp figures are the ones measured for Q8_0 on this
machine class (quoted, llama.cpp is not installed here).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.engine import Engine, GenerationParams  # noqa: E402
from model.tokenizer import decode, encode  # noqa: E402

CACHE = Path.home() / ".cache" / "inkwell-bench"
BUNDLE = CACHE / "gpt2-124m-random"
CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "corpus" / "austen"
LLAMA_CPP_Q8_0 = {64: 200.0, 512: 158.0}  # tokens/s, quoted
TARGET_RATIO = 1.25
TARGET_KEYSTROKE_MS = 60.0

_MAKE_CHECKPOINT = """
import sys, torch
from model.config import GPT2Config
from model.gpt2 import GPT2
from model.hf import save_gpt2
torch.manual_seed(0)
save_gpt2(GPT2(GPT2Config()).eval(), sys.argv[1])
"""


def ensure_bundle() -> Path:
    if (BUNDLE / "inkwell-model.json").exists():
        return BUNDLE
    CACHE.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parent.parent
    print(f"exporting GPT-2 124M (random weights) to {BUNDLE} (once) ...", file=sys.stderr)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        subprocess.run([sys.executable, "-c", _MAKE_CHECKPOINT, tmp], check=True, cwd=root)
        subprocess.run([sys.executable, "-m", "model.export", tmp, str(BUNDLE), "--variants", "int8,fp32",
                        "--hf-dtype", "none", "--name", "gpt2-124m-random"], check=True, cwd=root)
    return BUNDLE


def context_text(n_tokens: int) -> str:
    files = sorted(CORPUS.glob("*.txt"))
    source = files[0].read_text(encoding="utf-8")[20000:120000] if files else "The quick brown fox. " * 4000
    return decode(encode(source)[:n_tokens])


def decode_rate(engine: Engine, ctx: int, repeats: int, tokens: int = 64) -> float:
    text = context_text(ctx)
    params = GenerationParams(max_new_tokens=tokens, heal=False, stop_at_eot=False, seed=0)
    rates = []
    for _ in range(repeats):
        engine.reset()
        rates.append(engine.generate(text, params).decode_tokens_per_s)
    return max(rates)


def bare_rate(engine: Engine, ctx: int, repeats: int, tokens: int = 64) -> float:
    """The graph alone: a plain loop over the same session, greedy, no sampling or streaming."""
    dec = engine.decoder
    ids = encode(context_text(ctx))[:ctx]
    best = 0.0
    for _ in range(repeats):
        logits, cache = dec.run(np.array([ids]), np.arange(len(ids))[None], dec.empty_cache())
        start = time.perf_counter()
        for i in range(tokens):
            token = np.argmax(logits, axis=-1)[:, None]
            logits, cache = dec.run(token, np.array([[len(ids) + i]]), cache)
        best = max(best, tokens / (time.perf_counter() - start))
    return best


def keystroke_ms(engine: Engine, repeats: int, reuse: bool) -> float:
    """Add one character to a 512-token context; time until an 8-token suggestion is complete."""
    text = context_text(512)
    params = GenerationParams(max_new_tokens=8, stop_at_eot=False, seed=0)
    engine.reset()
    engine.generate(text, params)
    times = []
    for char in "theandwhenshewas"[:max(repeats, 5)]:
        text += char
        if not reuse:
            engine.reset()
        times.append(engine.generate(text, params).total_ms)
    return statistics.median(times)


def alternatives_ms(engine: Engine, repeats: int, batched: bool, n: int = 3, tokens: int = 16) -> float:
    text = context_text(512)
    times = []
    for r in range(repeats):
        engine.generate(text, GenerationParams(max_new_tokens=1))  # the context is in the cache
        start = time.perf_counter()
        if batched:
            engine.generate(text, GenerationParams(max_new_tokens=tokens, num_alternatives=n, stop_at_eot=False,
                                                   seed=r))
        else:
            for i in range(n):
                engine.generate(text, GenerationParams(max_new_tokens=tokens, stop_at_eot=False, seed=r * n + i))
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, help="an exported bundle (default: GPT-2 124M random, cached)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    bundle = args.bundle or ensure_bundle()
    load_before = os.getloadavg()[0]
    int8 = Engine.load(bundle, provider="cpu", threads=args.threads, variant="int8")
    rows = []
    r = args.repeats
    d64, d512 = decode_rate(int8, 64, r), decode_rate(int8, 512, r)
    for ctx, value in ((64, d64), (512, d512)):
        base = LLAMA_CPP_Q8_0[ctx]
        rows.append((f"decode tok/s, {ctx} ctx, int8", f"{value:.1f}", f"llama.cpp Q8_0 {base:.0f} (quoted)",
                     f"{value / base:.2f}x", f">= {TARGET_RATIO}x"))
    bare = bare_rate(int8, 64, r)
    rows.append(("decode tok/s, 64 ctx, int8", f"{d64:.1f}", f"bare ORT loop {bare:.1f}", f"{d64 / bare:.2f}x",
                 "engine overhead"))
    if "fp32" in bundle_variants(bundle):
        fp32 = Engine.load(bundle, provider="cpu", threads=args.threads, variant="fp32")
        f64 = decode_rate(fp32, 64, r)
        rows.append(("decode tok/s, 64 ctx, int8", f"{d64:.1f}", f"fp32 variant {f64:.1f}", f"{d64 / f64:.2f}x", ""))
        del fp32
    warm, cold = keystroke_ms(int8, r * 2, True), keystroke_ms(int8, r * 2, False)
    rows.append(("keystroke latency ms, 512 ctx +1 char, 8 tok", f"{warm:.1f}", f"cold cache {cold:.1f}",
                 f"{cold / warm:.2f}x faster", f"<= {TARGET_KEYSTROKE_MS:.0f} ms"))
    batched, sequential = alternatives_ms(int8, r, True), alternatives_ms(int8, r, False)
    rows.append(("3 alternatives x 16 tok ms, 512 ctx", f"{batched:.1f}", f"3 sequential {sequential:.1f}",
                 f"{sequential / batched:.2f}x faster", ""))
    load_after = os.getloadavg()[0]

    print(f"Inkwell engine benchmark: {int8.status.model_name}, {int8.status.variant} on {int8.status.provider}, "
          f"threads={args.threads or 'auto'}, repeats={r}, load average {load_before:.2f} -> {load_after:.2f}"
          f" on {os.cpu_count()} CPUs")
    header = ("measurement", "inkwell", "baseline", "ratio", "target")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(5)]
    line = "  ".join("{:<%d}" % w for w in widths)
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))
    if max(load_before, load_after) > 0.5:
        print("note: other processes were using the CPU; figures are lower bounds (rerun when idle)")
    return 0


def bundle_variants(bundle: Path) -> list[str]:
    from model.bundle import Bundle

    return Bundle.load(bundle).variants


if __name__ == "__main__":
    sys.exit(main())
