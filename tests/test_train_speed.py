"""What makes training fast stays exact: the head and loss in slices, the schedule by time of
evaluations and checkpoints, and going on from saved weights at a step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_train import corpus, job_dict, losses, run_in_process  # noqa: F401 - corpus is a fixture

from model.lm_loss import IGNORE_INDEX, head_cross_entropy


def _reference(h, w, targets):
    return F.cross_entropy((h @ w.t()).float(), targets, ignore_index=IGNORE_INDEX)


@pytest.mark.parametrize("rows,slice_rows", [(300, 64), (64, 64), (7, 512)])
def test_sliced_head_loss_and_gradients_equal_the_whole_logits_in_fp32(rows, slice_rows):
    torch.manual_seed(0)
    h = torch.randn(rows, 16, requires_grad=True)
    w = (torch.randn(500, 16) * 0.3).requires_grad_()
    targets = torch.randint(0, 500, (rows,))
    targets[::5] = IGNORE_INDEX
    ref = _reference(h, w, targets)
    ref.backward()
    ref_h, ref_w = h.grad.clone(), w.grad.clone()
    h.grad = w.grad = None
    out = head_cross_entropy(h, w, targets, slice_rows=slice_rows)
    (3 * out).backward()  # the incoming gradient scales both
    assert out.item() == pytest.approx(ref.item(), rel=1e-6)
    assert torch.allclose(h.grad, 3 * ref_h, atol=1e-7, rtol=1e-5)
    assert torch.allclose(w.grad, 3 * ref_w, atol=1e-7, rtol=1e-5)


def test_sliced_head_under_bf16_autocast_matches_autocast_logits():
    torch.manual_seed(1)
    h = torch.randn(200, 32, requires_grad=True)
    w = (torch.randn(1000, 32) * 0.2).requires_grad_()
    targets = torch.randint(0, 1000, (200,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref = _reference(h, w, targets)
    ref.backward()
    ref_h, ref_w = h.grad.clone(), w.grad.clone()
    h.grad = w.grad = None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head_cross_entropy(h, w, targets, slice_rows=48)
    out.backward()
    assert out.dtype == torch.float32
    assert out.item() == pytest.approx(ref.item(), rel=1e-4)
    # bf16 matmuls on both sides: agreement to bf16's precision, not better.
    assert (h.grad - ref_h).abs().max() <= 0.02 * ref_h.abs().max()
    assert (w.grad - ref_w).abs().max() <= 0.02 * ref_w.abs().max()


def test_all_targets_ignored_gives_zero_loss_and_gradient():
    h = torch.randn(4, 8, requires_grad=True)
    w = torch.randn(20, 8, requires_grad=True)
    out = head_cross_entropy(h, w, torch.full((4,), IGNORE_INDEX))
    out.backward()
    assert out.item() == 0.0 and h.grad.abs().sum() == 0 and w.grad.abs().sum() == 0


def test_frozen_head_gets_no_gradient_and_the_input_still_does():
    h = torch.randn(10, 8, requires_grad=True)
    w = torch.randn(20, 8)  # LoRA: the tied embedding is frozen
    head_cross_entropy(h, w, torch.randint(0, 20, (10,))).backward()
    assert h.grad is not None and w.grad is None


def test_model_loss_equals_cross_entropy_of_its_logits():
    from conftest import TINY

    from core.config import GPT2Config
    from model.gpt2 import GPT2

    torch.manual_seed(2)
    model = GPT2(GPT2Config(**TINY)).eval()  # no dropout: both passes see the same network
    ids = torch.randint(0, 50257, (2, 17))
    logits, _ = model(ids[:, :-1])
    ref = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
    assert model.loss(ids[:, :-1], ids[:, 1:]).item() == pytest.approx(ref.item(), rel=1e-6)


# --- the schedule -------------------------------------------------------------------------------

def test_evaluations_by_time_score_a_sample_and_the_last_scores_everything(corpus, tmp_path, monkeypatch):  # noqa: F811
    from model import train_loop

    monkeypatch.setattr(train_loop, "FIRST_EVAL_S", 0.0)  # the first evaluation after step 1
    job = job_dict(corpus, tmp_path / "run", steps=6, eval_every=None, sample_every=None, checkpoint_every=None,
                   eval_max_windows=2, eval_share=0.999999)
    result, events = run_in_process(job)
    evals = [e for e in events if e["event"] == "eval"]
    assert len(evals) >= 2
    assert all(e["windows"] == 2 and not e["whole"] for e in evals[:-1])
    assert evals[-1]["whole"] and evals[-1]["windows"] > 2 and evals[-1]["step"] == 6
    assert result["val_loss"] == evals[-1]["val_loss"] or round(result["val_loss"], 5) == evals[-1]["val_loss"]
    # Samples come with the evaluations when sample_every is not set.
    sampled = {e["step"] for e in events if e["event"] == "sample"}
    assert {e["step"] for e in evals} <= sampled
    # Checkpoints by time: none due within the run's seconds, so only the one at the end.
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [6]


def test_a_small_eval_share_leaves_evaluation_to_the_end(corpus, tmp_path):  # noqa: F811
    job = job_dict(corpus, tmp_path / "run", steps=5, eval_every=None, sample_every=None, checkpoint_every=None)
    _, events = run_in_process(job)
    assert [e["step"] for e in events if e["event"] == "eval"] == [5]  # the first is due after a minute


def test_no_evaluation_when_the_end_scores_the_model_before_the_next_would_be_due(corpus, tmp_path):  # noqa: F811
    import time

    from model import train_loop
    from model.train_job import Job

    job = Job.from_dict(job_dict(corpus, tmp_path / "run", eval_every=None, eval_share=0.5), "job")
    schedule = train_loop._Schedule(job)
    with schedule.evaluating(scale=2.0):  # the base model's score, on twice the sample's windows
        time.sleep(0.05)
    assert not schedule.eval_due(1, seconds_left=1000)  # not yet: as long again as it took, twice
    schedule._eval_done -= 0.2
    assert schedule.eval_due(1, seconds_left=1000)
    assert not schedule.eval_due(1, seconds_left=0.05)  # the end comes first, and scores everything


def test_the_estimate_counts_the_evaluations_the_schedule_makes():
    from types import SimpleNamespace

    from model.finetune import _scheduled_evaluations
    from model.train_loop import FIRST_EVAL_S

    fine_tune = SimpleNamespace(eval_share=0.05, init="base")
    # each takes 1 s, so one every 19 s of training, none in the last 19: at 19, 38, 57 and 76 of 100
    assert _scheduled_evaluations(fine_tune, 100.0, 1.0) == 4
    assert _scheduled_evaluations(fine_tune, 37.0, 1.0) == 0  # a short run: only before and after
    scratch = SimpleNamespace(eval_share=0.05, init=None)  # the first after FIRST_EVAL_S
    assert _scheduled_evaluations(scratch, FIRST_EVAL_S + 19.0, 1.0) == 1


def test_checkpoints_by_time(corpus, tmp_path):  # noqa: F811
    job = job_dict(corpus, tmp_path / "run", steps=4, eval_every=100, checkpoint_every=None,
                   checkpoint_every_s=1e-9)
    _, events = run_in_process(job)
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [1, 2, 3, 4]


@pytest.mark.parametrize("field,value", [("eval_share", 0), ("eval_share", 1.5), ("checkpoint_every_s", 0),
                                         ("eval_every", 0), ("checkpoint_every", -1)])
def test_bad_schedule_settings_are_named(corpus, tmp_path, field, value):  # noqa: F811
    from model.train_job import Job, TrainError

    job = Job.from_dict(job_dict(corpus, tmp_path / "run", **{field: value}), "test")
    with pytest.raises(TrainError, match=field):
        job.validate()


# --- going on from saved weights --------------------------------------------------------------

def test_sampler_skip_equals_drawing_the_batches():
    import numpy as np

    from model.train_data import WindowSampler

    tokens = np.arange(1000, dtype=np.uint16)
    drawn = WindowSampler(tokens, 16, seed=3)
    for _ in range(23):  # crosses epochs
        drawn.next_batch(5)
    skipped = WindowSampler(tokens, 16, seed=3)
    skipped.skip(23 * 5)
    assert skipped.state() == drawn.state()
    assert (skipped.next_batch(5) == drawn.next_batch(5)).all()


def test_lr_ramps_up_again_after_start_step_then_follows_the_schedule():
    from model.train_job import Job, lr_at

    whole = Job(steps=100, lr=1e-3, min_lr=1e-4, warmup_steps=10)
    later = Job(steps=100, lr=1e-3, min_lr=1e-4, warmup_steps=10, start_step=40, init="x")
    assert lr_at(40, later) == pytest.approx(lr_at(50, whole) / 10)
    assert lr_at(49, later) == pytest.approx(lr_at(50, whole))
    assert all(lr_at(s, later) == lr_at(s, whole) for s in range(50, 100))


def test_start_step_goes_on_with_the_batches_and_steps_of_the_first_run(corpus, tmp_path):  # noqa: F811
    base = dict(steps=8, eval_every=100, sample_every=100, checkpoint_every=100, dropout=0.0)
    first, _ = run_in_process(job_dict(corpus, tmp_path / "first", **{**base, "steps": 8}))
    job = job_dict(corpus, tmp_path / "later", init=str(tmp_path / "first"), start_step=5, **base)
    job.pop("model")
    result, events = run_in_process(job)
    progress = [e["step"] for e in events if e["event"] == "progress"]
    assert progress == [6, 7, 8] and events[0]["step"] == 5
    assert result["steps"] == 8


@pytest.mark.parametrize("extra,problem", [({}, "init"), ({"init": "x", "start_step": 8}, "fewer than steps")])
def test_bad_start_step_is_refused(corpus, tmp_path, extra, problem):  # noqa: F811
    from model.train_job import Job, TrainError

    job = Job.from_dict({**job_dict(corpus, tmp_path / "r", steps=8), "start_step": 3, **extra}, "test")
    with pytest.raises(TrainError, match=problem):
        job.validate()
