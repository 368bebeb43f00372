"""The shapes a pruned copy of a GPT-2 can take, and what each costs: torch-free, so the app can
say what a copy will be before anything is measured (model/prune.py measures and cuts).

``keep`` is a share of the original's work per token (GPT2Config.token_cost: the multiply-adds
plus what each layer costs the engine beyond them), so a copy at 0.5 does about half the model's
work per word. The shapes that fit it (``candidates``): for every head count whose LM head leaves
room for a layer (GPT-2 ties the model width to its heads: n_embd = n_head x head_dim), up to
LAYER_CHOICES layer counts, from the most (the MLPs at their floor, MIN_INNER_RATIO x width) to
the fewest (the MLPs whole), the least missed layers removed first.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from core.config import GPT2Config

MIN_INNER_RATIO = 1.0  # MLP width kept at least the (new) model width
INNER_MULTIPLE = 8  # MLP widths rounded to a multiple of this (kernels prefer it)
LAYER_CHOICES = 4  # layer counts tried per head count (spread from the most to the fewest)
BUDGET_USE = 0.9  # a candidate does at least this share of the work asked for: a far smaller copy is
# another request (and on a model whose losses are all alike, random weights, it could win)


@dataclass(frozen=True)
class Plan:
    layers: tuple[int, ...]  # the layers kept, in order
    inner: int  # MLP neurons kept in each of them
    heads: int  # attention heads kept in each of them (the model width is heads x head_dim)

    def width(self, cfg: GPT2Config) -> int:
        return self.heads * cfg.head_dim

    def config(self, cfg: GPT2Config) -> GPT2Config:
        """The copy's config: ``cfg`` in this plan's shape."""
        return dataclasses.replace(cfg, n_layer=len(self.layers), n_inner=self.inner, n_head=self.heads,
                                   n_embd=self.width(cfg))

    def cost_share(self, cfg: GPT2Config) -> float:
        """The share of ``cfg``'s work per token (GPT2Config.token_cost) this plan keeps."""
        return cfg.token_cost(len(self.layers), self.width(cfg), self.inner) / cfg.token_cost()

    def block_share(self, cfg: GPT2Config) -> float:
        """The share of ``cfg``'s block parameters this plan keeps."""
        return self.config(cfg).block_parameters() / cfg.block_parameters()

    def describe(self, cfg: GPT2Config) -> str:
        heads = (f"{self.heads} of {cfg.n_head} heads (width {self.width(cfg)} of {cfg.n_embd}), "
                 if self.heads < cfg.n_head else "")
        return (f"{heads}{len(self.layers)} of {cfg.n_layer} layers, MLP width {self.inner} of {cfg.inner_dim}"
                f" (removed layers: {', '.join(str(i) for i in range(cfg.n_layer) if i not in self.layers) or 'none'})")


def smallest_share(cfg: GPT2Config) -> float:
    """The least ``keep`` that leaves a copy: one head, one layer, its MLP at the floor."""
    d = cfg.head_dim
    return cfg.token_cost(1, d, min(cfg.inner_dim, _rounded(MIN_INNER_RATIO * d))) / cfg.token_cost()


def candidates(cfg: GPT2Config, keep: float, layer_scores: Sequence[float] | np.ndarray | None = None) -> list[Plan]:
    """The shapes that keep at most ``keep`` (0-1] of ``cfg``'s work per token and at least
    BUDGET_USE of that (or, where none does, the one closest to it), each as wide as the budget
    allows; the layers with the highest ``layer_scores`` (how much each is missed; by default the
    first ones) are kept. Keeping everything is the one plan for 1."""
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be a fraction in (0, 1], got {keep}")
    if keep == 1:
        return [Plan(tuple(range(cfg.n_layer)), cfg.inner_dim, cfg.n_head)]
    budget = keep * cfg.token_cost()
    scores = np.zeros(cfg.n_layer) if layer_scores is None else np.asarray(layer_scores, dtype=float)
    order = np.argsort(-scores, kind="stable")  # the most missed first
    plans = []
    for heads in range(cfg.n_head, 0, -1):
        d = heads * cfg.head_dim
        floor = min(cfg.inner_dim, _rounded(MIN_INNER_RATIO * d))
        fits = []  # (layers, inner) with the MLP between its floor and whole
        for n_layer in range(cfg.n_layer, 0, -1):
            inner = min(cfg.inner_dim, _inner_within(cfg, n_layer, d, budget))
            if inner >= floor and cfg.token_cost(n_layer, d, inner) <= budget:
                fits.append((n_layer, inner))
                if inner == cfg.inner_dim:
                    break  # fewer layers would only leave budget unused
        for n_layer, inner in _spread(fits, LAYER_CHOICES):
            plans.append(Plan(tuple(sorted(int(i) for i in order[:n_layer])), inner, heads))
    if not plans:
        raise ValueError(f"keep {keep:g} is below the smallest copy this model allows "
                         f"(one layer, one head: {smallest_share(cfg):.2f})")
    near = [p for p in plans if p.cost_share(cfg) >= BUDGET_USE * keep]
    return near or [max(plans, key=lambda p: p.cost_share(cfg))]


def plan(cfg: GPT2Config, keep: float, layer_scores: Sequence[float] | np.ndarray | None = None) -> Plan:
    """The shape for ``keep`` without judging the candidates (model.prune.choose does): the one
    keeping most of the blocks' parameters, a stand-in where only the cost matters (an estimate)."""
    return max(candidates(cfg, keep, layer_scores), key=lambda p: p.block_share(cfg))


T = TypeVar("T")


def _spread(items: list[T], n: int) -> list[T]:
    if len(items) <= n:
        return items
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def _inner_within(cfg: GPT2Config, n_layer: int, d: int, budget: float) -> int:
    head = cfg.token_cost(0, d, 0)
    room = (budget - head) / n_layer - (cfg.token_cost(1, d, 0) - head)  # for each layer's MLP
    return _rounded(room / (2 * d), down=True) if room >= 2 * d * INNER_MULTIPLE else 0


def _rounded(x: float, down: bool = False) -> int:
    steps = math.floor(x / INNER_MULTIPLE) if down else round(x / INNER_MULTIPLE)
    return max(INNER_MULTIPLE, int(steps) * INNER_MULTIPLE)
