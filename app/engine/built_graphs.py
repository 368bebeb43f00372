"""The ONNX graphs of a bundle that ships its weights only (hf/), built on first use.

The bundled model spends its whole size budget on one copy of its weights, the fp16 Hugging Face
checkpoint in hf/ (which it can also be fine-tuned from), rather than on several copies of the
same weights as graphs. The first time such a bundle runs, the graph for the device is built from
that checkpoint, torch-free (core.onnx_graph writes it straight from the numpy weights, with the
same quantization as the exporter: a few seconds for the bundled model): int8 for the CPU, fp16
for CUDA. Graphs go into the cache folder under the checkpoint's sha256 from the manifest, so a
changed checkpoint gets graphs of its own, and a graph that does not match the hash recorded
beside it is built again.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from core import paths
from core.bundle import VARIANT_FILES, Bundle, sha256_file
from core.errors import ModelError
from core.fileio import atomic_write_text, publish_folder, read_json, replace_with
from core.hf_layout import gpt2_name, is_conv1d

WEIGHTS = "hf/model.safetensors"
# Part of the cache key: graphs built by an older Inkwell (an int8 graph with a float cache) are
# built again rather than reused.
GRAPH_FORMAT = "-kv8"
GRAPH_RECORD = "graph.json"  # beside a built graph: its sha256, to tell a damaged one


def can_build(bundle: Bundle) -> bool:
    return bundle.has_hf and WEIGHTS in bundle.manifest.get("files", {})


def graph(bundle: Bundle, variant: str, notes: list[str] | None = None) -> Path:
    """The bundle's ``variant`` graph in the cache folder (core.paths.built_graph_dir), built first
    when it is not there (or damaged).

    A cache that cannot be written (read-only, a file in its place, INKWELL_HOME a file) does
    not stop the model: the graph is built in a temporary folder instead, used by this process
    only and removed at its exit, and ``notes`` gets a sentence saying so (the next start builds
    it again)."""
    if not can_build(bundle):
        raise ModelError(f"{bundle.folder}: no {variant} graph and no Hugging Face checkpoint to build one from")
    if variant not in VARIANT_FILES:
        raise ModelError(f"unknown variant {variant!r} (expected {', '.join(VARIANT_FILES)})")
    folder = paths.built_graph_dir(bundle.manifest["files"][WEIGHTS]["sha256"][:24] + GRAPH_FORMAT, variant)
    path = folder / VARIANT_FILES[variant]
    if _intact(folder, path):
        return path
    try:
        _build(bundle, variant, folder)
        return path
    except _Unwritable as exc:
        reason = exc
    built = _build_temporary(bundle, variant, reason)
    if notes is not None:
        notes.append(f"the cache folder cannot be written ({reason}), so the model's {variant} graph was built "
                     f"in a temporary folder and is built again at every start; make {paths.cache_dir()} writable "
                     "to keep it")
    return built


def _intact(folder: Path, path: Path) -> bool:
    """Whether the graph at ``path`` is the one its folder's graph.json recorded."""
    try:
        recorded = read_json(folder / GRAPH_RECORD)["sha256"]
        return bool(sha256_file(path) == recorded)
    except (OSError, ValueError, KeyError, TypeError):  # (core.fileio.DamagedFile is a ValueError)
        return False  # absent or damaged: build it


def _build_temporary(bundle: Bundle, variant: str, reason: _Unwritable) -> Path:
    """The graph built in a temporary folder that goes at this process's exit."""
    try:
        temporary = Path(tempfile.mkdtemp(prefix="inkwell-graph-"))
    except OSError as exc:
        raise ModelError(f"{reason}; nor could a temporary folder be made ({exc.strerror or exc})") from None
    atexit.register(shutil.rmtree, temporary, ignore_errors=True)
    try:
        _build(bundle, variant, temporary / variant)
    except _Unwritable as exc:
        raise ModelError(f"{reason}; nor in a temporary folder ({exc})") from None
    return temporary / variant / VARIANT_FILES[variant]


def _cache_scales(model: Any, cfg: Any) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    from core.cache_calibration import cache_scales

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return cache_scales(lambda feeds: session.run(None, feeds), cfg.n_layer, cfg.n_head, cfg.head_dim,
                        cfg.n_positions)


