"""Export a Hugging Face GPT-2 checkpoint to an Inkwell model bundle.

    python -m model.export SRC OUT [--variants fp32,int8,fp16] [--name NAME] [--force] [--json]
    inkwell export SRC OUT ...

Every ONNX file is checked before the bundle is written: the fp32 graph against the PyTorch
model on random inputs, with an empty past and with a past (max abs logit difference at most
``PARITY_TOLERANCE``, or the export fails); the int8 and fp16 graphs by how often their top-1
token agrees with PyTorch's along a passage of text, decoded token by token through the KV
cache as the editor does (recorded in the manifest). The bundle is built in a temporary folder
beside OUT and moved into place at the end.

With ``--json`` progress goes to stdout as JSON lines, for a GUI driving the export through
QProcess; otherwise it is printed for people on stderr. Events:
``start`` (source, output, variants, total_steps); ``stage`` (stage, message: a slow part
begins); ``progress`` (step, total_steps, stage, message, elapsed_s: a part is done);
``verify`` (variant, max_abs_diff or top1_agreement); ``done`` (output, bytes, variants,
elapsed_s); ``error`` (message, also printed on stderr; the exit code is then non-zero).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import functools
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.bundle import KV_DTYPES, VARIANT_FILES, Bundle, BundleWriter, check_destination
from core.cache_calibration import cache_scales
from core.cli_support import fail, raise_interrupt
from core.errors import ModelError
from core.events import Emit, Printer, Words, emit_json
from core.machine import memory_problem
from core.weights import check_config, export_memory, tensor_shapes

PARITY_TOLERANCE = 1e-4
DEFAULT_VARIANTS = ("fp32", "int8", "fp16")
HF_DTYPES = ("auto", "float32", "float16", "none")
# Public-domain prose (Jane Austen, "Pride and Prejudice", chapter 1) for the top-1 agreement
# of the reduced-precision variants: real text exercises a trained model as the editor will.
AGREEMENT_TEXT = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife. However little known the feelings or views of such a man may be "
    "on his first entering a neighbourhood, this truth is so well fixed in the minds of the "
    "surrounding families, that he is considered as the rightful property of some one or other "
    "of their daughters. \"My dear Mr. Bennet,\" said his lady to him one day, \"have you heard "
    "that Netherfield Park is let at last?\" Mr. Bennet replied that he had not. \"But it is,\" "
    "returned she; \"for Mrs. Long has just been here, and she told me all about it.\" Mr. Bennet "
    "made no answer. \"Do not you want to know who has taken it?\" cried his wife impatiently."
)



def export_bundle(
    src: str | Path,
    out: str | Path,
    variants: tuple[str, ...] | list[str] = DEFAULT_VARIANTS,
    name: str | None = None,
    force: bool = False,
    hf_dtype: str = "auto",
    progress: Emit | None = None,
    licence: str = "unspecified",
    perplexity: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    seed: int = 0,
) -> Bundle:
    """Export the checkpoint folder ``src`` to a bundle at ``out``; returns the loaded bundle.

    Raises ``ModelError`` (message for the user) on bad input; ``out`` is then untouched.
    Three stages: check the request and the checkpoint, build and verify each variant, write.
    """
    from core.onnx_graph import GraphSpec, QuantOptions, block_size_for

    if hf_dtype not in HF_DTYPES:
        raise ModelError(f"--hf-dtype: expected one of {', '.join(HF_DTYPES)}, got {hf_dtype!r}")
    # No variants: a bundle of weights only (hf/), whose graphs Inkwell builds on first use.
    variants = _check_variants(variants, weights_only_allowed=hf_dtype != "none")
    src, out = Path(src), Path(out).absolute()
    check_destination(out, force)  # fail before the slow part

    # A step each: load, build every variant (fp32 always: the reference), save hf/, write.
    total = 1 + len({"fp32", *variants}) + (hf_dtype != "none") + 1
    report = _Report(progress or (lambda event: None), total)
    report.emit({"event": "start", "source": str(src), "output": str(out), "variants": list(variants),
                 "total_steps": report.total})

    source = _check_source(src, perplexity, provenance)
    cfg = source.cfg
    model, source_dtype = _load(source, report)

    spec = GraphSpec(cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.vocab_size, cfg.n_positions, cfg.layer_norm_epsilon)
    weights = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    quant = QuantOptions(block_size=block_size_for(cfg.n_embd), kv_cache="int8")
    checker = _Checker(model, cfg, seed)

    with BundleWriter(out, force=force) as writer:
        # fp32 first: it is the reference the others are compared with, and the export fails
        # on it before spending time on the rest.
        results: dict[str, dict[str, Any]] = {}
        for variant in ["fp32"] + [v for v in variants if v != "fp32"]:
            results[variant] = _build_variant(variant, variant in variants, spec, weights, quant,
                                              name or src.name, checker, writer, report, src)
        if hf_dtype != "none":
            _save_hf(model, hf_dtype, source_dtype, writer, report)
        manifest = _manifest(source, name, licence, quant.block_size, results["fp32"]["max_abs_diff"])
        bundle = writer.commit(manifest)
        report.step("write", f"wrote {out}")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    report.emit({"event": "done", "output": str(out), "bytes": size, "variants": list(variants),
                 "elapsed_s": report.elapsed()})
    return bundle


class _Report:
    """The export's progress events: ``stage`` when a slow part begins, ``progress`` when a step
    is done, both with the step count and the time since the start."""

    def __init__(self, emit: Emit, total: int):
        self.emit = emit
        self.total = total
        self.done = 0
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 2)

    def stage(self, name: str, message: str) -> None:
        """Announce a slow part, so a progress display can say what is going on."""
        self.emit({"event": "stage", "stage": name, "message": message, "step": self.done,
                   "total_steps": self.total, "elapsed_s": self.elapsed()})

    def step(self, stage: str, message: str) -> None:
        self.done += 1
        self.emit({"event": "progress", "step": self.done, "total_steps": self.total, "stage": stage,
                   "message": message, "elapsed_s": self.elapsed()})


@dataclasses.dataclass
class _Source:
    """A checkpoint folder that passed the checks, with what the manifest records of it."""

    folder: Path
    cfg: Any
    weights_file: Path
    perplexity: dict[str, Any] | None
    provenance: dict[str, Any] | None


def _check_source(src: Path, perplexity: dict[str, Any] | None,
                  provenance: dict[str, Any] | None) -> _Source:
    """Everything about ``src`` that can fail before the slow part: its config, the weights'
    shapes against it, and the memory the export will take."""
    from core.config import GPT2Config
    from core.onnx_graph import shape_problem
    from model.hf import find_weights

    if not src.exists():
        raise ModelError(f"{src}: no such folder")
    if not src.is_dir():
        raise ModelError(f"{src}: expected a folder with config.json and model weights")
    cfg = GPT2Config.load(src / "config.json")
    problem = shape_problem(cfg.n_embd, cfg.n_head)
    if problem:
        raise ModelError(f"{src / 'config.json'}: {problem}")
    from core.tokenizer import get_encoding

    n_vocab = get_encoding().n_vocab
    if cfg.vocab_size < n_vocab:
        raise ModelError(
            f"{src / 'config.json'}: vocab_size {cfg.vocab_size} is smaller than the GPT-2 "
            f"tokenizer's {n_vocab} tokens"
        )
    weights_file = find_weights(src)
    # Before anything is built from the config: its numbers against the weights' real shapes
    # (the header only), and the memory the export will take against what the machine has.
    shapes = tensor_shapes(weights_file)
    if shapes is not None:
        check_config(cfg, shapes, str(weights_file))
    problem = memory_problem(export_memory(cfg.num_parameters()),
                             f"exporting a model of {cfg.num_parameters() / 1e6:.0f}M parameters")
    if problem:
        raise ModelError(f"{src}: {problem}")
    if perplexity is None or provenance is None:
        # A run folder of model.train carries its held-out perplexity and recipe into the manifest.
        from model.train_checkpoint import training_metadata

        trained_ppl, trained_provenance = training_metadata(src)
        perplexity = trained_ppl if perplexity is None else perplexity
        provenance = trained_provenance if provenance is None else provenance
    return _Source(src, cfg, weights_file, perplexity, provenance)


def _load(source: _Source, report: _Report) -> tuple[Any, Any]:
    """The PyTorch model, and the precision its weights were stored in."""
    from model.hf import build_gpt2, read_tensors

    weights_file = source.weights_file
    report.stage("load", f"reading {weights_file.name}")
    tensors = read_tensors(weights_file)
    source_dtype = _float_dtype(tensors)
    model = build_gpt2(source.cfg, tensors, str(weights_file))
    del tensors
    report.step("load", f"loaded {weights_file.name} ({source.cfg.num_parameters() / 1e6:.1f}M parameters)")
    return model, source_dtype


def _build_variant(variant: str, keep: bool, spec: Any, weights: dict[str, np.ndarray], quant: Any,
                   graph_name: str, checker: _Checker, writer: BundleWriter, report: _Report,
                   src: Path) -> dict[str, Any]:
    """Build ``variant``'s graph, verify it against PyTorch, and add it to the bundle if
    ``keep`` (fp32 is always built, as the reference, but kept only when asked for).
    Returns what the verification measured."""
    from core.onnx_graph import QuantOptions, build_graph, save_graph

    report.stage(f"build {variant}", f"building the {variant} graph")
    if variant == "int8":
        weights.update(_int8_cache_scales(spec, weights, quant, writer.tmp, checker.cfg))
    graph = build_graph(spec, weights, variant, quant if variant == "int8" else QuantOptions(), name=graph_name)
    path = writer.path(VARIANT_FILES[variant]) if keep else writer.tmp / "check.fp32.onnx"
    extra_files = save_graph(graph, path)
    del graph
    report.stage(f"verify {variant}", f"checking the {variant} graph against PyTorch")
    result = _verify(variant, path, checker, report, src)
    if keep:
        extra = {"top1_agreement": result["top1_agreement"]} if variant != "fp32" else {}
        writer.add_variant(variant, KV_DTYPES[variant], **extra)
        for rel in extra_files:
            writer.add_file(rel)
    else:
        for p in [path, *(path.parent / rel for rel in extra_files)]:
            p.unlink()
    if variant == "fp32":
        message = f"fp32 matches PyTorch (max logit difference {result['max_abs_diff']:.2g})"
    else:
        message = f"{variant}: top-1 agreement with PyTorch {result['top1_agreement']:.1%}"
    report.step(f"build {variant}", message)
    return result


def _verify(variant: str, path: Path, checker: _Checker, report: _Report, src: Path) -> dict[str, Any]:
    """The fp32 graph's largest difference from PyTorch (failing the export past
    ``PARITY_TOLERANCE``), or a reduced-precision graph's top-1 agreement with it."""
    try:
        session = _session(path)
        if variant == "fp32":
            diff = checker.parity(session)
        else:
            agreement = checker.agreement(session, np.dtype(KV_DTYPES[variant]).type)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own errors (e.g. a version without an operator)
        raise _cannot_run(variant, exc) from None
    del session  # the graph file may be removed next
    if variant != "fp32":
        report.emit({"event": "verify", "variant": variant, "top1_agreement": agreement})
        return {"top1_agreement": agreement}
    report.emit({"event": "verify", "variant": "fp32", "max_abs_diff": diff, "tolerance": PARITY_TOLERANCE})
    if not diff <= PARITY_TOLERANCE:
        raise ModelError(
            f"{src}: the exported ONNX graph disagrees with PyTorch (max logit "
            f"difference {diff:.3g} > {PARITY_TOLERANCE}); nothing was written"
        )
    return {"max_abs_diff": diff}


