"""Long documents and long lines: the limits that keep the editor responsive, and the text helpers
behind them (free of Qt).

Qt lays a paragraph (one line of a plain-text file) out as a whole after every edit in it, and
its line breaking is worse than linear in text without spaces: a 5 MB line cost seconds per
keystroke, and a 1,000,000-character line without a space did not open within minutes. So every
line longer than ``LONG_LINE`` characters is broken where text enters the editor as a whole
(opening a file, recovering a snapshot, pasting, dropping): after the last space or tab that
keeps it within the limit, or, where the limit's second half has none, hard at the limit; never
inside a character as the writer sees it (a grapheme cluster: a letter and its accents, a flag, an
emoji sequence), which the window's layer finds with Qt (app.ui.loading.grapheme_start). Only
line breaks are added; the window says so, and saving writes them. A typed line can still grow
longer: that costs about 16 ms per keystroke at 100,000 characters, nothing like a pasted 5 MB.

``SLICE`` is how much text the helpers that work between turns of the event loop take at once:
a few milliseconds of work, however large the document.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

LONG_LINE = 10_000  # characters; a keystroke in a line this long costs Qt about 4 ms
SLICE = 1 << 16  # characters


# Where the character as the writer sees it that holds text[index] begins (``text`` goes on at
# least one character past ``index``); 0 when it begins before ``text``.
ClusterStart = Callable[[str, int], int]


def after_accents(text: str, index: int) -> int:
    """A ClusterStart for use without Qt: only combining accents are kept with their letter."""
    while index > 0 and unicodedata.combining(text[index]):
        index -= 1
    return index


def count_words(text: str) -> int:
    """Words as the status bar counts them: runs of anything but white space (Unicode's)."""
    return len(text.split())


class LineBreaker:
    """Breaks lines longer than ``limit`` in a text that may arrive in pieces (a line may span
    them; each piece ends between two grapheme clusters); ``broken`` counts the lines that were
    broken, each once."""

    def __init__(self, limit: int = LONG_LINE, column: int = 0, cluster_start: ClusterStart = after_accents) -> None:
        self.limit = limit
        self.cluster_start = cluster_start
        self.column = column  # length of the unfinished line at the end of the text so far
        self.broken = 0
        self._breaking = False  # the unfinished line has been broken (and counted) already

    def feed(self, text: str) -> str:
        lines = text.split("\n")
        if self.column + len(lines[0]) > self.limit or max(map(len, lines)) > self.limit:
            for i, line in enumerate(lines):
                if i:
                    self._breaking = False  # a new line
                column = self.column if i == 0 else 0
                if column + len(line) > self.limit:
                    if not self._breaking:
                        self.broken += 1
                        self._breaking = True
                    lines[i] = self._break(line, column)
            text = "\n".join(lines)
        elif len(lines) > 1:
            self._breaking = False
        # the unfinished line at the end: its part after the last break, if any
        tail = lines[-1].rpartition("\n")[2]
        if len(lines) == 1 and "\n" not in lines[0]:
            self.column += len(tail)
        else:
            self.column = len(tail)
        return text

    def _break(self, line: str, column: int) -> str:
        parts = []
        while column + len(line) > self.limit:
            room = self.limit - column
            if room <= 0:  # the line's earlier piece filled it to the limit
                parts.append("")
                column = 0
                continue
            # after a space or tab, so that words stay whole
            cut = max(line.rfind(" ", 0, room), line.rfind("\t", 0, room)) + 1
            if cut <= room // 2:
                cut = room  # no space in the second half: hard at the limit
            # (a cluster longer than the room, all accents, is cut: there is no other place)
            cut = self.cluster_start(line[:cut + 1], cut) or cut
            parts.append(line[:cut])
            line = line[cut:]
            column = 0
        parts.append(line)
        return "\n".join(parts)


def break_long_lines(text: str, limit: int = LONG_LINE, column: int = 0,
                     cluster_start: ClusterStart = after_accents) -> tuple[str, int]:
    """``text`` with its lines longer than ``limit`` broken, and how many were; ``column``: the
    length of the line ``text`` continues. Works through ``text`` a slice at a time, so that a
    thread doing it for a 50 MB file holds the interpreter only briefly at once."""
    breaker = LineBreaker(limit, column, cluster_start)
    if len(text) <= SLICE:
        return breaker.feed(text), breaker.broken
    pieces = []
    start = 0
    while start < len(text):
        end = min(start + SLICE, len(text))
        if end < len(text):  # a piece ends between clusters, as a break would: each is seen whole
            end = start + (cluster_start(text[start:end + 1], end - start) or end - start)
        pieces.append(breaker.feed(text[start:end]))
        start = end
    return (text if not breaker.broken else "".join(pieces)), breaker.broken
