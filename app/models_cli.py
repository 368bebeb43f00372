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
import json
import signal
import sys
import threading
from typing import Any

from app import hub, models
from app.installer import INSTALL_VARIANTS, SIZES, discard_download, download, install, progress_text
from model.cli_support import fail, raise_interrupt
from model.errors import ModelError
from model.units import human_bytes


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inkwell models", description="Manage Inkwell's installed models.")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="installed models")
    ls.add_argument("--json", action="store_true", help="one JSON object per model")
    imp = sub.add_parser("import", help="import a checkpoint folder, weights file, ONNX file or Inkwell model")
    imp.add_argument("src", metavar="SRC")
    imp.add_argument("--size", metavar="SIZE", help=f"GPT-2 size of a bare weights file or ONNX graph: "
                     f"{', '.join(SIZES)} or a config.json file (read from a .safetensors header when left out)")
    imp.add_argument("--name", help="name shown in Inkwell")
    imp.add_argument("--variants", default=",".join(INSTALL_VARIANTS),
                     help="ONNX variants to write for a checkpoint: fp32, int8, fp16 (default: %(default)s)")
    imp.add_argument("--json", action="store_true", help="JSON-lines progress events on stdout")
    dl = sub.add_parser("download", help="download GPT-2 from the Hugging Face Hub (HF_ENDPOINT) and install it")
    dl.add_argument("model", metavar="MODEL", help=f"{', '.join(hub.KNOWN)} or a hub repository OWNER/NAME")
    dl.add_argument("--revision", default="main")
    dl.add_argument("--name", help="name shown in Inkwell")
    dl.add_argument("--plan", action="store_true", help="only show what would be downloaded and the disk needed")
    dl.add_argument("--discard", action="store_true", help="delete a partial download of MODEL")
    dl.add_argument("--variants", default=",".join(INSTALL_VARIANTS),
                    help="ONNX variants to write: fp32, int8, fp16 (default: %(default)s)")
    dl.add_argument("--json", action="store_true", help="JSON-lines progress events on stdout")
    rm = sub.add_parser("remove", help="delete an installed model (not the bundled one)")
    rm.add_argument("model", metavar="NAME|FOLDER")
    rm.add_argument("--json", action="store_true")
    return p


def _human(event: dict[str, Any]) -> None:
    kind = event["event"]
    end = "\n"
    tty = sys.stderr.isatty()  # a terminal gets one updating progress line, a log one line each
    if kind == "plan":
        line = (f"{event['repo']} @ {event['commit'][:12]}: {human_bytes(event['total_bytes'])} "
                f"({', '.join(f['name'] for f in event['files'])})")
        if event["have_bytes"]:
            line += f", {human_bytes(event['have_bytes'])} already downloaded"
        line += (f"; needs {human_bytes(event['disk_needed'])} of disk, "
                 f"{human_bytes(event['disk_free'])} free")
    elif kind == "download":
        line = ("\r" if tty else "") + f"  {progress_text(event)}"
        end = "" if tty else "\n"
    elif kind == "verified":
        line = ("\n" if tty else "") + f"  {event['file']}: checksum matches the hub"
    elif kind == "stage":
        line = f"  {event['message']}…"
    elif kind == "export":
        line = f"  [{event['step']}/{event['total_steps']}] {event['message']}"
    elif kind == "installed":
        line = f"installed {event['name']} in {event['folder']}"
    else:
        return
    print(line, end=end, file=sys.stderr, flush=True)


def model_record(m: models.InstalledModel, active: models.InstalledModel | None) -> dict[str, Any]:
    return {"name": m.name, "folder": str(m.folder), "bundled": m.bundled, "parameters": m.parameters,
            "bytes": m.size_bytes, "variants": m.variants, "provenance": m.provenance,
            "perplexity": m.perplexity, "active": active is not None and m.folder == active.folder,
            "problem": m.problem}


def _list(as_json: bool) -> None:
    from app.settings import Settings

    active, _ = models.active_model(Settings.load()["model"])
    for m in models.installed_models():
        r = model_record(m, active)
        if as_json:
            print(json.dumps(r), flush=True)
            continue
        params = f"{r['parameters'] / 1e6:.1f}M" if r["parameters"] else "?"
        ppl = f"ppl {r['perplexity']:.1f}" if r["perplexity"] else "ppl -"
        mark = "*" if r["active"] else " "
        detail = r["problem"] or f"{params:>7}  {human_bytes(r['bytes']):>9}  {','.join(r['variants']):<14} {ppl:<9} {r['provenance']}"
        print(f"{mark} {r['name']:<24} {detail}\n    {r['folder']}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    as_json = getattr(args, "json", False)

    def emit_json(event: dict[str, Any]) -> None:
        print(json.dumps(event), flush=True)

    emit = emit_json if as_json else _human
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
                print(f"{'deleted' if found else 'no'} partial download of {args.model}", file=sys.stderr)
                return 0
            download(args.model, args.revision, args.name, emit, plan_only=args.plan,
                     variants=_variants(args.variants))
        elif args.command == "remove":
            model = models.find(args.model)
            models.remove(model)
            print(f"deleted {model.name} ({model.folder})", file=sys.stderr)
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
