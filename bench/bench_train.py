"""Training speed, side by side in one run: Inkwell's trainer (`python -m model.train`) against
Hugging Face's Trainer (with PEFT for LoRA) on the same checkpoint, text, batch and threads, each
run in its own process, the two sides interleaved; and Inkwell's estimate (the fine-tune wizard's
warm-up) against the run it estimates.

    python bench/bench_train.py [--models bundled,124m] [--runs full-bf16,full-fp32,lora-bf16]
                                [--steps 20] [--steps-124m 8] [--threads 2]

The Hugging Face side needs the `bench` extra (pip install -e '.[bench]'); without it only
Inkwell's rows are printed. "bundled" is the bundled model's checkpoint (fine-tuning it);
"124m" is GPT-2 124M's configuration with random weights. Both sides fine-tune for --steps
optimizer steps of 8 x 512 tokens, then score the same held-out text and save the model; "step"
is the median tokens/s of the steps after the first two, "whole run" is the process's wall time
from start to exit, and "peak RSS" is the process's own (os.wait4).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUNDLED = ROOT / "resources" / "models" / "inkwell-fiction" / "hf"
# About 1 MB of fiction: the same files on both sides (the shared corpus beside the checkout).
FICTION = next((p / "shared" / "data" / "corpus" / "fiction" / "books" for p in (ROOT.parent, ROOT.parent.parent)
                if (p / "shared" / "data" / "corpus" / "fiction" / "books").is_dir()), None)
TEXTS = ("Arthur_Conan_Doyle__The_Hound_of_the_Baskervilles.txt", "H_G_Wells__The_Time_Machine.txt",
         "Jack_London__The_Call_of_the_Wild.txt", "Robert_Louis_Stevenson__The_Strange_Case_Of_Dr_Jekyll_And_Mr_Hyde.txt")
BATCH, SEQ, LR, LORA_RANK = 8, 512, 1e-4, 8
SKIP = 2  # steps not timed: the first ones warm caches and allocators


def _texts(work: Path) -> list[str]:
    files = [FICTION / name for name in TEXTS if FICTION and (FICTION / name).is_file()]
    if files:
        return [str(f) for f in files]
    prose = work / "prose.txt"  # a checkout without the corpus: the README, repeated
    prose.write_text((ROOT / "README.md").read_text(encoding="utf-8") * 30, encoding="utf-8")
    return [str(prose)]


def _checkpoint(name: str, work: Path) -> Path:
    """A Hugging Face folder in fp32: the bundled model's, or GPT-2 124M's shape with random weights."""
    import torch

    from core.config import GPT2Config
    from model.gpt2 import GPT2
    from model.hf import load_gpt2, save_gpt2

    folder = work / f"ckpt-{name}"
    if not folder.exists():
        torch.manual_seed(0)
        model = load_gpt2(BUNDLED) if name == "bundled" else GPT2(GPT2Config(n_layer=12, n_embd=768, n_head=12,
                                                                              n_positions=1024))
        save_gpt2(model.float(), folder)
    return folder


def _run_child(args: list[str]) -> tuple[str, float, int]:
    """(stdout, wall seconds, peak RSS bytes) of one child process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak memory
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode:
            raise SystemExit(f"{' '.join(args[:4])} failed:\n{err.read()[-3000:]}")
        return out.read(), wall, usage.ru_maxrss * 1024


def _job(ckpt: Path, texts: list[str], out: Path, steps: int, method: str, precision: str, threads: int) -> dict:
    """A fine-tune job as the wizard makes it (app.finetune.make_job's schedule: by time)."""
    return {"data": texts, "out": str(out), "init": str(ckpt), "method": method, "lora_rank": LORA_RANK,
            "lora_alpha": 2.0 * LORA_RANK, "holdout": {"fraction": 0.05}, "steps": steps, "batch_size": BATCH,
            "seq_len": SEQ, "lr": LR, "min_lr": LR / 10, "warmup_steps": 2, "weight_decay": 0.1 if method == "full" else 0.0,
            "precision": precision, "threads": threads, "log_every": 1, "sample_tokens": 0, "seed": 1,
            "cache_dir": str(out.parent / "tokens")}


def inkwell(job: dict, work: Path) -> dict[str, float]:
    path = work / f"job-{Path(job['out']).name}.json"
    path.write_text(json.dumps(job))
    out, wall, rss = _run_child([sys.executable, "-m", "model.train", "--job", str(path), "--out", job["out"]])
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    rates = [e["tokens_per_s"] for e in events if e["event"] == "progress"][SKIP:]
    return {"step_tps": statistics.median(rates), "wall_s": wall, "rss": rss}


def estimate(job: dict, work: Path) -> float:
    path = work / "estimate.json"
    path.write_text(json.dumps({**job, "out": str(work / "estimate-run")}))
    out, _, _ = _run_child([sys.executable, "-m", "app.finetune_cli", "--job", str(path), "--estimate", "--json"])
    return next(json.loads(line) for line in out.splitlines() if '"estimate"' in line)["total_s"]


def huggingface(job: dict, work: Path) -> dict[str, float]:
    path = work / "hf-job.json"
    path.write_text(json.dumps(job))
    out, wall, rss = _run_child([sys.executable, __file__, "--hf-child", str(path)])
    result = json.loads(out.strip().splitlines()[-1])
    return {"step_tps": result["step_tps"], "wall_s": wall, "rss": rss}


