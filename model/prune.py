"""Structured pruning of a GPT-2: narrower MLPs and fewer layers, chosen by measured importance.

The result is an ordinary GPT-2 of smaller shape (``n_inner`` below 4 x n_embd, fewer layers),
which exports, fine-tunes and runs like any other. What can be removed, and what cannot:

- **MLP neurons**: the same number in every layer (a GPT-2 config has one ``n_inner``), each
  layer keeping its own most important ones. A neuron's importance is the first-order estimate
  of the loss change when it is removed (Molchanov et al., 2019): the activation times the
  gradient of the loss with respect to it, summed over the tokens of a batch, squared, summed over
  batches.
- **Layers**: a layer's importance is measured directly, as the rise of the loss on the same
  batches when the whole block is skipped (the residual stream passes through).
- **Attention heads are not removed**: GPT-2 ties the attention width to the model width
  (n_head x head_dim = n_embd), so a layer with fewer heads is not a GPT-2 any more and would
  need a graph and a checkpoint format of its own. Heads are left whole in every kept layer.

The plan (``plan``) keeps ``keep`` of the blocks' parameters: it narrows the MLPs first, down to
``MIN_INNER_RATIO`` x n_embd, and removes the least important layers only beyond that. Width
before depth follows Minitron (Muralidharan et al., 2024), where width-pruned models recovered
more of the original's quality than depth-pruned ones after distillation.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn

from core.config import GPT2Config
from model.gpt2 import GPT2, Block

MIN_INNER_RATIO = 1.0  # MLP width kept at least n_embd before layers go
INNER_MULTIPLE = 8  # MLP widths rounded to a multiple of this (kernels prefer it)


@dataclass
class Importance:
    neurons: list[np.ndarray]  # per layer, one score per MLP neuron
    layers: np.ndarray  # per layer, the loss increase when the block is skipped
    base_loss: float  # the loss of the whole model on the same batches
    batches: int


@dataclass(frozen=True)
class Plan:
    layers: tuple[int, ...]  # the layers kept, in order
    inner: int  # MLP neurons kept in each of them

    def block_share(self, cfg: GPT2Config) -> float:
        """The share of ``cfg``'s block parameters this plan keeps."""
        return cfg.block_parameters(len(self.layers), self.inner) / cfg.block_parameters()

    def describe(self, cfg: GPT2Config) -> str:
        return (f"{len(self.layers)} of {cfg.n_layer} layers, MLP width {self.inner} of {cfg.inner_dim}"
                f" (removed layers: {', '.join(str(i) for i in range(cfg.n_layer) if i not in self.layers) or 'none'})")


