"""Knowledge distillation: a student GPT-2 trained to match a teacher's next-token distributions.

loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, text)

(Hinton et al., 2015: T^2 keeps the soft term's gradients on the scale of the hard one's as T
changes.) Recovering a pruned model (model/prune.py) is the use: the teacher is the model it was
cut from, the text the model's own training text or the writer's.

Both models' logits over 50,257 tokens for a batch of 8 x 512 positions would take ~820 MB each
in float32, so the loss is computed over slices of positions, each slice's logits recomputed in
the backward pass instead of kept (torch.utils.checkpoint).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from model.gpt2 import GPT2
from model.lm_loss import head_cross_entropy

SLICE_ROWS = 1024


def distill_loss(student: GPT2, teacher: GPT2, x: torch.Tensor, y: torch.Tensor, alpha: float,
                 temperature: float, slice_rows: int = SLICE_ROWS) -> torch.Tensor:
    """The mixed loss of ``student`` on the batch ``x`` -> ``y``, the teacher's run without grad."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    with torch.no_grad():
        th, _ = teacher.hidden_states(x)
        th = teacher.ln_f(th).reshape(-1, th.shape[-1])
    sh, _ = student.hidden_states(x)
    sh = student.ln_f(sh)
    hard = head_cross_entropy(sh, student.wte.weight, y) if alpha < 1 else sh.new_zeros(())
    if alpha == 0:
        return hard
    flat = sh.reshape(-1, sh.shape[-1])
    soft = flat.new_zeros((), dtype=torch.float32)
    for start in range(0, flat.shape[0], slice_rows):
        rows = slice(start, start + slice_rows)
        soft = soft + checkpoint(_slice_kl, flat[rows], student.wte.weight, th[rows], teacher.wte.weight,
                                 temperature, use_reentrant=False)
    soft = soft / flat.shape[0] * temperature ** 2
    return alpha * soft + (1 - alpha) * hard


def _slice_kl(h: torch.Tensor, weight: torch.Tensor, teacher_h: torch.Tensor, teacher_weight: torch.Tensor,
              temperature: float) -> torch.Tensor:
    student = F.log_softmax(_scaled((h @ weight.t()).float(), temperature), dim=-1)
    with torch.no_grad():
        teacher = F.log_softmax(_scaled((teacher_h @ teacher_weight.t()).float(), temperature), dim=-1)
    return F.kl_div(student, teacher, log_target=True, reduction="sum")


def _scaled(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    # Dividing [rows, 50257] by 1, forward and backward, was a tenth of a distillation step.
    return logits if temperature == 1 else logits / temperature
