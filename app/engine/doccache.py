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

from collections import Counter

import numpy as np

from app.engine.sampling import log_sum_exp

MAX_ORDER = 4
ORDER_WEIGHTS = (0.0, 0.25, 1.0, 2.0, 4.0)  # by match length 0..MAX_ORDER (orders that matched)
WEIGHT = 0.2  # the cache's share at a full-length match; see the module's note
LENGTH_SHARE = (0.0, 0.3, 0.7, 1.0, 1.0)  # of WEIGHT, by the longest match's length
LOOK_BACK = 2048  # of the writer's tokens searched (the context window is shorter)


class DocumentCache:
    """The writer's text (the tokens before the cursor), indexed once per request by where each
    token occurs, so that each step looks only at the places its last token was used before
    rather than at the whole text. Only what followed in the writer's text counts, not what the
    model has just written after it, whose inventions the cache would otherwise repeat back."""

    def __init__(self, writer: np.ndarray | list[int]):
        tokens = np.asarray(writer, dtype=np.int64)[-LOOK_BACK:]
        self.tokens = tokens
        # Each token's places that have a follower in the writer's text (all but the last): the
        # places sorted by token, and where each token's run of them starts (looked up by binary
        # search: splitting them into an array per token cost more than a step's lookups).
        self._order = np.argsort(tokens[:-1], kind="stable")
        self._values, starts = np.unique(tokens[:-1][self._order], return_index=True)
        self._starts = np.append(starts, len(self._order))

    def _places(self, token: int) -> np.ndarray | None:
        i = int(np.searchsorted(self._values, token))
        if i == len(self._values) or self._values[i] != token:
            return None
        return self._order[self._starts[i] : self._starts[i + 1]]

    def distribution(self, history: np.ndarray | list[int]) -> tuple[np.ndarray, np.ndarray, int]:
        """What followed the end of ``history`` (the writer's text and what was written after it)
        in the writer's text: the tokens given a share, their shares, and the longest match's
        length (empty, 0 where not even the last token was used before)."""
        n = len(history)
        none = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64), 0
        places = self._places(int(history[-1])) if n >= 2 else None
        if places is None:
            return none
        # Summed in plain Python: a step's lists are short, and a numpy call per order and token
        # list cost more than the sums. Each token's shares are added in the order of the orders,
        # as a bincount over the orders' lists would.
        totals: dict[int, float] = {}
        longest = 0
        tokens = self.tokens
        for order in range(1, min(MAX_ORDER, n - 1) + 1):
            if order > 1:  # place j goes on matching when h[j - order + 1] == history[-order]
                places = places[places >= order - 1]
                places = places[tokens[places - (order - 1)] == history[-order]]
            if not len(places):
                break
            longest = order
            share = ORDER_WEIGHTS[order] / len(places)
            for token, count in Counter(tokens[places + 1].tolist()).items():
                totals[token] = totals.get(token, 0.0) + count * share
        if not longest:
            return none
        ids = sorted(totals)
        weights = np.array([totals[t] for t in ids])
        return np.array(ids, dtype=np.int64), weights / weights.sum(), longest

    def mix(self, logits: np.ndarray, histories: list[np.ndarray], weight: float = WEIGHT,
            log_z: np.ndarray | None = None) -> np.ndarray:
        """``logits`` [rows, vocab] (or one row) with each row's cache mixed in; a new array where
        anything changed, else ``logits`` itself. ``log_z``, each row's log-sum-exp where the caller
        has it (a step needs it for its tokens' probabilities too), is used instead of reading the
        row again, and updated in place to the mixed rows'.

        Only the tokens the cache gives a share change: a token's mixed probability is
        (1 - w) p + w c, which in the logits' scale, with the others left as they are (a softmax
        does not see a common shift), is its logit plus log(1 + w c / ((1 - w) p)). So a step
        reads the whole row once (its log-sum-exp), not the three times of a full mix."""
        if weight <= 0:
            return logits
        rows = np.asarray(logits, dtype=np.float32)
        single = rows.ndim == 1
        rows = rows.reshape(-1, rows.shape[-1])
        if len(histories) == 1 and len(rows) > 1:
            histories = histories * len(rows)
        out = None
        for r, history in enumerate(histories[: len(rows)]):
            ids, shares, longest = self.distribution(history)
            w = weight * LENGTH_SHARE[min(longest, MAX_ORDER)]
            keep = ids < rows.shape[-1]
            if w <= 0 or not keep.any():
                continue
            ids, shares = ids[keep], shares[keep]
            if out is None:
                out = rows.copy()
            row = out[r]
            z = float(log_z[r]) if log_z is not None else log_sum_exp(row[None, :])[0]
            p = np.exp(row[ids].astype(np.float64) - z)
            row[ids] += np.log1p(w * shares / ((1.0 - w) * np.maximum(p, 1e-300))).astype(np.float32)
            if log_z is not None:  # each raised exp(logit) gains Z w c / (1 - w), and the shares sum to this
                log_z[r] = z + np.log1p(w / (1.0 - w) * float(shares.sum()))
        if out is None:
            return logits
        return out.reshape(-1) if single else out
