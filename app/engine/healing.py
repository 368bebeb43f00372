"""Token healing: complete the partial word at the cursor instead of starting a new one.

The last token of the context is backed off and the first generated token must begin with its
bytes, so "The qu" continues as " quick" (one token) rather than " qu" + "ick" or a new word.
The backed-off bytes are already in the document: the suggestion starts after them.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from model.tokenizer import get_encoding, token_bytes


@dataclass(frozen=True)
class Healed:
    prompt: list[int]  # the context tokens to run through the model
    prefix: bytes  # what the first generated token must start with (b"" = anything)
    allowed: np.ndarray | None  # token ids starting with ``prefix`` (None = all)


@lru_cache(maxsize=1)
def _vocab_index() -> tuple[list[bytes], np.ndarray]:
    """Token byte strings sorted, with their ids: tokens sharing a prefix are a contiguous run."""
    enc = get_encoding()
    ids = [i for i in range(enc.n_vocab) if i != enc.eot_token]
    pairs = sorted((token_bytes(i), i) for i in ids)
    return [b for b, _ in pairs], np.array([i for _, i in pairs], dtype=np.int64)


def tokens_starting_with(prefix: bytes) -> np.ndarray:
    keys, ids = _vocab_index()
    lo = bisect_left(keys, prefix)
    hi = bisect_left(keys, prefix + b"\xff" * 256, lo)
    return ids[lo:hi]


def heal(tokens: list[int], enabled: bool = True) -> Healed:
    """Back off the last token of ``tokens`` (when there is one and healing is on)."""
    if not enabled or not tokens:
        return Healed(list(tokens), b"", None)
    prefix = token_bytes(tokens[-1])
    return Healed(list(tokens[:-1]), prefix, tokens_starting_with(prefix))
