"""Fine-tune an installed model on your own texts: planning, estimate, runs, and `inkwell finetune`.

    inkwell finetune --base inkwell-austen --data my-stories/ --name my-voice [--method lora] [--epochs 2]
    inkwell finetune --resume my-voice
    inkwell finetune --base ... --data ... --name ... --estimate      (time and disk, from a warm-up)
    python -m model.finetune --job job.json --estimate --json        (what the wizard runs)

A fine-tune is a run folder ``runs_dir()/NAME`` (model.train's output: job.json, checkpoints,
logs) and, once done, a model bundle ``models_dir()/NAME`` that Inkwell lists and can switch to.
The module is torch-free at import: the wizard uses its planning helpers in the GUI process and
runs the estimate and the training in subprocesses.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.cli_support import log_error, raise_interrupt
from core.errors import ModelError
from core.fileio import DamagedFile, describe_os_error, read_json
from core.units import human_bytes, human_duration

# Below this much text a fine-tune mostly memorises; the wizard warns, and explains.
RECOMMENDED_TOKENS = 50_000
LORA_FROM_PARAMETERS = 100_000_000   # LoRA is the default from GPT-2 124M up
SMALL_MODEL = 30_000_000             # below this a full fine-tune takes a larger learning rate
EXPORT_VARIANTS = ["int8"]
EXPORT_HF_DTYPE = "float16"
PROGRESS_FILE = "checkpoints/last.json"
ESTIMATE_STEPS = 4                    # the first is warm-up; the others are timed


class FinetuneError(ModelError):
    """A fine-tune cannot be planned or started as asked; the message says what to change."""


# --- planning (torch-free) ------------------------------------------------------------------

def default_settings(parameters: int, n_positions: int, method: str | None = None) -> dict[str, Any]:
    """The settings a writer starts from, for a base model of this size (and method)."""
    lora = parameters >= LORA_FROM_PARAMETERS if method is None else method == "lora"
    return {
        "method": "lora" if lora else "full",
        "epochs": 2.0,
        "steps": None,
        # LoRA's adapters start at zero and take a larger step; a full fine-tune of GPT-2-sized
        # weights needs a small one to keep what the base model knows. Small models (the bundled
        # 7M one, pre-trained at 2e-3) move little at 3e-4: on 90k tokens of the King James Bible
        # 1e-3 reached a held-out perplexity of 100 where 3e-4 reached 229 in the same 81 steps.
        "lr": 1e-3 if lora or parameters < SMALL_MODEL else 1e-4,
        "seq_len": min(256, n_positions),
        "batch_size": 8,
        "val_share": 0.1,
        "seed": 1234,
        "lora_rank": 8,
    }


def steps_for_epochs(epochs: float, train_tokens: int, seq_len: int, sequences_per_step: int) -> int:
    """Optimizer steps for ``epochs`` passes over ``train_tokens`` (at least one step)."""
    windows = max((train_tokens - 1) // seq_len, 1)
    return max(1, math.ceil(epochs * windows / sequences_per_step))


def slug(name: str) -> str:
    """A folder name for a model name: letters, digits, '-', '_' and '.'."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.")
    return cleaned[:64]


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a new fine-tuned model, or None."""
    from core import paths

    if not name.strip():
        return "Give the new model a name."
    if not slug(name):
        return "The name needs at least one letter or digit."
    if (paths.models_dir() / slug(name)).exists():
        return f"A model named {slug(name)!r} is already installed; choose another name."
    if (paths.runs_dir() / slug(name)).exists():
        return f"A fine-tune named {slug(name)!r} exists already (see Earlier fine-tunes); choose another name."
    return None


def make_job(name: str, base_folder: str | Path, files: list[str], settings: dict[str, Any],
             train_tokens: int, sample_prompt: str | None = None) -> dict[str, Any]:
    """The model.train job for a fine-tune; ``train_tokens`` (an estimate is fine) sets the
    intervals of evaluations, samples and checkpoints."""
    from core import paths

    seq_len, batch = int(settings["seq_len"]), int(settings["batch_size"])
    if settings.get("steps"):
        steps, epochs = int(settings["steps"]), None
    else:
        epochs = float(settings["epochs"])
        steps = steps_for_epochs(epochs, train_tokens, seq_len, batch)
    job: dict[str, Any] = {
        "name": name,
        "data": [str(f) for f in files],
        "out": str(paths.runs_dir() / slug(name)),
        "init": str(Path(base_folder) / "hf"),
        "method": settings["method"],
        "lora_rank": int(settings.get("lora_rank", 8)),
        "lora_alpha": 2.0 * int(settings.get("lora_rank", 8)),
        "holdout": {"fraction": float(settings["val_share"])},
        "line_breaks": settings.get("line_breaks", "unwrap"),
        "steps": steps,
        "epochs": epochs,
        "batch_size": batch,
        "seq_len": seq_len,
        "lr": float(settings["lr"]),
        "min_lr": float(settings["lr"]) / 10,
        "warmup_steps": max(1, min(100, steps // 10)),
        "weight_decay": 0.0 if settings["method"] == "lora" else 0.1,
        "seed": int(settings["seed"]),
        "log_every": max(1, steps // 200),
        "eval_every": max(1, steps // 10),
        "sample_every": max(1, steps // 4),
        "checkpoint_every": max(1, steps // 20),
        "sample_tokens": 40,
    }
    if sample_prompt:
        job["sample_prompts"] = [sample_prompt]
    return job


def wrap_notes(paths) -> list[str]:
    """A line for each file whose lines are hard-wrapped (and will be joined into paragraphs)."""
    from core.prose import looks_hard_wrapped
    from model.train_data import DataError, read_text_file

    notes = []
    for path in paths:
        try:
            report = looks_hard_wrapped(read_text_file(path).text)
        except DataError:
            continue  # reading it again failed: load_corpus has said why
        if report.hard_wrapped:
            notes.append(f"{path.name}: its lines are wrapped at about {report.width} characters, like a printed "
                         f"page; they are joined into paragraphs (--keep-line-breaks keeps them)")
    return notes


def sample_prompt_from(text: str, words: int = 8) -> str:
    """The first few words of the writer's own text: a prompt in their voice for the samples."""
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if len(line.split()) >= 3:
            return " ".join(line.split()[:words])
    return "The"


