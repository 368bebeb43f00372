"""What pasted or dropped text becomes in the editor: lines too long for Qt to edit at typing
speed broken, as when a file is opened (app.bigtext), and control characters left out."""

from __future__ import annotations

import re

from app.bigtext import LineBreaker
from app.ui.loading import grapheme_start

# Characters QTextDocument takes for the ends of paragraphs (U+FDD0 / U+FDD1 mark its frames):
# in the editor they become line breaks, and so in the saved file; the writer is told.
SEPARATORS = {"\u2029": " (paragraph separator)", "\ufdd0": "", "\ufdd1": ""}
# Control characters (other than tab, line feed, carriage return and form feed) in a text make
# its file read as binary (core.textfile refuses it): pasted ones are left out, and said.
CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f]")


def separators_in(text: str) -> str:
    """The SEPARATORS in ``text``, named and counted ("" when there are none)."""
    return ", ".join(f"U+{ord(c):04X}{name} ({n:,})" for c, name in SEPARATORS.items() if (n := text.count(c)))


def plain_text(text: str, column: int) -> tuple[str, int, int]:
    """``text`` pasted at ``column`` of its line, as it goes in: the text, how many over-long
    lines were broken, how many CONTROLS left out."""
    pasted, controls = CONTROLS.subn("", text)
    breaker = LineBreaker(column=column, cluster_start=grapheme_start)
    return breaker.feed(pasted), breaker.broken, controls
