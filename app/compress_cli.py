"""``inkwell compress``: a faster copy of an installed model.

The model is pruned to a share of its work per word (core/prune_plan.py: the shapes that fit, from
fewer heads and a narrower model to fewer layers; model/prune.py: the one whose cut loses least on
the texts), then trained to match the original's next-token distributions on
the given texts (model/distill.py) with the fine-tune's training engine, and installed like a
fine-tune. A stopped one goes on with ``inkwell finetune --resume NAME``.

    inkwell compress --model NAME --keep 0.5 --data my-novel/ --name my-model-fast
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from app.finetune import (
    FinetuneError,
    default_settings,
    describe_compress_estimate,
    make_job,
    name_problem,
    sample_prompt_from,
    settings_problem,
    slug,
)
from app.finetune_cli import resolve_base, train_and_install
from core import paths
from core.cli_support import fail
from core.errors import ModelError
from core.events import emit_json
from core.names import printable

KEYSTROKE_ROUNDS = 3  # interleaved: each round times the copy and the original once
KEYSTROKE_CHARS = "thea"

# The soft loss's share and its temperature. Measured (bench/bench_compress.py: the bundled model's
# 50% copy, 150 CPU-s of distillation each, 14 steps, held-out authors): alpha 0.9 at T 1 reached a
# perplexity of 232, the earlier 0.5 at T 2 644. Most of the signal is in the original's own
# distributions, and T 1 keeps them as sharp as they are (Hinton et al. 2015 use a large share too).
DISTILL_ALPHA = 0.9
DISTILL_TEMPERATURE = 1.0
DEFAULT_EPOCHS = 1.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inkwell compress", description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("--model", help="installed model (name or folder) with Hugging Face weights; default: the active one")
    p.add_argument("--keep", type=float, required=True, help="share of the model's work per word to keep, e.g. 0.5")
    p.add_argument("--data", action="append", help="text file or folder to learn from (repeat for more)")
    p.add_argument("--name", help="name of the new model (not needed with --estimate)")
    p.add_argument("--epochs", type=float, help=f"passes over the text (default {DEFAULT_EPOCHS:g})")
    p.add_argument("--steps", type=int, help="optimizer steps instead of epochs")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--seq-len", type=int, help="context length of the training windows")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--keep-line-breaks", action="store_true", help="keep line breaks as they are (poetry, code)")
    p.add_argument("--no-use", action="store_true", help="install the model but do not make it the active one")
    p.add_argument("--estimate", action="store_true",
                   help="only measure the time it will take (a warm-up of the pruning and of the training)")
    p.add_argument("--json", action="store_true", help="JSON lines on stdout instead of a progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _main(args)
    except (ModelError, ValueError) as exc:
        return fail("inkwell compress", str(exc), args.json)
    except KeyboardInterrupt:
        print("inkwell compress: stopped", file=sys.stderr)
        return 130


def _check_request(args: argparse.Namespace) -> None:
    """A FinetuneError naming the option when ``args`` cannot make a copy."""
    if not 0 < args.keep < 1:
        raise FinetuneError(f"--keep: a share between 0 and 1 of the model's work to keep, got {args.keep}")
    if not args.data:
        raise FinetuneError("--data: give at least one text file or folder")
    for given in args.data:
        if not Path(given).exists():
            raise FinetuneError(f"--data {given}: does not exist (no such file or folder)")
    if not args.estimate and not args.name:
        raise FinetuneError("--name: give the new model a name")
    if not args.estimate and (problem := name_problem(args.name)):
        raise FinetuneError(f"--name: {problem}")


def _check_share(folder: Path, keep: float) -> None:
    """A FinetuneError when ``keep`` is below the smallest copy the model in ``folder`` allows."""
    from core.config import GPT2Config
    from core.prune_plan import smallest_share

    least = smallest_share(GPT2Config.load(folder / "hf" / "config.json"))
    if keep < least:
        raise FinetuneError(f"--keep {keep:g}: the smallest copy of this model (one layer, one head) does "
                            f"{least:.2f} of its work; keep at least that")


def _main(args: argparse.Namespace) -> int:
    from model.compress import prune_checkpoint
    from model.train_data import load_corpus, read_text_file

    _check_request(args)
    base = resolve_base(args.model, "--model")
    _check_share(Path(base.folder), args.keep)
    arch = base.manifest.get("architecture", {})
    settings: dict[str, Any] = {**default_settings(base.parameters or 0, int(arch.get("n_positions", 1024)), "full"),
                                "epochs": DEFAULT_EPOCHS}
    for key in ("epochs", "steps", "lr", "seq_len", "batch_size"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    settings["line_breaks"] = "keep" if args.keep_line_breaks else "unwrap"
    # The student is smaller than the base, and the teacher rides along: the base's own memory
    # figure bounds both.
    if problem := settings_problem(settings, {**arch, "vocab_size": arch.get("vocab_size", 50257)},
                                   2 * (base.parameters or 0)):
        raise FinetuneError(problem)
    data = [str(Path(d).absolute()) for d in args.data]
    inputs: list[str | Path] = list(data)
    corpus = load_corpus(inputs, {"fraction": settings["val_share"]}, None, settings["line_breaks"])
    prompt = sample_prompt_from(read_text_file(Path(corpus.files[0]["path"])).text[:20000])
    job = make_job(args.name or "estimate", base.folder, data, settings, len(corpus.train), prompt)
    if args.estimate:
        return _estimate(job, base, args)
    if Path(job["out"]).exists():
        raise FinetuneError(f"--name {args.name!r}: {job['out']} exists already; continue it with "
                            f"inkwell finetune --resume {printable(args.name)}, or choose another name")
    pruned = paths.run_folder(f"{slug(args.name)}-pruned") / "hf"
    shutil.rmtree(pruned.parent, ignore_errors=True)  # a compress stopped while it pruned
    say = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr))
    say(f"measuring what {printable(base.name)} needs on your texts and pruning it to {args.keep:.0%} ...")
    outcome = prune_checkpoint(Path(base.folder) / "hf", data, settings["line_breaks"], args.keep, pruned,
                               int(settings["seq_len"]), int(settings["seed"]))
    if args.json:
        emit_json({"event": "pruned", **outcome})
    else:
        say(f"kept {outcome['plan']}: {outcome['parameters_after'] / 1e6:.1f}M of "
            f"{outcome['parameters'] / 1e6:.1f}M parameters; now learning from the original")
    job.update(init=str(pruned), teacher=str(Path(base.folder) / "hf"), distill_alpha=DISTILL_ALPHA,
               distill_temperature=DISTILL_TEMPERATURE, _base=str(base.folder))
    status = train_and_install(job, False, args)
    if status == 0:  # installed: the pruned start is not needed any more (a stopped run resumes from its checkpoint)
        shutil.rmtree(pruned.parent, ignore_errors=True)
        _measure_and_record(paths.model_folder(slug(args.name)), base, job, args, say)
    return status


def _estimate(job: dict[str, Any], base: Any, args: argparse.Namespace) -> int:
    """The time the copy will take, measured: one batch of the pruning's importance measurement
    and of a candidate's judging, and the fine-tune's warm-up (model.finetune.estimate) of the
    copy's shape learning from the original; with how much less work per word the copy does."""
    from model.compress import estimate

    result = estimate(job, Path(base.folder) / "hf", args.keep)
    if args.json:
        emit_json({"event": "estimate", **result})
    else:
        print(describe_compress_estimate(result), flush=True)
    return 0


