"""An imported model folder may not reach outside itself: links that lead out of it, external data
outside its folder and special files in place of model files are refused with a message."""

from __future__ import annotations

import os
import shutil

import pytest

from app import installer, models
from core.bundle import MANIFEST
from core.errors import ModelError


def copy_bundle(tiny_bundle, tmp_path):
    folder = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, folder)
    return folder


def user_models():
    return [m for m in models.installed_models() if not m.bundled]


def test_a_link_out_of_the_bundle_is_refused(tiny_bundle, tmp_path):
    """D17: a graph file that is a link to a file elsewhere was followed and copied in."""
    folder = copy_bundle(tiny_bundle, tmp_path)
    outside = tmp_path / "elsewhere" / "model.int8.onnx"
    outside.parent.mkdir()
    os.replace(folder / "model.int8.onnx", outside)
    os.symlink(outside, folder / "model.int8.onnx")
    with pytest.raises(ModelError, match=r"model\.int8\.onnx: a link that leads out of the model folder"):
        installer.install(folder)
    assert user_models() == []


def test_a_relative_link_out_of_the_bundle_is_refused(tiny_bundle, tmp_path):
    folder = copy_bundle(tiny_bundle, tmp_path)
    secret = tmp_path / "secret.json"
    secret.write_text((folder / "hf" / "config.json").read_text())
    (folder / "hf" / "config.json").unlink()
    os.symlink("../../secret.json", folder / "hf" / "config.json")
    with pytest.raises(ModelError, match=r"hf/config\.json: a link that leads out of the model folder"):
        installer.install(folder)
    assert user_models() == []


def test_a_manifest_that_is_a_link_out_is_refused(tiny_bundle, tmp_path):
    folder = copy_bundle(tiny_bundle, tmp_path)
    os.replace(folder / MANIFEST, tmp_path / "manifest.json")
    os.symlink(tmp_path / "manifest.json", folder / MANIFEST)
    with pytest.raises(ModelError, match="a link that leads out of the model folder"):
        installer.install(folder)


def test_a_link_inside_the_bundle_is_fine(tiny_bundle, tmp_path):
    folder = copy_bundle(tiny_bundle, tmp_path)
    (folder / "store").mkdir()
    os.replace(folder / "model.fp16.onnx", folder / "store" / "graph.onnx")
    os.symlink("store/graph.onnx", folder / "model.fp16.onnx")
    dest = installer.install(folder, name="linked")
    assert not (dest / "model.fp16.onnx").is_symlink()  # copied as a file
    assert [m.name for m in user_models()] == ["linked"]


def test_a_fifo_named_by_the_manifest_is_refused_without_opening_it(tiny_bundle, tmp_path):
    folder = copy_bundle(tiny_bundle, tmp_path)
    (folder / "hf" / "config.json").unlink()
    os.mkfifo(folder / "hf" / "config.json")  # opening it would block for ever
    with pytest.raises(ModelError, match=r"hf/config\.json: file listed in inkwell-model\.json is not a regular file"):
        installer.install(folder)
    assert "not a regular file" in models._read(folder, False).problem


def test_a_device_named_by_the_manifest_is_refused(tiny_bundle, tmp_path):
    folder = copy_bundle(tiny_bundle, tmp_path)
    (folder / "model.int8.onnx").unlink()
    os.symlink("/dev/zero", folder / "model.int8.onnx")
    with pytest.raises(ModelError, match="not a regular file|leads out of the model folder"):
        installer.install(folder)


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "sub/../../secret.bin"])
def test_external_data_outside_the_graph_folder_is_refused(tiny_bundle, tmp_path, location):
    import onnx

    src = tmp_path / "graph"
    src.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\0" * 4096)
    model = onnx.load(str(tiny_bundle / "model.fp32.onnx"))
    tensor = next(t for t in model.graph.initializer if t.name == "wpe.weight")
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", location
    onnx.save(model, str(src / "graph.onnx"))
    with pytest.raises(ModelError, match=r"graph\.onnx: its external data"):
        installer.install(src / "graph.onnx", size=str(tiny_bundle / "hf" / "config.json"))
    assert user_models() == []
