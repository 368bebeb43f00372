"""What a writer gets from each GPT-2 size on this CPU: decode speed at short and long context and
the time from a keystroke to an 8-token suggestion, for the README's table of models.

    python bench/bench_sizes.py [--sizes distilgpt2,gpt2,gpt2-medium,gpt2-large] [--rounds 3]

Each size is GPT-2's configuration with random weights (the same compute as the real model; the
text is meaningless), exported once to int8 into ~/.cache/inkwell-bench by a torch subprocess, and
run by the engine as the app runs it (automatic threads, the int8 cache). Rounds take turns over
the sizes, so that each gets the same chances of a quiet moment; rates are the best round,
keystrokes the median over the rounds' keystrokes. The 124M row is bench_engine.py's model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_engine import decode_rate, ensure_bundle, keystroke_ms, processor

from app.engine import Engine
from core.bundle import Bundle


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="distilgpt2,gpt2,gpt2-medium,gpt2-large")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    sizes = args.sizes.split(",")
    bundles = {size: ensure_bundle(size, "int8") for size in sizes}
    load = os.getloadavg()[0]
    engines = {size: Engine.load(folder, provider="cpu", variant="int8") for size, folder in bundles.items()}
    m: dict[tuple[str, str], list[float]] = {}
    plans: Counter[str] = Counter()  # the threads the engine chose (automatic: from the load)
    for _ in range(args.rounds):
        for size, engine in engines.items():
            for ctx in (64, 512, 960):
                m.setdefault((size, f"d{ctx}"), []).append(decode_rate(engine, ctx, tokens=32))
                plans[str(engine.decoder.plan)] += 1
            m.setdefault((size, "k512"), []).extend(keystroke_ms(engine, True, "th"))
            m.setdefault((size, "k1000"), []).extend(keystroke_ms(engine, True, "th", ctx=1000))
    print(f"GPT-2 sizes, random weights, int8 on the CPU ({processor()}, {os.cpu_count()} CPUs), automatic "
          f"threads, {args.rounds} rounds, load average {load:.2f} at the start; plans used: {dict(plans)}")
    header = ("model", "parameters", "int8 file", "decode tok/s 64 ctx", "512 ctx", "960 ctx",
              "keystroke ms 512 ctx", "1000 ctx")
    rows = []
    for size, folder in bundles.items():
        bundle = Bundle.load(folder)
        rows.append((size, f"{bundle.manifest['parameters'] / 1e6:.0f}M",
                     f"{bundle.variant_info('int8')['bytes'] / 2**20:.0f} MiB",
                     *(f"{max(m[(size, f'd{c}')]):.1f}" for c in (64, 512, 960)),
                     *(f"{statistics.median(m[(size, k)]):.0f}" for k in ("k512", "k1000"))))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
