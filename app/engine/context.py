"""Which tokens of a long text the model sees: the end of it, in a window that slides in steps.

The window is the text from a start position to the end, at most ``budget`` tokens. The start
stays where it was (found again by the text that follows it, so it does not matter where the
caller's text begins: a whole document or its last few thousand characters) for as long as
the window fits, so typing at the end keeps the same token prefix and the KV cache stays
valid. When the window is full, or the old start is gone (the cursor moved, text was edited),
a new start is chosen that fills half the budget: the window then slides only after another
half budget of typing. Only the end of the text is ever tokenized (about eight characters per
budget token at most), however long the document is, and of that only what follows the last
boundary the previous request had (see _Tokens): typing a letter re-tokenizes one word.

Starts sit on token boundaries: GPT-2's pre-tokenizer never joins a whitespace character that
has non-space on both sides to what comes before it, so the tokens of ``text[a:]`` at such an
``a`` are exactly the tail of the tokens of ``text``.
"""

from __future__ import annotations

import re

from core.tokenizer import encode, token_bytes

# The lookbehinds after the first character: re then skips ahead to a space or line break.
_BOUNDARY = re.compile(r"[ \n](?<=\S[ \n])(?=\S)")
_SPLIT = re.compile(r"[ \n](?<=\S[ \n])")  # where the tokens of what is before and after split
_SCAN = 256  # how far past a position to look for a boundary before cutting there anyway
_KEY = 64  # characters after the start that identify it in the next request's text
_CHARS_PER_TOKEN = 8  # generous: English averages about 4


def anchor_at(text: str, pos: int) -> int:
    """The token boundary at or after ``pos`` (within ``_SCAN`` chars), else ``pos`` itself."""
    if pos <= 0:
        return 0
    m = _BOUNDARY.search(text, pos, min(len(text), pos + _SCAN + 1))
    return m.start() if m else pos


class _Tokens:
    """``encode`` that reuses the previous text's tokens up to its last split: GPT-2's
    pre-tokenizer never joins a space or line break that follows a non-space character to what
    comes before it (a piece may start with one space, none ends with one), so a text that
    begins with that same head followed by a space or line break has the head's tokens
    followed by the tokens of the rest."""

    def __init__(self) -> None:
        self._head = ""  # a text ending before a split
        self._head_tokens: list[int] = []  # its tokens

    def encode(self, text: str) -> list[int]:
        head = self._head
        if head and text.startswith(head) and text[len(head) : len(head) + 1] in ("", " ", "\n"):
            tokens = self._head_tokens + encode(text[len(head) :])
        else:
            tokens = encode(text)
        splits = [m.start() for m in _SPLIT.finditer(text, max(0, len(text) - _SCAN))]
        if not splits:
            self._head, self._head_tokens = "", []
        else:
            rest = encode(text[splits[-1] :])
            self._head, self._head_tokens = text[: splits[-1]], tokens[: len(tokens) - len(rest)]
        return tokens


class ContextWindow:
    """Chooses the window for each request, remembering where the previous one started."""

    def __init__(self) -> None:
        self._key: str | None = None  # text at the previous start
        self._distance = 0  # how far the previous start was from the end of the text
        self._tokens = _Tokens()

    def reset(self) -> None:
        self._key = None
        self._tokens = _Tokens()

    def tokens(self, text: str, budget: int) -> list[int]:
        """The tokens of the window (at most ``budget``)."""
        start, tokens = self._previous(text, budget)
        if start is None:
            start = self._new_start(text, budget)
            tokens = self._tokens.encode(text[start:])[-budget:]  # a single over-long word could still overflow
        self._key = text[start : start + _KEY]
        self._distance = len(text) - start
        return tokens

    def _previous(self, text: str, budget: int) -> tuple[int | None, list[int]]:
        """The previous start, if it is still in ``text`` and its window still fits.

        Of several places holding the same text (repetitive documents), the one as far from the
        end as the previous start was is taken: that distance, unlike the offset, does not
        change when the caller's text begins further on.
        """
        if not self._key:
            return None, []
        lowest = max(0, len(text) - budget * _CHARS_PER_TOKEN)
        expected = len(text) - self._distance
        start, found = None, text.find(self._key, lowest)
        while found >= 0:
            if start is None or abs(found - expected) < abs(start - expected):
                start = found
            found = text.find(self._key, found + 1)
        if start is None or (start > 0 and len(self._key) < _KEY):
            return None, []
        tokens = self._tokens.encode(text[start:])
        return (start, tokens) if len(tokens) <= budget else (None, [])

    def _new_start(self, text: str, budget: int) -> int:
        """A boundary about ``budget // 2`` tokens before the end (0 when the text is shorter)."""
        target = max(1, budget // 2)
        span = target * _CHARS_PER_TOKEN
        while True:
            region = anchor_at(text, len(text) - span)
            tokens = encode(text[region:])
            if len(tokens) >= target or region == 0:
                break
            span *= 4
        if len(tokens) <= target:
            return region
        skipped = b"".join(token_bytes(t) for t in tokens[: len(tokens) - target])
        offset = len(skipped.decode("utf-8", errors="ignore"))
        return anchor_at(text, region + offset)


def window(text: str, budget: int) -> list[int]:
    """The window of ``text`` without history (one-off requests)."""
    return ContextWindow().tokens(text, budget)
