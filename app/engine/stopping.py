"""Where a suggestion ends: its length mode, stop strings, and which text is safe to stream.

Length modes, on the generated text (leading whitespace never ends anything):
  tokens    only ``max_new_tokens`` (and end-of-text, stop strings) end it
  word      ends before the first whitespace that follows a non-space character
  line      ends before the first newline that follows a non-space character
  sentence  ends after . ! ? or an ellipsis (with closing quotes or brackets) once whitespace
            follows (not after "Mr.", "e.g." and the like), or before a newline, as in ``line``
Stop strings end the text before the first occurrence of any of them. Streaming never shows
text that a later token could take back: a tail that may be the start of a stop string is
held until it is decided.

The model writes canonical text (straight quotes, "—"); ``SuggestionText`` turns it into the
document's style (core.typography.Styler) as it arrives, before any of the above: the length
modes and stop strings see the text as it will be shown, and every streamed piece is already
styled, so the pieces joined are always the final text.
"""

from __future__ import annotations

import re

from core.tokenizer import StreamDecoder
from core.typography import Style, Styler

_WORD_END = re.compile(r"(?<=\S)\s")
_LINE_END = re.compile(r"(?<=\S)[^\S\n]*\n")
_SENTENCE_END = re.compile(r"(?:[.!?]+|\u2026)[\"'\u2019\u201d)\]]*(?=\s)")
_ABBREVIATION = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Messrs|Dr|St|Jr|Sr|Prof|Rev|Col|Capt|Gen|Lt|Sgt|vs|etc|viz|cf|No|Vol|pp|ch)"
    r"|\b[A-Za-z]\.[A-Za-z]|\b[A-HJ-Z])\.$"
)


def find_end(text: str, length: str, stop_strings: tuple[str, ...] = ()) -> int | None:
    """Index where the suggestion ``text`` ends, or None while it goes on."""
    ends = [i for s in stop_strings if (i := text.find(s)) >= 0]
    if length == "word" and (m := _WORD_END.search(text)):
        ends.append(m.start())
    if length in ("line", "sentence") and (m := _LINE_END.search(text)):
        ends.append(m.start())
    if length == "sentence":
        for m in _SENTENCE_END.finditer(text):
            if not _ABBREVIATION.search(text, 0, m.end()):
                ends.append(m.end())
                break
    return min(ends) if ends else None


def _held_back(text: str, stop_strings: tuple[str, ...]) -> int:
    """Length of the longest tail of ``text`` that could grow into a stop string."""
    held = 0
    for s in stop_strings:
        for n in range(min(len(s) - 1, len(text)), held, -1):
            if text.endswith(s[:n]):
                held = n
                break
    return held


class SuggestionText:
    """The text of one alternative as tokens arrive: UTF-8 safe, cut where it ends.

    ``skip`` is the start of the first token that is already in the document (token healing
    backed it off): it is dropped, so the text is what to insert at the cursor. With ``style``,
    the text is written in it, ``before`` being the document's text before the cursor (the
    first quote's opening or closing form depends on it).
    """

    def __init__(self, length: str, stop_strings: tuple[str, ...] = (), skip: bytes = b"",
                 style: Style | None = None, before: str = ""):
        self.length = length
        self.stop_strings = stop_strings
        self._skip = len(skip)
        self._decoder = StreamDecoder()
        self._styler = Styler(style, before) if style is not None else None
        self._text = ""
        self._shown = 0
        self.end: int | None = None

    @property
    def done(self) -> bool:
        return self.end is not None

    @property
    def text(self) -> str:
        return self._text if self.end is None else self._text[: self.end]

    def push(self, data: bytes) -> str:
        """Add one token's bytes; return the text that has become safe to show."""
        if self._skip:
            cut = min(self._skip, len(data))
            data, self._skip = data[cut:], self._skip - cut
        text = self._decoder.push_bytes(data)
        self._text += self._styler.push(text) if self._styler else text
        return self._advance(final=False)

    def finish(self) -> str:
        """No more tokens: whatever was held back is decided now."""
        if self.end is None:
            text = self._decoder.flush()
            self._text += self._styler.push(text) + self._styler.finish() if self._styler else text
        return self._advance(final=True)

    def _advance(self, final: bool) -> str:
        if self.end is None:
            self.end = find_end(self._text, self.length, self.stop_strings)
        if self.end is not None:
            safe = self.end
        elif final:
            safe = len(self._text)
        else:
            safe = len(self._text) - _held_back(self._text, self.stop_strings)
        piece = self._text[self._shown : safe]
        self._shown = max(self._shown, safe)
        return piece
