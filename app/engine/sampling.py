"""Logits processors and sampling, in numpy, with Hugging Face's semantics.

Order (the order of ``transformers``' ``generate`` with sampling):
  1. repetition penalty over the last ``repetition_window`` tokens (context + generated)
  2. no-repeat n-gram bans: over all tokens seen (context + generated), and over the generated
     tokens alone (with the prompt's last n-1 tokens, where the first n-gram starts)
  3. constraints: token healing's allowed first tokens, end-of-text suppressed without stop_at_eot
  4. temperature (temperature 0: greedy, argmax of the scores after steps 1-3, no warpers)
  5. top-k   6. top-p   7. min-p
(top-k's tokens are found before step 4 and only they are warped: see Sampler.warp)
then one token is drawn from the softmax of what is left. Each function takes ``scores``
[batch, vocab] float32 and returns it changed (in place where possible); filtered tokens get -inf.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.engine.params import GenerationParams

NEG_INF = np.float32(-np.inf)
FLOAT32_MAX = float(np.finfo(np.float32).max)
SAMPLE = 4096  # scores that bound top-k's (see _top_k_indices)


def repetition_penalty(scores: np.ndarray, histories: Sequence[np.ndarray], penalty: float) -> np.ndarray:
    """Tokens already seen: positive scores divided by ``penalty``, negative ones multiplied."""
    if penalty == 1.0:
        return scores
    for row, history in enumerate(histories):
        ids = history  # a token seen twice gets the same value twice: no need to sort them out
        seen = scores[row, ids].astype(np.float64)
        # In float64 and kept within float32's range: a penalty such as 1e-40 must not turn a
        # likely token's score into an infinity (taken for a filtered token, or nan later).
        with np.errstate(over="ignore", divide="ignore"):
            changed = np.where(seen < 0, seen * penalty, seen / penalty)
        changed = np.where(np.isfinite(seen), np.clip(changed, -FLOAT32_MAX, FLOAT32_MAX), seen)
        scores[row, ids] = changed.astype(np.float32)
    return scores


def no_repeat_ngram(scores: np.ndarray, histories: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Ban every token that would repeat an n-gram of ``size`` tokens already in the history."""
    if size <= 0:
        return scores
    for row, history in enumerate(histories):
        if len(history) < size:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(history, size)
        prefix = history[len(history) - size + 1 :]
        match = (windows[:, :-1] == prefix).all(axis=1)
        scores[row, windows[match, -1]] = NEG_INF
    return scores