@dataclass(frozen=True)
class Run:
    """A fine-tune run folder, for resuming or running again."""

    folder: Path
    name: str
    job: dict[str, Any]
    finished: bool
    step: int          # the last checkpoint's step (0: none yet)
    total_steps: int
    val_ppl: float | None = None
    val_ppl_before: float | None = None

    @property
    def resumable(self) -> bool:
        return not self.finished and self.step > 0

    @property
    def label(self) -> str:
        if self.finished:
            ppl = f", perplexity {self.val_ppl_before:.1f} → {self.val_ppl:.1f}" if self.val_ppl and self.val_ppl_before else ""
            return f"{self.name} (finished{ppl})"
        if self.step:
            return f"{self.name} (stopped at step {self.step} of {self.total_steps})"
        return f"{self.name} (stopped before its first checkpoint)"


def read_run(folder: Path) -> Run | None:
    """A fine-tune run folder; None when its job is missing or damaged. Damaged progress or
    summary files read as none (a run stopped early, or not finished)."""
    job = _read_json_or_none(folder / "job.json")
    if job is None:
        return None
    summary = _read_json_or_none(folder / "training.json")
    progress = _read_json_or_none(folder / PROGRESS_FILE) or {}
    return Run(folder, str(job.get("name") or folder.name), job, summary is not None,
               _count(progress.get("step")), _count(progress.get("total_steps", job.get("steps"))),
               _perplexity(summary.get("val_ppl")) if summary is not None else None,
               _perplexity(summary.get("val_ppl_before")) if summary is not None else None)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53 else 0


def _perplexity(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) else None


