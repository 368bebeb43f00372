"""The engine when its surroundings fail (issue 22.9 and 22.11): a cache folder it cannot write,
a damaged CUDA graph, and the memory its alternatives' cache needs."""

from __future__ import annotations

import json
import shutil

import pytest

from app.engine import Engine, GenerationParams, providers
from app.engine.params import MAX_ALTERNATIVES
from core.bundle import MANIFEST


@pytest.fixture
def weights_only(tiny_bundle, tmp_path):
    """The tiny bundle as the bundled model ships: hf/ only, its graphs built on first use."""
    folder = tmp_path / "weights-only"
    shutil.copytree(tiny_bundle, folder)
    manifest = json.loads((folder / MANIFEST).read_text())
    for variant in manifest["variants"].values():
        (folder / variant["file"]).unlink()
    manifest["variants"] = {}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


@pytest.mark.parametrize("how", ["file in its place", "INKWELL_HOME a file"])
def test_an_unwritable_cache_builds_the_graph_elsewhere_and_says_so(weights_only, tmp_path, monkeypatch, how):
    """Issue 22.9: a cache folder that cannot be written (a file in its place, INKWELL_HOME a
    file; a read-only folder fails the same way) left the bundled model unusable: "cannot write
    the model's int8 graph"."""
    if how == "file in its place":
        blocked = tmp_path / "cache-is-a-file"
        blocked.write_text("not a folder")
        monkeypatch.setattr("core.paths.cache_dir", lambda: blocked)
    else:
        home = tmp_path / "home-is-a-file"
        home.write_text("not a folder")
        monkeypatch.setenv("INKWELL_HOME", str(home))
    engine = Engine.load(weights_only, provider="cpu")
    assert "temporary" in engine.status.message and "cache" in engine.status.message
    assert engine.generate("The lighthouse", GenerationParams(max_new_tokens=3, temperature=0)).alternatives[0].token_ids


def test_a_damaged_fp16_graph_falls_back_to_int8_on_the_cpu(tiny_bundle, tmp_path, monkeypatch):
    """Issue 22.11: under "auto" on a CUDA machine, a damaged fp16 graph failed the load (its
    checksum was checked outside the fallback's try) instead of running int8 on the CPU."""
    folder = tmp_path / "damaged"
    shutil.copytree(tiny_bundle, folder)
    fp16 = folder / "model.fp16.onnx"
    data = bytearray(fp16.read_bytes())
    data[len(data) // 2] ^= 0xFF
    fp16.write_bytes(bytes(data))
    monkeypatch.setattr(providers.ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    engine = Engine.load(folder, provider="auto")
    assert engine.status.provider == "cpu" and engine.status.variant == "int8"
    assert "CUDA could not be used" in engine.status.message and "fp16" in engine.status.message


def test_the_memory_check_counts_every_row_of_alternatives(tiny_bundle, monkeypatch):
    """Issue 22.11: the cache was sized for one row; the engine keeps the prompt's row and up to
    MAX_ALTERNATIVES rows of alternatives."""
    asked = []

    def record(needed, what, available=None):
        asked.append(needed)
        return None

    monkeypatch.setattr(providers, "memory_problem", record)
    Engine.load(tiny_bundle, provider="cpu")
    arch = json.loads((tiny_bundle / MANIFEST).read_text())["architecture"]
    context = json.loads((tiny_bundle / MANIFEST).read_text())["context_length"]
    row = 2 * arch["n_layer"] * arch["n_embd"] * context * 1  # an int8 cache
    weights = (tiny_bundle / "model.int8.onnx").stat().st_size
    assert asked and asked[-1] >= weights + (1 + MAX_ALTERNATIVES) * row
