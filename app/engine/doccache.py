"""The document's own words: an n-gram cache over the tokens before the cursor, mixed into the
model's distribution, so names and phrases the writer has already used weigh in what is suggested.

After each token the cache looks back for earlier places where the last 1..MAX_ORDER tokens occur
in the text (prompt plus what was generated) and counts what followed them there; longer matches
weigh more (ORDER_WEIGHTS). Its distribution is mixed with the model's:
p = (1 - w) p_model + w p_cache, with w = WEIGHT scaled by how long the longest match is (a single
repeated token says little, a repeated phrase much more), and no mixing at all where nothing
matches. The mixed scores are returned in the logits' own scale (log p plus the logits' log-sum-
exp): a token the cache says nothing about keeps its logit less log(1 / (1 - w)), so the
repetition penalty and the other processors see almost what they saw before.

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


def cache_distribution(history: np.ndarray, vocab: int) -> tuple[np.ndarray | None, int]:
    """The cache's next-token distribution after ``history`` and the longest match's length
    (None, 0 where no earlier place matches even the last token)."""
    h = np.asarray(history[-LOOK_BACK:], dtype=np.int64)
    n = len(h)
    if n < 2:
        return None, 0
    counts: dict[int, float] = {}
    longest = 0
    match = np.ones(n - 1, dtype=bool)  # candidate places j (followed by h[j + 1])
    for order in range(1, MAX_ORDER + 1):
        if order > n - 1:
            break
        # place j matches at this order when h[j - order + 1 .. j] == h[n - order .. n - 1]
        shifted = np.zeros(n - 1, dtype=bool)
        lo = order - 1
        shifted[lo:] = h[: n - 1 - lo] == h[n - order]
        match &= shifted
        places = np.flatnonzero(match)
        if not len(places):
            break
        longest = order
        followers, number = np.unique(h[places + 1], return_counts=True)
        share = ORDER_WEIGHTS[order] / len(places)
        for token, count in zip(followers.tolist(), number.tolist()):
            counts[token] = counts.get(token, 0.0) + share * count
    if not counts:
        return None, 0
    dist = np.zeros(vocab, dtype=np.float64)
    ids = np.fromiter(counts, dtype=np.int64)
    keep = ids < vocab
    dist[ids[keep]] = np.fromiter(counts.values(), dtype=np.float64)[keep]
    total = dist.sum()
    return (dist / total if total > 0 else None), longest


def mix(logits: np.ndarray, histories: list[np.ndarray], weight: float = WEIGHT) -> np.ndarray:
    """``logits`` [rows, vocab] (or one row) with each row's cache mixed in; a new array where
    anything changed, else ``logits`` itself."""
    if weight <= 0:
        return logits
    rows = np.asarray(logits, dtype=np.float32)
    single = rows.ndim == 1
    rows = rows.reshape(-1, rows.shape[-1])
    if len(histories) == 1 and len(rows) > 1:
        histories = histories * len(rows)
    out = None
    for r, history in enumerate(histories[: len(rows)]):
        dist, longest = cache_distribution(history, rows.shape[-1])
        if dist is None:
            continue
        w = weight * LENGTH_SHARE[min(longest, MAX_ORDER)]
        if w <= 0:
            continue
        if out is None:
            out = rows.copy()
        # In float32, in place: a full-vocabulary float64 pass cost as much as the graph's step
        # for the bundled model; the float32 log of a mixed probability is exact to ~1e-7.
        row = out[r]
        top = row.max()
        np.subtract(row, top, out=row)
        np.exp(row, out=row)
        z = row.sum(dtype=np.float64)
        row *= np.float32((1.0 - w) / z)
        ids = np.flatnonzero(dist)
        row[ids] += (w * dist[ids]).astype(np.float32)
        with np.errstate(divide="ignore"):
            np.log(row, out=row)
        row += np.float32(top + np.log(z))
    if out is None:
        return logits
    return out.reshape(-1) if single else out
