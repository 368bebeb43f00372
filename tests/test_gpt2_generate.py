"""GPT2.generate (sampling with the cache) and GPT2.set_dropout, on a tiny random model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.config import GPT2Config
from model.gpt2 import GPT2


@pytest.fixture
def model():
    torch.manual_seed(7)
    return GPT2(GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=24, vocab_size=50))


def test_greedy_generation_matches_a_full_forward_pass_each_step(model):
    prompt = torch.tensor([[3, 14, 15, 9]])
    out = model.generate(prompt, 8, temperature=0)
    assert out.shape == (1, 12) and out[0, :4].tolist() == prompt[0].tolist()
    model.eval()
    ids = prompt
    for _ in range(8):  # no cache: the whole sequence again for every token
        logits, _ = model(ids)
        ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert out.tolist() == ids.tolist()


def test_a_seeded_generator_repeats_and_leaves_the_global_random_state_alone(model):
    prompt = torch.tensor([[1, 2, 3]])
    torch.manual_seed(99)
    expected_next_global = torch.rand(1)
    torch.manual_seed(99)
    first = model.generate(prompt, 10, temperature=1.0, top_k=5, generator=torch.Generator().manual_seed(4))
    assert torch.rand(1).item() == expected_next_global.item()
    again = model.generate(prompt, 10, temperature=1.0, top_k=5, generator=torch.Generator().manual_seed(4))
    other = model.generate(prompt, 10, temperature=1.0, top_k=5, generator=torch.Generator().manual_seed(5))
    assert first.tolist() == again.tolist()
    assert first.tolist() != other.tolist()


def test_top_k_draws_only_among_the_k_likeliest(model):
    prompt = torch.tensor([[5, 6]])
    model.eval()
    logits, _ = model(prompt, last_only=True)
    allowed = set(logits[0].topk(3).indices.tolist())
    rows = prompt.repeat(60, 1)  # 60 draws of the first token in one call
    out = model.generate(rows, 1, temperature=2.0, top_k=3, generator=torch.Generator().manual_seed(0))
    firsts = set(out[:, -1].tolist())
    assert firsts <= allowed and len(firsts) > 1


def test_generation_stops_at_the_stop_token_and_at_the_end_of_the_context(model):
    prompt = torch.tensor([[3, 14, 15, 9]])
    greedy = model.generate(prompt, 8, temperature=0)[0, 4:].tolist()
    stop = greedy[2]
    cut = model.generate(prompt, 8, temperature=0, stop_token=stop)[0, 4:].tolist()
    assert cut == greedy[: greedy.index(stop)]
    long = torch.randint(0, 50, (1, 30))  # longer than the 24-position context
    out = model.generate(long, 100, temperature=0)
    assert out[0, :30].tolist() == long[0].tolist()
    assert 30 < out.shape[1] <= 30 + 24
    with pytest.raises(ValueError, match="batch of one"):
        model.generate(torch.zeros(2, 3, dtype=torch.long), 4, stop_token=0)


def test_generation_turns_dropout_off_and_restores_the_mode(model):
    model.set_dropout(0.5)
    model.train()
    prompt = torch.tensor([[3, 4]])
    a = model.generate(prompt, 6, temperature=0)
    b = model.generate(prompt, 6, temperature=0)
    assert a.tolist() == b.tolist()  # dropout at 0.5 would make greedy paths differ
    assert model.training


def test_set_dropout_reaches_every_dropout_and_the_config(model):
    model.set_dropout(0.3)
    assert (model.config.embd_pdrop, model.config.attn_pdrop, model.config.resid_pdrop) == (0.3, 0.3, 0.3)
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert dropouts and all(m.p == 0.3 for m in dropouts)
    assert all(block.attn.attn_dropout == 0.3 for block in model.h)
    model.set_dropout(0.0)
    model.train()
    ids = torch.tensor([[1, 2, 3, 4]])
    torch.testing.assert_close(model(ids)[0], model(ids)[0])
