"""Token healing: complete the partial word at the cursor instead of starting a new one, but
only when the word is not already finished.

The last token of the context is backed off and the first generated token must begin with its
bytes, so "The qu" continues as " quick" (one token) rather than " qu" + "ick" or a new word.
The backed-off bytes are already in the document: the suggestion starts after them.

A last token that ends in a letter or digit may be a whole word ("but she") or part of one
("a goo"). The model decides: ``word_continues`` weighs the probability of the token as it is
(the word ends here) against that of the longer tokens that extend it with more letters, and
only a clear preference for the longer ones completes the word. Otherwise the engine runs the
whole prompt and the suggestion starts after the finished word. A last token of whitespace or
punctuation always heals: "she " continues with a token that starts with the space (" said"),
as GPT-2 was trained to see it, and no word is changed.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from core.tokenizer import get_encoding, token_bytes

# "Clearly prefers": the word is completed only when continuing it is this many times as likely
# as ending it. Measured with the bundled model (bench/bench_suggestions.py): at finished words
# of held-out prose 4 glued letters on in 2.5% of suggestions, 10 in 1.7%; either way 90% of
# mid-word cuts ("a goo") were still completed.
CONTINUE_RATIO = 10.0
# Where what the writer typed is already a real word ("In", "dear"), going on with it must be this
# much likelier than ending it (the engine's choice, with a lexicon; bench/bench_keystrokes.py's
# "glued"), and the longer word must be a real one too (app/engine/trust.py).
FINISHED_WORD_RATIO = 30.0
# A word the writer is typing may span several tokens (" bef" is " be" + "f"); at most this many
# are backed off, so that " before" can be what comes.
MAX_BACK_OFF = 4


@dataclass(frozen=True)
class Healed:
    prompt: list[int]  # the context tokens to run through the model
    prefix: bytes  # what the first generated token must start with (b"" = anything)
    allowed: np.ndarray | None  # token ids starting with ``prefix`` (None = all)
    # The backed-off token when it ends in a letter or digit: the word may be finished, and
    # ``allowed`` then holds only the tokens that continue it (see ``word_continues``).
    word: int | None = None


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


def is_letter(byte: int) -> bool:
    # Bytes from 0x80 up are parts of non-ASCII characters: letters in every script but English.
    return chr(byte).isalnum() if byte < 0x80 else True


@lru_cache(maxsize=4096)
def _continuations(prefix: bytes) -> np.ndarray:
    """Tokens that begin with ``prefix`` and go on with a letter or digit (extend the word)."""
    ids = tokens_starting_with(prefix)
    n = len(prefix)
    return np.array([i for i in ids if len(b := token_bytes(int(i))) > n and is_letter(b[n])], dtype=np.int64)


def _word_start(tokens: list[int]) -> int:
    """Where the word the tokens end in begins: the index of its first token (at most
    MAX_BACK_OFF from the end)."""
    i = len(tokens) - 1
    while i > 0 and len(tokens) - i < MAX_BACK_OFF:
        first, before = token_bytes(tokens[i])[:1], token_bytes(tokens[i - 1])[-1:]
        if not first or not is_letter(first[0]) or not before or not is_letter(before[0]):
            break
        i -= 1
    return i


def heal(tokens: list[int], enabled: bool = True, unfinished: bool = False) -> Healed:
    """Back off the last token of ``tokens`` (when there is one and healing is on); all the tokens
    of the last word when it is ``unfinished`` (not a word yet: it can only go on) and a token
    goes on with all of it."""
    if not enabled or not tokens:
        return Healed(list(tokens), b"", None)
    # The longest back-off that one token can go on from (" aston" + "ish" + "m": "ishment").
    for start in range(_word_start(tokens) if unfinished else len(tokens) - 1, len(tokens) - 1):
        prefix = b"".join(token_bytes(t) for t in tokens[start:])
        allowed = _continuations(prefix)
        if len(allowed):
            return Healed(list(tokens[:start]), prefix, allowed)
    prefix = token_bytes(tokens[-1])
    if prefix and is_letter(prefix[-1]):
        return Healed(list(tokens[:-1]), prefix, _continuations(prefix), tokens[-1])
    return Healed(list(tokens[:-1]), prefix, tokens_starting_with(prefix))


def word_continues(logits: np.ndarray, healed: Healed, ratio: float | None = None) -> bool:
    """Whether the model clearly prefers extending the last word to ending it, from the logits
    after ``healed.prompt`` (one row)."""
    if healed.word is None:
        return True
    if healed.allowed is None or not len(healed.allowed):
        return False  # nothing can extend it: the word is finished
    row = np.asarray(logits, dtype=np.float64).reshape(-1)
    top = row.max()
    p_continue = np.exp(row[healed.allowed] - top).sum()
    p_end = np.exp(row[healed.word] - top)
    return bool(p_continue > (CONTINUE_RATIO if ratio is None else ratio) * p_end)
