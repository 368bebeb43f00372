"""`inkwell finetune`: fine-tune an installed model on your own texts and install the result.

    inkwell finetune --base inkwell-fiction --data my-stories/ --name my-voice [--method lora] [--epochs 2]
    inkwell finetune --resume my-voice
    inkwell finetune --base ... --data ... --name ... --estimate      (time and disk, from a warm-up)
    python -m app.finetune_cli --job job.json --estimate --json      (what the wizard runs)
    python -m app.finetune_cli --compare RUN --prompt P --json       (the wizard's before/after)

The planning and the runs are app.finetune's; the training, the estimate and the comparison run
PyTorch (model.train_loop, model.finetune), imported only once the arguments are good.
"""

from __future__ import annotations

import argparse
import errno
import shutil
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.finetune import (
    EXPORT_HF_DTYPE,
    EXPORT_VARIANTS,
    FinetuneError,
    default_settings,
    describe_estimate,
    make_job,
    name_problem,
    read_run,
    sample_prompt_from,
    settings_problem,
    slug,
)
from core import paths
from core.cli_support import fail, raise_interrupt
from core.errors import ModelError
from core.events import Event, Printer, Words, emit_json
from core.fileio import DamagedFile, describe_os_error, read_json
from core.names import printable
from core.units import human_duration

if TYPE_CHECKING:
    from app.models import InstalledModel


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
    p.add_argument("--json", action="store_true", help="JSON lines on stdout instead of progress in words")
    return p


def resolve_base(base: str | None, option: str = "--base"):
    """The installed model ``base`` names (the active one when None) that can be trained from;
    errors name the command line's ``option`` that gave it."""
    from app import models
    from app.settings import Settings

    if base is None:
        chosen, _ = models.active_model(Settings.load()["model"])
        if chosen is None:
            raise FinetuneError(f"no model is installed; give {option}")
    else:
        installed = models.installed_models()
        matches = [m for m in installed if base in (m.name, m.folder.name, str(m.folder))]
        if not matches and (Path(base) / "inkwell-model.json").is_file():
            matches = [models._read(Path(base), False)]
        if not matches:
            names = ", ".join(m.name for m in installed) or "none"
            raise FinetuneError(f"{option} {base!r}: no such installed model (installed: {names})")
        chosen = matches[0]
    if chosen.problem:
        raise FinetuneError(f"{option}: {chosen.problem}")
    if not (chosen.folder / "hf" / "config.json").is_file():
        raise FinetuneError(f"{chosen.name}: this model has no Hugging Face weights (hf/), so it cannot be fine-tuned; "
                            "import a GPT-2 checkpoint or use the bundled model")
    return chosen


def _job_from_args(args: argparse.Namespace) -> dict[str, Any]:
    from model.train_data import load_corpus, read_text_file

    if args.job:
        return _read_job(args.job)
    _check_data(args.data)
    base = resolve_base(args.base)
    name = _new_name(args, base.name)
    settings = _settings(args, base)
    corpus = load_corpus(args.data, {"fraction": settings["val_share"]}, None, settings["line_breaks"])
    if not args.keep_line_breaks:
        for note in wrap_notes(Path(f["path"]) for f in corpus.files):
            print(f"inkwell finetune: {note}", file=sys.stderr)
    prompt = args.prompt or sample_prompt_from(read_text_file(Path(corpus.files[0]["path"])).text[:20000])
    job = make_job(name, base.folder, [str(Path(d).absolute()) for d in args.data], settings, len(corpus.train), prompt)
    job["_base"] = str(base.folder)
    return job


def _read_job(path: str) -> dict[str, Any]:
    """The job file the wizard wrote."""
    try:
        job = read_json(path)
    except DamagedFile as exc:
        raise FinetuneError(f"{path}: cannot read the job ({exc.reason})") from None
    except OSError as exc:
        raise FinetuneError(f"{path}: cannot read the job ({describe_os_error(exc)})") from None
    if not isinstance(job, dict):
        raise FinetuneError(f"{path}: cannot read the job (it is not a JSON object)")
    return job


