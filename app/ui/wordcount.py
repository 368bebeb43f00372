"""The word count of a document, kept up to date from each change alone.

Counting a 50 MB novel afresh takes a second; a keystroke must not. The count is kept per
paragraph (QTextBlock): a change reports where it happened and how much text it added
(QTextDocument.contentsChange), the paragraphs it touched are counted again, and the number of
paragraphs before and after tells how many of the old ones they replace. Words never span
paragraphs (a line break is white space), so the total is the sum.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QTextCursor, QTextDocument


def paragraph_words(text: str) -> list[int]:
    """The words of each paragraph of ``text`` (Qt's selectedText: U+2029 between paragraphs), as
    app.bigtext.count_words counts them; without a Python call per paragraph, which a file of
    millions of short lines would make many seconds of."""
    return list(map(len, map(str.split, text.split("\u2029"))))


class WordCounter(QObject):
    changed = Signal(int)  # the new total

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self._doc = document
        self._counts: list[int] = []  # words per paragraph, in document order
        self.total = 0
        self.paragraphs_counted = 0  # paragraphs read so far (tests check that an edit reads few)
        self._update(0, document.characterCount())
        document.contentsChange.connect(self._changed)

    def _changed(self, position: int, _removed: int, added: int) -> None:
        before = self.total
        self._update(position, added)
        if self.total != before:
            self.changed.emit(self.total)

    def _update(self, position: int, added: int) -> None:
        doc = self._doc
        end = doc.characterCount() - 1  # the last place a cursor can be
        first = doc.findBlock(max(0, min(position, end)))
        last = doc.findBlock(max(0, min(position + added, end)))
        # A cursor made for the purpose: one kept in Python can outlive the document, and its
        # destructor then crashes. One copy of the changed paragraphs, separated by U+2029.
        cursor = QTextCursor(doc)
        cursor.setPosition(first.position())
        cursor.setPosition(last.position() + last.length() - 1, QTextCursor.MoveMode.KeepAnchor)
        counts = paragraph_words(cursor.selectedText())
        self.paragraphs_counted += len(counts)
        index = first.blockNumber()
        # The paragraphs after the change are the old ones after it: the rest were replaced.
        replaced = len(counts) - (doc.blockCount() - len(self._counts))
        if replaced < 0 or index + replaced > len(self._counts):
            # Not a change this count has followed (Qt's signals do not do this): count it all.
            self._counts, self.total, index, replaced = [], 0, 0, 0
            cursor.setPosition(0)
            cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
            counts = paragraph_words(cursor.selectedText())
        old = self._counts[index:index + replaced]
        self._counts[index:index + replaced] = counts
        self.total += sum(counts) - sum(old)
