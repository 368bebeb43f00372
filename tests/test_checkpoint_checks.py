"""A checkpoint's config.json is checked against its weights' real shapes before anything is built
from it, and an export's memory against the machine's before it starts."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from app import hub, installer, models
from core.errors import ModelError
from core.weights import export_memory, tensor_shapes
from model.export import export_bundle


def checkpoint(tiny_hf_dir, tmp_path, **config):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_hf_dir, folder)
    path = folder / "config.json"
    data = json.loads(path.read_text())
    data.update(config)
    path.write_text(json.dumps(data))
    return folder


def user_models():
    return [m for m in models.installed_models() if not m.bundled]


@pytest.mark.parametrize("n_layer", [100_000, 1_000_000_000])
def test_an_absurd_layer_count_fails_at_once(tiny_hf_dir, tmp_path, n_layer):
    """D11: config.json claims 1e5 or 1e9 layers beside a 2-layer checkpoint. Before, the
    exporter built that many layers (minutes, gigabytes) before it noticed."""
    src = checkpoint(tiny_hf_dir, tmp_path, n_layer=n_layer)
    started = time.monotonic()
    with pytest.raises(ModelError, match=rf"config\.json \(n_layer={n_layer}.*\) does not match the weights, "
                                         "which hold 2 layers"):
        export_bundle(src, tmp_path / "out")
    with pytest.raises(ModelError, match="which hold 2 layers"):
        installer.install(src)
    assert time.monotonic() - started < 10
    assert not (tmp_path / "out").exists() and user_models() == []


def test_a_wrong_width_or_vocabulary_names_the_tensor(tiny_hf_dir, tmp_path):
    src = checkpoint(tiny_hf_dir, tmp_path, n_embd=128, vocab_size=60000)
    with pytest.raises(ModelError, match=r"wte\.weight has shape \[50257, 64\], the config needs \[60000, 128\]"):
        export_bundle(src, tmp_path / "out")


@pytest.mark.parametrize("config, message", [
    ({"n_layer": -2}, "n_layer must be a positive integer, got -2"),
    ({"n_layer": 2.0}, "n_layer must be a positive integer, got 2.0"),
    ({"n_embd": 64.5}, "n_embd must be a positive integer, got 64.5"),
    ({"n_positions": 0}, "n_positions must be a positive integer, got 0"),
    ({"layer_norm_epsilon": -1}, "layer_norm_epsilon must be a number"),
    ({"n_inner": "big"}, "n_inner must be a positive integer or null"),
])
def test_negative_or_float_sizes_are_refused(tiny_hf_dir, tmp_path, config, message):
    src = checkpoint(tiny_hf_dir, tmp_path, **config)
    with pytest.raises(ModelError, match=message):
        installer.install(src)
    assert user_models() == []


def test_a_bin_checkpoint_is_checked_before_the_model_is_built(tiny_hf_dir, tmp_path):
    """Shapes of a pickle-free .bin are only known once it is read; they are still checked
    before a model of the config's size is built."""
    import torch
    from safetensors.torch import load_file

    from model.hf import load_gpt2

    src = checkpoint(tiny_hf_dir, tmp_path, n_layer=1_000_000_000)
    torch.save(load_file(str(src / "model.safetensors")), src / "pytorch_model.bin")
    (src / "model.safetensors").unlink()
    assert tensor_shapes(src / "pytorch_model.bin") is None
    with pytest.raises(ModelError, match="which hold 2 layers"):
        load_gpt2(src)


def test_an_export_that_cannot_fit_in_memory_is_refused_first(tiny_hf_dir, tmp_path, monkeypatch):
    import core.machine

    monkeypatch.setattr(core.machine, "available_memory", lambda: 200_000_000)
    with pytest.raises(ModelError, match=r"exporting a model of \d+M parameters needs about .* of memory, "
                                         r"but only 200\.0 MB is available"):
        export_bundle(tiny_hf_dir, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_download_too_big_to_export_is_refused_before_it_starts(fake_hub, monkeypatch):
    import core.machine

    monkeypatch.setattr(core.machine, "available_memory", lambda: 200_000_000)
    with pytest.raises(ModelError, match="installing openai-community/gpt2 .* needs about"):
        installer.download("gpt2")
    assert fake_hub.ranges("model.safetensors") == [] and fake_hub.ranges("config.json") == []
    assert hub.endpoint() == fake_hub.url


def test_the_memory_estimate_covers_gpt2_xl():
    # 1.56 billion parameters: about 26 GB at the export's peak (measured 16 bytes a parameter).
    assert 24e9 < export_memory(1_557_611_200) < 28e9
