"""The document's one syntax highlighter: Markdown's shape in .md files and misspelled words.

Qt calls ``highlightBlock`` only for the paragraphs an edit touched (and those after, while the
fenced-code state changes), so typing costs the same in a long document as in a short one; the
speller caches every word it has looked up. Work over the whole text (a new dictionary, a word
added to it, Markdown turned on, a document loaded or replaced in one go) is never done in one
call: ``recheck`` goes through the paragraphs a few milliseconds per turn of the event loop,
those on screen first.

The suggestion shown at the cursor lives in the paragraph's pre-edit area, which Qt keeps out of
the highlighter's text: it is never underlined. The word that ends where it begins is the word
being typed, and is left alone until the writer moves on (Qt would otherwise stretch the
word's underline over the whole suggestion).
"""

from __future__ import annotations

import bisect
import time

from PySide6.QtCore import SIGNAL, SLOT, QObject, QTimer
from PySide6.QtGui import QColor, QFont, QSyntaxHighlighter, QTextBlock, QTextCharFormat, QTextDocument, QTextLayout
from PySide6.QtWidgets import QPlainTextEdit

from app import markdown, spelling
from app.spelling import Speller

TURN_S = 0.004  # recheck's work per turn of the event loop
PASS_GAP_MS = 8  # between two turns of it: room for the keys typed meanwhile, and their repaint
BULK_CHARS = 20_000  # a change adding more is spell-checked by recheck, not at once
IN_FENCE = 1
# QSyntaxHighlighter's own connection to the document: the call of highlightBlock for every
# paragraph of each change (slots of Qt's private part, named in its meta-object).
_CHANGE = SIGNAL("contentsChange(int,int,int)")
_REFORMAT = SLOT("_q_reformatBlocks(int,int,int)")


