"""Which tokens of a long text the model sees: the end of it, in a window that slides in steps.

The window starts at an anchor on a fixed grid of character offsets (every ``step`` chars,
nudged to the next token boundary), and it is the earliest grid anchor whose text still fits
the token budget. Typing at the end therefore keeps the same start, and so the same token
prefix (the KV cache stays valid), until the window is full; then the start jumps a whole grid
step ahead. Only the text from the window start on is tokenized: about ``budget + step``
tokens, however long the document is.

Token boundaries: GPT-2's pre-tokenizer never joins a whitespace character that has
non-space on both sides to what comes before it, so the tokens of ``text[a:]`` at such an
``a`` are exactly the tail of the tokens of ``text``.
"""

from __future__ import annotations

import re

from model.tokenizer import encode

_BOUNDARY = re.compile(r"(?<=\S)[ \n](?=\S)")
_SCAN = 256  # how far past a grid point to look for a boundary before cutting there anyway
_MIN_STEP = 32


def anchor_at(text: str, pos: int) -> int:
    """The token boundary at or after ``pos`` (within ``_SCAN`` chars), else ``pos`` itself."""
    if pos <= 0:
        return 0
    m = _BOUNDARY.search(text, pos, min(len(text), pos + _SCAN + 1))
    return m.start() if m else pos


def window(text: str, budget: int, step: int | None = None) -> tuple[int, list[int]]:
    """(start offset, tokens of ``text[start:]``), at most ``budget`` tokens.

    ``step`` (chars) defaults to about half the budget in English text, so the window is
    between half and wholly full; it is halved while the text is so dense (code, CJK) that
    the window would come out under a quarter full.
    """
    step = step or max(_MIN_STEP, 2 * budget)
    while True:
        start, tokens = _window(text, budget, step)
        if start == 0 or len(tokens) >= budget // 4 or step <= _MIN_STEP:
            break
        step //= 2
    return start, tokens[-budget:]


def _window(text: str, budget: int, step: int) -> tuple[int, list[int]]:
    end = len(text)
    start = end
    count = 0
    k = end // step
    while k >= 0:
        a = anchor_at(text, k * step)
        k -= 1
        if a >= start:
            continue
        count += len(encode(text[a:start]))
        if count > budget:
            break
        start = a
        if start == 0:
            break
    if start == end and end > 0:
        start = anchor_at(text, (end // step) * step)  # the last grid cell alone is over budget
    return start, encode(text[start:])
