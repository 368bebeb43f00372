"""Distillation (model/distill.py): the loss is the one written down, sliced or not, and a
student trained on a teacher through the training engine moves toward the teacher."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_train import corpus, job_dict, losses, run_in_process  # noqa: F401 - corpus is a fixture

from core.config import GPT2Config
from model.distill import distill_loss
from model.gpt2 import GPT2
from model.hf import load_gpt2, save_gpt2

SHAPE = dict(n_layer=2, n_head=2, n_embd=32, n_positions=64, vocab_size=50257)


def _pair(seed: int = 0) -> tuple[GPT2, GPT2]:
    torch.manual_seed(seed)
    teacher = GPT2(GPT2Config(**SHAPE, n_inner=64)).eval()
    student = GPT2(GPT2Config(**SHAPE, n_inner=32)).eval()
    return student, teacher


def _batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, 50257, (2, 17), generator=torch.Generator().manual_seed(seed))
    return ids[:, :-1], ids[:, 1:]


def _written_down(student: GPT2, teacher: GPT2, x, y, alpha: float, t: float) -> torch.Tensor:
    s, _ = student(x)
    with torch.no_grad():
        te, _ = teacher(x)
    soft = F.kl_div(F.log_softmax(s / t, -1), F.log_softmax(te / t, -1), log_target=True,
                    reduction="sum") / (x.numel()) * t * t
    hard = F.cross_entropy(s.reshape(-1, s.shape[-1]), y.reshape(-1))
    return alpha * soft + (1 - alpha) * hard


@pytest.mark.parametrize("alpha,t", [(0.0, 1.0), (0.5, 2.0), (1.0, 4.0)])
def test_the_loss_and_its_gradient_are_the_formula_whether_sliced_or_not(alpha, t):
    student, teacher = _pair()
    x, y = _batch()
    want = _written_down(student, teacher, x, y, alpha, t)
    want.backward()
    grads = [p.grad.clone() for p in student.parameters()]
    student.zero_grad()
    got = distill_loss(student, teacher, x, y, alpha, t, slice_rows=5)  # 32 positions in 7 slices
    got.backward()
    assert got.item() == pytest.approx(want.item(), rel=1e-4)
    for g, p in zip(grads, student.parameters()):
        assert torch.allclose(p.grad, g, atol=1e-6, rtol=1e-3)
    assert all(p.grad is None for p in teacher.parameters())


def test_a_student_equal_to_its_teacher_has_nothing_to_learn():
    _, teacher = _pair()
    x, y = _batch()
    loss = distill_loss(teacher, teacher, x, y, alpha=1.0, temperature=2.0)
    assert abs(loss.item()) < 1e-5


def test_bad_settings_are_refused():
    student, teacher = _pair()
    x, y = _batch()
    with pytest.raises(ValueError, match="alpha"):
        distill_loss(student, teacher, x, y, alpha=1.5, temperature=2.0)
    with pytest.raises(ValueError, match="temperature"):
        distill_loss(student, teacher, x, y, alpha=0.5, temperature=0.0)


def test_training_with_a_teacher_brings_the_student_toward_it(corpus, tmp_path):  # noqa: F811
    from conftest import TINY

    torch.manual_seed(3)
    teacher = GPT2(GPT2Config(**TINY)).eval()
    save_gpt2(teacher, tmp_path / "teacher")
    student = GPT2(GPT2Config(**{**TINY, "n_inner": 32})).eval()
    save_gpt2(student, tmp_path / "student")
    x, y = _batch(seed=4)
    x, y = x[:, :16], y[:, :16]
    before = distill_loss(student, teacher, x, y, alpha=1.0, temperature=1.0).item()
    job = job_dict(corpus, tmp_path / "run", init=str(tmp_path / "student"), teacher=str(tmp_path / "teacher"),
                   distill_alpha=1.0, distill_temperature=1.0, steps=12, lr=3e-3, warmup_steps=2,
                   eval_every=None, sample_every=None, checkpoint_every=None)
    job.pop("model")
    result, events = run_in_process(job)
    trained = load_gpt2(tmp_path / "run")
    after = distill_loss(trained.eval(), teacher, x, y, alpha=1.0, temperature=1.0).item()
    assert after < 0.8 * before, (before, after)
    assert losses(events)[-1] < losses(events)[0]


def test_a_teacher_with_another_vocabulary_is_refused(corpus, tmp_path):  # noqa: F811
    from conftest import TINY

    from model.train_job import TrainError

    save_gpt2(GPT2(GPT2Config(**{**TINY, "vocab_size": 1000})), tmp_path / "teacher")
    job = job_dict(corpus, tmp_path / "run", teacher=str(tmp_path / "teacher"), steps=2)
    with pytest.raises(TrainError, match="teacher: .* has 1000 tokens, the model 50257"):
        run_in_process(job)
