"""LoRA: low-rank adapters on GPT-2's attention and MLP projections.

Each adapted projection keeps its frozen weight W and learns ``B @ A`` (rank r, B starting at
zero, so training starts from the base model exactly); the layer computes
``x W^T + b + (alpha / r) * (x A^T) B^T``. Written as two thin matmuls rather than as a change
of W, the backward pass never forms a full-size gradient for W: that, and an optimizer holding
state for the adapters only, is where LoRA saves time and memory. Its checkpoints hold the
adapters alone (the base weights come from the base model again on resume). For export the
adapters are merged into W, giving a plain GPT-2 that ONNX export and other GPT-2 tools read.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Parameter-name suffixes of the projections that get adapters (model.gpt2's names).
TARGETS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
DEFAULT_RANK = 8
DEFAULT_ALPHA = 16.0


class LoRALinear(nn.Linear):
    """An nn.Linear with a low-rank update; ``weight`` and ``bias`` keep their names."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__(base.in_features, base.out_features, bias=base.bias is not None,
                         device=base.weight.device, dtype=base.weight.dtype)
        self.weight = base.weight
        self.bias = base.bias
        self.rank, self.scale = rank, alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, device=base.weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, device=base.weight.device))
        # As in the LoRA paper's reference code: A like nn.Linear's default, B zero.
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def reset_parameters(self) -> None:  # nn.Linear.__init__ calls it; the weights come from base
        pass

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias) + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scale

    def merged(self) -> nn.Linear:
        plain = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None,
                          device=self.weight.device, dtype=self.weight.dtype)
        with torch.no_grad():
            delta = (self.lora_B.float() @ self.lora_A.float()) * self.scale
            plain.weight.copy_((self.weight.float() + delta).to(self.weight.dtype))
            if self.bias is not None:
                plain.bias.copy_(self.bias)
        return plain


def apply_lora(model: nn.Module, rank: int = DEFAULT_RANK, alpha: float = DEFAULT_ALPHA) -> int:
    """Freeze ``model`` and give its target projections adapters; returns the trainable count."""
    if not isinstance(rank, int) or rank <= 0:
        raise ValueError(f"lora rank must be a positive integer, got {rank!r}")
    for p in model.parameters():
        p.requires_grad_(False)
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear) and not isinstance(module, LoRALinear) and name.endswith(TARGETS):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, LoRALinear(module, rank, alpha))
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter into its weight, in place; the model is a plain GPT-2 again."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, module.merged())
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def adapter_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapters' tensors only: what a LoRA checkpoint stores."""
    return {k: v for k, v in model.state_dict().items() if ".lora_" in k}


def load_adapter_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    expected = set(adapter_state(model))
    if set(state) != expected:
        raise ValueError("the adapters in the checkpoint do not match the model's")
    model.load_state_dict(state, strict=False)