def temperature(scores: np.ndarray, value: float) -> np.ndarray:
    """Scores divided by ``value``, in float64. A row that would leave float32's range (a tiny
    temperature: 1e-40 or 5e-324 is 0 or a denormal in float32) is first shifted so that its
    best score is 0 (the same distribution): its best tokens stay at 0 and the others go to
    -inf, greedy (the limit), instead of everything turning into inf and nan."""
    if value == 1.0:
        return scores
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        quick = scores / np.float32(value)
    if np.count_nonzero(np.isfinite(quick)) == np.count_nonzero(np.isfinite(scores)):
        scores[...] = quick  # the usual case, in float32: nothing left the range
        return scores
    finite = np.isfinite(scores)
    wide = scores.astype(np.float64)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        out = wide / float(value)
        for row in np.flatnonzero((finite & ~(np.abs(out) <= FLOAT32_MAX)).any(axis=-1)):
            best = wide[row][finite[row]].max()
            out[row] = (wide[row] - best) / float(value)
        scores[...] = np.where(finite, out, scores).astype(np.float32)
    return scores


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Keep the ``k`` highest scores (and any tied with the k-th), like ``TopKLogitsWarper``."""
    vocab = scores.shape[-1]
    if k <= 0 or k >= vocab:
        return scores
    for row in scores:
        keep = _top_k_indices(row, k)
        kept = row[keep]
        row.fill(NEG_INF)  # cheaper than masking the ~50k dropped entries
        row[keep] = kept
    return scores


def _top_k_indices(row: np.ndarray, k: int) -> np.ndarray:
    """Where the ``k`` highest finite scores of ``row`` are, with any tied with the k-th, in
    ascending order, without partitioning the whole vocabulary every step.

    The k-th largest of the first SAMPLE scores is a lower bound of the true one (k scores at
    least as large exist), so only the few scores above that bound need partitioning. GPT-2's
    BPE numbers its tokens in the order their merges were learned, most frequent first, so the
    likely ones are mostly among the first few thousand: on the bundled model's prose ~40
    scores pass that bound, against ~560 for every 16th score (a sample spread over the row).
    Filtered (-inf) scores are left out first: partitioning thousands of equal values is slow.
    """
    sample = row[:SAMPLE]
    bound = np.partition(sample, len(sample) - k)[len(sample) - k] if len(sample) >= 4 * k else NEG_INF
    where = np.flatnonzero(row >= bound) if bound > NEG_INF else np.flatnonzero(row > NEG_INF)
    if len(where) <= k:
        return where
    values = row[where]
    return where[values >= np.partition(values, len(values) - k)[len(values) - k]]


def top_p(scores: np.ndarray, p: float) -> np.ndarray:
    """Keep the smallest set of most likely tokens whose probability reaches ``p``
    (``TopPLogitsWarper``: drop tokens whose ascending cumulative probability is <= 1 - p)."""
    if p >= 1.0:
        return scores
    for row in scores:
        live = np.flatnonzero(np.isfinite(row))
        order = live[np.argsort(row[live], kind="stable")]
        cumulative = np.cumsum(_softmax(row[order]))
        drop = cumulative <= 1.0 - p
        drop[-1] = False
        row[order[drop]] = NEG_INF
    return scores


def min_p(scores: np.ndarray, p: float) -> np.ndarray:
    """Drop tokens less likely than ``p`` times the most likely one (``MinPLogitsWarper``)."""
    if p <= 0.0:
        return scores
    for row in scores:
        live = np.flatnonzero(np.isfinite(row))
        probs = _softmax(row[live])
        drop = probs < p * probs.max()
        drop[np.argmax(probs)] = False
        row[live[drop]] = NEG_INF
    return scores


def constrain(scores: np.ndarray, allowed: np.ndarray | None, banned: Sequence[int] = ()) -> np.ndarray:
    """Only ``allowed`` token ids (all when None) and none of ``banned``."""
    if allowed is not None:
        keep = scores[:, allowed].copy()
        scores[:] = NEG_INF
        scores[:, allowed] = keep
    if banned:
        scores[:, list(banned)] = NEG_INF
    return scores


def _softmax(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # scores ~1e38 apart (a tiny temperature): exp(-inf) = 0
        e = np.exp(x - x.max())
    return e / e.sum()


def log_sum_exp(rows: np.ndarray) -> np.ndarray:
    """Each row's log of the summed exp of its scores [rows], in float64: a softmax's normalizer."""
    top = rows.max(axis=-1, keepdims=True)
    with np.errstate(over="ignore"):
        total = np.exp(rows - top, dtype=np.float32).sum(axis=-1)  # pairwise: float32 is exact enough
    return top[:, 0].astype(np.float64) + np.log(total.astype(np.float64))


def probabilities(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis; -inf scores get probability 0."""
    with np.errstate(over="ignore"):
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class Sampler:
    """Applies the processors of one request and draws tokens with its own random generator."""

    def __init__(self, params: GenerationParams, banned: Sequence[int] = (), prompt_length: int = 0):
        self.params = params
        self.banned = tuple(banned)
        self.prompt_length = prompt_length  # histories start with the prompt's tokens
        self.rng = np.random.default_rng(params.seed)

    def constrained(
        self, logits: np.ndarray, histories: Sequence[np.ndarray], allowed: np.ndarray | None = None
    ) -> np.ndarray:
        """Scores after steps 1-3 (penalties and constraints); ``logits`` is left untouched."""
        p = self.params
        scores = np.array(logits, dtype=np.float32)
        window = p.repetition_window
        repetition_penalty(scores, [h[-window:] if window else h for h in histories], p.repetition_penalty)
        no_repeat_ngram(scores, histories, p.no_repeat_ngram_size)
        own = p.no_repeat_own_ngram_size
        if own:
            start = max(0, self.prompt_length - own + 1)
            no_repeat_ngram(scores, [h[start:] for h in histories], own)
        return constrain(scores, allowed, self.banned)

    def warp(self, scores: np.ndarray) -> np.ndarray:
        """Steps 4-7 on a copy (nothing when greedy).

        With top-k on, its k tokens are found first and only they go through the other steps:
        a positive temperature divides every score alike, so the same k are the highest before
        and after it, and a step then touches ~k scores instead of the whole vocabulary (a
        keystroke's suggestion is 8 such steps). Where dividing would make distinct scores equal
        in float32 (a temperature of 1e300 makes them all 0), top-k still keeps k tokens, where
        dividing first would keep them all."""
        p = self.params
        if p.temperature == 0:
            return scores
        if not 0 < p.top_k < scores.shape[-1]:
            return min_p(top_p(temperature(scores.copy(), p.temperature), p.top_p), p.min_p)
        out = np.full_like(scores, NEG_INF)
        for r, row in enumerate(scores):
            keep, kept = self._warp_top_k(row)
            out[r, keep] = kept
        return out

    def _warp_top_k(self, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top-k's tokens of one row (ascending) and their scores after steps 4-7."""
        p = self.params
        keep = _top_k_indices(row, p.top_k)
        kept = temperature(row[keep][None, :], p.temperature)
        return keep, min_p(top_p(kept, p.top_p), p.min_p)[0]

    def draw(self, scores: np.ndarray) -> np.ndarray:
        """``sample(warp(scores))`` for scores after steps 1-3: with top-k on, the same tokens
        from the same random state, drawn from top-k's few tokens without making whole rows
        (two passes over the vocabulary fewer for each token)."""
        p = self.params
        if p.temperature == 0 or not 0 < p.top_k < scores.shape[-1]:
            return self.sample(self.warp(scores))
        tokens = []
        for row in scores:
            keep, kept = self._warp_top_k(row)
            tokens.append(keep[self._draw(kept)])  # keep is ascending, as a whole row's live tokens are
        return np.array(tokens, dtype=np.int64)

    def process(
        self, logits: np.ndarray, histories: Sequence[np.ndarray], allowed: np.ndarray | None = None
    ) -> np.ndarray:
        """Scores after all the steps, the distribution tokens are drawn from."""
        return self.warp(self.constrained(logits, histories, allowed))

    def sample(self, scores: np.ndarray) -> np.ndarray:
        """One token per row: argmax when greedy, else a draw from softmax(scores)."""
        if self.params.temperature == 0:
            return np.argmax(scores, axis=-1)
        return np.array([self._draw(row) for row in scores], dtype=np.int64)

    def sample_distinct(self, constrained: np.ndarray, n: int) -> np.ndarray:
        """``n`` different tokens from one row of constrained scores, so that alternatives
        start differently.

        Sampling draws without replacement (Gumbel top-k) from the warped distribution; greedy
        takes the ``n`` best. When the warpers leave fewer than ``n`` tokens, the rest are the
        best of those they filtered out (still allowed by the constraints).
        """
        row = self.warp(constrained)[0]
        live = np.flatnonzero(np.isfinite(row))
        keys = row[live]
        if self.params.temperature != 0:
            keys = keys - np.log(-np.log(self.rng.random(len(live))))
        chosen = live[np.argsort(-keys, kind="stable")[:n]]
        if len(chosen) < n:
            rest = constrained[0].copy()
            rest[chosen] = NEG_INF
            live = np.flatnonzero(np.isfinite(rest))
            chosen = np.concatenate([chosen, live[np.argsort(-rest[live], kind="stable")[: n - len(chosen)]]])
        return chosen.astype(np.int64)

    def _draw(self, row: np.ndarray) -> int:
        live = np.flatnonzero(np.isfinite(row))
        cumulative = np.cumsum(_softmax(row[live]))
        index = int(np.searchsorted(cumulative, self.rng.random() * cumulative[-1], side="right"))
        return int(live[min(index, len(live) - 1)])
