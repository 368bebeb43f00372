"""Sampling processors against hand-computed distributions and Hugging Face's own processors."""

from __future__ import annotations

import numpy as np
import pytest

from app.engine import GenerationParams
from app.engine import sampling as s

P = np.array([0.5, 0.25, 0.125, 0.125])


def dist(scores: np.ndarray) -> np.ndarray:
    return s.probabilities(scores)[0]


def logits() -> np.ndarray:
    return np.log(P).astype(np.float32)[None].copy()


def test_temperature_reshapes_the_distribution():
    expected = np.sqrt(P) / np.sqrt(P).sum()  # T = 2: p ** (1 / 2), renormalised
    np.testing.assert_allclose(dist(s.temperature(logits(), 2.0)), expected, rtol=1e-6)


@pytest.mark.parametrize(
    "apply, expected",
    [
        (lambda x: s.top_k(x, 2), [2 / 3, 1 / 3, 0, 0]),
        (lambda x: s.top_k(x, 3), [0.5, 0.25, 0.125, 0.125]),  # ties with the k-th stay, as in HF
        (lambda x: s.top_p(x, 0.6), [2 / 3, 1 / 3, 0, 0]),  # ascending cumsum .125 .25 | .5 1
        (lambda x: s.top_p(x, 0.5), [1, 0, 0, 0]),  # cumsum .5 <= 1 - .5 drops the .25 too
        (lambda x: s.top_p(x, 0.76), [4 / 7, 2 / 7, 0, 1 / 7]),  # the first of the tied .125 goes
        (lambda x: s.min_p(x, 0.3), [2 / 3, 1 / 3, 0, 0]),  # below 0.3 * 0.5
        (lambda x: s.min_p(x, 0.25), [0.5, 0.25, 0.125, 0.125]),  # 0.125 is not below 0.125
    ],
)
def test_filters(apply, expected):
    np.testing.assert_allclose(dist(apply(logits())), expected, rtol=1e-6, atol=1e-9)


def test_repetition_penalty_divides_positive_and_multiplies_negative_scores():
    scores = np.array([[2.0, 1.0, 0.5, -1.0]], dtype=np.float32)
    out = s.repetition_penalty(scores, [np.array([0, 3, 3])], 2.0)
    np.testing.assert_allclose(out, [[1.0, 1.0, 0.5, -2.0]])


@pytest.mark.parametrize(
    "history, size, banned",
    [([5, 7, 5], 2, [7]), ([1, 2, 3, 1, 2], 3, [3]), ([1, 2, 3, 1, 2], 2, [3]), ([4, 4], 1, [4]), ([1, 2], 3, [])],
)
def test_no_repeat_ngram_bans_the_token_that_would_repeat_an_ngram(history, size, banned):
    scores = np.zeros((1, 10), dtype=np.float32)
    out = s.no_repeat_ngram(scores, [np.array(history)], size)
    assert sorted(np.flatnonzero(np.isinf(out[0]))) == banned


def test_own_ngram_ban_looks_at_the_generated_tokens_only():
    # prompt 1 2 3 9 1 2 | generated 3 1 2: "3 1 2" is the suggestion's own, "1 2 3" only the prompt's
    sampler = s.Sampler(GenerationParams(temperature=0, no_repeat_own_ngram_size=3), prompt_length=6)
    history = np.array([1, 2, 3, 9, 1, 2, 3, 1, 2])
    scores = np.zeros((1, 10), dtype=np.float32)
    scores[0, 3] = 5.0  # the loop's next token is the model's favourite
    out = sampler.constrained(scores, [history])
    assert np.isinf(out[0, 3])
    assert sampler.sample(out)[0] != 3
    # The prompt's own repeats are free: right after the prompt, "1 2" -> 3 is allowed.
    out = sampler.constrained(scores, [history[:6]])
    assert np.isfinite(out[0]).all() and sampler.sample(out)[0] == 3
    # An n-gram that starts in the prompt's last n-1 tokens counts: prompt 7 8 4 | generated 8 4
    # has "4 8" (but not "7 8"), so 8 is banned.
    sampler = s.Sampler(GenerationParams(temperature=0, no_repeat_own_ngram_size=2), prompt_length=3)
    out = sampler.constrained(np.zeros((1, 10), dtype=np.float32), [np.array([7, 8, 4, 8, 4])])
    assert np.flatnonzero(np.isinf(out[0])).tolist() == [8]
    # Only the prompt's last n-1 tokens count: prompt 7 8 4 | generated 7 8 bans nothing.
    sampler = s.Sampler(GenerationParams(temperature=0, no_repeat_own_ngram_size=3), prompt_length=3)
    out = sampler.constrained(np.zeros((1, 10), dtype=np.float32), [np.array([7, 8, 4, 7, 8])])
    assert np.isfinite(out[0]).all()