def measure_importance(model: GPT2, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> Importance:
    """Neuron and layer importances over ``batches`` of (input_ids, targets)."""
    was_training = model.training
    model.eval()
    n_layer = model.config.n_layer
    neurons = [torch.zeros(model.config.inner_dim, dtype=torch.float64) for _ in range(n_layer)]
    activations: dict[int, torch.Tensor] = {}
    hooks = []
    for i, block in enumerate(_blocks(model)):
        def keep(module: nn.Module, inputs: tuple, output: torch.Tensor, i: int = i) -> None:
            if inputs[0].requires_grad:  # not in the passes that skip a layer
                inputs[0].retain_grad()
                activations[i] = inputs[0]
        hooks.append(block.mlp.c_proj.register_forward_hook(keep))
    skipped = np.zeros(n_layer)
    base = 0.0
    count = 0
    try:
        for ids, targets in batches:
            model.zero_grad(set_to_none=True)
            loss = model.loss(ids, targets)
            loss.backward()
            for i, a in activations.items():
                assert a.grad is not None
                contribution = (a.detach() * a.grad).sum(dim=(0, 1)).double()
                neurons[i] += contribution ** 2
            activations.clear()
            base += loss.item()
            with torch.no_grad():
                for i in range(n_layer):
                    skipped[i] += float(_loss_without(model, i, ids, targets))
            count += 1
    finally:
        for h in hooks:
            h.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    if not count:
        raise ValueError("no batches to measure importance on")
    return Importance([n.numpy() for n in neurons], skipped / count - base / count, base / count, count)


def _blocks(model: GPT2) -> list[Block]:
    return [cast(Block, b) for b in model.h]


def _loss_without(model: GPT2, layer: int, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    blocks = model.h
    model.h = nn.ModuleList(b for i, b in enumerate(blocks) if i != layer)
    try:
        return model.loss(ids, targets)
    finally:
        model.h = blocks


def plan(cfg: GPT2Config, importance: Importance, keep: float) -> Plan:
    """The shape that keeps about ``keep`` (0-1] of the blocks' parameters: MLP width first, down
    to MIN_INNER_RATIO x n_embd, then the least important layers."""
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be a fraction in (0, 1], got {keep}")
    budget = keep * cfg.block_parameters()
    floor = min(cfg.inner_dim, _rounded(MIN_INNER_RATIO * cfg.n_embd))
    inner = _inner_within(cfg, cfg.n_layer, budget)
    if inner >= floor:
        return Plan(tuple(range(cfg.n_layer)), min(inner, cfg.inner_dim))
    n_layer = max(1, min(cfg.n_layer, math.floor(budget / cfg.block_parameters(1, floor))))
    inner = max(floor, min(cfg.inner_dim, _inner_within(cfg, n_layer, budget)))
    order = np.argsort(-importance.layers, kind="stable")  # the most missed first
    return Plan(tuple(sorted(int(i) for i in order[:n_layer])), inner)


def _inner_within(cfg: GPT2Config, n_layer: int, budget: float) -> int:
    per_layer = budget / n_layer
    fixed = cfg.block_parameters(1, 0)
    d = cfg.n_embd
    return max(INNER_MULTIPLE, _rounded((per_layer - fixed) / (2 * d + 1), down=True))


def _rounded(x: float, down: bool = False) -> int:
    steps = math.floor(x / INNER_MULTIPLE) if down else round(x / INNER_MULTIPLE)
    return max(INNER_MULTIPLE, int(steps) * INNER_MULTIPLE)


def prune(model: GPT2, importance: Importance, chosen: Plan) -> GPT2:
    """A new, smaller GPT2 holding the kept layers and, in each, its ``chosen.inner`` most
    important MLP neurons (in their original order)."""
    cfg = model.config
    if not chosen.layers or any(not 0 <= i < cfg.n_layer for i in chosen.layers):
        raise ValueError(f"layers to keep must lie in 0..{cfg.n_layer - 1}, got {chosen.layers}")
    if not 0 < chosen.inner <= cfg.inner_dim:
        raise ValueError(f"MLP width must lie in 1..{cfg.inner_dim}, got {chosen.inner}")
    small_cfg = dataclasses.replace(cfg, n_layer=len(chosen.layers), n_inner=chosen.inner)
    small = GPT2(small_cfg)
    with torch.no_grad():
        small.wte.weight.copy_(model.wte.weight)
        small.wpe.weight.copy_(model.wpe.weight)
        small.ln_f.load_state_dict(model.ln_f.state_dict())
        for new, old_index in zip(_blocks(small), chosen.layers):
            old = _blocks(model)[old_index]
            for name in ("ln_1", "attn", "ln_2"):
                getattr(new, name).load_state_dict(getattr(old, name).state_dict())
            scores = importance.neurons[old_index]
            kept = torch.from_numpy(np.sort(np.argsort(-scores, kind="stable")[: chosen.inner]))
            new.mlp.c_fc.weight.copy_(old.mlp.c_fc.weight[kept])
            new.mlp.c_fc.bias.copy_(old.mlp.c_fc.bias[kept])
            new.mlp.c_proj.weight.copy_(old.mlp.c_proj.weight[:, kept])
            new.mlp.c_proj.bias.copy_(old.mlp.c_proj.bias)
    return small.train(model.training)