def _measure_and_record(copy: Path, base: Any, job: dict[str, Any], args: argparse.Namespace, say: Any) -> None:
    """The installed copy's figures against the original, written into its manifest for the
    Models dialog. A measurement that fails leaves the copy installed, without them."""
    from app.models import record
    from model.compress import measure_copy

    if args.json:
        emit_json({"event": "stage", "stage": "measure", "message": "Measuring the copy against the original"})
    say("measuring the copy against the original (keystroke latency, held-out perplexity) ...")
    try:
        original = Path(base.folder)
        scores, context = measure_copy(copy, original, job)
        copy_ms, original_ms = keystroke_latencies(copy, original, context)
        figures = {"original": base.name, "keep": args.keep, **scores, "keystroke_ms_copy": round(copy_ms, 2),
                   "keystroke_ms_original": round(original_ms, 2), "speedup": round(original_ms / copy_ms, 3)}
        record(copy, "compression", figures)
    except (ModelError, OSError, ValueError) as exc:
        say(f"could not measure the copy ({exc}); it is installed without its figures")
        return
    if args.json:
        emit_json({"event": "measured", **figures})
    else:
        ppl = (f"; held-out perplexity {figures['perplexity_copy']:.1f} against {figures['perplexity_original']:.1f}"
               if "perplexity_copy" in figures else "")
        say(f"a keystroke's suggestion: {figures['keystroke_ms_copy']:.0f} ms against "
            f"{figures['keystroke_ms_original']:.0f} ms ({figures['speedup']:.2f}x as fast){ppl}")


def keystroke_latencies(copy: Path, original: Path, context: list[int]) -> tuple[float, float]:
    """Median milliseconds of a keystroke's suggestion with the copy and with the original (int8
    engines, one character typed after ``context``, an 8-token suggestion), in interleaved rounds."""
    import statistics

    from app.engine import Engine
    from core.tokenizer import decode

    text = decode(context)
    engines = [Engine.load(copy, provider="cpu"), Engine.load(original, provider="cpu")]
    times: list[list[float]] = [[], []]
    for r in range(KEYSTROKE_ROUNDS):
        for i in ((0, 1) if r % 2 == 0 else (1, 0)):
            times[i] += keystroke_ms(engines[i], text)
    return statistics.median(times[0]), statistics.median(times[1])


def keystroke_ms(engine: Any, text: str, chars: str = KEYSTROKE_CHARS, reuse: bool = True) -> list[float]:
    """Type ``chars`` one at a time after ``text`` (its suggestion already made, as in the
    editor); the milliseconds until each 8-token suggestion is complete. ``reuse=False`` forgets
    the cache before each (a cold prompt; bench/bench_engine.py compares the two)."""
    from app.engine import GenerationParams

    params = GenerationParams(max_new_tokens=8, stop_at_eot=False, seed=0)
    engine.reset()
    engine.generate(text, params)
    times = []
    for char in chars:
        text += char
        if not reuse:
            engine.reset()
        times.append(engine.generate(text, params).total_ms)
    return times


if __name__ == "__main__":
    sys.exit(main())