def test_greedy_takes_the_best_token_after_penalties():
    sampler = s.Sampler(GenerationParams(temperature=0, repetition_penalty=4.0))
    scores = sampler.process(np.array([[3.0, 2.0, 0.0]], np.float32), [np.array([0])])
    assert sampler.sample(scores).tolist() == [1]


def test_draws_follow_the_processed_distribution():
    params = GenerationParams(temperature=1.0, top_k=3, top_p=1.0, repetition_penalty=1.0, seed=7)
    sampler = s.Sampler(params)
    raw = np.log(np.array([[0.4, 0.3, 0.2, 0.1]], np.float32))
    scores = sampler.process(raw, [np.array([], np.int64)])
    draws = np.array([sampler.sample(scores)[0] for _ in range(20000)])
    freq = np.bincount(draws, minlength=4) / len(draws)
    np.testing.assert_allclose(freq, [4 / 9, 3 / 9, 2 / 9, 0], atol=0.015)


def test_same_seed_same_draws_and_other_seed_differs():
    def draws(seed):
        sampler = s.Sampler(GenerationParams(temperature=1.0, top_k=0, top_p=1.0, seed=seed))
        scores = np.zeros((1, 1000), np.float32)
        return [int(sampler.sample(scores)[0]) for _ in range(20)]

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)


def test_distinct_first_tokens_for_alternatives():
    sampler = s.Sampler(GenerationParams(temperature=0.8, top_k=2, seed=1))
    constrained = sampler.constrained(logits(), [np.array([], np.int64)])
    picks = sampler.sample_distinct(constrained, 3)
    assert len(set(picks.tolist())) == 3
    assert set(picks[:2].tolist()) == {0, 1}  # the two the filters keep, then the best of the rest
    greedy = s.Sampler(GenerationParams(temperature=0))
    assert greedy.sample_distinct(constrained, 3).tolist() == [0, 1, 2]


def test_constraint_keeps_only_allowed_tokens_and_drops_banned():
    out = s.constrain(logits(), np.array([1, 2]), banned=[2])
    assert np.isfinite(out[0]).tolist() == [False, True, False, False]


def test_matches_hugging_face_processors_in_order():
    torch = pytest.importorskip("torch")
    gen = pytest.importorskip("transformers.generation.logits_process")
    rng = np.random.default_rng(0)
    raw = (rng.standard_normal((2, 500)) * 3).astype(np.float32)
    history = rng.integers(0, 500, (2, 80))
    params = GenerationParams(temperature=0.7, top_k=50, top_p=0.9, min_p=0.05, repetition_penalty=1.3,
                              repetition_window=0, no_repeat_ngram_size=2)
    ours = s.Sampler(params).process(raw, list(history))
    hf = gen.LogitsProcessorList([
        gen.RepetitionPenaltyLogitsProcessor(1.3),
        gen.NoRepeatNGramLogitsProcessor(2),
        gen.TemperatureLogitsWarper(0.7),
        gen.TopKLogitsWarper(50),
        gen.TopPLogitsWarper(0.9),
        gen.MinPLogitsWarper(0.05),
    ])(torch.tensor(history), torch.tensor(raw)).numpy()
    assert (np.isfinite(ours) == np.isfinite(hf)).all()
    np.testing.assert_allclose(ours[np.isfinite(ours)], hf[np.isfinite(hf)], rtol=1e-5)


@pytest.mark.parametrize("finite, kept", [(10, 10), (100, 40), (50257, 40)])
def test_top_k_after_a_constraint_filtered_most_tokens(finite, kept):
    rng = np.random.default_rng(1)
    scores = np.full((1, 50257), s.NEG_INF, dtype=np.float32)
    ids = rng.choice(50257, finite, replace=False)
    scores[0, ids] = rng.standard_normal(finite)
    expected = set(ids[np.argsort(-scores[0, ids])[:kept]].tolist())
    out = s.top_k(scores, 40)
    assert set(np.flatnonzero(np.isfinite(out[0])).tolist()) == expected


