"""The CUDA (fp16) graph of a bundle that ships only its int8 graph and Hugging Face checkpoint.

The bundled model spends its size budget on one graph (int8, for the CPU) and the fp16 checkpoint
in hf/ that it can be fine-tuned from. The first time such a bundle runs on CUDA, its fp16 graph
is built from that checkpoint, torch-free (model.onnx_graph writes it straight from the numpy
weights; a few seconds for the bundled model), into the cache folder under the checkpoint's
sha256 from the manifest: a changed checkpoint gets a graph of its own, and an entry that does
not match the hash recorded beside it is built again.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from core.bundle import Bundle, sha256_file
from core.errors import ModelError
from core.fileio import read_json
from core.hf_layout import gpt2_name, is_conv1d

GRAPH = "model.fp16.onnx"
RECORD = "graph.json"
WEIGHTS = "hf/model.safetensors"


def can_build(bundle: Bundle) -> bool:
    return bundle.has_hf and WEIGHTS in bundle.manifest.get("files", {})


def fp16_graph(bundle: Bundle, cache: Path) -> Path:
    """The bundle's fp16 graph in ``cache``, built first when it is not there (or damaged)."""
    if not can_build(bundle):
        raise ModelError(f"{bundle.folder}: no fp16 graph and no Hugging Face checkpoint to build one from")
    key = bundle.manifest["files"][WEIGHTS]["sha256"][:24]
    folder = cache / "gpu-graphs" / key
    graph = folder / GRAPH
    try:
        recorded = read_json(folder / RECORD)["sha256"]
        if sha256_file(graph) == recorded:
            return graph
    except (OSError, ValueError, KeyError, TypeError):  # (core.fileio.DamagedFile is a ValueError)
        pass  # absent or damaged: build it
    _build(bundle, folder)
    return graph


def _build(bundle: Bundle, folder: Path) -> None:
    from safetensors.numpy import load_file

    from core.config import GPT2Config
    from core.weights import check_config, tensor_shapes
    from model.onnx_graph import GraphSpec, build_graph, save_graph

    cfg = GPT2Config.load(bundle.folder / "hf" / "config.json")
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
    spec = GraphSpec(cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.vocab_size, cfg.n_positions, cfg.layer_norm_epsilon)
    try:
        model = build_graph(spec, weights, "fp16", name=bundle.name)
    except KeyError as exc:
        raise ModelError(f"{bundle.folder / WEIGHTS}: missing tensor {exc}") from None
    # Built beside its final place and renamed into it: another Inkwell building the same graph
    # at the same time, or a crash half-way, never leaves a half-written graph under the key.
    tmp = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=folder.parent))
        save_graph(model, tmp / GRAPH)
        (tmp / RECORD).write_text(json.dumps({"sha256": sha256_file(tmp / GRAPH), "model": bundle.name}),
                                  encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(tmp, folder)
        except OSError:
            if not (folder / GRAPH).is_file():  # else another Inkwell has just put it there
                raise
    except OSError as exc:
        raise ModelError(f"{folder.parent}: cannot write the GPU graph ({exc.strerror or exc})") from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