def _save_hf(model: Any, hf_dtype: str, source_dtype: Any, writer: BundleWriter, report: _Report) -> None:
    import torch

    from model.hf import save_gpt2

    dtype = {"auto": source_dtype, "float32": torch.float32, "float16": torch.float16}[hf_dtype]
    report.stage("save hf", "saving the Hugging Face checkpoint")
    save_gpt2(model, writer.path("hf"), dtype=dtype)
    for f in sorted(writer.path("hf").iterdir()):
        writer.add_file(f"hf/{f.name}")
    report.step("save hf", f"Hugging Face checkpoint saved as {str(dtype).removeprefix('torch.')}")


def _manifest(source: _Source, name: str | None, licence: str, block_size: int,
              fp32_diff: float) -> dict[str, Any]:
    import torch

    cfg = source.cfg
    return {
        "name": name or source.folder.absolute().name,
        "architecture": {"n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_embd": cfg.n_embd,
                         "n_positions": cfg.n_positions, "vocab_size": cfg.vocab_size},
        "tokenizer": "gpt2",
        "context_length": cfg.n_positions,
        "provenance": {
            "source": str(source.folder.absolute()),
            "source_weights": source.weights_file.name,
            "exported_by": f"inkwell {_version()} (model.export)",
            "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            "torch": torch.__version__,
            "onnxruntime": _ort_version(),
            "graph": "fused (GroupQueryAttention with an in-place cache, SkipLayerNormalization, FastGelu), opset 17",
            "int8_quantization": {"weights": "8-bit symmetric, one scale per block (MatMulNBits)",
                                  "block_size": block_size,
                                  "activations": "int8 per block, on the fly (accuracy_level 4)"},
            "fp32_max_abs_logit_diff": fp32_diff,
            **(source.provenance or {}),
        },
        "perplexity": source.perplexity,
        "licence": licence,
        "parameters": cfg.num_parameters(),
    }