def _check_data(data: list[str] | None) -> None:
    if not data:
        raise FinetuneError("--data: give at least one text file or folder")
    for given in data:  # before anything else is asked of the writer: a mistyped path first
        if not Path(given).exists():
            raise FinetuneError(f"--data {given}: does not exist (no such file or folder)")


def _new_name(args: argparse.Namespace, base_name: str) -> str:
    """The new model's name (an estimate needs none, and gets one after its base)."""
    if not args.name and not args.estimate:
        raise FinetuneError("--name: give the new model a name")
    name = args.name or f"{base_name}-estimate"
    if not args.estimate and (problem := name_problem(name)):
        raise FinetuneError(f"--name: {problem}")
    return str(name)


def _settings(args: argparse.Namespace, base: InstalledModel) -> dict[str, Any]:
    """The defaults for ``base``'s size with the settings given on the command line, checked."""
    arch = base.manifest.get("architecture", {})
    settings = default_settings(base.parameters or 0, int(arch.get("n_positions", 1024)),
                                None if args.method == "auto" else args.method)
    for key in ("epochs", "steps", "lr", "seq_len", "batch_size", "val_share", "seed", "lora_rank"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    settings["line_breaks"] = "keep" if args.keep_line_breaks else "unwrap"
    # Every number against the model's dimensions and the machine's memory, before any of it
    # is allocated (a LoRA rank of a million took 21 GB before the OOM killer ended it).
    if problem := settings_problem(settings, {**arch, "vocab_size": arch.get("vocab_size", 50257)},
                                   base.parameters or 0):
        raise FinetuneError(problem)
    return settings


def _progress_words(e: Event) -> str:
    percent = 100 * e["step"] // max(e["total_steps"], 1)
    return (f"fine-tuning: {percent:3d}%  step {e['step']}/{e['total_steps']}  loss {e['loss']:.3f}  "
            f"{e['tokens_per_s']:,.0f} tok/s  eta {human_duration(e['eta_s'])}")


TRAINING_WORDS: dict[str, Words] = {
    "start": lambda e: f"fine-tuning {e['parameters'] / 1e6:.1f}M parameters on {e['device']} ({e['precision']}): "
                       f"{e['total_steps']} steps" + (f", from step {e['step']}" if e["step"] else ""),
    "progress": _progress_words,
    "eval": lambda e: f"step {e['step']}: validation perplexity {e['val_ppl']:.2f}",
    "error": lambda e: f"error: {e['message']}",
}


class _Words:
    """A run's events in words on stderr, the running count on one line; its samples kept for the
    before and after at the end."""

    def __init__(self) -> None:
        self.printer = Printer(TRAINING_WORDS, in_place=frozenset({"progress"}))
        self.before: dict[str, str] = {}
        self.after: dict[str, str] = {}

    def emit(self, event: Event) -> None:
        if event["event"] == "sample":
            (self.before if event["step"] == 0 else self.after)[event["prompt"]] = event["text"]
        self.printer(event)

    def log(self, message: str) -> None:
        pass  # the trainer's detailed log is for `python -m model.train`; a person here follows the events


def _free_bytes(folder: Path) -> int:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def _disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that failed for want of space: an OSError saying so, or torch's
    RuntimeError from a checkpoint it could not write ("file write failed", "unexpected pos")
    while the runs folder's disk has next to nothing left."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    try:
        return _free_bytes(paths.runs_dir()) < (64 << 20)
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _main(args)
    except ModelError as exc:
        return fail("inkwell finetune", str(exc), args.json)
    except (OSError, RuntimeError) as exc:
        if not _disk_full(exc):
            raise
        name = args.resume or args.name
        again = f"; free some space, then continue with: inkwell finetune --resume {name}" if name else \
            "; free some space and try again"
        return fail("inkwell finetune", f"the disk is full ({paths.runs_dir()}){again}", args.json)
    except KeyboardInterrupt:
        print("inkwell finetune: stopped", file=sys.stderr)
        return 130


def _main(args: argparse.Namespace) -> int:
    if args.compare or args.estimate:
        # QProcess.terminate() sends SIGTERM: unwind, so the warm-up's temporary folder is removed.
        signal.signal(signal.SIGTERM, raise_interrupt)
    if args.compare:
        run = read_run(Path(args.compare))
        if run is None or not run.finished:
            raise FinetuneError(f"{args.compare}: not a finished fine-tune")
        from model.finetune import compare

        result = compare(run.job["init"], run.folder, args.prompt or "The", seed=int(run.job.get("seed", 0)))
        if args.json:
            emit_json({"event": "compare", **result})
        else:
            print(f"prompt: {printable(result['prompt'])}\n  base:       {result['base']!r}\n  fine-tuned: {result['tuned']!r}")
        return 0
    # A fine-tune killed while it installed left its partial bundle: remove it now (and any other
    # that no living process is writing), so --resume installs into a clean place.
    from core.bundle import clear_abandoned

    clear_abandoned(paths.models_dir())
    if args.resume:
        run = read_run(paths.run_folder(slug(args.resume)))
        if run is None:
            raise FinetuneError(f"--resume {args.resume!r}: no such fine-tune in {paths.runs_dir()}")
        if run.finished and paths.model_folder(slug(str(run.job.get("name") or args.resume))).exists():
            raise FinetuneError(f"--resume {args.resume!r}: this fine-tune finished and is installed as a model "
                                "already; there is nothing to continue (start a new one with another --name)")
        job, resume = dict(run.job), True
    else:
        job, resume = _job_from_args(args), False
    if args.estimate:
        from model.finetune import estimate

        result = estimate({k: v for k, v in job.items() if not k.startswith("_")})
        emit_json({"event": "estimate", **result}) if args.json else print(describe_estimate(result), flush=True)
        return 0
    return train_and_install(job, resume, args)


def train_and_install(job: dict[str, Any], resume: bool, args: argparse.Namespace) -> int:
    """Run ``job`` (new, or resumed) with its events in words or as JSON lines, then install the
    result; ``args`` holds json and no_use. The exit status."""
    from model.train_job import Job
    from model.train_loop import Events, StopRequest, Trainer

    events = Events() if args.json else _Words()
    say = events.printer.say if isinstance(events, _Words) else lambda line: print(line, file=sys.stderr)
    stop = StopRequest()
    stop.install()
    base_folder = job.pop("_base", None) or str(Path(job["init"]).parent)
    try:
        outcome = Trainer(Job.from_dict(job, "job"), events, resume=resume, stop=stop).run()
    finally:
        if isinstance(events, _Words):
            events.printer.end_line()
    if outcome.get("stopped"):
        say(f"stopped at step {outcome['step']}; continue with: inkwell finetune --resume {printable(job['name'])}")
        return 128 + outcome["signum"]
    bundle = install(Path(job["out"]), job["name"], use=not args.no_use, progress=None if args.json else say)
    if isinstance(events, _Words):
        _print_outcome(outcome, events, Path(base_folder).name, bundle, args.no_use)
    else:
        emit_json({"event": "installed", "folder": str(bundle)})
    return 0


def _print_outcome(outcome: dict[str, Any], words: _Words, base_name: str, bundle: Path, no_use: bool) -> None:
    """What the fine-tune did, for the person who ran it: the perplexity before and after, the
    samples before and after, and where the model went."""
    before, after = outcome.get("val_ppl_before"), outcome.get("val_ppl")
    if after is None:  # --val-share 0: no text was held out to measure it on
        print(f"\nno held-out text (--val-share 0), so no validation perplexity; trained in "
              f"{human_duration(outcome['training_time_s'])}")
    else:
        print(f"\nvalidation perplexity: {before or float('nan'):.2f} (base {base_name})"
              f" -> {after:.2f} (fine-tuned), {human_duration(outcome['training_time_s'])}")
    for prompt, text in words.after.items():
        print(f"\nprompt: {printable(prompt)}\n  before: {words.before.get(prompt, '')!r}\n  after:  {text!r}")
    print(f"\ninstalled {printable(bundle)}" + ("" if no_use else " (now the active model)"))


def install(run_dir: Path, name: str, use: bool = True, progress=None) -> Path:
    """Export a finished run to a bundle in models_dir(), and make it the active model."""
    from model.export import export_bundle

    dest = paths.model_folder(slug(name))
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