def list_runs() -> list[Run]:
    """The fine-tune runs in runs_dir(), newest first."""
    from core import paths

    try:
        folders = [f for f in paths.runs_dir().iterdir() if f.is_dir()]
    except OSError:
        return []  # no runs folder (it could not be created): no runs

    def started(run: Run) -> float:
        try:
            return (run.folder / "job.json").stat().st_mtime
        except OSError:
            return 0.0

    runs = [r for f in folders if (r := read_run(f)) is not None]
    return sorted(runs, key=started, reverse=True)


def _read_json_or_none(path: Path) -> dict | None:
    """A run's JSON file as a dict; None when it is missing, unreadable or damaged."""
    try:
        data = read_json(path)
    except (OSError, DamagedFile):
        return None
    return data if isinstance(data, dict) else None


# --- the estimate (runs torch: a subprocess of the wizard) ---------------------------------

def estimate(job_data: dict[str, Any], steps: int = ESTIMATE_STEPS) -> dict[str, Any]:
    """Time and disk for ``job_data``, measured by a warm-up run of a few steps of the same job
    (same model, method, batch and data) in a temporary folder."""
    from model.train_job import Job
    from model.train_loop import Events, Trainer

    full = Job.from_dict(dict(job_data), "job")
    full.validate()
    marks: dict[str, float] = {}
    info: dict[str, Any] = {}

    class Timed(Events):
        def emit(self, event: str, **fields: Any) -> None:
            now = time.perf_counter()
            if event == "start":
                marks["start"] = now
                info.update(fields)
            elif event == "eval" and fields["step"] == 0:
                marks["eval"] = now
            elif event == "checkpoint":
                marks["checkpoint"] = now

        def log(self, message: str) -> None:
            pass

    step_times: dict[int, float] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="inkwell-estimate-") as tmp:
        trial = dict(job_data, out=str(Path(tmp) / "run"), steps=steps, epochs=None, warmup_steps=0,
                     log_every=10**6, eval_every=10**6, sample_every=10**6, sample_tokens=0,
                     checkpoint_every=steps, eval_max_windows=2, export=None)
        Trainer(Job.from_dict(trial, "estimate"), Timed(), on_step=lambda s: step_times.__setitem__(s, time.perf_counter())).run()
        run = Path(tmp) / "run"
        checkpoint_bytes = (run / "checkpoints" / "last.pt").stat().st_size
        model_bytes = (run / "model.safetensors").stat().st_size
    setup_s = marks["start"] - t0
    step_s = (step_times[steps] - step_times[1]) / (steps - 1)
    tokens_per_step = info["tokens_per_step"]
    train_tokens, val_tokens = info["train_tokens"], info["val_tokens"]
    total_steps = full.steps
    if full.epochs is not None:
        total_steps = steps_for_epochs(full.epochs, train_tokens, full.seq_len, full.batch_size * full.grad_accum)
    # Evaluation: measured on two windows at step 0 (before the timed steps), scaled to all.
    val_windows = max(1, math.ceil(max(val_tokens - 1, 0) / full.seq_len))
    eval_s = 0.0
    if "eval" in marks and val_tokens:
        eval_s = (marks["eval"] - marks["start"]) / min(2, val_windows) * val_windows
    checkpoint_s = max(marks.get("checkpoint", step_times[steps]) - step_times[steps], 0.0)
    n_evals = total_steps // full.eval_every + 2   # the scheduled ones, the last, the one before
    n_checkpoints = total_steps // full.checkpoint_every + 1
    total_s = setup_s + total_steps * step_s + n_evals * eval_s + n_checkpoints * checkpoint_s
    parameters = info["parameters"]
    # The bundle: int8 ONNX (about a byte a weight) plus the fp16 checkpoint kept for re-training.
    bundle_bytes = int(parameters * (1 + 2))
    disk = checkpoint_bytes + model_bytes + bundle_bytes + 2 * (train_tokens + val_tokens)
    return {
        "seconds_per_step": round(step_s, 4), "tokens_per_s": round(tokens_per_step / step_s, 1),
        "steps": total_steps, "setup_s": round(setup_s, 2), "eval_s": round(eval_s, 2), "evals": n_evals,
        "total_s": round(total_s, 1), "checkpoint_bytes": checkpoint_bytes, "model_bytes": model_bytes,
        "bundle_bytes": bundle_bytes, "disk_bytes": disk, "train_tokens": train_tokens, "val_tokens": val_tokens,
        "parameters": parameters, "method": full.method, "device": info.get("device"),
        "measured_steps": steps - 1,
    }


