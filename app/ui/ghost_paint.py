"""Painting the ghost text: app.ghost.GhostState's text laid out in the editor's document at its
anchor, through the block's pre-edit area (see app.ui.editor), in the ghost colour, fainter where
the model was unsure; and taken out again from whichever block holds it after an edit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QColor, QTextBlock, QTextCharFormat, QTextCursor, QTextLayout

from app.ghost import opacity

if TYPE_CHECKING:
    from app.ui.editor import GhostEditor


class GhostPainter:
    """Paints ``editor.ghost`` into ``editor``'s layout; ``editor.ghost_changed`` says what shows."""

    def __init__(self, editor: GhostEditor) -> None:
        self.editor = editor
        self.color = QColor("#9a9a9a")
        self.confidence_shading = True
        self._formats: dict[float, QTextCharFormat] = {}  # alpha -> the ghost colour at it
        self._painted: QTextCursor | None = None  # where the painted text is (it follows edits)

    def set_color(self, color: QColor) -> None:
        self.color = QColor(color)
        self._formats = {}

    def paint(self) -> None:
        """Show the state's text at its anchor (or nothing, when it has none)."""
        editor, ghost = self.editor, self.editor.ghost
        cleared = self.remove(restyle=False)
        text, anchor = ghost.text, ghost.anchor
        block = editor.document().findBlock(anchor) if text and anchor is not None else None
        for old in cleared:  # (each piece of a stream repaints the same paragraph: styled once, below)
            if block is None or old != block:
                self._restyle(old)
        if block is not None and anchor is not None:
            layout = block.layout()
            start = anchor - block.position()
            # A suggestion of several lines is laid out as it would be written: its first line
            # at the cursor, the others below it, and the rest of the cursor's line after its
            # last line (as code editors show them). The pre-edit area is one paragraph's text,
            # so its breaks are line separators (U+2028), which Qt's layout breaks at; one
            # character for one, so positions in the shown text are positions in the suggestion.
            shown = text.replace("\n", "\u2028")
            layout.setPreeditArea(start, shown)
            layout.setFormats(self._ranges(start, shown))
            editor.document().markContentsDirty(block.position(), block.length())
            self._painted = QTextCursor(editor.document())
            self._painted.setPosition(anchor)
            self._restyle(block)
        editor.ghost_changed.emit(bool(text))

    def _ranges(self, start: int, shown: str) -> list[QTextLayout.FormatRange]:
        """The ghost colour over the shown text; with confidence shading, fainter where the model
        was less sure (neighbouring pieces of the same shade share one range)."""
        shades = [(0, len(shown), 1.0)]
        if self.confidence_shading:
            shades = [(s, n, opacity(p)) for s, n, p in self.editor.ghost.shades] or shades
        if any(ord(c) > 0xFFFF for c in shown):
            # Qt counts UTF-16 code units: a character beyond the BMP (an emoji) is two of them.
            units = [0]
            for c in shown:
                units.append(units[-1] + (2 if ord(c) > 0xFFFF else 1))
            shades = [(units[s], units[s + n] - units[s], a) for s, n, a in shades]
        merged: list[list] = []  # [offset, count, alpha]
        for offset, count, alpha in shades:
            if merged and merged[-1][2] == alpha and merged[-1][0] + merged[-1][1] == offset:
                merged[-1][1] += count
            else:
                merged.append([offset, count, alpha])
        ranges: list[QTextLayout.FormatRange] = []
        for offset, count, alpha in merged:
            style = QTextLayout.FormatRange()
            style.start, style.length, style.format = start + offset, count, self._format(alpha)
            ranges.append(style)
        return ranges

    def _format(self, alpha: float) -> QTextCharFormat:
        """The ghost colour at ``alpha``; made once per shade (a piece streams in every few ms)."""
        fmt = self._formats.get(alpha)
        if fmt is None:
            color = QColor(self.color)
            color.setAlphaF(alpha)
            fmt = self._formats[alpha] = QTextCharFormat()
            fmt.setForeground(color)
        return fmt

    def _restyle(self, block: QTextBlock) -> None:
        """The highlighter's formats of ``block`` again, around the ghost (which keeps its own);
        not for the paragraphs of an edit being reported, which Qt highlights right after."""
        highlighter, changing = self.editor.highlighter, self.editor.changing
        if highlighter is None:
            return
        if changing is not None and block.position() <= changing[1] and changing[0] <= block.position() + block.length():
            return
        highlighter.restyle(block)

    def remove(self, span: tuple[int, int] | None = None, restyle: bool = True) -> list[QTextBlock]:
        """Take the painted text out of the layout of whichever block holds it now (``span``: the
        positions of an edit, whose blocks may hold it too); the blocks it was in."""
        if self._painted is None:
            return []
        cleared = []
        doc = self.editor.document()
        painted = self._painted.position()
        low, high = (painted, painted) if span is None else (min(span[0], painted), max(span[1], painted))
        self._painted = None
        block = doc.findBlock(max(0, min(low, doc.characterCount() - 1)))
        last = doc.findBlock(max(0, min(high, doc.characterCount() - 1)))
        while block.isValid():
            layout = block.layout()
            if layout.preeditAreaText():
                layout.setPreeditArea(-1, "")
                layout.clearFormats()
                doc.markContentsDirty(block.position(), block.length())
                cleared.append(block)
                if restyle:
                    self._restyle(block)
            if block == last:
                break
            block = block.next()
        return cleared