class TextHighlighter(QSyntaxHighlighter):
    def __init__(self, document: QTextDocument, editor: QPlainTextEdit | None = None) -> None:
        super().__init__(document)
        # Connected before Qt's own highlighting of each change (the highlighter's connection is
        # made by setDocument), so that a change too big to check at once (a long paste) is
        # known before its paragraphs come in: they are checked by recheck instead.
        document.contentsChange.connect(self._before_change)
        self._bulk = False
        self.setDocument(document)
        self._editor = editor
        self.speller: Speller | None = None
        self.markdown = False
        self._paused = False
        self._misspelled = QTextCharFormat()
        self._misspelled.setUnderlineStyle(QTextCharFormat.UnderlineStyle.SpellCheckUnderline)
        self._misspelled.setUnderlineColor(QColor("#d0312d"))
        self._next = -1  # the number of the paragraph where the running recheck goes on
        self._word = ""  # recheck only the paragraphs holding this word ("" = all)
        self._timer = QTimer(self, interval=PASS_GAP_MS)
        self._timer.timeout.connect(self._recheck_some)
        self._formats: dict[str, QTextCharFormat] = {}
        self.set_colors(QColor("#8a8a8a"), QColor("#f3efe4"))

    # settings ------------------------------------------------------------------------------------

    def set_colors(self, muted: QColor, code_background: QColor) -> None:
        heading = QTextCharFormat()
        heading.setFontWeight(QFont.Weight.Bold)
        strong = QTextCharFormat()
        strong.setFontWeight(QFont.Weight.Bold)
        emphasis = QTextCharFormat()
        emphasis.setFontItalic(True)
        code = QTextCharFormat()
        code.setFontFixedPitch(True)
        code.setFontFamilies(["monospace"])
        code.setBackground(code_background)
        marker = QTextCharFormat()
        marker.setForeground(muted)
        quote = QTextCharFormat()
        quote.setFontItalic(True)
        self._formats = {markdown.HEADING: heading, markdown.STRONG: strong, markdown.EMPHASIS: emphasis,
                         markdown.CODE: code, markdown.MARKER: marker, markdown.QUOTE: quote}
        self.recheck()

    def set_speller(self, speller: Speller | None) -> None:
        self.speller = speller
        self.recheck()

    def set_markdown(self, on: bool) -> None:
        if on != self.markdown:
            self.markdown = on
            self.recheck()

    @property
    def paused(self) -> bool:
        """Whether Qt's highlighting of each change is off: while a text goes in (a file of 3
        million empty lines is 3 million calls of highlightBlock) or a Replace all runs;
        recheck() highlights the whole text afterwards, a slice at a time."""
        return self._paused

    @paused.setter
    def paused(self, paused: bool) -> None:
        document = self.document()
        if paused == self._paused or document is None:
            return
        if paused:
            # (should Qt ever rename its slot, nothing is disconnected: slower, still right)
            QObject.disconnect(document, _CHANGE, self, _REFORMAT)
        else:
            QObject.connect(document, _CHANGE, self, _REFORMAT)
        self._paused = paused

    # highlighting --------------------------------------------------------------------------------

    def highlightBlock(self, text: str) -> None:
        """Qt's call, for the paragraphs an edit touched."""
        if (self._paused or self._bulk) and not self.markdown:
            return  # a text going in: the least Python per paragraph
        layout = self.currentBlock().layout()
        typing_at = layout.preeditAreaPosition() if layout is not None and layout.preeditAreaText() else -1
        segments, state = self._segments(text, self.previousBlockState() == IN_FENCE, typing_at)
        for start, end, fmt in segments:
            self.setFormat(start, end - start, fmt)
        # A state that changes makes Qt highlight the next paragraph too: a paragraph never
        # highlighted (-1, as all are after a text went in) is left so unless it is in a fenced
        # block, else an edit would go on through every such paragraph after it.
        if state != max(self.currentBlockState(), 0):
            self.setCurrentBlockState(state)

    def _segments(self, text: str, in_fence: bool, typing_at: int) -> tuple[list[tuple[int, int, QTextCharFormat]], int]:
        """The formats of a paragraph (start, end, format; apart, in order) and its state."""
        painted = _Segments()
        code: list[tuple[int, int]] = []
        units = spelling.utf16_offsets(text)  # Qt's positions, when they are not Python's
        if units is not None and typing_at >= 0:
            typing_at = bisect.bisect_left(units, typing_at)
        if self.markdown:
            spans, in_fence = markdown.line_spans(text, in_fence)
            for start, length, kind in spans:  # outer spans first: a marker in a heading stays bold
                painted.merge(start, start + length, self._formats[kind])
            code = markdown.code_ranges(spans)
        else:
            in_fence = False
        if self.speller is not None and not self._paused and not self._bulk:
            for start, length in self.speller.misspelled(text):
                # The word that ends where the suggestion begins is still being typed.
                if start + length != typing_at and not any(a <= start < b for a, b in code):
                    painted.merge(start, start + length, self._misspelled)
        segments = painted.segments
        if units is not None:
            segments = [(units[start], units[end], fmt) for start, end, fmt in segments]
        return segments, IN_FENCE if in_fence else 0

    def _before_change(self, position: int, removed: int, added: int) -> None:
        if added > BULK_CHARS and not self._paused:
            self._bulk = True
            QTimer.singleShot(0, self._after_bulk)

    def _after_bulk(self) -> None:
        self._bulk = False
        self.recheck()

    # whole-document passes -----------------------------------------------------------------------

    def recheck(self, word: str = "") -> None:
        """Highlight the whole text again, a few milliseconds per turn, the paragraphs on screen
        at once; with ``word``, only the paragraphs that hold it."""
        document = self.document()
        if document is None or document.isEmpty():
            return
        self._word = word if not self._timer.isActive() or self._word == word else ""
        for block in self._visible_blocks():
            self._redo(block, lazy=False)
        self._next = 0
        self._timer.start()

    @property
    def rechecking(self) -> bool:
        return self._timer.isActive() or self._bulk

    def restyle(self, block: QTextBlock, lazy: bool = False) -> bool:
        """Highlight ``block`` again, keeping the suggestion's own formats in its pre-edit area.

        Not through rehighlightBlock: Qt counts new formats as an edit of the document (a new
        revision, and contentsChange as if the paragraph had been replaced by itself), which
        the editor would take for typing, and autosave for a change to save. The formats go
        into the paragraph's layout directly; the layout is told, and repaints."""
        document = self.document()
        if document is None or not block.isValid() or block.document() is not document:
            return False
        previous = block.previous()
        in_fence = previous.isValid() and previous.userState() == IN_FENCE
        if block.length() <= 1:
            # Nothing to format (its layout is not even made): a pass over a file of millions
            # of empty lines stays cheap.
            block.setUserState(IN_FENCE if in_fence and self.markdown else 0)
            return False
        layout = block.layout()
        ghost, at = layout.preeditAreaText(), layout.preeditAreaPosition()
        size = len(ghost.encode("utf-16-le")) // 2  # as the layout counts: an emoji is two
        segments, state = self._segments(block.text(), in_fence, at if ghost else -1)
        ranges = []
        for start, end, fmt in segments:
            if ghost and end > at:  # positions in the layout count the suggestion in
                if start >= at:
                    start, end = start + size, end + size
                else:
                    ranges.append(_range(start, at, fmt))
                    start, end = at + size, end + size
            ranges.append(_range(start, end, fmt))
        if ghost:
            ranges += [r for r in layout.formats() if at <= r.start and r.start + r.length <= at + size]
        block.setUserState(state)
        if not ranges and not layout.formats():
            return False  # nothing to show before or after: most paragraphs of a whole-text pass
        layout.setFormats(ranges)
        if not lazy:
            # The layout must hear of it (lay it out again: a bold heading is wider; repaint).
            # A whole-text pass (``lazy``) tells it once per turn for all it changed: each
            # telling of a paragraph never laid out repaints the whole window.
            document.markContentsDirty(block.position(), block.length())
        return True

    def _redo(self, block: QTextBlock, lazy: bool = True) -> bool:
        if not self._word or self._word in block.text():
            return self.restyle(block, lazy)
        return False

    def _visible_blocks(self) -> list[QTextBlock]:
        editor = self._editor
        if editor is None or editor.document() is not self.document():
            return []
        blocks = []
        block = editor.firstVisibleBlock()
        bottom = editor.viewport().height()
        top = editor.blockBoundingGeometry(block).translated(editor.contentOffset()).top() if block.isValid() else 0
        while block.isValid() and top <= bottom:
            blocks.append(block)
            top += editor.blockBoundingRect(block).height()
            block = block.next()
        return blocks

    def _recheck_some(self) -> None:
        # A number, not a QTextBlock, is kept between turns: the writer may delete the paragraph.
        document = self.document()
        block = document.findBlockByNumber(self._next) if document is not None else QTextBlock()
        deadline = time.perf_counter() + TURN_S
        changed: tuple[int, int] | None = None  # the span of paragraphs given new formats
        while block.isValid():
            if self._redo(block):
                end = block.position() + block.length()
                changed = (changed[0], end) if changed else (block.position(), end)
            block = block.next()
            if time.perf_counter() > deadline:
                break
        if changed is not None:
            # (QTextLayout.setFormats has noted the change already; this hands it to the layout)
            document.markContentsDirty(changed[0], changed[1] - changed[0])
        if block.isValid():
            self._next = block.blockNumber()
        else:
            self._next = -1
            self._word = ""
            self._timer.stop()


def _range(start: int, end: int, fmt: QTextCharFormat) -> QTextLayout.FormatRange:
    piece = QTextLayout.FormatRange()
    piece.start, piece.length, piece.format = start, end - start, fmt
    return piece


class _Segments:
    """A paragraph's formats as (start, end, format) pieces apart from each other, in order;
    ``merge`` lays a format over a stretch, merged into what lies under its first character
    (as QSyntaxHighlighter's format() and setFormat() do, without a call per character)."""

    def __init__(self) -> None:
        self.segments: list[tuple[int, int, QTextCharFormat]] = []

    def merge(self, start: int, end: int, fmt: QTextCharFormat) -> None:
        if end <= start:
            return
        under = next((f for a, b, f in self.segments if a <= start < b), None)
        merged = QTextCharFormat(under) if under is not None else QTextCharFormat()
        merged.merge(fmt)
        kept = []
        for a, b, f in self.segments:
            if b <= start or a >= end:
                kept.append((a, b, f))
                continue
            if a < start:
                kept.append((a, start, f))
            if b > end:
                kept.append((end, b, f))
        kept.append((start, end, merged))
        kept.sort(key=lambda segment: segment[0])
        self.segments = kept
