"""A manifest is checked against the ONNX graph it describes, at import and when the engine loads
it: a context length, layer count or width the graph does not have is a sentence naming the
field, never an allocation of hundreds of gigabytes or an ONNX Runtime traceback."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from app import installer, models
from app.engine import Engine
from core import onnx_info
from core.bundle import MANIFEST, Bundle
from core.errors import ModelError


def copy_bundle(tiny_bundle, tmp_path, name="bundle"):
    folder = tmp_path / name
    shutil.copytree(tiny_bundle, folder)
    return folder


def edit_manifest(folder, **changes):
    path = folder / MANIFEST
    manifest = json.loads(path.read_text())
    for key, value in changes.items():
        if key in ("n_layer", "n_head", "n_embd", "n_positions", "vocab_size"):
            manifest["architecture"][key] = value
        else:
            manifest[key] = value
    path.write_text(json.dumps(manifest))
    return manifest


def replace_file(folder, rel, data: bytes):
    """Write ``rel`` and make the manifest's size and checksum agree with it."""
    (folder / rel).write_bytes(data)
    path = folder / MANIFEST
    manifest = json.loads(path.read_text())
    entries = [v for v in manifest["variants"].values() if v["file"] == rel] or [manifest["files"][rel]]
    for entry in entries:
        entry["sha256"], entry["bytes"] = hashlib.sha256(data).hexdigest(), len(data)
    path.write_text(json.dumps(manifest))


def user_models():
    return [m for m in models.installed_models() if not m.bundled]


@pytest.mark.parametrize("context", [10**9, 100_000])
def test_a_context_length_the_graph_cannot_hold_is_refused(tiny_bundle, tmp_path, context):
    """D10: the manifest (context_length and n_positions alike) claims more positions than the
    graph's position table (256) holds."""
    folder = copy_bundle(tiny_bundle, tmp_path)
    edit_manifest(folder, context_length=context, n_positions=context)
    with pytest.raises(ModelError, match=r"model\.int8\.onnx: the graph has positions for 256 tokens, "
                                         rf"the manifest's context_length is {context}"):
        Engine.load(folder, provider="cpu")
    with pytest.raises(ModelError, match="the graph has positions for 256 tokens"):
        installer.install(folder)
    assert user_models() == []


def test_a_context_length_beyond_n_positions_is_refused(tiny_bundle, tmp_path):
    folder = copy_bundle(tiny_bundle, tmp_path)
    edit_manifest(folder, context_length=100_000)
    with pytest.raises(ModelError, match=r"context_length 100000 is more than the model's 256 positions"):
        Bundle.load(folder)
    assert "256 positions" in models._read(folder, False).problem


@pytest.mark.parametrize("field, value", [("n_layer", 3), ("n_head", 8), ("n_embd", 128), ("vocab_size", 50304)])
def test_every_architecture_number_is_checked_against_the_graph(tiny_bundle, tmp_path, field, value):
    folder = copy_bundle(tiny_bundle, tmp_path)
    manifest = edit_manifest(folder, **{field: value})
    real = json.loads((tiny_bundle / MANIFEST).read_text())["architecture"][field]
    with pytest.raises(ModelError, match=rf"the graph has {field} {real}, the manifest says {value}"):
        Engine.load(folder, provider="cpu")
    with pytest.raises(ModelError, match=rf"the graph has {field} {real}"):
        installer.install(folder)
    assert manifest["architecture"][field] == value and user_models() == []


def test_a_truncated_graph_is_refused_with_a_message(tiny_bundle, tmp_path):
    folder = copy_bundle(tiny_bundle, tmp_path)
    data = (folder / "model.int8.onnx").read_bytes()
    replace_file(folder, "model.int8.onnx", data[: len(data) // 3])
    with pytest.raises(ModelError, match=r"model\.int8\.onnx: not a readable ONNX file \(it is truncated"):
        Engine.load(folder, provider="cpu")
    with pytest.raises(ModelError, match="not a readable ONNX file"):
        installer.install(folder)
    assert user_models() == []


def test_a_truncated_onnx_file_is_refused_at_import(tiny_bundle, tmp_path):
    data = (tiny_bundle / "model.fp32.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) - 1000])
    with pytest.raises(ModelError, match=r"cut\.onnx: not a readable ONNX file"):
        installer.install(tmp_path / "cut.onnx")
    assert user_models() == []


def test_the_graph_reader_agrees_with_onnx(tiny_bundle):
    """core.onnx_info reads what the onnx package reads (without loading any weights)."""
    import onnx

    for variant in ("fp32", "int8", "fp16"):
        path = tiny_bundle / f"model.{variant}.onnx"
        graph = onnx.load(str(path), load_external_data=False).graph
        info = onnx_info.read(path)
        assert {t.name: tuple(t.dims) for t in graph.initializer} == {k: v.dims for k, v in info.initializers.items()}
        assert list(info.inputs) == [i.name for i in graph.input]
        assert info.op_types == {n.op_type for n in graph.node}


def test_a_graph_without_a_position_table_is_probed_at_its_last_position(tiny_bundle, tmp_path):
    """A graph whose position table has another name: the engine runs one token at the last
    position of the context instead, so a context length it cannot hold still fails at load."""
    import onnx

    folder = copy_bundle(tiny_bundle, tmp_path)
    model = onnx.load(str(folder / "model.fp32.onnx"))
    for tensor in model.graph.initializer:
        if tensor.name == "wpe.weight":
            tensor.name = "positions"
    for node in model.graph.node:
        node.input[:] = ["positions" if i == "wpe.weight" else i for i in node.input]
    replace_file(folder, "model.fp32.onnx", model.SerializeToString())
    engine = Engine.load(folder, provider="cpu", variant="fp32")  # 256 positions: as the manifest says
    assert engine.generate("It was", None).text is not None
    edit_manifest(folder, context_length=512, n_positions=512)
    with pytest.raises(ModelError, match=r"model\.fp32\.onnx: the graph cannot run at position 511"):
        Engine.load(folder, provider="cpu", variant="fp32")


def test_a_cache_larger_than_the_memory_is_refused(tiny_bundle, tmp_path, monkeypatch):
    import core.machine

    monkeypatch.setattr(core.machine, "available_memory", lambda: 1_000_000)
    with pytest.raises(ModelError, match=r"needs about .* of memory, but only 1\.0 MB is available"):
        Engine.load(tiny_bundle, provider="cpu")


def test_an_onnx_file_claiming_a_billion_positions_is_refused_before_allocating(tiny_bundle, tmp_path):
    """A graph whose position table says [1e9, 64] (its data elsewhere): checking it would need
    a terabyte of cache."""
    import onnx

    model = onnx.load(str(tiny_bundle / "model.fp32.onnx"))
    wpe = next(t for t in model.graph.initializer if t.name == "wpe.weight")
    wpe.ClearField("raw_data")
    wpe.dims[:] = [10**9, 64]
    wpe.data_location = onnx.TensorProto.EXTERNAL
    entry = wpe.external_data.add()
    entry.key, entry.value = "location", "wpe.bin"
    (tmp_path / "wpe.bin").write_bytes(b"")
    onnx.save(model, str(tmp_path / "huge.onnx"))
    with pytest.raises(ModelError, match=r"huge\.onnx: checking huge\.onnx needs about .* of memory"):
        installer.install(tmp_path / "huge.onnx")
    assert user_models() == []
