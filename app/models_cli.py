"""``inkwell models``: the command line of app.installer.

    inkwell models list [--json]
    inkwell models import SRC [--size gpt2|gpt2-medium|...] [--name NAME] [--json]
    inkwell models download gpt2|gpt2-medium|gpt2-large|gpt2-xl|distilgpt2|OWNER/REPO
                            [--plan] [--discard] [--name NAME] [--json]
    inkwell models remove NAME|FOLDER

With ``--json`` app.installer's events go to stdout as JSON lines, one per line (the Models
dialog reads them), and a failure as an ``error`` event (message; the exit code is then
non-zero); without it people get a progress line on stderr.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from app import hub, models
from app.installer import INSTALL_VARIANTS, SIZES, discard_download, download, install, progress_text
from core import paths
from core.cli_support import fail, raise_interrupt
from core.errors import ModelError
from core.events import Emit, Event, Printer, Words, emit_json
from core.names import printable
from core.units import human_bytes


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(allow_abbrev=False, prog="inkwell models", description="Manage Inkwell's installed models.")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", allow_abbrev=False, help="installed models")
    ls.add_argument("--json", action="store_true", help="one JSON object per model")
    imp = sub.add_parser("import", allow_abbrev=False,
                         help="import a checkpoint folder, weights file, ONNX file or Inkwell model")
    imp.add_argument("src", metavar="SRC")
    imp.add_argument("--size", metavar="SIZE", help=f"GPT-2 size of a bare weights file or ONNX graph: "
                     f"{', '.join(SIZES)} or a config.json file (read from a .safetensors header when left out)")
    imp.add_argument("--name", help="name shown in Inkwell")
    imp.add_argument("--variants", default=",".join(INSTALL_VARIANTS),
                     help="ONNX variants to write for a checkpoint: fp32, int8, fp16 (default: %(default)s)")
    imp.add_argument("--json", action="store_true", help="JSON-lines progress events on stdout")
    dl = sub.add_parser("download", allow_abbrev=False,
                        help="download GPT-2 from the Hugging Face Hub (HF_ENDPOINT) and install it")
    dl.add_argument("model", metavar="MODEL", help=f"{', '.join(hub.KNOWN)} or a hub repository OWNER/NAME")
    dl.add_argument("--revision", default="main")
    dl.add_argument("--name", help="name shown in Inkwell")
    dl.add_argument("--plan", action="store_true", help="only show what would be downloaded and the disk needed")
    dl.add_argument("--discard", action="store_true", help="delete a partial download of MODEL")
    dl.add_argument("--variants", default=",".join(INSTALL_VARIANTS),
                    help="ONNX variants to write: fp32, int8, fp16 (default: %(default)s)")
    dl.add_argument("--json", action="store_true", help="JSON-lines progress events on stdout")
    rm = sub.add_parser("remove", allow_abbrev=False, help="delete an installed model (not the bundled one)")
    rm.add_argument("model", metavar="NAME|FOLDER")
    rm.add_argument("--json", action="store_true")
    return p


def _plan_words(event: Event) -> str:
    line = (f"{event['repo']} @ {event['commit'][:12]}: {human_bytes(event['total_bytes'])} "
            f"({', '.join(f['name'] for f in event['files'])})")
    if event["have_bytes"]:
        line += f", {human_bytes(event['have_bytes'])} already downloaded"
    return line + f"; needs {human_bytes(event['disk_needed'])} of disk, {human_bytes(event['disk_free'])} free"


# app.installer's events for people; a terminal gets one updating progress line, a log one line each.
WORDS: dict[str, Words] = {
    "plan": _plan_words,
    "download": lambda e: f"  {progress_text(e)}",
    "verified": lambda e: f"  {e['file']}: checksum matches the hub",
    "stage": lambda e: f"  {printable(e['message'])}…",
    "export": lambda e: f"  [{e['step']}/{e['total_steps']}] {printable(e['message'])}",
    "installed": lambda e: f"installed {printable(e['name'])} in {printable(e['folder'])}",
}


def model_record(m: models.InstalledModel, active: models.InstalledModel | None) -> dict[str, Any]:
    return {"name": m.name, "folder": str(m.folder), "bundled": m.bundled, "parameters": m.parameters,
            "bytes": m.size_bytes, "variants": m.variants, "provenance": m.provenance,
            "perplexity": m.perplexity, "active": active is not None and m.folder == active.folder,
            "problem": m.problem}


def _list(as_json: bool) -> None:
    from app.settings import Settings

    active, _ = models.active_model(Settings.load()["model"])
    records = [(m, model_record(m, active)) for m in models.installed_models()]
    if as_json:
        for _, r in records:
            emit_json(r)
        return
    if not records:
        print(f"no models installed (they go in {paths.models_dir()})")
        return
    print(list_text(records))


def list_text(records: list[tuple[models.InstalledModel, dict[str, Any]]]) -> str:
    """The table of ``inkwell models list``: columns as wide as their longest entry, and below each
    model its folder and on what text its perplexity was measured (perplexities measured on
    different texts, or with other tokenizers, do not compare)."""
    rows = []
    for _, r in records:
        params = f"{r['parameters'] / 1e6:.1f}M" if r["parameters"] else "?"
        ppl = f"{r['perplexity']:.1f}" if r["perplexity"] else "-"
        rows.append(("*" if r["active"] else " ", printable(r["name"], 60), params, human_bytes(r["bytes"]),
                     printable(",".join(r["variants"]) or "-"), ppl, printable(r["problem"] or r["provenance"])))
    header = (" ", "NAME", "PARAMS", "SIZE", "VARIANTS", "PERPLEXITY", "FROM")
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    right = {2, 3, 5}  # numbers line up on their last digit

    def line(row) -> str:
        cells = [cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        return "  ".join(cells[:-1]) + "  " + row[-1]

    out = [line(header)]
    datasets = set()
    for (m, r), row in zip(records, rows):
        out.append(line(row))
        out.append(f"      folder: {printable(r['folder'])}")
        measured = (m.manifest or {}).get("perplexity")
        measured = measured if isinstance(measured, dict) else {}
        if r["perplexity"]:
            on = printable(measured.get("dataset") or "a text not recorded in the model")
            tokens = measured.get("tokens")
            out.append(f"      perplexity {row[5]} measured on {on}"
                       + (f" ({tokens:,} tokens)" if isinstance(tokens, int) else ""))
            datasets.add(on)
    if len(datasets) > 1:
        out.append("(perplexities measured on different texts do not compare with each other)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    as_json = getattr(args, "json", False)

    emit: Emit = emit_json if as_json else Printer(WORDS, in_place=frozenset({"download"}))
    # QProcess.terminate() sends SIGTERM: unwind, so partial files are flushed and temporary
    # folders removed.
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, raise_interrupt) if in_main else None
    try:
        if args.command == "list":
            _list(as_json)
        elif args.command == "import":
            install(args.src, size=args.size, name=args.name, emit=emit, variants=_variants(args.variants))
        elif args.command == "download":
            if args.discard:
                found = discard_download(args.model)
                print(f"{'deleted' if found else 'no'} partial download of {printable(args.model)}", file=sys.stderr)
                return 0
            download(args.model, args.revision, args.name, emit, plan_only=args.plan,
                     variants=_variants(args.variants))
        elif args.command == "remove":
            model = models.find(args.model)
            models.remove(model)
            print(f"deleted {printable(model.name)} ({printable(model.folder)})", file=sys.stderr)
    except (ModelError, hub.HubError) as exc:
        return fail("inkwell models", str(exc), as_json)
    except OSError as exc:
        return fail("inkwell models", f"{exc.filename or 'file'}: {exc.strerror or exc}", as_json)
    except KeyboardInterrupt:
        kept = "; the partial download is kept and continues when you download this model again" \
            if args.command == "download" else "; nothing was installed"
        return fail("inkwell models", f"cancelled{kept}", as_json, code=130)
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
    return 0


def _variants(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


if __name__ == "__main__":
    sys.exit(main())
