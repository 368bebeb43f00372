"""Structured pruning (model/prune.py): importance finds what the model does not use, and the
smaller model is an ordinary GPT-2 that computes what the original did without the removed parts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core import prune_plan
from core.config import HEAD_RATE, LAYER_COST, GPT2Config
from core.prune_plan import BUDGET_USE, INNER_MULTIPLE, Plan, candidates, plan
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


def test_layers_can_be_skipped_on_fewer_batches_than_the_gradients_use(model):
    two = _batches(n=2)
    first = prune.measure_importance(model, two[:1])
    both = prune.measure_importance(model, two, layer_batches=1)
    np.testing.assert_allclose(both.layers, first.layers, rtol=1e-5, atol=1e-6)  # the first batch's
    assert both.batches == 2 and not np.allclose(both.neurons[0], first.neurons[0])  # every batch's


def test_removing_what_does_nothing_leaves_the_output_unchanged(model):
    imp = prune.measure_importance(model, _batches())
    chosen = Plan(layers=(0, 1, 3), inner=model.config.inner_dim // 2, heads=2)
    small = prune.prune(model, imp, chosen)
    assert small.config.n_layer == 3 and small.config.n_inner == 64
    ids = _batches(seed=5)[0][0]
    assert torch.allclose(_logits(small, ids), _logits(model, ids), atol=1e-4)
    # Removing a neuron that fires changes it.
    worse = prune.prune(model, imp, Plan(layers=(0, 1, 3), inner=model.config.inner_dim // 2 - 8, heads=2))
    assert not torch.allclose(_logits(worse, ids), _logits(model, ids), atol=1e-4)


def test_keeping_everything_is_exact(model):
    imp = prune.measure_importance(model, _batches(n=1))
    chosen = plan(model.config, 1.0, imp.layers)
    assert chosen == Plan(tuple(range(4)), model.config.inner_dim, 2)
    ids = _batches(seed=3)[0][0]
    assert torch.equal(_logits(prune.prune(model, imp, chosen), ids), _logits(model, ids))


@pytest.mark.parametrize("keep", [0.95, 0.8, 0.6, 0.45])
def test_every_candidate_fits_the_share_of_the_work_asked_for(model, keep):
    cfg = model.config
    imp = prune.measure_importance(model, _batches(n=1))
    imp.layers = np.array([0.5, 0.2, 0.0, 0.9])  # (a random model's layers may as well go: set them)
    options = candidates(cfg, keep, imp.layers)
    assert options and len({(len(p.layers), p.inner, p.heads) for p in options}) == len(options)
    for p in options:
        assert BUDGET_USE * keep - 1e-9 <= p.cost_share(cfg) <= keep + 1e-9 or options == [p]
        assert p.inner % INNER_MULTIPLE == 0 and p.inner >= min(cfg.inner_dim, p.width(cfg))
        assert p.layers == tuple(sorted((3, 0, 1, 2)[: len(p.layers)]))  # the least missed go first
        # As wide as the budget allows: a wider MLP, or one more layer at the MLP floor, would not fit.
        if p.inner < cfg.inner_dim:
            assert cfg.token_cost(len(p.layers), p.width(cfg), p.inner + INNER_MULTIPLE) > keep * cfg.token_cost()
    assert plan(cfg, keep, imp.layers) in options


def test_the_cost_counts_each_layer_beyond_its_multiply_adds():
    cfg = GPT2Config(**SHAPE)
    d, f = cfg.n_embd, cfg.inner_dim
    assert cfg.token_cost() == pytest.approx(HEAD_RATE * cfg.vocab_size * d
                                             + cfg.n_layer * (4 * d * d + 2 * d * f + LAYER_COST))
    assert cfg.token_cost(2, 16, 64) == pytest.approx(HEAD_RATE * cfg.vocab_size * 16
                                                      + 2 * (4 * 16 * 16 + 2 * 16 * 64 + LAYER_COST))


def test_a_share_below_the_smallest_copy_is_refused(model):
    imp = prune.measure_importance(model, _batches(n=1))
    with pytest.raises(ValueError, match="below the smallest copy"):
        candidates(model.config, 0.05, imp.layers)


@pytest.fixture
def narrow(model: GPT2) -> GPT2:
    """The model with head 1 of layer 0 and head 0 of layer 1 writing nothing, and residual channels
    0-3 silent in every LayerNorm's output."""
    hd = model.config.head_dim
    with torch.no_grad():
        model.h[0].attn.c_proj.weight[:, hd:] = 0
        model.h[1].attn.c_proj.weight[:, :hd] = 0
        for norm in [model.ln_f] + [b.ln_1 for b in model.h] + [b.ln_2 for b in model.h]:
            norm.weight[:4] = 0
            norm.bias[:4] = 0
    return model


