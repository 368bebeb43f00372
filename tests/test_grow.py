"""Deepening a trained model keeps its function, then trains like any other model."""

import io
import json

import pytest
import torch

from core.config import GPT2Config
from model.gpt2 import GPT2
from model.grow import deepen
from model.hf import load_gpt2, save_gpt2
from model.train_job import Job, TrainError
from model.train_loop import Events, Trainer


@pytest.mark.slow
def test_deepened_model_computes_the_same_logits(tiny_hf_dir):
    model = load_gpt2(tiny_hf_dir)
    ids = torch.randint(0, model.config.vocab_size, (2, 17))
    before, _ = model(ids)
    n = model.config.n_layer
    deep = deepen(load_gpt2(tiny_hf_dir), 2 * n + 1)
    assert deep.config.n_layer == len(deep.h) == 2 * n + 1
    after, cache = deep(ids)
    assert len(cache) == 2 * n + 1
    torch.testing.assert_close(after, before, rtol=0, atol=1e-5)
    # The new layers are not dead: one gradient step moves their output projections.
    deep.train()
    deep.loss(ids[:, :-1], ids[:, 1:]).backward()
    assert deep.h[1].attn.c_proj.weight.grad.abs().sum() > 0


@pytest.mark.slow
def test_deepened_checkpoint_round_trips(tiny_hf_dir, tmp_path):
    deep = deepen(load_gpt2(tiny_hf_dir), 5)
    save_gpt2(deep, tmp_path / "deep")
    assert json.loads((tmp_path / "deep" / "config.json").read_text())["n_layer"] == 5
    again = load_gpt2(tmp_path / "deep")
    ids = torch.randint(0, deep.config.vocab_size, (1, 9))
    torch.testing.assert_close(again(ids)[0], deep(ids)[0])


@pytest.mark.parametrize("old, new, copies_at", [(6, 8, [3, 7]), (6, 12, [1, 3, 5, 7, 9, 11]), (2, 3, [2])])
def test_new_layers_are_spread_through_the_depth(old, new, copies_at):
    model = GPT2(GPT2Config(n_layer=old, n_embd=32, n_head=2, n_positions=16, vocab_size=64))
    originals = list(model.h)
    deep = deepen(model, new)
    # Each new block is a zero-output copy of the block before it, spread evenly (12 -> 16 copies
    # every third layer, not the first four).
    assert [i for i, b in enumerate(deep.h) if not any(b is o for o in originals)] == copies_at
    for i in copies_at:
        assert not deep.h[i].mlp.c_proj.weight.any() and not deep.h[i].attn.c_proj.weight.any()
        torch.testing.assert_close(deep.h[i].attn.c_attn.weight, deep.h[i - 1].attn.c_attn.weight)
    assert [b for b in deep.h if any(b is o for o in originals)] == originals


def test_cannot_make_a_model_shallower(tiny_hf_dir):
    model = load_gpt2(tiny_hf_dir)
    with pytest.raises(ValueError, match="cannot deepen"):
        deepen(model, model.config.n_layer - 1)


def test_job_deepens_its_init_and_says_what_is_wrong(tiny_hf_dir, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("The quick brown fox jumps over the lazy dog. " * 400)
    with pytest.raises(TrainError, match="deepen_to needs init"):
        Job(data=[str(text)], out=str(tmp_path / "o"), deepen_to=4).validate()
    job = Job(data=[str(text)], out=str(tmp_path / "run"), init=str(tiny_hf_dir), deepen_to=1,
              steps=1, batch_size=1, seq_len=16, cache_dir=str(tmp_path / "cache"))
    job.validate()
    with pytest.raises(TrainError, match="deepen_to: cannot deepen"):
        Trainer(job, Events(stream=io.StringIO(), log=io.StringIO())).run()
