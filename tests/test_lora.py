"""LoRA fine-tuning: adapters, merging for export, small checkpoints, resume, epochs, before/after."""

from __future__ import annotations

import math
import signal

import pytest
import torch
from conftest import TINY
from test_train import corpus, job_dict, losses, run_in_process  # noqa: F401 - the corpus fixture


@pytest.mark.slow
def test_merged_model_computes_what_the_adapted_one_does():
    from core.config import GPT2Config
    from model.gpt2 import GPT2
    from model.lora import LoRALinear, apply_lora, merge_lora

    torch.manual_seed(0)
    model = GPT2(GPT2Config(**TINY)).eval()
    trainable = apply_lora(model, rank=4, alpha=8)
    adapted = [m for m in model.modules() if isinstance(m, LoRALinear)]
    assert len(adapted) == 4 * TINY["n_layer"]  # c_attn, attn c_proj, c_fc, mlp c_proj per block
    assert trainable == sum(m.lora_A.numel() + m.lora_B.numel() for m in adapted)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == \
        [n for n, _ in model.named_parameters() if ".lora_" in n]
    for m in adapted:
        torch.nn.init.normal_(m.lora_B, std=0.02)  # as after some training
    ids = torch.randint(0, 50257, (2, 12))
    with torch.no_grad():
        expected, _ = model(ids)
        merge_lora(model)
        merged, _ = model(ids)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    assert sorted(model.state_dict()) == sorted(GPT2(GPT2Config(**TINY)).state_dict())
    assert torch.allclose(merged, expected, atol=1e-4)


@pytest.mark.slow
def test_lora_fine_tune_learns_keeps_small_checkpoints_and_saves_a_plain_model(tiny_hf_dir, corpus, tmp_path):  # noqa: F811
    from model.hf import load_gpt2

    job = job_dict(corpus, tmp_path / "ft", init=str(tiny_hf_dir), method="lora", lora_rank=4, lr=1e-2,
                   steps=20, eval_every=10, sample_every=20)
    job.pop("model")
    result, events = run_in_process(job)
    evals = [e for e in events if e["event"] == "eval"]
    assert evals[0]["step"] == 0  # the base model's score comes first
    assert result["val_ppl"] < result["val_ppl_before"] == pytest.approx(evals[0]["val_ppl"], rel=1e-3)
    assert [e["step"] for e in events if e["event"] == "sample"][:1] == [0]
    state = torch.load(tmp_path / "ft" / "checkpoints" / "last.pt", weights_only=True)
    assert state["model"] and all(".lora_" in k for k in state["model"])
    base, tuned = load_gpt2(tiny_hf_dir), load_gpt2(tmp_path / "ft")
    # Adapters change the projections (by a low-rank update) and nothing else.
    for (name, a), (_, b) in zip(base.state_dict().items(), tuned.state_dict().items()):
        changed = not torch.equal(a, b)
        assert changed == any(name.endswith(t + ".weight") for t in ("c_attn", "c_proj", "c_fc")), name
        if changed:
            assert torch.linalg.matrix_rank(b - a, atol=1e-5) <= 4


@pytest.mark.slow
def test_lora_interrupted_and_resumed_equals_uninterrupted(tiny_hf_dir, corpus, tmp_path):  # noqa: F811
    from model.train_loop import StopRequest

    job = job_dict(corpus, tmp_path / "whole", init=str(tiny_hf_dir), method="lora", steps=12,
                   checkpoint_every=100, eval_every=100, sample_every=100)
    job.pop("model")
    _, whole = run_in_process(job)
    stop = StopRequest()
    part = {**job, "out": str(tmp_path / "part")}
    result, first = run_in_process(part, on_step=lambda s: setattr(stop, "signum", signal.SIGTERM) if s == 5 else None,
                                   stop=stop)
    assert result["stopped"] and result["step"] == 5
    _, second = run_in_process(part, resume=True)
    assert losses(first) + losses(second) == losses(whole)
    assert second[-1]["val_ppl_before"] == whole[-1]["val_ppl_before"]


@pytest.mark.slow
def test_epochs_set_the_number_of_steps(corpus, tmp_path):  # noqa: F811
    from core.runfolder import steps_for_epochs

    assert steps_for_epochs(1, 1001, 10, 4) == 25
    assert steps_for_epochs(0.01, 1001, 10, 4) == 1
    result, events = run_in_process(job_dict(corpus, tmp_path / "run", epochs=0.5, eval_every=100, sample_every=100))
    start = events[0]
    expected = math.ceil(0.5 * ((start["train_tokens"] - 1) // 32) / 4)
    assert start["total_steps"] == expected == result["steps"] == len(losses(events))


def test_bad_lora_settings_are_named(corpus, tmp_path, capsys):  # noqa: F811
    import json

    from model.train import main

    assert main(["--data", str(corpus), "--out", str(tmp_path / "run"), "--method", "qlora"]) == 1
    assert "method must be full or lora" in json.loads(capsys.readouterr().out.splitlines()[-1])["message"]
    assert main(["--data", str(corpus), "--out", str(tmp_path / "run"), "--lora-rank", "0"]) == 1
    assert "lora_rank must be between 1 and" in json.loads(capsys.readouterr().out.splitlines()[-1])["message"]