def _cannot_run(variant: str, exc: Exception) -> ModelError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelError(f"{VARIANT_FILES[variant]}: onnxruntime {_ort_version()} cannot run the exported "
                      f"{variant} graph ({reason})")


def _int8_cache_scales(spec: Any, weights: dict, quant: Any, tmp: Path, cfg: Any) -> dict:
    """The int8 cache's scales, from a pass of the int8 graph with a float cache: the same pass
    app/engine/built_graphs.py makes, so an exported and a built graph of one checkpoint agree."""
    from core.onnx_graph import build_graph, save_graph

    path = tmp / "calibrate.int8.onnx"
    extra = save_graph(build_graph(spec, weights, "int8", dataclasses.replace(quant, kv_cache="float")), path)
    try:
        session = _session(path)
        return cache_scales(functools.partial(session.run, None), cfg.n_layer, cfg.n_head, cfg.head_dim,
                            cfg.n_positions)
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own errors (e.g. a version without an operator)
        raise _cannot_run("int8", exc) from None
    finally:
        for p in [path, *(path.parent / rel for rel in extra)]:
            p.unlink(missing_ok=True)


def _check_variants(variants: tuple[str, ...] | list[str], weights_only_allowed: bool) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(v.strip() for v in variants if v.strip() and v.strip() != "none"))
    if not names and not weights_only_allowed:
        raise ModelError("--variants: give at least one of " + ", ".join(VARIANT_FILES)
                         + " (a bundle without graphs needs its Hugging Face checkpoint: drop --hf-dtype none)")
    for v in names:
        if v not in VARIANT_FILES:
            raise ModelError(f"--variants: unknown variant {v!r} (expected {', '.join(DEFAULT_VARIANTS)})")
    return names


