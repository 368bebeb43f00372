"""The PyTorch GPT-2: Hugging Face parity, KV cache, checkpoints in and out."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from core.config import PRESETS, GPT2Config
from model.gpt2 import GPT2, causal_mask
from model.hf import load_gpt2, save_gpt2

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """transformers' GPT2LMHeadModel on a tiny random config, saved both ways."""
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=2, n_embd=64, n_head=4, n_positions=128)
    ref = transformers.GPT2LMHeadModel(cfg).eval()
    st = tmp_path_factory.mktemp("ref-safetensors")
    ref.save_pretrained(st)
    binf = tmp_path_factory.mktemp("ref-bin")
    ref.save_pretrained(binf, safe_serialization=False) if _can_save_bin() else _save_bin(ref, binf)
    return ref, st, binf


def _can_save_bin() -> bool:
    import inspect

    return "safe_serialization" in inspect.signature(transformers.PreTrainedModel.save_pretrained).parameters


def _save_bin(ref, folder):
    """transformers 5 only writes safetensors; write the legacy pytorch_model.bin layout by hand
    (full keys with the "transformer." prefix and the tied lm_head, as old checkpoints have)."""
    ref.config.save_pretrained(folder)
    torch.save({k: v.clone() for k, v in ref.state_dict().items()}, folder / "pytorch_model.bin")


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_matches_transformers(reference, fmt):
    ref, st, binf = reference
    folder = st if fmt == "safetensors" else binf
    assert (folder / ("model.safetensors" if fmt == "safetensors" else "pytorch_model.bin")).exists()
    model = load_gpt2(folder)
    ids = torch.randint(0, 50257, (2, 17), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = ref(ids).logits
        got, _ = model(ids)
    assert (got - expected).abs().max().item() < 1e-4


def test_unprefixed_keys_load(reference, tmp_path):
    """OpenAI's own checkpoints on the Hub store keys without "transformer."."""
    from safetensors.torch import load_file, save_file

    ref, st, _ = reference
    tensors = load_file(str(st / "model.safetensors"))
    bare = {k.removeprefix("transformer."): v for k, v in tensors.items()}
    assert not any(k.startswith("transformer.") for k in bare)
    shutil.copy(st / "config.json", tmp_path / "config.json")
    save_file(bare, str(tmp_path / "model.safetensors"))
    ids = torch.tensor([[464, 3290, 318]])
    with torch.no_grad():
        assert torch.allclose(load_gpt2(tmp_path)(ids)[0], ref(ids).logits, atol=1e-4)


def test_saved_checkpoint_opens_in_transformers(tiny_hf_dir):
    ours = load_gpt2(tiny_hf_dir)
    theirs = transformers.GPT2LMHeadModel.from_pretrained(tiny_hf_dir).eval()
    ids = torch.randint(0, 50257, (1, 12), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (ours(ids)[0] - theirs(ids).logits).abs().max().item() < 1e-4


def test_save_load_round_trip(tiny_hf_dir, tmp_path):
    model = load_gpt2(tiny_hf_dir)
    save_gpt2(model, tmp_path / "copy")
    again = load_gpt2(tmp_path / "copy")
    ids = torch.randint(0, 50257, (2, 9), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(model(ids)[0], again(ids)[0])


@pytest.mark.slow
def test_kv_cache_equals_full_recompute(tiny_hf_dir):
    model = load_gpt2(tiny_hf_dir)
    ids = torch.randint(0, 50257, (3, 20), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        full, _ = model(ids)
        empty = [(torch.zeros(3, 4, 0, 16), torch.zeros(3, 4, 0, 16))] * 2
        first, past = model(ids[:, :7], past_key_values=empty)
        logits = [first]
        for t in range(7, 20, 4):  # chunks of several tokens: queries fewer than keys
            step, past = model(ids[:, t : t + 4], past_key_values=past)
            logits.append(step)
        assert (torch.cat(logits, dim=1) - full).abs().max().item() < 1e-5
        last, _ = model(ids[:, -1:], past_key_values=[(k[:, :, :-1], v[:, :, :-1]) for k, v in past], last_only=True)
        assert (last - full[:, -1]).abs().max().item() < 1e-5


def test_causal_mask_with_past():
    mask = causal_mask(2, 3)
    assert mask.tolist() == [[True, True, True, True, False], [True, True, True, True, True]]


def test_presets_have_gpt2_sizes():
    counts = {name: cfg.num_parameters() for name, cfg in PRESETS.items()}
    assert counts["gpt2"] == 124_439_808
    assert counts["gpt2-medium"] == 354_823_168
    assert counts["gpt2-xl"] == 1_557_611_200
    with torch.device("meta"):
        assert sum(p.numel() for p in GPT2(PRESETS["gpt2"]).parameters()) == counts["gpt2"]


def test_config_json_round_trip(tmp_path):
    cfg = GPT2Config(n_layer=3, n_embd=96, n_head=6, n_positions=64)
    cfg.save(tmp_path / "config.json")
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["model_type"] == "gpt2" and data["n_layer"] == 3 and data["n_ctx"] == 64
    assert GPT2Config.load(tmp_path / "config.json") == cfg
