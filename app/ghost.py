"""The suggestion shown at the cursor ("ghost text") as plain data: no Qt, no document.

A suggestion sits at one place in the document (its ``Anchor``, which the editor makes: a text
cursor, so that it follows every edit by itself). Its alternatives stream in, each under the
engine's row number, and the writer can type through it, accept it whole or word by word, cycle
through the alternatives or dismiss it. ``GhostState`` holds the one suggestion there is and says
after each event what became of it; the editor only paints ``GhostState.text`` at
``GhostState.anchor`` and tells the state what the writer did. Which request feeds it is not its
business: the one who asked (app.ui.suggestions) passes on only the pieces still wanted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from app.engine.trust import WORD_OR_MARK

# Confidence shading: text the model gave at least SURE is shown in the full ghost colour, text
# at UNSURE or below at FAINTEST of it, in between in a few steps (by the logarithm of the
# probability: 0.05 is as far from 0.5 as 0.005 from 0.05).
SURE, UNSURE, FAINTEST, SHADES = 0.5, 0.02, 0.45, 4


def opacity(probability: float) -> float:
    """How strongly text the model gave ``probability`` is painted (1: the ghost colour)."""
    if probability >= SURE:
        return 1.0
    if probability <= UNSURE:
        return FAINTEST
    level = math.floor(math.log(probability / UNSURE) / math.log(SURE / UNSURE) * SHADES) / SHADES
    return FAINTEST + (1 - FAINTEST) * level


class Anchor(Protocol):
    """A place in the document that moves with its edits by itself (the editor's QTextCursor):
    text inserted at it, typed or accepted, leaves it after that text."""

    def position(self) -> int: ...


@dataclass
class Ghost:
    """A suggestion at ``anchor``, as its alternatives stream in.

    Each alternative is kept under the engine's row number (the worker's ``alternative`` index)
    with all the text that row has sent, and what the writer has since typed through or
    accepted of the suggestion is kept once, in ``taken``. What is shown of a row is its text
    after ``taken``; rows that disagree with ``taken`` are dropped. Filtering therefore never
    renumbers anything, and a piece that arrives after the writer typed into the ghost still
    lands on its own alternative.
    """

    anchor: Anchor
    streamed: dict[int, str] = field(default_factory=dict)  # engine row -> all the text it sent
    taken: str = ""  # the start of the suggestion the writer has typed or accepted
    dropped: set[int] = field(default_factory=set)  # rows that disagree with ``taken``
    row: int = 0  # the row shown
    finished: bool = False
    # engine row -> (end, probability) of each streamed piece: where in ``streamed`` the piece
    # ends, and the probability the model gave it
    confidence: dict[int, list[tuple[int, float]]] = field(default_factory=dict)

    def rest(self, row: int) -> str:
        text = self.streamed.get(row, "")
        return text[len(self.taken):] if row not in self.dropped and text.startswith(self.taken) else ""

    def add(self, row: int, piece: str, probability: float = 1.0) -> None:
        if row in self.dropped:
            return
        self.streamed[row] = self.streamed.get(row, "") + piece
        self.confidence.setdefault(row, []).append((len(self.streamed[row]), probability))
        self._check(row)

    def shades(self, row: int) -> list[tuple[int, int, float]]:
        """(start, length, probability) of the pieces of what is shown of ``row``, in positions
        of that shown text (the typed-through start left out)."""
        if not self.rest(row):
            return []
        skip, start, spans = len(self.taken), 0, []
        for end, probability in self.confidence.get(row, []):
            low, start = max(start, skip), end
            if end > low:
                spans.append((low - skip, end - low, probability))
        return spans

    def take(self, text: str) -> None:
        """The writer typed or accepted ``text``, the start of what is shown (the anchor has
        moved past it by itself)."""
        self.taken += text
        for row in list(self.streamed):
            self._check(row)

    def finish(self, kept: set[int] | None = None) -> None:
        """No more pieces; ``kept``: the rows the engine's result holds (it leaves out
        alternatives that start with the same word as an earlier one)."""
        self.finished = True
        for row in list(self.streamed):
            if kept is not None and row not in kept:
                self.dropped.add(row)
            self._check(row)

    def _check(self, row: int) -> None:
        text = self.streamed[row]
        # A row still streaming may not yet have reached what was typed: it agrees so far.
        if not (text.startswith(self.taken) or (not self.finished and self.taken.startswith(text))):
            self.dropped.add(row)

    def rows(self) -> list[int]:
        """The rows worth showing, in engine order: agreeing, with text left (once finished, more
        than blanks), each text once."""
        seen: set[str] = set()
        rows = []
        for row in sorted(self.streamed):
            rest = self.rest(row)
            if rest and rest not in seen and (rest.strip() or not self.finished):
                seen.add(rest)
                rows.append(row)
        return rows

    def settle(self) -> bool:
        """Show a row that is still worth showing (the shown one, or else the first); False when
        none is."""
        rows = self.rows()
        if self.row in rows:
            return True
        same = [r for r in rows if self.rest(r) == self.rest(self.row)] if self.rest(self.row) else []
        if same or rows:
            self.row = (same or rows)[0]
            return True
        return False

    @property
    def text(self) -> str:
        return self.rest(self.row)

    @property
    def alternatives(self) -> list[str]:
        return [self.rest(row) for row in self.rows()]

    @property
    def text_shades(self) -> list[tuple[int, int, float]]:
        """``shades`` of the shown text."""
        return self.shades(self.row)

    @property
    def index(self) -> int:
        rows = self.rows()
        return rows.index(self.row) if self.row in rows else 0


class Outcome(Enum):
    """What an edit did to the suggestion."""

    NONE = "none"  # there was no suggestion
    KEPT = "kept"  # typed through: the rest is still shown
    USED_UP = "used up"  # typed or accepted to its end: nothing left, nothing to cancel
    DROPPED = "dropped"  # the writer went elsewhere: the suggestion is no longer wanted


class GhostState:
    """The one suggestion there is, or none; each method says what became of it."""

    def __init__(self) -> None:
        self.ghost: Ghost | None = None

    # reading ---------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """A suggestion is expected or shown (its request may still be streaming)."""
        return self.ghost is not None

    @property
    def anchor(self) -> int | None:
        return self.ghost.anchor.position() if self.ghost else None

    @property
    def text(self) -> str:
        return self.ghost.text if self.ghost else ""

    @property
    def alternatives(self) -> list[str]:
        return list(self.ghost.alternatives) if self.ghost else []

    @property
    def shades(self) -> list[tuple[int, int, float]]:
        """(start, length, probability) spans of ``text``: how sure the model was of each part."""
        return self.ghost.text_shades if self.ghost else []

    @property
    def index(self) -> int:
        return self.ghost.index if self.ghost else 0

    # the request's stream --------------------------------------------------------------------

    def expect(self, anchor: Anchor) -> None:
        """A suggestion for ``anchor`` has been asked for; pieces will follow (any earlier
        suggestion is gone)."""
        self.ghost = Ghost(anchor)

    def add(self, row: int, piece: str, probability: float = 1.0) -> bool:
        """``piece`` of the engine's row ``row``, which the model gave ``probability``; True when
        the shown text changed."""
        ghost = self.ghost
        if ghost is None:
            return False  # the suggestion was dropped while its piece was on its way
        ghost.add(row, piece, probability)
        return row == ghost.row

    def finish(self, rows: set[int] | None = None) -> Outcome:
        """The request ended; ``rows``: the engine rows its result kept (None: keep all).
        KEPT, DROPPED (nothing worth showing is left) or NONE (there is no suggestion)."""
        ghost = self.ghost
        if ghost is None:
            return Outcome.NONE
        # Alternatives that came out empty, or the same as another, are no use to cycle through.
        ghost.finish(rows)
        if not ghost.settle():
            self.ghost = None
            return Outcome.DROPPED
        return Outcome.KEPT

    def clear(self) -> bool:
        """Forget the suggestion; True when there was one."""
        had, self.ghost = self.ghost is not None, None
        return had

    # what the writer does --------------------------------------------------------------------

    def may_type_into(self, position: int, removed: int, added: int) -> bool:
        """Whether an edit at ``position``, just made, could be typing into the shown text (then
        the editor reads the added text and calls ``typed``): an insertion at the anchor, which
        has moved past the ``added`` text by itself."""
        ghost = self.ghost
        return ghost is not None and not removed and added > 0 and position + added == ghost.anchor.position() \
            and bool(ghost.text)

    def typed(self, text: str) -> Outcome:
        """The writer typed ``text`` at the anchor: KEPT or USED_UP when it is the start of what
        is shown, else DROPPED."""
        ghost = self.ghost
        if ghost is None:
            return Outcome.NONE
        if not text or not ghost.text.startswith(text):
            self.ghost = None
            return Outcome.DROPPED
        return self._take(ghost, text)

    def _take(self, ghost: Ghost, text: str) -> Outcome:
        ghost.take(text)
        if ghost.text or (ghost.settle() and ghost.text):
            return Outcome.KEPT
        self.ghost = None
        return Outcome.USED_UP

    def moved(self, position: int, selection: bool) -> bool:
        """The cursor moved; True when that dropped the suggestion (it left the anchor)."""
        if self.ghost is None or (not selection and position == self.ghost.anchor.position()):
            return False
        self.ghost = None
        return True

    def accept(self) -> str:
        """The text to insert for accepting the whole suggestion ("" when none is shown)."""
        text = self.text
        if text:
            self.ghost = None
        return text

    def next_word(self) -> str:
        """The shown text's next word or mark, with the blanks before it ("" when none is shown)."""
        match = WORD_OR_MARK.match(self.text)
        return match.group(0) if match else ""

    def accept_word(self, word: str) -> Outcome:
        """``word`` (``next_word``) was inserted at the anchor: the alternatives that begin with
        it stay (KEPT), their streams go on; USED_UP when nothing is left."""
        if self.ghost is None:
            return Outcome.NONE
        return self._take(self.ghost, word)

    def cycle(self, step: int) -> bool:
        """Show the next (+1) or previous (-1) alternative; False when there is none to go to."""
        ghost = self.ghost
        rows = ghost.rows() if ghost else []
        if ghost is None or len(rows) < 2:
            return False
        ghost.row = rows[(ghost.index + step) % len(rows)] if ghost.row in rows else rows[0]
        return True

    def choose(self, index: int) -> bool:
        """Show alternative ``index`` (of ``alternatives``)."""
        ghost = self.ghost
        rows = ghost.rows() if ghost else []
        if ghost is not None and 0 <= index < len(rows):
            ghost.row = rows[index]
            return True
        return False