def _float_dtype(tensors: dict) -> Any:
    import torch

    for t in tensors.values():
        if t.is_floating_point():
            return torch.float16 if t.dtype in (torch.float16, torch.bfloat16) else torch.float32
    return torch.float32


def _session(path: Path, threads: int = 0) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("inkwell")
    except PackageNotFoundError:  # not installed (running from a source tree)
        return "dev"


class _Checker:
    """Compares ONNX sessions with the PyTorch model the graphs were built from."""

    def __init__(self, model: Any, cfg: Any, seed: int):
        self.model = model
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)

    def _feeds(self, ids: np.ndarray, start: int, past: list | None, dtype: Any) -> dict[str, np.ndarray]:
        b, s = ids.shape
        cfg = self.cfg
        feeds = {"input_ids": ids.astype(np.int64),
                 "position_ids": np.tile(np.arange(start, start + s, dtype=np.int64), (b, 1))}
        for i in range(cfg.n_layer):
            if past is None:
                k = v = np.zeros((b, cfg.n_head, 0, cfg.head_dim), dtype)
            else:
                k, v = (np.asarray(t, dtype) for t in past[i])
            feeds[f"past_key_values.{i}.key"] = k
            feeds[f"past_key_values.{i}.value"] = v
        return feeds

    def _torch(self, ids: np.ndarray) -> tuple[np.ndarray, list]:
        import torch

        with torch.no_grad():
            logits, presents = self.model(torch.from_numpy(ids.astype(np.int64)))
        return logits.numpy(), [(k.numpy(), v.numpy()) for k, v in presents]

    def parity(self, session: Any) -> float:
        """Max abs difference of logits and cache between ONNX and PyTorch over: a prompt with an
        empty past (batch 2), a continuation of several tokens with a past (batch 1: the graph's
        attention takes several new tokens after a past only one row at a time), and a one-token
        step (batch 2)."""
        cfg = self.cfg
        total = min(24, cfg.n_positions)
        ids = self.rng.integers(0, cfg.vocab_size, size=(2, total))
        ref_logits, ref_presents = self._torch(ids)
        worst = 0.0
        for start, stop in ((0, total // 2), (total // 2, total - 1), (total - 1, total)):
            rows = 1 if 0 < start < stop - 1 else 2
            past = None if start == 0 else [(k[:rows, :, :start], v[:rows, :, :start]) for k, v in ref_presents]
            out = session.run(None, self._feeds(ids[:rows, start:stop], start, past, np.float32))
            worst = max(worst, float(np.abs(out[0] - ref_logits[:rows, stop - 1]).max()))
            for i in range(cfg.n_layer):
                for j in range(2):
                    got, want = out[1 + 2 * i + j], ref_presents[i][j][:rows, :, :stop]
                    if got.shape != want.shape:
                        raise ModelError(f"present.{i} has shape {got.shape}, expected {want.shape}")
                    worst = max(worst, float(np.abs(got - want).max()))
        return worst

    def agreement(self, session: Any, kv_dtype: Any) -> float:
        """Fraction of positions of ``AGREEMENT_TEXT`` where the session's top-1 token equals
        PyTorch's, prefilling a few tokens and then decoding one at a time through the cache."""
        from core.tokenizer import encode

        tokens = np.array([encode(AGREEMENT_TEXT)[: min(160, self.cfg.n_positions)]], dtype=np.int64)
        ref_logits, _ = self._torch(tokens)
        ref_top = ref_logits[0].argmax(-1)
        prefill = 8
        out = session.run(None, self._feeds(tokens[:, :prefill], 0, None, kv_dtype))
        hits = int(out[0][0].argmax() == ref_top[prefill - 1])
        past = [(out[1 + 2 * i], out[2 + 2 * i]) for i in range(self.cfg.n_layer)]
        n = tokens.shape[1]
        for pos in range(prefill, n):
            out = session.run(None, self._feeds(tokens[:, pos:pos + 1], pos, past, kv_dtype))
            hits += int(out[0][0].argmax() == ref_top[pos])
            past = [(out[1 + 2 * i], out[2 + 2 * i]) for i in range(self.cfg.n_layer)]
        return round(hits / (n - prefill + 1), 4)


# --- command line -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="inkwell export", allow_abbrev=False,
        description="Export a Hugging Face GPT-2 checkpoint folder to an Inkwell model bundle.",
    )
    p.add_argument("src", metavar="SRC", help="folder with config.json and model.safetensors or pytorch_model.bin")
    p.add_argument("out", metavar="OUT", help="bundle folder to create")
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS),
                   help="comma-separated ONNX variants to write: fp32, int8, fp16, or none for the weights only "
                        "(Inkwell builds the graph it needs on first use) (default: %(default)s)")
    p.add_argument("--name", help="model name shown in Inkwell (default: the name of SRC)")
    p.add_argument("--force", action="store_true", help="replace OUT if it is an existing Inkwell model")
    p.add_argument("--hf-dtype", choices=HF_DTYPES, default="auto",
                   help="store the Hugging Face checkpoint in hf/ as float32 or float16, 'auto' keeps the "
                        "source's precision, 'none' leaves it out (default: %(default)s)")
    p.add_argument("--licence", default="unspecified", help="licence of the weights, recorded in the manifest")
    p.add_argument("--json", action="store_true", help="JSON-lines progress events on stdout")
    return p


# The export's events for people.
WORDS: dict[str, Words] = {
    "start": lambda e: f"exporting {e['source']} -> {e['output']} ({', '.join(e['variants']) or 'weights only'})",
    "stage": lambda e: f"      {e['message']}...",
    "progress": lambda e: f"[{e['step']}/{e['total_steps']}] {e['message']}",
    "done": lambda e: f"done: {e['output']} ({e['bytes'] / 1e6:.1f} MB, {e['elapsed_s']:.1f} s)",
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    emit: Emit = emit_json if args.json else Printer(WORDS)
    # QProcess.terminate() sends SIGTERM: unwind normally so the temporary folder is removed.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, raise_interrupt) if in_main_thread else None
    try:
        export_bundle(
            args.src, args.out, variants=args.variants.split(","), name=args.name, force=args.force,
            hf_dtype=args.hf_dtype, progress=emit, licence=args.licence,
        )
    except ModelError as exc:
        return fail("inkwell export", str(exc), args.json)
    except OSError as exc:
        where = exc.filename or args.out
        return fail("inkwell export", f"{where}: {exc.strerror or exc}", args.json)
    except KeyboardInterrupt:
        return fail("inkwell export", "export cancelled; nothing was written", args.json, code=130)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