def describe_estimate(e: dict[str, Any]) -> str:
    return (f"About {human_duration(e['total_s'])} for {e['steps']:,} steps "
            f"({e['seconds_per_step']:.2f} s a step, {e['tokens_per_s']:,.0f} tokens/s on {e['device']}), "
            f"and {human_bytes(e['disk_bytes'])} of disk (checkpoint {human_bytes(e['checkpoint_bytes'])}, "
            f"trained weights {human_bytes(e['model_bytes'])}, model for the editor {human_bytes(e['bundle_bytes'])}). "
            f"Measured by a warm-up of {e['measured_steps']} steps.")


# --- command line ---------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inkwell finetune", description="Fine-tune an installed model on your texts, "
                                "then install the result as a new model.", allow_abbrev=False)
    p.add_argument("--base", help="installed model (name or folder) with Hugging Face weights; default: the active one")
    p.add_argument("--data", action="append", help="text file or folder of .txt/.md files (repeat for more)")
    p.add_argument("--name", help="name of the new model")
    p.add_argument("--method", choices=("auto", "full", "lora"), default="auto",
                   help="full fine-tune or LoRA adapters (auto: LoRA from 100M parameters up)")
    p.add_argument("--epochs", type=float, help="passes over the text (default 2)")
    p.add_argument("--steps", type=int, help="optimizer steps instead of epochs")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--seq-len", type=int, help="context length of the training windows")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--val-share", type=float, help="share of every file held out for validation (default 0.1)")
    p.add_argument("--seed", type=int)
    p.add_argument("--lora-rank", type=int)
    p.add_argument("--prompt", help="prompt for the before/after samples (default: the start of your text)")
    p.add_argument("--keep-line-breaks", action="store_true",
                   help="train on every line break as it is (poetry, code); by default the lines of "
                        "hard-wrapped texts are joined into paragraphs")
    p.add_argument("--job", help="a job file (as the wizard writes) instead of the settings above")
    p.add_argument("--resume", metavar="NAME", help="continue an unfinished fine-tune")
    p.add_argument("--estimate", action="store_true", help="only measure time and disk with a short warm-up")
    p.add_argument("--compare", metavar="RUN", help="continue --prompt with a finished run's base model and with "
                   "the fine-tuned one, side by side")
    p.add_argument("--no-use", action="store_true", help="install the model but do not make it the active one")
    p.add_argument("--json", action="store_true", help="JSON lines on stdout instead of a progress bar")
    return p


def _resolve_base(base: str | None):
    from app import models
    from app.settings import Settings

    if base is None:
        chosen, _ = models.active_model(Settings.load()["model"])
        if chosen is None:
            raise FinetuneError("no model is installed; give --base")
    else:
        installed = models.installed_models()
        matches = [m for m in installed if base in (m.name, m.folder.name, str(m.folder))]
        if not matches and (Path(base) / "inkwell-model.json").is_file():
            matches = [models._read(Path(base), False)]
        if not matches:
            names = ", ".join(m.name for m in installed) or "none"
            raise FinetuneError(f"--base {base!r}: no such installed model (installed: {names})")
        chosen = matches[0]
    if chosen.problem:
        raise FinetuneError(f"--base: {chosen.problem}")
    if not (chosen.folder / "hf" / "config.json").is_file():
        raise FinetuneError(f"{chosen.name}: this model has no Hugging Face weights (hf/), so it cannot be fine-tuned; "
                            "import a GPT-2 checkpoint or use the bundled model")
    return chosen


