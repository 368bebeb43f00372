"""Whether a suggestion is worth showing: a calibrated confidence, and real words only.

Confidence: the model's probability of the suggestion's first word (the product of its tokens'
probabilities) is turned into the probability that the first word is what the writer goes on to
type, by a logistic fit on held-out text (Platt scaling: sigmoid(A * ln p + B)); the same for the
whole suggestion (all its tokens). The fits were made by bench/bench_keystrokes.py --calibrate on
the first part of the held-out authors' books (text the keystroke benchmark does not score) with
the model that ships (inkwell-fiction). ``GenerationParams.min_show`` (``min_show_completion`` for
a word that completes the one at the cursor) is compared with the first word's calibrated
confidence.

Real words: a suggestion that goes on with the letters of the word at the cursor (completing a
word, or extending one that may be finished) must end that word on one the dictionary (the
engine's ``lexicon``, e.g. pyspellchecker's list) or the document knows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

# sigmoid(A * ln(p) + B): the first word's, and the whole suggestion's (see the module's note).
# Fitted on 1,079 suggestions (405 first words right) with the shipped inkwell-fiction (all 4500
# steps): calibrated 0-0.1: 5% right, 0.1-0.2: 21%, 0.2-0.3: 19%, 0.3-0.5: 36%, 0.5-1: 74%; whole
# suggestions 0-0.1: 1%, 0.1-0.2: 8%, 0.2-0.3: 19%, 0.3-0.5: 31%, 0.5-1: 84%. Fitted apart, words
# that complete the one at the cursor and words that begin a new one gave the same fit
# ((1.889, 2.079) and (1.777, 2.071)): the model's probability already tells them apart.
FIRST_WORD_FIT = (1.783, 2.031)
WHOLE_FIT = (1.242, 1.754)

Lexicon = Callable[[str], bool]
_LETTERS = re.compile(r"[^\W\d_]+")
_TRAILING = re.compile(r"[^\W\d_]+$")
_LEADING = re.compile(r"[^\W\d_]+")
# A word of a suggestion, with the blanks before it: a run of letters or digits (with inner
# apostrophes), or one mark. The first one is what the confidence is about, and Ctrl+Right takes
# one at a time, so a writer can take " her" of " her." when they go on with a comma.
WORD_OR_MARK = re.compile(r"\s*(?:[^\W_]+(?:['\u2019][^\W_]+)*|[^\w\s])")


def calibrated(probability: float, fit: tuple[float, float] = FIRST_WORD_FIT) -> float:
    """sigmoid(A ln p + B) of ``fit`` (A, B)."""
    a, b = fit
    z = a * math.log(max(probability, 1e-12)) + b
    return 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0


def completes(before: str, text: str) -> bool:
    """Whether ``text`` goes on with the letters of the word at the end of ``before``."""
    return bool(trailing_word(before)) and bool(_LEADING.match(text))


def first_word_end(text: str, final: bool) -> int | None:
    """Where the first word (or mark) of ``text`` ends once it is complete: something follows it,
    or ``final`` (no more text comes); None while it may still grow."""
    m = WORD_OR_MARK.match(text)
    if not m or not m.group().strip():
        return len(text) if final and text.strip() else None
    if m.end() < len(text) or final:
        return m.end()
    return None


def trailing_word(before: str) -> str:
    """The letters at the very end of the text before the cursor ("" after a space or mark)."""
    m = _TRAILING.search(before[-64:])
    return m.group() if m else ""


class Words:
    """The words a suggestion may make: the lexicon's and the document's."""

    def __init__(self, lexicon: Lexicon | None, document: str):
        self.lexicon = lexicon
        self._document = document
        self._seen: set[str] | None = None

    def _document_words(self) -> set[str]:
        if self._seen is None:
            # The word at the cursor is being typed: it is not yet one the document "knows".
            text = self._document[: len(self._document) - len(trailing_word(self._document))]
            self._seen = {w.lower() for w in _LETTERS.findall(text)}
        return self._seen

    def known(self, word: str) -> bool:
        w = word.lower()
        if not w:
            return True
        if self.lexicon is not None and self.lexicon(w):
            return True
        return w in self._document_words()

    @property
    def checks(self) -> bool:
        """Whether words are checked at all (a lexicon is given)."""
        return self.lexicon is not None

    def extension_known(self, before: str, suggestion: str) -> bool:
        """Whether ``suggestion`` leaves the word at the cursor a real word: it goes on with more
        letters of it (``before`` ends in a letter) only where the joined word is known, and
        ends it as it is only where that is a known word."""
        if not self.checks:
            return True
        stem = trailing_word(before)
        if not stem:
            return True
        m = _LEADING.match(suggestion)
        if not m:
            return self.known(stem)  # the word ends here as the writer typed it: it must be one
        return self.known(stem + m.group())
