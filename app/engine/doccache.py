"""The document's own words: an n-gram cache over the tokens before the cursor, mixed into the
model's distribution, so names and phrases the writer has already used weigh in what is suggested.

After each token the cache looks back for earlier places where the last 1..MAX_ORDER tokens occur
in the text (prompt plus what was generated) and counts what followed them there; longer matches
weigh more (ORDER_WEIGHTS). Its distribution is mixed with the model's:
p = (1 - w) p_model + w p_cache, with w = WEIGHT scaled by how long the longest match is (a single
repeated token says little, a repeated phrase much more), and no mixing at all where nothing
matches. The mixed scores are returned in the logits' own scale: a token the cache says nothing
about keeps its logit and those it predicts are raised, so the repetition penalty and the other
processors see almost what they saw before. Only the writer's text is searched for what followed
(not the suggestion being written), so the model's own inventions are not echoed back.

WEIGHT was tuned on held-out text (bench/bench_keystrokes.py --tune-cache: the first part of the
held-out authors' books, which the keystroke benchmark does not score): with inkwell-fiction's
weights of 6 December 2026, perplexity 166 without the cache, 141 at 0.05, 138 at 0.15, 137 at
0.2 and 0.3.
"""

from __future__ import annotations

import numpy as np

MAX_ORDER = 4
ORDER_WEIGHTS = (0.0, 0.25, 1.0, 2.0, 4.0)  # by match length 0..MAX_ORDER (orders that matched)
WEIGHT = 0.2  # the cache's share at a full-length match; see the module's note
LENGTH_SHARE = (0.0, 0.3, 0.7, 1.0, 1.0)  # of WEIGHT, by the longest match's length
LOOK_BACK = 2048  # tokens searched (the context window is shorter: this bounds a long story)


def cache_distribution(history: np.ndarray, writer: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """The cache's next-token distribution after ``history``, as the tokens it gives a share and
    their shares, and the longest match's length (empty, 0 where no earlier place matches even the
    last token). Only what followed in the first ``writer`` tokens counts (all when None): the
    writer's text, not what the model has just written after it, whose inventions the cache
    would otherwise repeat back to it."""
    h = np.asarray(history[-LOOK_BACK:], dtype=np.int64)
    n = len(h)
    # places j (followed by h[j + 1]) that may be counted
    places_end = n - 1 if writer is None else max(0, min(n - 1, writer - (len(history) - n) - 1))
    none = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64), 0
    if places_end < 1:
        return none
    ids: list[np.ndarray] = []
    shares: list[np.ndarray] = []
    longest = 0
    match = np.ones(places_end, dtype=bool)
    for order in range(1, MAX_ORDER + 1):
        if order > n - 1:
            break
        # place j matches at this order when h[j - order + 1 .. j] == h[n - order .. n - 1]
        lo = order - 1
        if lo >= places_end:
            break
        match[:lo] = False
        match[lo:] &= h[: places_end - lo] == h[n - order]
        places = np.flatnonzero(match)
        if not len(places):
            break
        longest = order
        followers, number = np.unique(h[places + 1], return_counts=True)
        ids.append(followers)
        shares.append(number * (ORDER_WEIGHTS[order] / len(places)))
    if not longest:
        return none
    tokens, where = np.unique(np.concatenate(ids), return_inverse=True)
    weights = np.bincount(where, weights=np.concatenate(shares))
    return tokens, weights / weights.sum(), longest


def mix(logits: np.ndarray, histories: list[np.ndarray], weight: float = WEIGHT,
        writer: int | None = None) -> np.ndarray:
    """``logits`` [rows, vocab] (or one row) with each row's cache (over its first ``writer``
    tokens) mixed in; a new array where anything changed, else ``logits`` itself.

    Only the tokens the cache gives a share change: a token's mixed probability is
    (1 - w) p + w c, which in the logits' scale, with the others left as they are (a softmax does
    not see a common shift), is its logit plus log(1 + w c / ((1 - w) p)). So a step reads the
    whole row once (its log-sum-exp), not the three times of a full mix."""
    if weight <= 0:
        return logits
    rows = np.asarray(logits, dtype=np.float32)
    single = rows.ndim == 1
    rows = rows.reshape(-1, rows.shape[-1])
    if len(histories) == 1 and len(rows) > 1:
        histories = histories * len(rows)
    out = None
    for r, history in enumerate(histories[: len(rows)]):
        ids, shares, longest = cache_distribution(history, writer)
        w = weight * LENGTH_SHARE[min(longest, MAX_ORDER)]
        keep = ids < rows.shape[-1]
        if w <= 0 or not keep.any():
            continue
        ids, shares = ids[keep], shares[keep]
        if out is None:
            out = rows.copy()
        row = out[r]
        top = float(row.max())
        log_z = top + float(np.log(np.exp(row - top, dtype=np.float32).sum(dtype=np.float64)))
        p = np.exp(row[ids].astype(np.float64) - log_z)
        row[ids] += np.log1p(w * shares / ((1.0 - w) * np.maximum(p, 1e-300))).astype(np.float32)
    if out is None:
        return logits
    return out.reshape(-1) if single else out
