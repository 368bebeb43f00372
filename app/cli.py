"""The ``inkwell`` command: the editor, or one of the subcommands below.

``inkwell [FILE]`` opens the editor. Subcommands are imported only when used, so that the
editor's process never imports torch (export and training load it in their own processes).
"""

from __future__ import annotations

import importlib
import os
import sys

# name -> (module:function taking argv, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "export": ("model.export:main", "export a Hugging Face GPT-2 checkpoint to an Inkwell model bundle"),
    "models": ("app.models_cli:main", "list, import, download (Hugging Face Hub) or remove models"),
    "generate": ("app.generate_cli:main", "continue a prompt with the model (offline story generation)"),
    "finetune": ("app.finetune_cli:main", "fine-tune an installed model on your texts and install the result"),
    "compress": ("app.compress_cli:main", "make a smaller, faster copy of an installed model (pruned, then distilled)"),
    "train": ("model.train:main", "pre-train or fine-tune GPT-2 on text files (JSON-lines events on stdout)"),
}


def _usage() -> str:
    lines = ["usage: inkwell [FILE]", "       inkwell COMMAND [ARGS...]", "", "commands:",
             f"  {'help':<10} this list (COMMAND --help: its options)"]
    lines += [f"  {name:<10} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines += ["", "options:", "  --version    print the version and exit",
              "  --self-test  load the bundled model, generate a few words offscreen, report what was checked"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except BrokenPipeError:
        # The reader went away (`inkwell help | head`): nothing more to say, and nothing to
        # flush at exit either (Python's advice for programs whose output is piped).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _close_command(word: str) -> str | None:
    """The command ``word`` was probably meant to be (``genrate``: generate), or None."""
    import difflib

    if not word or len(word) > 40 or not word.isascii() or not word.replace("-", "").isalnum():
        return None
    match = difflib.get_close_matches(word.lower(), ["help", *SUBCOMMANDS], n=1, cutoff=0.75)
    return match[0] if match else None


def _unknown(word: str, meant: str | None) -> int:
    from core.names import printable

    guess = f"; did you mean {meant}?" if meant else ""
    print(f"inkwell: unknown command {printable(word, 60)!r}{guess} (inkwell --help lists the commands)",
          file=sys.stderr)
    return 2


def _main(argv: list[str]) -> int:
    if argv and argv[0] == "help" and len(argv) > 1:  # `inkwell help generate`: generate's options
        if argv[1] not in SUBCOMMANDS:
            return _unknown(argv[1], _close_command(argv[1]))
        argv = [argv[1], "--help"]
    if argv and argv[0] in ("-h", "--help", "help"):  # (a file named "help" opens as ./help)
        print(_usage())
        return 0
    if argv and argv[0] == "--version":
        from app import __version__

        print(f"inkwell {__version__}")
        return 0
    if argv and argv[0] == "--self-test":
        from app.ui.selftest import main as self_test

        return self_test(argv[1:])
    if argv and argv[0] in SUBCOMMANDS:
        target, _ = SUBCOMMANDS[argv[0]]
        module, func = target.split(":")
        try:
            return int(getattr(importlib.import_module(module), func)(argv[1:]) or 0)
        except ModuleNotFoundError as exc:  # e.g. torch, which the standalone build leaves out
            from app.tools import missing_package

            message = missing_package(exc)
            if message is None:
                raise
            print(f"inkwell {argv[0]}: {message}", file=sys.stderr)
            return 2
    # A mistyped command would open the editor on a new file of that name.
    if argv and not argv[0].startswith("-") and not os.path.lexists(argv[0]) and (meant := _close_command(argv[0])):
        return _unknown(argv[0], meant)
    from app.ui.gui import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