def hf_child(job_path: str) -> None:
    """Hugging Face Trainer (+ PEFT) on the job's checkpoint, text, split, batch and settings."""
    import numpy as np
    import torch
    from transformers import GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments

    from model.train_data import WindowSampler, eval_windows, load_corpus

    job = json.loads(Path(job_path).read_text())
    torch.set_num_threads(job["threads"])
    corpus = load_corpus(job["data"], job["holdout"], Path(job["cache_dir"]))
    sampler = WindowSampler(corpus.train, SEQ, job["seed"])
    train = [torch.from_numpy(row) for _ in range(job["steps"]) for row in sampler.next_batch(BATCH)]
    val = [torch.from_numpy(w) for w in eval_windows(corpus.val, SEQ) if len(w) == SEQ + 1]

    class Windows(torch.utils.data.Dataset):
        def __init__(self, rows: list) -> None:
            self.rows = rows

        def __len__(self) -> int:
            return len(self.rows)

        def __getitem__(self, i: int) -> dict:
            return {"input_ids": self.rows[i][:-1], "labels": self.rows[i][:-1].clone()}

    model = GPT2LMHeadModel.from_pretrained(job["init"], dtype=torch.float32)
    if job["method"] == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=LORA_RANK, lora_alpha=2 * LORA_RANK, lora_dropout=0.0,
                                                 target_modules=["c_attn", "c_proj", "c_fc"], fan_in_fan_out=True))
    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            marks.append(time.perf_counter())

    args = TrainingArguments(
        output_dir=str(Path(job["out"])), max_steps=job["steps"], per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=BATCH, learning_rate=job["lr"], weight_decay=job["weight_decay"],
        warmup_steps=job["warmup_steps"], lr_scheduler_type="cosine", max_grad_norm=1.0, adam_beta2=0.95,
        bf16=job["precision"] == "bf16", use_cpu=True, save_strategy="no", eval_strategy="no", logging_steps=1,
        report_to=[], dataloader_num_workers=0, seed=job["seed"], disable_tqdm=True)
    trainer = Trainer(model=model, args=args, train_dataset=Windows(train), eval_dataset=Windows(val),
                      callbacks=[Clock()])
    trainer.train()
    trainer.evaluate()
    trainer.save_model(str(Path(job["out"]) / "final"))
    steps = np.diff(marks)[SKIP - 1:]
    print(json.dumps({"step_tps": BATCH * SEQ / float(np.median(steps))}))


def main() -> int:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="bundled,124m")
    p.add_argument("--runs", default="full-bf16,full-fp32,lora-bf16")
    p.add_argument("--steps", type=int, default=20, help="optimizer steps for the bundled model")
    p.add_argument("--steps-124m", type=int, default=8, help="optimizer steps for the 124M configuration")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--no-estimate", action="store_true", help="leave out the estimate")
    p.add_argument("--hf-child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.hf_child:
        hf_child(args.hf_child)
        return 0
    try:
        import peft  # noqa: F401
        import transformers  # noqa: F401
        has_hf = True
    except ImportError:
        has_hf = False
        print("Hugging Face Trainer / PEFT not installed (pip install -e '.[bench]'): Inkwell's rows only")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        work = Path(tmp)
        texts = _texts(work)
        for name in args.models.split(","):
            ckpt = _checkpoint(name, work)
            steps = args.steps if name == "bundled" else args.steps_124m
            for run in args.runs.split(","):
                method, precision = run.split("-")
                job = _job(ckpt, texts, work / f"ink-{name}-{run}", steps, method, precision, args.threads)
                est = None if args.no_estimate else estimate(job, work)
                ink = inkwell(job, work)
                hf = huggingface({**job, "out": str(work / f"hf-{name}-{run}")}, work) if has_hf else None
                rows.append((name, run, steps, ink, hf, est))
                print(f"{name} {run}: inkwell {ink}, hf {hf}, estimate {est}", file=sys.stderr, flush=True)
    load = os.getloadavg()
    print(f"\nFine-tuning, batch {BATCH} x {SEQ} tokens, {args.threads} threads, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end")
    print("\n| model | run | steps | Inkwell step tok/s | HF step tok/s | step ratio | Inkwell whole run | HF whole run "
          "| run ratio | Inkwell peak RSS | HF peak RSS | estimate | estimate / run |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, run, steps, ink, hf, est in rows:
        hf_cells = (f"{hf['step_tps']:.0f} | {ink['step_tps'] / hf['step_tps']:.2f}x | {ink['wall_s']:.0f} s "
                    f"| {hf['wall_s']:.0f} s | {hf['wall_s'] / ink['wall_s']:.2f}x | {ink['rss'] / 2**30:.2f} GB "
                    f"| {hf['rss'] / 2**30:.2f} GB") if hf else (
            f"- | - | {ink['wall_s']:.0f} s | - | - | {ink['rss'] / 2**30:.2f} GB | -")
        est_cells = f"{est:.0f} s | {est / ink['wall_s']:.2f}" if est is not None and math.isfinite(est) else "- | -"
        print(f"| {name} | {run} | {steps} | {ink['step_tps']:.0f} | {hf_cells} | {est_cells} |")
    print("\nstep ratio: Inkwell's tokens/s over Hugging Face's (above 1: Inkwell is faster); run ratio: Hugging Face's "
          "wall time over Inkwell's; estimate / run: the wizard's estimate over the measured wall time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