@pytest.mark.parametrize("value", [1e-40, 5e-324, 1e-39, 1e-30, 1e300])
def test_extreme_temperatures_sample(value):
    """Issue 22.3: a temperature too small (or large) for float32 divided the scores into
    inf/nan, and the draw found no finite score ("zero-size array"). A tiny one is greedy."""
    params = GenerationParams(temperature=value, top_k=0, top_p=1.0, seed=1).validate()
    sampler = s.Sampler(params)
    scores = sampler.process(logits(), [np.array([], dtype=np.int64)])
    assert np.isfinite(scores).any() and not np.isnan(scores).any()
    token = sampler.sample(scores)
    assert token.shape == (1,)
    if value < 1:
        assert token[0] == 0
    assert len(set(sampler.sample_distinct(sampler.constrained(logits(), [np.array([0])]), 3))) == 3


@pytest.mark.parametrize("penalty", [1e-40, 5e-324, 1e300])
def test_extreme_repetition_penalties_sample(penalty):
    """Hostile: a penalty that divides or multiplies a seen token's score past float32."""
    params = GenerationParams(repetition_penalty=penalty, seed=1).validate()
    sampler = s.Sampler(params)
    scores = sampler.process(logits() + np.float32([[5, -5, 0, 0]]), [np.array([0, 1])])
    assert np.isfinite(scores).any() and not np.isnan(scores).any()
    if penalty < 1:  # the seen, likely token is favoured without end, not dropped as an infinity
        assert np.isfinite(scores[0, 0]) and sampler.sample(scores)[0] == 0
    assert sampler.sample(scores).shape == (1,)


@pytest.mark.parametrize("temperature", [0.8, 1.7, 1e-30, 5e-324])
def test_top_k_first_keeps_what_temperature_then_top_k_keeps(temperature):
    """warp finds top-k's tokens before the temperature and warps only them: the same distribution
    as the processors one after another, on rows with filtered tokens and ties at the k-th."""
    rng = np.random.default_rng(3)
    params = GenerationParams(temperature=temperature, top_k=40, top_p=0.9, min_p=0.01)
    for _ in range(20):
        rows = np.round(rng.standard_normal((2, 50257)) * 3, 1).astype(np.float32)  # many ties
        rows[0, rng.choice(50257, 40000, replace=False)] = s.NEG_INF
        expected = s.min_p(s.top_p(s.top_k(s.temperature(rows.copy(), temperature), 40), 0.9), 0.01)
        np.testing.assert_allclose(s.probabilities(s.Sampler(params).warp(rows)), s.probabilities(expected),
                                   rtol=1e-6, atol=0)


def test_top_k_keeps_k_tokens_where_the_temperature_would_make_all_scores_equal():
    rows = (np.random.default_rng(4).standard_normal((1, 50257)) * 3).astype(np.float32)
    warped = s.Sampler(GenerationParams(temperature=1e300, top_k=40, top_p=1.0)).warp(rows)
    kept = np.flatnonzero(np.isfinite(warped[0]))
    assert set(kept.tolist()) == set(np.argsort(-rows[0])[:40].tolist())
    np.testing.assert_allclose(s.probabilities(warped)[0, kept], 1 / 40, rtol=1e-6)


@pytest.mark.parametrize("temperature, top_k, top_p, min_p", [
    (0.8, 40, 0.95, 0.0), (1.3, 5, 1.0, 0.05), (1e-30, 40, 0.9, 0.0), (0.7, 1, 1.0, 0.0), (0.8, 0, 0.9, 0.0),
    (0, 40, 0.95, 0.0),
])
def test_drawing_from_top_k_alone_draws_what_the_whole_warped_rows_give(temperature, top_k, top_p, min_p):
    """draw skips making whole warped rows: the same tokens as sample(warp(.)) from the same
    seed, on rows with ties at the k-th score and filtered tokens."""
    rng = np.random.default_rng(11)
    params = GenerationParams(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, seed=5)
    quick, whole = s.Sampler(params), s.Sampler(params)
    for _ in range(200):
        rows = np.round(rng.standard_normal((2, 50257)) * 3, 1).astype(np.float32)
        rows[1, rng.choice(50257, 50000, replace=False)] = s.NEG_INF
        assert quick.draw(rows).tolist() == whole.sample(whole.warp(rows)).tolist()