class _Unwritable(ModelError):
    """The graph could not be written where it was to go."""


def _build(bundle: Bundle, variant: str, folder: Path) -> None:
    from core.onnx_graph import GraphSpec, QuantOptions, block_size_for, build_graph

    cfg, weights = _checked_weights(bundle)
    spec = GraphSpec(cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.vocab_size, cfg.n_positions, cfg.layer_norm_epsilon)
    quant = QuantOptions(block_size=block_size_for(cfg.n_embd))
    try:
        model = build_graph(spec, weights, variant, quant, name=bundle.name)
        if variant == "int8":  # its cache's scales come from a pass of the float-cache graph just built
            weights.update(_cache_scales(model, cfg))
            model = build_graph(spec, weights, variant, replace(quant, kv_cache="int8"), name=bundle.name)
    except KeyError as exc:
        raise ModelError(f"{bundle.folder / WEIGHTS}: missing tensor {exc}") from None
    _publish(model, bundle.name, variant, folder)


def _checked_weights(bundle: Bundle) -> tuple[Any, dict[str, np.ndarray]]:
    """The bundle's config and float32 weights, named as the graph builder wants them, once
    the checkpoint matches its checksum and the manifest's architecture."""
    from safetensors.numpy import load_file

    from core.config import GPT2Config
    from core.weights import check_config, tensor_shapes

    expected = bundle.manifest["files"][WEIGHTS]["sha256"]
    try:
        actual = sha256_file(bundle.folder / WEIGHTS)
    except OSError as exc:
        raise ModelError(f"{bundle.folder / WEIGHTS}: cannot read the checkpoint ({exc.strerror or exc})") from None
    if actual != expected:  # a graph is built once and then trusted: never from a damaged file
        raise ModelError(f"{bundle.folder / WEIGHTS}: checksum mismatch, the file is corrupt or was modified")
    cfg = GPT2Config.load(bundle.folder / "hf" / "config.json")
    for key, said in bundle.manifest["architecture"].items():  # the engine sizes its cache by the manifest
        if hasattr(cfg, key) and getattr(cfg, key) != said:
            raise ModelError(f"{bundle.folder}: the manifest says architecture.{key} = {said}, but its checkpoint "
                             f"(hf/config.json) has {getattr(cfg, key)}; the bundle is damaged, import it again")
    shapes = tensor_shapes(bundle.folder / WEIGHTS)  # the header only: before a graph is sized by cfg
    check_config(cfg, shapes or {}, str(bundle.folder / WEIGHTS))
    try:
        tensors = load_file(str(bundle.folder / WEIGHTS))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own types for damaged files
        raise ModelError(f"{bundle.folder / WEIGHTS}: cannot read the checkpoint ({exc})") from None
    weights = {}
    for key, value in tensors.items():
        name = gpt2_name(key)
        if name is not None:
            weights[name] = np.ascontiguousarray((value.T if is_conv1d(name) else value).astype(np.float32))
    return cfg, weights


def _publish(model: Any, model_name: str, variant: str, folder: Path) -> None:
    # Built beside its final place and published whole: another Inkwell building the same graph
    # at the same time, or a crash half-way, never leaves a half-written graph under the key.
    tmp = None
    file = VARIANT_FILES[variant]
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=folder.parent))
        _save(model, tmp, file)
        atomic_write_text(tmp / GRAPH_RECORD, json.dumps({"sha256": sha256_file(tmp / file), "model": model_name,
                                                          "variant": variant}))
        try:
            publish_folder(tmp, folder)
        except OSError:
            if not (folder / file).is_file():  # else another Inkwell has just put it there
                raise
    except OSError as exc:
        raise _Unwritable(f"{folder.parent}: cannot write the model's {variant} graph "
                          f"({exc.strerror or exc})") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _save(model: Any, folder: Path, file: str) -> None:
    """The graph as ``file`` in ``folder`` (with its external data, if any), each file on the disk
    before it takes its name, as every file Inkwell writes."""
    from core.onnx_graph import save_graph

    written = folder / ".written"
    written.mkdir()
    for name in [file, *save_graph(model, written / file)]:
        replace_with(written / name, folder / name)
    written.rmdir()
