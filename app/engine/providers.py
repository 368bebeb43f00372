"""Which bundle variant runs where: CUDA with fp16, else CPU with int8, and why when not as asked.

CUDA is tried when asked for ("cuda") or possible ("auto"). It falls back to CPU, with the
reason in the status message, when this onnxruntime has no CUDA provider, when the session
starts on another provider anyway (missing CUDA libraries), or when a first forward pass fails.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnxruntime as ort

from app.engine.session import Decoder, first_line
from app.engine.results import EngineStatus
from model.errors import ModelError

PROVIDERS = ("auto", "cpu", "cuda")
_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"
CPU_VARIANTS = ("int8", "fp32", "fp16")
CUDA_VARIANTS = ("fp16", "fp32", "int8")


def open_decoder(folder: Path, provider: str, threads: int, variant: str | None):
    """(Decoder, EngineStatus, context length) for a bundle folder."""
    from model.bundle import Bundle  # noqa: PLC0415 - the bundle reader lands separately

    if provider not in PROVIDERS:
        raise ValueError(f"provider must be one of {', '.join(PROVIDERS)} (got {provider!r})")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be a whole number, 0 for automatic (got {threads!r})")
    bundle = Bundle.load(folder)
    manifest = bundle.manifest
    variants = manifest.get("variants") or {}
    if variant is not None and variant not in variants:
        raise ModelError(f"{folder}: the bundle has no {variant!r} variant (it has {', '.join(variants)})")
    arch = manifest["architecture"]
    shape = dict(
        n_layer=int(arch["n_layer"]), n_head=int(arch["n_head"]),
        head_dim=int(arch["n_embd"]) // int(arch["n_head"]), vocab_size=int(arch["vocab_size"]),
    )
    context_length = int(manifest.get("context_length") or arch["n_positions"])

    message = ""
    if provider != "cpu":
        if _CUDA not in ort.get_available_providers():
            if provider == "cuda":
                message = ("CUDA was requested, but this onnxruntime has no CUDA support "
                           "(install onnxruntime-gpu); running on the CPU")
        else:
            name = variant or _first(CUDA_VARIANTS, variants)
            path = _verified(bundle, name)
            try:
                decoder = Decoder(path, [_CUDA, _CPU], threads, **shape)
                if decoder.provider != _CUDA:
                    raise RuntimeError("the CUDA provider did not start (are the CUDA libraries installed?)")
                _smoke_test(decoder)
                return decoder, EngineStatus("cuda", name, bundle.name, ""), context_length
            except Exception as exc:  # noqa: BLE001 - any CUDA failure means: use the CPU
                message = f"CUDA could not be used ({first_line(exc)}); running on the CPU"
    name = variant or _first(CPU_VARIANTS, variants)
    decoder = Decoder(_verified(bundle, name), [_CPU], threads, **shape)
    return decoder, EngineStatus("cpu", name, bundle.name, message), context_length


def _first(order: tuple[str, ...], variants: dict) -> str:
    for name in order:
        if name in variants:
            return name
    raise ModelError("the bundle lists no model variants (expected int8, fp16 or fp32)")


def _verified(bundle: Bundle, name: str) -> Path:
    """The variant's ONNX file after checking its sha256 against the manifest."""
    path = Path(bundle.variant_path(name))
    expected = bundle.manifest["variants"][name].get("sha256")
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model file ({exc.strerror})") from None
    if digest.hexdigest() != expected:
        raise ModelError(f"{path}: the file is damaged or was changed (its sha256 does not match the manifest)")
    return path


def _smoke_test(decoder: Decoder) -> None:
    logits, _ = decoder.run(np.zeros((1, 1), np.int64), np.zeros((1, 1), np.int64), decoder.empty_cache())
    if not np.isfinite(logits).all():
        raise RuntimeError("the first forward pass gave non-finite logits")
