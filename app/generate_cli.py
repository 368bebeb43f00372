"""``inkwell generate``: write a continuation of a prompt offline, from the command line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app.engine.params import LENGTHS, GenerationParams
from app.models import default_model, installed_models
from app.models import find as find_model
from core import checks
from core.cli_support import log_error
from core.errors import ModelError
from core.fileio import describe_os_error, read_bytes
from core.machine import limit_threads
from core.names import printable
from core.textfile import TEXT_MAX_BYTES, TextFileError, decode_bytes, read_error

# CLI option -> GenerationParams field (the rest of the options configure the engine).
_OPTIONS = {
    "max_new_tokens": "--max-new-tokens", "temperature": "--temperature", "top_k": "--top-k",
    "top_p": "--top-p", "min_p": "--min-p", "repetition_penalty": "--repetition-penalty",
    "repetition_window": "--repetition-window", "no_repeat_ngram_size": "--no-repeat-ngram-size",
    "no_repeat_own_ngram_size": "--no-repeat-own-ngram-size",
    "seed": "--seed", "num_alternatives": "--alternatives", "length": "--length",
    "stop_strings": "--stop", "stop_at_eot": "--no-stop-at-eot", "heal": "--no-heal",
}


def _parser() -> argparse.ArgumentParser:
    d = GenerationParams()
    p = argparse.ArgumentParser(
        prog="inkwell generate", description="Continue a prompt with the model (offline story generation).",
        allow_abbrev=False,
    )
    p.add_argument("prompt", nargs="?", help="the text to continue (or use --prompt-file)")
    p.add_argument("--prompt-file", type=Path, help="read the prompt from this UTF-8 text file")
    p.add_argument("--model", help="installed model (name or folder) or a model bundle folder "
                   "(default: the bundled model, else an installed one)")
    p.add_argument("--provider", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: one per core)")
    p.add_argument("--variant", choices=("int8", "fp16", "fp32"), help="model variant (default: by provider)")
    p.add_argument("--max-new-tokens", type=int, default=200, help="tokens to generate (default 200)")
    p.add_argument("--temperature", type=float, default=d.temperature, help="0 = greedy")
    p.add_argument("--top-k", type=int, default=d.top_k, help="0 = off")
    p.add_argument("--top-p", type=float, default=d.top_p, help="1 = off")
    p.add_argument("--min-p", type=float, default=d.min_p, help="0 = off")
    p.add_argument("--repetition-penalty", type=float, default=d.repetition_penalty, help="1 = off")
    p.add_argument("--repetition-window", type=int, default=d.repetition_window,
                   help="tokens the penalty looks back over (0 = all)")
    p.add_argument("--no-repeat-ngram-size", type=int, default=d.no_repeat_ngram_size, help="0 = off")
    p.add_argument("--no-repeat-own-ngram-size", type=int, default=d.no_repeat_own_ngram_size,
                   help="never repeat an n-gram of the generated text itself (0 = off)")
    p.add_argument("--seed", type=int, help="random seed, for reproducible output")
    p.add_argument("--alternatives", type=int, default=1, help="how many different continuations")
    p.add_argument("--length", choices=LENGTHS, default="tokens", help="end at a word, line or sentence")
    p.add_argument("--stop", action="append", default=[], metavar="TEXT", help="stop before TEXT (repeatable)")
    p.add_argument("--no-stop-at-eot", action="store_true", help="never end at the model's end-of-text")
    p.add_argument("--no-heal", action="store_true", help="do not complete the prompt's last word")
    p.add_argument("--stream", action="store_true", help="print the text as it is generated")
    p.add_argument("--suggestion", action="store_true",
                   help="print what the editor would show at the end of the prompt with the current settings "
                        "(their model and suggestion options; the sampling options above are ignored): "
                        "nothing when it would show nothing")
    p.add_argument("-v", "--verbose", action="store_true", help="print the provider and timings on stderr")
    return p


class _Failure(Exception):
    """A user error: its message is printed as it is, with a non-zero exit."""


def _default_model() -> Path:
    model = default_model()
    if model is None:
        raise _Failure("no model given and none installed: pass --model NAME or FOLDER")
    return model.folder


def _model_folder(given: str) -> Path:
    """``--model``: a model bundle folder, or an installed model's name (as ``inkwell models list``
    shows it) or folder name."""
    folder = Path(given).expanduser()
    if (folder / "inkwell-model.json").is_file():
        return folder
    try:
        return find_model(given).folder
    except ModelError as exc:
        if folder.is_dir():
            return folder  # a folder without a manifest: loading it says what is missing
        installed = installed_models()
        if any(given in (m.name, m.folder.name) for m in installed):
            raise _Failure(f"--model: {exc}") from None  # a name several models share
        names = ", ".join(m.name for m in installed) or "none"
        raise _Failure(f"--model {given}: no such model folder or installed model (installed: {names})") from None


def _read_prompt(args: argparse.Namespace) -> str:
    if args.prompt is not None and args.prompt_file is not None:
        raise _Failure("give the prompt either as an argument or with --prompt-file, not both")
    if args.prompt_file is not None:
        try:
            # The editor's reader: a regular file only (a FIFO would block), capped, any encoding it knows.
            prompt = decode_bytes(read_bytes(args.prompt_file, TEXT_MAX_BYTES), args.prompt_file).text
        except FileNotFoundError:
            raise _Failure(f"{args.prompt_file}: no such prompt file") from None
        except OSError as exc:
            raise _Failure(str(read_error(args.prompt_file, exc))) from None
        except TextFileError as exc:
            raise _Failure(str(exc)) from None
    elif args.prompt is not None:
        prompt = args.prompt
    else:
        raise _Failure("no prompt: give the text to continue, or --prompt-file FILE")
    if not prompt.strip():
        raise _Failure("the prompt is empty")
    return prompt


def _params(args: argparse.Namespace) -> GenerationParams:
    params = GenerationParams(
        max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
        min_p=args.min_p, repetition_penalty=args.repetition_penalty, repetition_window=args.repetition_window,
        no_repeat_ngram_size=args.no_repeat_ngram_size,
        no_repeat_own_ngram_size=args.no_repeat_own_ngram_size, seed=args.seed, num_alternatives=args.alternatives,
        length=args.length, stop_strings=tuple(args.stop), stop_at_eot=not args.no_stop_at_eot,
        heal=not args.no_heal,
    )
    try:
        return params.validate()
    except ValueError as exc:
        field = str(exc).split(" ", 1)[0]
        raise _Failure(f"{_OPTIONS.get(field, field)}: {exc}") from None


def _suggestion_params(args: argparse.Namespace) -> GenerationParams:
    """``--suggestion``: the editor's request at a pause, from the writer's settings (their model too,
    unless --model is given)."""
    from app import models
    from app.generation import params_for
    from app.settings import Settings

    settings = Settings.load()
    if args.model is None:
        model, _notice = models.active_model(settings["model"])
        if model is None:
            raise _Failure("no model installed: pass --model NAME or FOLDER")
        args.model = str(model.folder)
    return params_for(settings, "suggestion").validate()


class _OutputFailed(Exception):
    """Writing the text to standard output failed (a full disk, a closed or broken output)."""


def _output_problem() -> str | None:
    """Why the text could not be written, found before the model loads."""
    closed = "standard output is closed; run it with its output going somewhere (a file, a pipe, the terminal)"
    out = sys.stdout
    if out is None:  # Python's stdout when file descriptor 1 was closed (`>&-`)
        return closed
    try:
        fd = out.fileno()
    except (OSError, ValueError, AttributeError):
        return None  # not a file (a test's capture): its writes say what goes wrong
    try:
        os.fstat(fd)
    except OSError:
        return closed
    return None


def _quiet_stdout() -> None:
    """Point the failed standard output at /dev/null, so that Python's flush at exit does not
    print the same error again as "Exception ignored"."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if problem := _output_problem():
            raise _Failure(problem)
        prompt = _read_prompt(args)
        params = _suggestion_params(args) if args.suggestion else _params(args)
        try:
            checks.whole("--threads", args.threads, low=0)  # 0: as many as suit the computer
        except ValueError as exc:
            raise _Failure(str(exc)) from None
        args.threads, note = limit_threads(args.threads, "--threads")
        if note:
            print(f"inkwell generate: {note}", file=sys.stderr)
        return _run(args, prompt, params)
    except (_Failure, ModelError) as exc:
        if isinstance(exc, ModelError):  # the model's fault, not a mistyped option: worth a log line
            log_error(f"inkwell generate: {exc}")
        print(f"inkwell generate: error: {printable(str(exc), limit=4000)}", file=sys.stderr)
        return 1
    except _OutputFailed as exc:
        _quiet_stdout()
        cause = exc.__cause__
        if isinstance(cause, BrokenPipeError):  # the reader went away (`| head`): nothing to say
            return 1
        print(f"inkwell generate: error: cannot write the text to standard output: "
              f"{describe_os_error(cause) if cause else exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


def _run(args: argparse.Namespace, prompt: str, params: GenerationParams) -> int:
    from app.engine.engine import Engine  # onnxruntime loads only once the arguments are good

    model = _model_folder(args.model) if args.model is not None else _default_model()
    from app.generation import lexicon

    engine = Engine.load(model, provider=args.provider, threads=args.threads, variant=args.variant,
                         lexicon=lexicon())
    if engine.status.message:
        print(f"inkwell generate: {printable(engine.status.message, limit=4000)}", file=sys.stderr)
    many = params.num_alternatives > 1
    stream = args.stream and not many  # alternatives are decoded together: streaming would interleave them
    out = sys.stdout

    def write(text: str) -> None:
        try:
            out.write(text)
            out.flush()
        except (OSError, ValueError) as exc:
            raise _OutputFailed(str(exc)) from exc

    def on_token(_index: int, piece: str, _probability: float) -> None:
        write(piece)

    if args.suggestion:  # exactly the shown text (the first alternative the engine kept), or nothing
        shown = engine.generate(prompt, params).text
        if shown:
            write(shown + "\n")
        return 0
    result = engine.generate(prompt, params, on_token=on_token if stream else None)
    if not stream:
        for i, alt in enumerate(result.alternatives):
            if many:
                write(("\n" if i else "") + f"--- alternative {i + 1} ---\n")
            write(alt.text)
    write("\n")
    if args.verbose:
        s = engine.status
        print(
            f"{printable(s.model_name)} ({s.variant} on {s.provider}): prompt {result.prefill_tokens} tokens in "
            f"{result.prefill_ms:.0f} ms, {result.decode_tokens_per_s:.1f} tokens/s",
            file=sys.stderr,
        )
    return 0
