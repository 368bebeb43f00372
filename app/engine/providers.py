"""Which bundle variant runs where: CUDA with fp16, else CPU with int8, and why when not as asked.

CUDA is tried when asked for ("cuda") or possible ("auto"). It falls back to CPU, with the
reason in the status message, when this onnxruntime has no CUDA provider, when the session
starts on another provider anyway (missing CUDA libraries), or when a first forward pass fails.
Before a variant is used its file is checked against the manifest's sha256, the manifest's
numbers against what the graph declares (core.bundle.Bundle.check_graph: a context length the
position table cannot hold fails here, with a sentence, not at the first suggestion with an
allocation error), the cache it needs against the memory available, and its graph against the
decoder contract. Threads are limited to the cores there are (core.machine.limit_threads).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort

from app.engine import built_graphs
from app.engine.params import MAX_ALTERNATIVES
from app.engine.results import EngineStatus
from app.engine.session import Decoder, first_line
from core.bundle import KV_BYTES, KV_DTYPES, Bundle, sha256_file
from core.errors import ModelError
from core.machine import limit_threads, memory_problem
from core.onnx_info import GraphInfo

PROVIDERS = ("auto", "cpu", "cuda")
_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


def open_decoder(folder: Path, provider: str, threads: int, variant: str | None) -> tuple[Decoder, EngineStatus, int]:
    """(Decoder, EngineStatus, context length) for a bundle folder."""
    if provider not in PROVIDERS:
        raise ValueError(f"provider must be one of {', '.join(PROVIDERS)} (got {provider!r})")
    threads, thread_note = limit_threads(threads)
    bundle = Bundle.load(folder)
    if variant is not None and not built_graphs.can_build(bundle):
        bundle.variant_path(variant)  # ModelError naming the variants it has
    arch = bundle.architecture
    context_length = int(bundle.context_length)

    def open_decoder(path: Path, providers: list[str]) -> Decoder:
        return Decoder(path, providers, threads, n_layer=int(arch["n_layer"]), n_head=int(arch["n_head"]),
                       head_dim=int(arch["n_embd"]) // int(arch["n_head"]), vocab_size=int(arch["vocab_size"]),
                       capacity=context_length, fit_to_load=threads == 0)

    message = thread_note
    if provider != "cpu":
        if _CUDA not in ort.get_available_providers():
            if provider == "cuda":
                message = "; ".join(filter(None, ["CUDA was requested, but this onnxruntime has no CUDA support "
                                                  "(install onnxruntime-gpu); running on the CPU", thread_note]))
        else:
            try:
                # Inside the try: a damaged or missing fp16 graph means the CPU's int8, as any
                # other CUDA failure does.
                decoder, status = _on_cuda(bundle, variant, open_decoder, thread_note)
                return decoder, status, context_length
            except Exception as exc:  # noqa: BLE001 - any CUDA failure means: use the CPU
                message = "; ".join(filter(None, [f"CUDA could not be used ({first_line(exc)}); running on the CPU",
                                                  thread_note]))
    name = variant or bundle.preferred_variant("cpu")
    notes: list[str] = []  # what the status should say about a graph built somewhere unusual
    path, info = _checked(bundle, name) if name in bundle.variants else _built(bundle, name, notes)
    decoder = open_decoder(path, [_CPU])
    if name in bundle.variants:
        _checked_cache_type(decoder, bundle, name)
    if "wpe.weight" not in info.initializers:
        _probe_last_position(decoder)
    return decoder, EngineStatus("cpu", name, bundle.name, "; ".join(filter(None, [message, *notes]))), context_length


def _on_cuda(bundle: Bundle, variant: str | None, make: Callable[[Path, list[str]], Decoder],
             thread_note: str) -> tuple[Decoder, EngineStatus]:
    """The decoder on CUDA, checked by a first run; raises whatever keeps CUDA from working."""
    notes: list[str] = []
    name = variant or bundle.preferred_variant("cuda")
    # A bundle without a CUDA graph (the bundled model) has one built from hf/, once.
    if variant is None and "fp16" not in bundle.variants and built_graphs.can_build(bundle):
        name = "fp16"
    path, info = _checked(bundle, name) if name in bundle.variants else _built(bundle, name, notes)
    with warnings.catch_warnings():  # the reason goes into the status, not a warning
        warnings.simplefilter("ignore")
        decoder = make(path, [_CUDA, _CPU])
    if name in bundle.variants:
        _checked_cache_type(decoder, bundle, name)
    if decoder.provider != _CUDA:
        raise RuntimeError("the CUDA provider did not start (are the CUDA libraries installed?)")
    _smoke_test(decoder)
    if "wpe.weight" not in info.initializers:
        _probe_last_position(decoder)
    return decoder, EngineStatus("cuda", name, bundle.name, "; ".join(filter(None, [thread_note, *notes])))


def _checked(bundle: Bundle, name: str) -> tuple[Path, GraphInfo]:
    """The variant's file (and what its graph declares) once its checksum, the manifest's
    numbers against the graph and the memory its cache needs are checked."""
    path = _verified(bundle, name)
    return path, _graph_checked(bundle, path, bundle.variant_info(name)["kv_dtype"])


def _built(bundle: Bundle, name: str, notes: list[str] | None = None) -> tuple[Path, GraphInfo]:
    """A graph the bundle does not ship, built from its hf/ checkpoint into the cache folder (or,
    when that cannot be written, a temporary one: ``notes`` gets a sentence saying so)."""
    path = built_graphs.graph(bundle, name, notes)
    return path, _graph_checked(bundle, path, KV_DTYPES[name])


def _graph_checked(bundle: Bundle, path: Path, kv_dtype: str) -> GraphInfo:
    """What the graph at ``path`` declares, once the manifest's numbers are checked against it
    and the memory its weights and cache need against the machine's."""
    info = bundle.check_graph_file(path, kv_dtype)
    arch = bundle.architecture
    # The engine keeps the prompt's row and, for alternatives, up to MAX_ALTERNATIVES more.
    row = 2 * arch["n_layer"] * arch["n_embd"] * bundle.context_length * KV_BYTES[kv_dtype]
    cache = (1 + MAX_ALTERNATIVES) * row
    weights = path.stat().st_size + sum((path.parent / rel).stat().st_size for rel in info.external_files
                                        if (path.parent / rel).is_file())
    problem = memory_problem(weights + cache, f"{bundle.name} ({path.name}, {bundle.context_length} tokens of context)")
    if problem:
        raise ModelError(f"{bundle.folder}: {problem}")
    return info