def _job_from_args(args: argparse.Namespace) -> dict[str, Any]:
    from model.train_data import load_corpus, read_text_file

    if args.job:
        try:
            job = read_json(args.job)
        except DamagedFile as exc:
            raise FinetuneError(f"{args.job}: cannot read the job ({exc.reason})") from None
        except OSError as exc:
            raise FinetuneError(f"{args.job}: cannot read the job ({describe_os_error(exc)})") from None
        if not isinstance(job, dict):
            raise FinetuneError(f"{args.job}: cannot read the job (it is not a JSON object)")
        return job
    if not args.data:
        raise FinetuneError("--data: give at least one text file or folder")
    for given in args.data:  # before anything else is asked of the writer: a mistyped path first
        if not Path(given).exists():
            raise FinetuneError(f"--data {given}: does not exist (no such file or folder)")
    base = _resolve_base(args.base)
    if not args.name and not args.estimate:
        raise FinetuneError("--name: give the new model a name")
    name = args.name or f"{base.name}-estimate"
    if not args.estimate and (problem := name_problem(name)):
        raise FinetuneError(f"--name: {problem}")
    arch = base.manifest.get("architecture", {})
    settings = default_settings(int(base.manifest.get("parameters") or 0), int(arch.get("n_positions", 1024)))
    if args.method != "auto":
        settings["method"] = args.method
        if args.lr is None:
            settings["lr"] = default_settings(int(base.manifest.get("parameters") or 0), 1024, args.method)["lr"]
    for key in ("epochs", "steps", "lr", "seq_len", "batch_size", "val_share", "seed", "lora_rank"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    settings["line_breaks"] = "keep" if args.keep_line_breaks else "unwrap"
    corpus = load_corpus(args.data, {"fraction": settings["val_share"]}, None, settings["line_breaks"])
    if not args.keep_line_breaks:
        for note in wrap_notes(Path(f["path"]) for f in corpus.files):
            print(f"inkwell finetune: {note}", file=sys.stderr)
    prompt = args.prompt or sample_prompt_from(read_text_file(Path(corpus.files[0]["path"])).text[:20000])
    job = make_job(name, base.folder, [str(Path(d).absolute()) for d in args.data], settings, len(corpus.train), prompt)
    job["_base"] = str(base.folder)
    return job


class _Bar:
    """Training events drawn as a tqdm progress bar on stderr, with evaluations and samples."""

    def __init__(self) -> None:
        self.bar = None
        self.before: dict[str, str] = {}
        self.after: dict[str, str] = {}

    def emit(self, event: str, **f: Any) -> None:
        from tqdm import tqdm

        if event == "start":
            self.bar = tqdm(total=f["total_steps"], initial=f["step"], unit="step", file=sys.stderr,
                            dynamic_ncols=True, desc="fine-tuning")
        elif event == "progress" and self.bar is not None:
            self.bar.update(f["step"] - self.bar.n)
            self.bar.set_postfix(loss=f"{f['loss']:.3f}", tok_s=f"{f['tokens_per_s']:,.0f}")
        elif event == "eval":
            self._write(f"step {f['step']}: validation perplexity {f['val_ppl']:.2f}")
        elif event == "sample":
            (self.before if f["step"] == 0 else self.after)[f["prompt"]] = f["text"]
        elif event == "error":
            self._write(f"error: {f['message']}")

    def log(self, message: str) -> None:
        pass

    def _write(self, line: str) -> None:
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr) if self.bar is not None else print(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _main(args)
    except ModelError as exc:
        if args.json:
            print(json.dumps({"event": "error", "message": str(exc)}), flush=True)
        else:
            log_error(f"inkwell finetune: {exc}")
        print(f"inkwell finetune: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("inkwell finetune: stopped", file=sys.stderr)
        return 130


def _main(args: argparse.Namespace) -> int:
    from core import paths
    from model.train_job import Job
    from model.train_loop import Events, StopRequest, Trainer

    if args.compare or args.estimate:
        # QProcess.terminate() sends SIGTERM: unwind, so the warm-up's temporary folder is removed.
        signal.signal(signal.SIGTERM, raise_interrupt)
    if args.compare:
        result = compare(Path(args.compare), args.prompt or "The")
        if args.json:
            print(json.dumps({"event": "compare", **result}, ensure_ascii=False), flush=True)
        else:
            print(f"prompt: {result['prompt']}\n  base:       {result['base']!r}\n  fine-tuned: {result['tuned']!r}")
        return 0
    # A fine-tune killed while it installed left its partial bundle: remove it now (and any other
    # that no living process is writing), so --resume installs into a clean place.
    from core.bundle import clear_abandoned

    clear_abandoned(paths.models_dir())
    if args.resume:
        run = read_run(paths.runs_dir() / slug(args.resume))
        if run is None:
            raise FinetuneError(f"--resume {args.resume!r}: no such fine-tune in {paths.runs_dir()}")
        job, resume = dict(run.job), True
    else:
        job, resume = _job_from_args(args), False
    if args.estimate:
        result = estimate({k: v for k, v in job.items() if not k.startswith("_")})
        print(json.dumps({"event": "estimate", **result}) if args.json else describe_estimate(result), flush=True)
        return 0
    events = Events() if args.json else _Bar()
    stop = StopRequest()
    stop.install()
    base_folder = job.pop("_base", None) or str(Path(job["init"]).parent)
    try:
        outcome = Trainer(Job.from_dict(job, "job"), events, resume=resume, stop=stop).run()
    finally:
        if isinstance(events, _Bar):
            events.close()
    if outcome.get("stopped"):
        print(f"stopped at step {outcome['step']}; continue with: inkwell finetune --resume {job['name']}", file=sys.stderr)
        return 128 + outcome["signum"]
    bundle = install(Path(job["out"]), job["name"], use=not args.no_use,
                     progress=None if args.json else lambda m: print(m, file=sys.stderr))
    if isinstance(events, _Bar):
        print(f"\nvalidation perplexity: {outcome['val_ppl_before'] or float('nan'):.2f} (base {Path(base_folder).name})"
              f" -> {outcome['val_ppl']:.2f} (fine-tuned), {human_duration(outcome['training_time_s'])}")
        for prompt, text in events.after.items():
            print(f"\nprompt: {prompt}\n  before: {events.before.get(prompt, '')!r}\n  after:  {text!r}")
        print(f"\ninstalled {bundle}" + ("" if args.no_use else " (now the active model)"))
    return 0


def compare(run_dir: Path, prompt: str, tokens: int = 40) -> dict[str, str]:
    """The base model and the fine-tuned one continuing ``prompt`` with the same seed."""
    import torch

    from core.tokenizer import EOT_TOKEN, decode, encode
    from model.hf import load_gpt2
    from model.train_job import SAMPLE_TEMPERATURE, SAMPLE_TOP_K

    run = read_run(run_dir)
    if run is None or not run.finished:
        raise FinetuneError(f"{run_dir}: not a finished fine-tune")
    seed = int(run.job.get("seed", 0))
    ids = torch.tensor([encode(prompt)])

    def continuation(folder: str | Path) -> str:
        out = load_gpt2(folder).generate(ids, tokens, temperature=SAMPLE_TEMPERATURE, top_k=SAMPLE_TOP_K,
                                         generator=torch.Generator().manual_seed(seed), stop_token=EOT_TOKEN)
        return decode(out[0, ids.shape[1]:].tolist())

    return {"prompt": prompt, "base": continuation(run.job["init"]), "tuned": continuation(run_dir)}


def install(run_dir: Path, name: str, use: bool = True, progress=None) -> Path:
    """Export a finished run to a bundle in models_dir(), and make it the active model."""
    from core import paths
    from model.export import export_bundle

    dest = paths.models_dir() / slug(name)
    if progress:
        progress(f"exporting to {dest} ...")
    export_bundle(run_dir, dest, variants=EXPORT_VARIANTS, name=name, hf_dtype=EXPORT_HF_DTYPE)
    if use:
        from app.settings import Settings

        settings = Settings.load()
        settings.set("model", str(dest))
    return dest


if __name__ == "__main__":
    sys.exit(main())
