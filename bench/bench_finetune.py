"""Fine-tuning throughput of GPT-2 124M's configuration (random weights): full fine-tune against
LoRA, both through model.train on the same data, batch and threads, measured in one run.

    python bench/bench_finetune.py [--steps 5] [--rounds 2] [--batch 4] [--seq-len 128] [--rank 8]

The model is saved as a Hugging Face checkpoint and fine-tuned from it, as the wizard does. The
two methods alternate for ``--rounds`` rounds and each row reports its best round (the one least
disturbed by other processes on a shared machine); the first ``WARMUP`` steps of each run are
not timed. The table's last column is the ratio to the full fine-tune, the baseline.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.config import GPT2Config  # noqa: E402
from model.gpt2 import GPT2  # noqa: E402
from model.hf import save_gpt2  # noqa: E402
from model.train_job import Job  # noqa: E402
from model.train_loop import Events, Trainer  # noqa: E402

WARMUP = 2
GPT2_124M = dict(n_layer=12, n_head=12, n_embd=768, n_positions=1024)
PROSE = ("It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in "
         "want of a wife. However little known the feelings or views of such a man may be on his first entering "
         "a neighbourhood, this truth is so well fixed in the minds of the surrounding families.\n")


def run(method: str, init: Path, data: Path, work: Path, args, round_: int) -> tuple[float, int]:
    """(tokens/s over the timed steps, trained parameters)."""
    job = Job(data=[str(data)], out=str(work / f"{method}-{round_}"), init=str(init), method=method,
              lora_rank=args.rank, lora_alpha=2.0 * args.rank, steps=args.steps, batch_size=args.batch,
              seq_len=args.seq_len, lr=1e-4, min_lr=1e-5, warmup_steps=0, holdout={"fraction": 0.01},
              log_every=10**6, eval_every=10**6, sample_every=10**6, sample_tokens=0, checkpoint_every=10**6,
              eval_max_windows=1, threads=args.threads, cache_dir=str(work / "tokens"), precision="fp32")
    times: dict[int, float] = {}
    trainer = Trainer(job, Events(io.StringIO(), io.StringIO()), on_step=lambda s: times.__setitem__(s, time.perf_counter()))
    trained = {}
    real_optimizer = trainer._optimizer

    def counting_optimizer(model, device):
        trained["n"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return real_optimizer(model, device)

    trainer._optimizer = counting_optimizer
    trainer.run()
    tokens = (args.steps - WARMUP) * args.batch * args.seq_len
    return tokens / (times[args.steps] - times[WARMUP]), trained["n"]


def main() -> int:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    args = p.parse_args()
    if args.steps <= WARMUP:
        p.error(f"--steps must exceed the {WARMUP} warm-up steps")
    threads = args.threads or torch.get_num_threads()
    args.threads = threads
    torch.manual_seed(0)
    cfg = GPT2Config(**GPT2_124M)
    results: dict[str, list[float]] = {"full": [], "lora": []}
    trained: dict[str, int] = {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        save_gpt2(GPT2(cfg), work / "base")
        data = work / "text.txt"
        data.write_text(PROSE * 400, encoding="utf-8")
        for r in range(args.rounds):
            for method in ("full", "lora"):
                tps, trained[method] = run(method, work / "base", data, work, args, r)
                results[method].append(tps)
    load_after = os.getloadavg()
    base = max(results["full"])
    print(f"\nFine-tuning throughput, GPT-2 124M configuration ({cfg.num_parameters() / 1e6:.1f}M parameters, "
          f"random weights), batch {args.batch}x{args.seq_len} tokens, fp32, {threads} threads, "
          f"{args.steps - WARMUP} timed steps, best of {args.rounds}; LoRA rank {args.rank} on attention and MLP "
          f"projections")
    print(f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after\n")
    print(f"| {'method':<18} | {'trained params':>14} | {'tokens/s':>9} | {'all rounds':<18} | {'vs full':>7} |")
    print(f"|{'-' * 20}|{'-' * 16}|{'-' * 11}|{'-' * 20}|{'-' * 9}|")
    for method, label in (("full", "full fine-tune"), ("lora", "LoRA")):
        best = max(results[method])
        rounds = ", ".join(f"{v:.0f}" for v in results[method])
        print(f"| {label:<18} | {trained[method]:>14,} | {best:>9.0f} | {rounds:<18} | {best / base:>6.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