def _probe_last_position(decoder: Decoder) -> None:
    """A graph whose position table could not be read: run one token at the last position of
    the context, so that a context length the graph cannot hold fails now, with a message."""
    try:
        last = decoder.capacity - 1
        decoder.run(np.zeros((1, 1), np.int64), np.full((1, 1), last, np.int64), decoder.new_cache())
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several unrelated types
        raise ModelError(f"{decoder.path}: the graph cannot run at position {decoder.capacity - 1}, the last of "
                         f"the context length its manifest gives ({first_line(exc)})") from None


def _checked_cache_type(decoder: Decoder, bundle: Bundle, name: str) -> Decoder:
    declared = bundle.variant_info(name).get("kv_dtype")
    actual = np.dtype(decoder.kv_dtype).name
    if declared and declared != actual:
        raise ModelError(f"{decoder.path}: the graph's cache is {actual}, the manifest says {declared}")
    return decoder


def _verified(bundle: Bundle, name: str) -> Path:
    """The variant's ONNX file, after checking its sha256 against the manifest.

    Only the file that will run is hashed (the hf/ checkpoint is for fine-tuning, and hashing
    it would slow every start).
    """
    path = Path(bundle.variant_path(name))
    try:
        digest = sha256_file(path)
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model file ({exc.strerror or exc})") from None
    if digest != bundle.variant_info(name).get("sha256"):
        raise ModelError(f"{path}: checksum mismatch, the file is corrupt or was modified")
    return path


def _smoke_test(decoder: Decoder) -> None:
    logits = decoder.run(np.zeros((1, 1), np.int64), np.zeros((1, 1), np.int64), decoder.new_cache())
    if not np.isfinite(logits).all():
        raise RuntimeError("the first forward pass gave non-finite logits")
