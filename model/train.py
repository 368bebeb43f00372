"""Train GPT-2: pre-train from scratch or fine-tune a Hugging Face checkpoint on text files.

    python -m model.train --job job.json [--data PATH ...] [--out DIR] [--steps N] [...]
    python -m model.train --data texts/ --init hf-folder --out run/ --steps 500
    python -m model.train --out run/ --resume

Events go to stdout as JSON lines, one per line, for a GUI following the run (``start``,
``progress``, ``eval``, ``sample``, ``checkpoint``, ``done``, ``error``; see docs/architecture.md);
a human-readable log goes to stderr.

The output folder receives ``config.json`` + ``model.safetensors`` (Hugging Face layout, ready
for ``python -m model.export``), ``training.json`` (the job, the data and the results) and
``checkpoints/last.pt``, the state to resume from. SIGTERM or Ctrl-C writes a checkpoint at the
end of the current step and exits with status 143 (130 for Ctrl-C); ``--resume`` continues from
it with the same batches, learning rate and random state as an uninterrupted run.

The parts: model.train_job (the settings and their checks), model.train_loop (the loop),
model.train_checkpoint (the output folder), model.train_data (the text); this module is the
command line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.errors import ModelError
from core.runfolder import JOB
from model.train_checkpoint import disk_error
from model.train_job import Job, read_job
from model.train_loop import Events, StopRequest, Trainer

_FLAGS = {
    "steps": int, "batch_size": int, "grad_accum": int, "seq_len": int, "lr": float, "min_lr": float,
    "warmup_steps": int, "weight_decay": float, "grad_clip": float, "dropout": float, "seed": int,
    "device": str, "precision": str, "threads": int, "log_every": int, "eval_every": int,
    "eval_max_windows": int, "sample_every": int, "sample_tokens": int, "checkpoint_every": int,
    "cache_dir": str, "name": str, "init": str, "deepen_to": int, "method": str, "lora_rank": int, "lora_alpha": float,
    "epochs": float, "eval_share": float, "checkpoint_every_s": float, "start_step": int,
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(allow_abbrev=False, prog="python -m model.train", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--job", help="JSON job file; flags override its settings")
    p.add_argument("--data", action="append", help="training text file or folder (repeat for more); replaces the job's")
    p.add_argument("--out", help="output folder (must not exist, unless --resume)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--holdout-fraction", type=float, help="hold out the last fraction of every file")
    p.add_argument("--prompt", action="append", dest="sample_prompts", help="sample prompt (repeat for more)")
    p.add_argument("--export", metavar="BUNDLE", help="after training, export a model bundle to this folder")
    for name, kind in _FLAGS.items():
        p.add_argument("--" + name.replace("_", "-"), type=kind, dest=name)
    return p


def _job_from_args(args: argparse.Namespace) -> tuple[Job, bool]:
    data: dict[str, Any] = {}
    if args.resume and args.out and not args.job:
        saved = Path(args.out) / JOB
        if saved.is_file():
            data = read_job(saved)
    if args.job:
        data = read_job(Path(args.job))
    if args.data:
        data["data"] = args.data
    if args.out:
        data["out"] = args.out
    if args.holdout_fraction is not None:
        data["holdout"] = {"fraction": args.holdout_fraction}
    if args.export:
        data["export"] = {**(data.get("export") or {}), "dest": args.export}
    if args.sample_prompts:
        data["sample_prompts"] = args.sample_prompts
    for name in _FLAGS:
        value = getattr(args, name)
        if value is not None:
            data[name] = value
    return Job.from_dict(data, args.job or "settings"), bool(args.resume)


def _failed(events: Events, message: str) -> int:
    """The error as an event for the program following the run, and in words for a person."""
    events.emit({"event": "error", "message": message})
    events.log(f"error: {message}")
    return 1


def main(argv: list[str] | None = None) -> int:
    events = Events()
    args = _parser().parse_args(argv)
    stop = StopRequest()
    stop.install()
    try:
        job, resume = _job_from_args(args)
        result = Trainer(job, events, resume=resume, stop=stop).run()
    except ModelError as exc:
        return _failed(events, str(exc))
    except OSError as exc:
        return _failed(events, str(disk_error(exc, Path(exc.filename or args.out or "."))))
    except MemoryError:
        return _failed(events, "out of memory: lower batch_size or seq_len (grad_accum keeps the effective batch)")
    if result.get("stopped"):
        return 128 + result["signum"]
    return 0


if __name__ == "__main__":
    sys.exit(main())