def test_heads_that_write_nothing_and_silent_channels_score_lowest(narrow):
    imp = prune.measure_importance(narrow, _batches())
    assert imp.heads[0][1] == 0 < imp.heads[0][0] and imp.heads[1][0] == 0 < imp.heads[1][1]
    assert (imp.channels[:4] == 0).all() and (imp.channels[4:] > 0).all()


def test_fewer_heads_cut_the_width_to_the_kept_channels_and_heads(narrow, tmp_path):
    cfg = narrow.config
    imp = prune.measure_importance(narrow, _batches())
    imp.channels[4:20] += 10.0  # the 16 channels a one-head model keeps: 4-19
    small = prune.prune(narrow, imp, Plan((0, 1, 3), 64, heads=1))
    c, d, hd = torch.arange(4, 20), cfg.n_embd, cfg.head_dim
    assert (small.config.n_embd, small.config.n_head, small.config.n_layer) == (16, 1, 3)
    assert torch.equal(small.wte.weight, narrow.wte.weight[:, c]) and torch.equal(small.ln_f.bias, narrow.ln_f.bias[c])
    for new, old, head in ((small.h[0], narrow.h[0], 0), (small.h[1], narrow.h[1], 1)):  # each its own live head
        a = torch.arange(head * hd, (head + 1) * hd)
        assert torch.equal(new.attn.c_attn.weight, old.attn.c_attn.weight[torch.cat([a, a + d, a + 2 * d])][:, c])
        assert torch.equal(new.attn.c_proj.weight, old.attn.c_proj.weight[c][:, a])
        assert torch.equal(new.mlp.c_proj.bias, old.mlp.c_proj.bias[c])
    save_gpt2(small, tmp_path / "narrow")
    ids = _batches(seed=4)[0][0]
    assert torch.allclose(_logits(load_gpt2(tmp_path / "narrow"), ids), _logits(small, ids), atol=1e-5)


def test_the_chosen_shape_is_the_candidate_whose_cut_loses_least(narrow, monkeypatch):
    monkeypatch.setattr(prune_plan, "BUDGET_USE", 0.0)  # this small model has one shape near each share
    imp = prune.measure_importance(narrow, _batches())
    judge = _batches(seed=7)
    best, tried = prune.choose(narrow, imp, 0.8, judge)
    assert [p for p, _ in tried] == candidates(narrow.config, 0.8, imp.layers) and len(tried) > 1
    losses = {p: sum(float(prune.prune(narrow, imp, p).loss(x, y)) for x, y in judge) / 2 for p, _ in tried}
    assert best == min(losses, key=lambda p: losses[p])
    assert all(loss == pytest.approx(losses[p], rel=1e-5) for p, loss in tried)


def test_the_pruned_model_saves_and_loads_as_a_gpt2(model, tmp_path):
    imp = prune.measure_importance(model, _batches(n=1))
    small = prune.prune(model, imp, plan(model.config, 0.5, imp.layers))
    save_gpt2(small, tmp_path / "small")
    again = load_gpt2(tmp_path / "small")
    assert again.config.n_inner == small.config.n_inner and again.config.n_layer == small.config.n_layer
    ids = _batches(seed=9)[0][0]
    assert torch.allclose(_logits(again, ids), _logits(small, ids), atol=1e-5)


def test_bad_requests_are_refused(model):
    imp = prune.measure_importance(model, _batches(n=1))
    for keep in (0, -0.5, 1.5, float("nan")):
        with pytest.raises(ValueError, match="keep must be a fraction"):
            candidates(model.config, keep, imp.layers)
    with pytest.raises(ValueError, match="layers to keep"):
        prune.prune(model, imp, Plan((0, 7), 32, 2))
    with pytest.raises(ValueError, match="MLP width"):
        prune.prune(model, imp, Plan((0,), 10_000, 2))
    with pytest.raises(ValueError, match="heads to keep"):
        prune.prune(model, imp, Plan((0,), 32, 3))
    with pytest.raises(ValueError, match="no batches"):
        prune.measure_importance(model, [])
