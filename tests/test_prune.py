"""Structured pruning (model/prune.py): importance finds what the model does not use, and the
smaller model is an ordinary GPT-2 that computes what the original did without the removed parts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.config import GPT2Config
from model import prune
from model.gpt2 import GPT2
from model.hf import load_gpt2, save_gpt2

SHAPE = dict(n_layer=4, n_head=2, n_embd=32, n_positions=64, vocab_size=50257)


def _batches(seed: int = 0, n: int = 2) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        ids = torch.randint(0, 50257, (2, 33), generator=g)
        out.append((ids[:, :-1], ids[:, 1:]))
    return out


@pytest.fixture
def model() -> GPT2:
    torch.manual_seed(0)
    m = GPT2(GPT2Config(**SHAPE)).eval()
    with torch.no_grad():
        for block in m.h:  # half of every MLP never fires: GELU(-1e4) = 0
            block.mlp.c_fc.bias[::2] = -1e4
        for name in ("attn", "mlp"):  # layer 2 adds nothing to the residual stream
            getattr(m.h[2], name).c_proj.weight.zero_()
            getattr(m.h[2], name).c_proj.bias.zero_()
    return m


def _logits(m: GPT2, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return m(ids)[0]


def test_importance_ranks_the_neurons_and_the_layer_that_do_nothing_last(model):
    imp = prune.measure_importance(model, _batches())
    assert imp.batches == 2 and np.isfinite(imp.base_loss)
    for i, scores in enumerate(imp.neurons):
        assert scores.shape == (model.config.inner_dim,)
        assert (scores[::2] == 0).all()
        assert (scores[1::2] > 0).all() if i != 2 else (scores == 0).all()  # layer 2's output is zeroed
    assert imp.layers[2] == pytest.approx(0.0, abs=1e-6)
    assert np.argmin(np.abs(imp.layers)) == 2
    assert all(p.grad is None for p in model.parameters())  # nothing left behind for a later step


def test_removing_what_does_nothing_leaves_the_output_unchanged(model):
    imp = prune.measure_importance(model, _batches())
    chosen = prune.Plan(layers=(0, 1, 3), inner=model.config.inner_dim // 2)
    small = prune.prune(model, imp, chosen)
    assert small.config.n_layer == 3 and small.config.n_inner == 64
    ids = _batches(seed=5)[0][0]
    assert torch.allclose(_logits(small, ids), _logits(model, ids), atol=1e-4)
    # Removing a neuron that fires changes it.
    worse = prune.prune(model, imp, prune.Plan(layers=(0, 1, 3), inner=model.config.inner_dim // 2 - 8))
    assert not torch.allclose(_logits(worse, ids), _logits(model, ids), atol=1e-4)


def test_keeping_everything_is_exact(model):
    imp = prune.measure_importance(model, _batches(n=1))
    chosen = prune.plan(model.config, imp, 1.0)
    assert chosen == prune.Plan(tuple(range(4)), model.config.inner_dim)
    ids = _batches(seed=3)[0][0]
    assert torch.equal(_logits(prune.prune(model, imp, chosen), ids), _logits(model, ids))


@pytest.mark.parametrize("keep", [0.9, 0.7, 0.5, 0.3, 0.1])
def test_the_plan_keeps_about_the_share_asked_for_width_first(model, keep):
    cfg = model.config
    imp = prune.measure_importance(model, _batches(n=1))
    imp.layers = np.array([0.5, 0.2, 0.0, 0.9])  # (a random model's layers may as well go: set them)
    chosen = prune.plan(cfg, imp, keep)
    kept = cfg.block_parameters(len(chosen.layers), chosen.inner) / cfg.block_parameters()
    assert kept <= keep + 0.02 or len(chosen.layers) == 1  # one layer at the MLP floor is the least
    assert kept >= keep - cfg.block_parameters(1) / cfg.block_parameters() - 0.02 or len(chosen.layers) == 1
    assert chosen.inner % prune.INNER_MULTIPLE == 0
    floor = int(cfg.n_embd * prune.MIN_INNER_RATIO)
    if len(chosen.layers) < cfg.n_layer:  # layers go only when every layer at the MLP floor is too much
        assert cfg.block_parameters(cfg.n_layer, floor) > keep * cfg.block_parameters()
        assert chosen.layers == tuple(sorted((3, 0, 1, 2)[: len(chosen.layers)]))  # the least missed go first
        assert chosen.inner >= floor


def test_the_pruned_model_saves_and_loads_as_a_gpt2(model, tmp_path):
    imp = prune.measure_importance(model, _batches(n=1))
    small = prune.prune(model, imp, prune.plan(model.config, imp, 0.5))
    save_gpt2(small, tmp_path / "small")
    again = load_gpt2(tmp_path / "small")
    assert again.config.n_inner == small.config.n_inner and again.config.n_layer == small.config.n_layer
    ids = _batches(seed=9)[0][0]
    assert torch.allclose(_logits(again, ids), _logits(small, ids), atol=1e-5)


def test_bad_requests_are_refused(model):
    imp = prune.measure_importance(model, _batches(n=1))
    for keep in (0, -0.5, 1.5, float("nan")):
        with pytest.raises(ValueError, match="keep must be a fraction"):
            prune.plan(model.config, imp, keep)
    with pytest.raises(ValueError, match="layers to keep"):
        prune.prune(model, imp, prune.Plan((0, 7), 32))
    with pytest.raises(ValueError, match="MLP width"):
        prune.prune(model, imp, prune.Plan((0,), 10_000))
    with pytest.raises(ValueError, match="no batches"):
        prune.measure_importance(model, [])
