"""Structured pruning of a GPT-2: fewer attention heads (and the model width with them), narrower
MLPs and fewer layers, chosen by measured importance.

The result is an ordinary GPT-2 of smaller shape, which exports, fine-tunes and runs like any
other. What can be removed, and how each is scored:

- **MLP neurons**: the same number in every layer (a GPT-2 config has one ``n_inner``), each
  layer keeping its own most important ones. A neuron's importance is the first-order estimate
  of the loss change when it is removed (Molchanov et al., 2019): the activation times the
  gradient of the loss with respect to it, summed over the tokens of a batch, squared, summed over
  batches.
- **Attention heads**: the same number in every layer, each layer keeping its own most important
  ones, scored like neurons over the head's outputs. GPT-2 ties the model width to its heads
  (n_embd = n_head x head_dim), so keeping h of n_head heads also narrows the residual stream to
  h x head_dim channels: those whose LayerNorm outputs are largest on average (Minitron,
  Muralidharan et al., 2024), the same channels everywhere (embeddings, every layer, the head).
  Heads keep their size (head_dim), so attention's scale and kernels are those of the original.
- **Layers**: a layer's importance is measured directly, as the rise of the loss on the same
  batches when the whole block is skipped (the residual stream passes through).

The shapes a share of the work allows are planned in core/prune_plan.py; ``choose`` cuts the
model to each and keeps the one whose loss on the measured batches is lowest (loss right after the
cut is a cheap stand-in for the loss after recovery, which is what matters).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn

from core.config import GPT2Config
from core.prune_plan import Plan, candidates
from model.gpt2 import GPT2, Block


@dataclass
class Importance:
    neurons: list[np.ndarray]  # per layer, one score per MLP neuron
    heads: list[np.ndarray]  # per layer, one score per attention head
    channels: np.ndarray  # per channel of the residual stream, its mean |LayerNorm output|
    layers: np.ndarray  # per layer, the loss increase when the block is skipped
    base_loss: float  # the loss of the whole model on the same batches
    batches: int

    @classmethod
    def blank(cls, cfg: GPT2Config) -> Importance:
        """No measurement: every part alike (for planning a shape, which depends on none of it)."""
        return cls([np.zeros(cfg.inner_dim) for _ in range(cfg.n_layer)],
                   [np.zeros(cfg.n_head) for _ in range(cfg.n_layer)], np.zeros(cfg.n_embd),
                   np.zeros(cfg.n_layer), 0.0, 0)


def measure_importance(model: GPT2, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                       layer_batches: int | None = None) -> Importance:
    """Neuron, head, channel and layer importances over ``batches`` of (input_ids, targets); the
    layers' over the first ``layer_batches`` of them only (all by default). Skipping each layer
    in turn is a forward pass per layer, most of the measurement's cost, and a layer's loss rise
    is large beside its noise, where the neurons' and heads' gradients need every batch."""
    was_training = model.training
    model.eval()
    n_layer = model.config.n_layer
    taps = _Taps(model)
    skipped = np.zeros(n_layer)
    base = 0.0
    count = skip_count = 0
    try:
        for ids, targets in batches:
            model.zero_grad(set_to_none=True)
            loss = model.loss(ids, targets)
            loss.backward()
            taps.add_gradients()
            base += loss.item()
            if layer_batches is None or count < layer_batches:
                with torch.no_grad():
                    for i in range(n_layer):
                        skipped[i] += float(_loss_without(model, i, ids, targets) - loss.detach())
                skip_count += 1
            count += 1
    finally:
        taps.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    if not count:
        raise ValueError("no batches to measure importance on")
    return Importance([n.numpy() for n in taps.neurons], [h.numpy() for h in taps.heads],
                      (taps.channels / max(1, taps.norms)).numpy(), skipped / max(1, skip_count), base / count, count)


class _Taps:
    """Forward hooks on ``model`` that keep, in passes with gradients, the inputs of every MLP's and
    attention's output projection (for the Taylor scores, once the backward pass has run) and add
    up the mean |output| of every LayerNorm per channel."""

    def __init__(self, model: GPT2) -> None:
        cfg = self.config = model.config
        self.neurons = [torch.zeros(cfg.inner_dim, dtype=torch.float64) for _ in range(cfg.n_layer)]
        self.heads = [torch.zeros(cfg.n_head, dtype=torch.float64) for _ in range(cfg.n_layer)]
        self.channels = torch.zeros(cfg.n_embd, dtype=torch.float64)
        self.norms = 0
        self.kept: dict[tuple[str, int], torch.Tensor] = {}
        self.hooks = [model.ln_f.register_forward_hook(self._norm)]
        for i, block in enumerate(_blocks(model)):
            self.hooks += [block.mlp.c_proj.register_forward_hook(self._keeper("mlp", i)),
                           block.attn.c_proj.register_forward_hook(self._keeper("attn", i)),
                           block.ln_1.register_forward_hook(self._norm), block.ln_2.register_forward_hook(self._norm)]

    def _keeper(self, kind: str, i: int) -> Callable[[nn.Module, tuple, torch.Tensor], None]:
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if inputs[0].requires_grad:  # not in the passes that skip a layer
                inputs[0].retain_grad()
                self.kept[(kind, i)] = inputs[0]
        return hook

    def _norm(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        if torch.is_grad_enabled():
            self.channels += output.detach().abs().mean(dim=(0, 1)).double()
            self.norms += 1

    def add_gradients(self) -> None:
        for (kind, i), a in self.kept.items():
            assert a.grad is not None
            contribution = (a.detach() * a.grad).sum(dim=(0, 1)).double()
            if kind == "mlp":
                self.neurons[i] += contribution ** 2
            else:
                self.heads[i] += contribution.view(self.config.n_head, self.config.head_dim).sum(dim=1) ** 2
        self.kept.clear()

    def remove(self) -> None:
        for h in self.hooks:
            h.remove()


def _blocks(model: GPT2) -> list[Block]:
    return [cast(Block, b) for b in model.h]


def _loss_without(model: GPT2, layer: int, ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    blocks = model.h
    model.h = nn.ModuleList(b for i, b in enumerate(blocks) if i != layer)
    try:
        return model.loss(ids, targets)
    finally:
        model.h = blocks


def choose(model: GPT2, importance: Importance, keep: float,
           batches: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[Plan, list[tuple[Plan, float]]]:
    """Of the shapes for ``keep`` (core.prune_plan.candidates), the one whose cut model has the
    lowest loss on ``batches``; every candidate with its loss."""
    tried = []
    with torch.no_grad():
        for option in candidates(model.config, keep, importance.layers):
            small = prune(model, importance, option).eval()
            loss = sum(float(small.loss(ids, targets)) for ids, targets in batches) / max(1, len(batches))
            tried.append((option, loss))
    return min(tried, key=lambda t: t[1])[0], tried


def prune(model: GPT2, importance: Importance, chosen: Plan) -> GPT2:
    """A new, smaller GPT2 holding the kept layers and, in each, its ``chosen.heads`` most important
    heads and ``chosen.inner`` most important MLP neurons, over the ``chosen.width`` most important
    channels of the residual stream (each kept in its original order)."""
    cfg = model.config
    if not chosen.layers or any(not 0 <= i < cfg.n_layer for i in chosen.layers):
        raise ValueError(f"layers to keep must lie in 0..{cfg.n_layer - 1}, got {chosen.layers}")
    if not 0 < chosen.inner <= cfg.inner_dim:
        raise ValueError(f"MLP width must lie in 1..{cfg.inner_dim}, got {chosen.inner}")
    if not 0 < chosen.heads <= cfg.n_head:
        raise ValueError(f"heads to keep must lie in 1..{cfg.n_head}, got {chosen.heads}")
    small = GPT2(chosen.config(cfg))
    c = _top(importance.channels, chosen.width(cfg))  # the residual stream's kept channels
    with torch.no_grad():
        small.wte.weight.copy_(model.wte.weight[:, c])
        small.wpe.weight.copy_(model.wpe.weight[:, c])
        _copy_norm(small.ln_f, model.ln_f, c)
        for new, old_index in zip(_blocks(small), chosen.layers):
            old = _blocks(model)[old_index]
            _copy_norm(new.ln_1, old.ln_1, c)
            _copy_norm(new.ln_2, old.ln_2, c)
            kept_heads = _top(importance.heads[old_index], chosen.heads)
            a = (kept_heads[:, None] * cfg.head_dim + torch.arange(cfg.head_dim)).flatten()  # their dims
            qkv = torch.cat([a, a + cfg.n_embd, a + 2 * cfg.n_embd])
            new.attn.c_attn.weight.copy_(old.attn.c_attn.weight[qkv][:, c])
            new.attn.c_attn.bias.copy_(old.attn.c_attn.bias[qkv])
            new.attn.c_proj.weight.copy_(old.attn.c_proj.weight[c][:, a])
            new.attn.c_proj.bias.copy_(old.attn.c_proj.bias[c])
            n = _top(importance.neurons[old_index], chosen.inner)
            new.mlp.c_fc.weight.copy_(old.mlp.c_fc.weight[n][:, c])
            new.mlp.c_fc.bias.copy_(old.mlp.c_fc.bias[n])
            new.mlp.c_proj.weight.copy_(old.mlp.c_proj.weight[c][:, n])
            new.mlp.c_proj.bias.copy_(old.mlp.c_proj.bias[c])
    return small.train(model.training)


def _top(scores: np.ndarray, count: int) -> torch.Tensor:
    """The indices of the ``count`` highest ``scores``, in their original order."""
    return torch.from_numpy(np.sort(np.argsort(-scores, kind="stable")[:count]))


def _copy_norm(new: nn.LayerNorm, old: nn.LayerNorm, channels: torch.Tensor) -> None:
    new.weight.copy_(old.weight[channels])
    new.bias.copy_(old.bias[channels])
