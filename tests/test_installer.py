"""Importing models: each source format, bad input, a killed export, the command line."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

from app import installer, models, models_cli
from core import paths
from core.bundle import Bundle
from core.errors import ModelError


def user_models():
    return [m for m in models.installed_models() if not m.bundled]


def no_leftovers() -> bool:
    return not [p for p in paths.models_dir().iterdir() if p.name.endswith((".partial", ".deleting"))]


@pytest.mark.slow
def test_a_checkpoint_folder_is_exported_into_the_models_folder(tiny_hf_dir):
    events = []
    dest = installer.install(tiny_hf_dir, name="My GPT", emit=events.append)
    assert dest.parent == paths.models_dir() and dest.name == "My-GPT"
    bundle = Bundle.load(dest)
    bundle.verify()
    assert bundle.name == "My GPT" and bundle.variants == ["int8", "fp16"] and bundle.has_hf
    assert [m.name for m in user_models()] == ["My GPT"]
    steps = [e for e in events if e["event"] == "export"]
    assert steps[-1]["step"] == steps[-1]["total_steps"]
    assert events[-1] == {"event": "installed", "folder": str(dest), "name": "My GPT"}


@pytest.mark.slow
def test_a_bare_weights_file_with_a_chosen_size(tiny_hf_dir):
    weights = tiny_hf_dir / "model.safetensors"
    dest = installer.install(weights, size=str(tiny_hf_dir / "config.json"), name="bare")
    assert Bundle.load(dest).manifest["provenance"]["source"] == str(weights)
    assert not (paths.data_dir() / "staging").exists() or not any((paths.data_dir() / "staging").iterdir())
    # The wrong size: a clear message, nothing installed, nothing left behind.
    expected = r"gpt2 \(n_layer=12, n_embd=768.*\) does not match the weights, which hold 2 layers"
    with pytest.raises(ModelError, match=expected) as err:
        installer.install(weights, size="gpt2")
    assert str(err.value).startswith(str(weights))
    with pytest.raises(ModelError, match="choose the GPT-2 size"):
        installer.install(weights)
    assert [m.name for m in user_models()] == ["bare"] and no_leftovers()


def test_the_size_of_a_safetensors_file_is_read_from_its_header(tmp_path):
    from core.config import PRESETS

    cfg = PRESETS["distilgpt2"]
    header = {"wte.weight": {"dtype": "F32", "shape": [cfg.vocab_size, cfg.n_embd], "data_offsets": [0, 0]},
              "wpe.weight": {"dtype": "F32", "shape": [cfg.n_positions, cfg.n_embd], "data_offsets": [0, 0]}}
    header.update({f"h.{i}.ln_1.weight": {"dtype": "F32", "shape": [cfg.n_embd], "data_offsets": [0, 0]}
                   for i in range(cfg.n_layer)})
    raw = json.dumps(header).encode()
    path = tmp_path / "weights.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw)
    assert installer.guess_size(path) == "distilgpt2"
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    assert installer.guess_size(tmp_path / "junk.safetensors") is None


def test_an_onnx_file_is_checked_and_wrapped_in_a_bundle(tiny_bundle, tmp_path):
    dest = installer.install(tiny_bundle / "model.fp16.onnx", name="graph")
    bundle = Bundle.load(dest)
    assert bundle.variants == ["fp16"] and not bundle.has_hf
    assert bundle.architecture == Bundle.load(tiny_bundle).architecture

    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    other = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y]))
    onnx.save(other, str(tmp_path / "other.onnx"))
    with pytest.raises(ModelError, match="not an Inkwell decoder graph"):
        installer.install(tmp_path / "other.onnx")
    (tmp_path / "broken.onnx").write_bytes(b"\x08garbage")
    with pytest.raises(ModelError, match="not a readable ONNX file"):
        installer.install(tmp_path / "broken.onnx")
    assert [m.name for m in user_models()] == ["graph"] and no_leftovers()


def test_an_inkwell_bundle_is_verified_and_copied(tiny_bundle, tmp_path):
    dest = installer.install(tiny_bundle)
    assert Bundle.load(dest).name == "tiny-test" and Bundle.load(dest).manifest["provenance"]["imported_from"]
    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle, broken)
    data = bytearray((broken / "model.int8.onnx").read_bytes())
    data[-10] ^= 0xFF
    (broken / "model.int8.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="model.int8.onnx: checksum mismatch"):
        installer.install(broken)
    assert len(user_models()) == 1


def test_unknown_sources_are_refused(tmp_path):
    with pytest.raises(ModelError, match="no such file or folder"):
        installer.install(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelError, match="not a model file Inkwell can import"):
        installer.install(tmp_path / "notes.txt")
    with pytest.raises(ModelError, match="neither a Hugging Face checkpoint folder"):
        installer.install(tmp_path)


@pytest.mark.slow
def test_a_transformers_checkpoint_from_the_hub_matches_the_source_logits(tmp_path, fake_hub):
    """Hugging Face's own GPT-2 code writes a tiny checkpoint; it is downloaded from the fake hub,
    installed, and the installed graph gives transformers' logits."""
    import torch
    import transformers

    from app.engine.session import Decoder

    torch.manual_seed(7)
    config = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, n_positions=128)
    source = transformers.GPT2LMHeadModel(config).eval()
    source.save_pretrained(tmp_path / "hf")
    fake_hub.add_folder("someone/tiny-gpt2", tmp_path / "hf", licence="apache-2.0")
    dest = installer.download("someone/tiny-gpt2", variants=("fp32",))
    bundle = Bundle.load(dest)
    assert bundle.name == "tiny-gpt2" and bundle.manifest["licence"] == "apache-2.0"
    arch = bundle.architecture
    decoder = Decoder(bundle.variant_path("fp32"), ["CPUExecutionProvider"], 1, arch["n_layer"], arch["n_head"],
                      arch["n_embd"] // arch["n_head"], arch["vocab_size"], arch["n_positions"])
    ids = np.array([[464, 2068, 7586, 21831, 18045, 625, 262]], dtype=np.int64)
    logits = decoder.run(ids, np.arange(ids.shape[1])[None], decoder.new_cache())
    with torch.no_grad():
        want = source(torch.from_numpy(ids)).logits[:, -1].numpy()
    assert np.abs(logits - want).max() < 1e-4


@pytest.mark.slow
def test_a_killed_export_installs_nothing(tiny_hf_dir):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-m", "app.models_cli", "import", str(tiny_hf_dir), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "export" and event["step"] >= 2:  # the bundle is half written
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not user_models()
    assert [p for p in paths.models_dir().iterdir() if p.name.endswith(".partial")]  # hidden, not listed
    installer.install(tiny_hf_dir)  # the next install clears what the killed one left
    assert len(user_models()) == 1 and no_leftovers()


@pytest.mark.slow
def test_command_line_list_import_and_remove(tiny_hf_dir, capsys):
    assert models_cli.main(["import", str(tiny_hf_dir), "--name", "cli-model", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[-1]["event"] == "installed"
    assert models_cli.main(["list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    mine = next(r for r in listed if r["name"] == "cli-model")
    assert mine["variants"] == ["int8", "fp16"] and mine["parameters"] > 0 and not mine["active"]
    assert models_cli.main(["remove", "cli-model"]) == 0
    assert not user_models()
    assert models_cli.main(["remove", "cli-model"]) == 1
    assert "no such installed model" in capsys.readouterr().err
    bundled = [m for m in models.installed_models() if m.bundled]
    if bundled:
        assert models_cli.main(["remove", str(bundled[0].folder)]) == 1
        assert "cannot be deleted" in capsys.readouterr().err


def test_a_graph_that_does_not_update_its_cache_in_place_is_refused(tiny_bundle, tmp_path):
    """Right inputs and outputs, but attention that returns past + new as a new cache (how
    MultiHeadAttention works): it would read a fixed-size buffer's unused tail as past."""
    import onnx
    from onnx import helper

    model = onnx.load(str(tiny_bundle / "model.fp32.onnx"))
    nodes = []
    for node in model.graph.node:
        if node.op_type != "GroupQueryAttention":
            nodes.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        q, k, v = (f"{node.name}_{x}" for x in "qkv")
        nodes.append(helper.make_node("Split", [node.input[0]], [q, k, v], axis=2, num_outputs=3))
        nodes.append(helper.make_node(
            "MultiHeadAttention", [q, k, v, "", "", "", node.input[3], node.input[4]], list(node.output),
            domain="com.microsoft", num_heads=attrs["num_heads"], unidirectional=1, scale=attrs["scale"]))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    model.opset_import[0].version = 18  # Split's num_outputs
    onnx.save(model, str(tmp_path / "concat-cache.onnx"))
    with pytest.raises(ModelError, match="fixed-size KV cache updated in place"):
        installer.install(tmp_path / "concat-cache.onnx")
    assert user_models() == [] and no_leftovers()
