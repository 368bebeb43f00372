"""The language-model head and its cross-entropy in one pass, a slice of rows at a time.

Over GPT-2's 50,257-token vocabulary the logits of one batch (8 x 512 positions) are 206 million
numbers: written by the head's matmul, copied to fp32, normalised, kept for the backward pass,
then read three more times to make the gradient. At the bundled model's width (192) that traffic,
not arithmetic, was a quarter of a training step. Here each slice of rows gets its logits, its
loss and, at once, its gradients with respect to the hidden states and to the (tied) embedding
matrix; the slice is dropped before the next one, so the full logits never exist. The result is
the same mean cross-entropy as ``F.cross_entropy(h @ W.T, targets)``, with fp32 softmax whatever
the matmul's precision.
"""

from __future__ import annotations

from typing import Any

import torch

IGNORE_INDEX = -100
# Rows per slice: small enough that a slice's logits stay near the cache (512 x 50,257 fp32 is
# 103 MB against 206 MB x 4 passes for a whole batch), large enough that the matmuls stay
# efficient. Measured on the bundled model's shape; 256 and 1024 were within 3% of it.
SLICE_ROWS = 512


def _compute_dtype(h: torch.Tensor) -> torch.dtype:
    """The matmul precision autocast would use for the head here (bf16 under CPU autocast)."""
    device = h.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return h.dtype


class _HeadCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                dtype: torch.dtype, slice_rows: int) -> torch.Tensor:
        with torch.autocast(h.device.type, enabled=False):  # the precision is chosen here, explicitly
            return _HeadCrossEntropy._forward(ctx, h, weight, targets, dtype, slice_rows)

    @staticmethod
    def _forward(ctx: Any, h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                 dtype: torch.dtype, slice_rows: int) -> torch.Tensor:
        valid = targets != IGNORE_INDEX
        count = int(valid.sum())
        w = weight.to(dtype)
        need_h, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_h = torch.empty_like(h) if need_h else None
        # fp32 whatever the matmul's precision; the first slice's product is copied in, the others
        # added with the cast on the way: no zero fill and no fp32 copy of each slice's product.
        grad_w = torch.empty(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
        total = torch.zeros((), dtype=torch.float32, device=h.device)
        scale = 1.0 / max(count, 1)
        for start in range(0, h.shape[0], slice_rows):
            rows = slice(start, start + slice_rows)
            hc = h[rows].to(dtype)
            t = targets[rows]
            ok = valid[rows]
            safe_t = torch.where(ok, t, 0).unsqueeze(1)
            logits = (hc @ w.t()).float()
            picked = logits.gather(1, safe_t)
            # Softmax in place in the slice's own storage: max, shift, exp, sum; the log of the
            # sum gives the loss, its reciprocal the gradient.
            peak = logits.amax(dim=1, keepdim=True)
            exp = logits.sub_(peak).exp_()
            sums = exp.sum(dim=1, keepdim=True)
            weight_rows = ok.unsqueeze(1).float()
            total += ((peak + sums.log() - picked) * weight_rows).sum()
            if grad_h is None and grad_w is None:
                continue
            # d(mean loss)/d(logits) = (softmax - onehot) / count, zero on ignored rows.
            row_scale = weight_rows * scale
            probs = exp.mul_(row_scale / sums)
            probs.scatter_add_(1, safe_t, -row_scale)
            g = probs.to(dtype)
            if grad_h is not None:
                grad_h[rows] = g @ w
            if grad_w is not None:
                part = g.t() @ hc
                if start == 0:
                    grad_w.copy_(part)
                else:
                    grad_w.add_(part)
        ctx.save_for_backward(grad_h, grad_w)
        return total * scale

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[Any, ...]:
        grad_h, grad_w = ctx.saved_tensors
        if grad_out.item() != 1.0:  # the loss scaled (gradient accumulation, a mixed loss)
            grad_h = grad_h * grad_out if grad_h is not None else None
            grad_w = grad_w * grad_out if grad_w is not None else None
        return grad_h, grad_w, None, None, None


def head_cross_entropy(h: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                       slice_rows: int = SLICE_ROWS) -> torch.Tensor:
    """Mean cross-entropy of ``h @ weight.T`` (h [..., n_embd], weight [vocab, n_embd]) against
    ``targets`` [...] (IGNORE_INDEX rows left out), without keeping the logits."""
    flat_h = h.reshape(-1, h.shape[-1])
    return _HeadCrossEntropy.apply(flat_h, weight, targets.reshape(-1), _compute_dtype(h), slice_rows)
