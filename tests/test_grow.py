"""Deepening a trained model keeps its function, then trains like any other model."""

import io
import json

import pytest
import torch

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
