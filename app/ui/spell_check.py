"""Spell checking as you type: the dictionary loaded in the background, misspelled words
underlined by the document's highlighter, suggestions and "Add to dictionary" in the editor's
context menu.

The dictionary of the language chosen in the settings (``spell_language``; none chosen: the
system's, English (UK) or (US) as its country spells) is read on a worker thread (a second or
so); until it is there nothing is underlined. ``spell_check`` turns it off.
"""

from __future__ import annotations

import contextlib
import threading

from PySide6.QtCore import QLocale, QObject, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QMenu

from app import spelling
from app.settings import Settings
from app.ui.editor import GhostEditor
from app.ui.highlighter import TextHighlighter

MAX_SUGGESTIONS = 6


def system_language() -> str:
    """The dictionary for the system's language and country (QLocale() follows the system, or
    what a program set as its default)."""
    return spelling.language_for_locale(QLocale().name())


class SpellCheck(QObject):
    """Keeps the highlighter's speller in step with the settings and adds to the context menu."""

    loaded = Signal(str)  # the language whose dictionary is now in use
    problem = Signal(str)  # a sentence for the writer: why spelling is off, or a word not kept
    _arrived = Signal(int, object)  # ticket, Speller or the message of what failed

    def __init__(self, settings: Settings, editor: GhostEditor, highlighter: TextHighlighter,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.editor = editor
        self.highlighter = highlighter
        self.speller: spelling.Speller | None = None
        self._ticket = 0
        self._arrived.connect(self._take)
        editor.context_menu_hooks.append(self.add_to_menu)

    def apply(self) -> None:
        """Follow ``spell_check`` and ``spell_language``: load the dictionary, or turn off."""
        self._ticket += 1
        if not self.settings["spell_check"]:
            self.speller = None
            self.highlighter.set_speller(None)
            return
        language = self.language
        if self.speller is not None and self.speller.language == language:
            self.highlighter.set_speller(self.speller)
            return
        missing = spelling.missing_library()
        if missing:
            self.problem.emit(missing)
            return
        self.speller = None
        self.highlighter.set_speller(None)
        ticket = self._ticket
        threading.Thread(target=self._load, args=(ticket, language), name="dictionary", daemon=True).start()

    @property
    def language(self) -> str:
        """The dictionary in use: the one chosen, else the system's."""
        return self.settings["spell_language"] or system_language()

    def _load(self, ticket: int, language: str) -> None:
        try:
            result: object = spelling.Speller(language)
        except Exception as exc:  # noqa: BLE001 - any failure is shown, and spelling stays off
            name = spelling.LANGUAGES.get(language, language)
            result = f"Spell checking is off: the {name} dictionary could not be read ({exc})."
        with contextlib.suppress(RuntimeError):  # the window closed meanwhile
            self._arrived.emit(ticket, result)

    def _take(self, ticket: int, result: object) -> None:
        if ticket != self._ticket:
            return  # the language changed meanwhile, or spelling was turned off
        if not isinstance(result, spelling.Speller):
            self.problem.emit(str(result))
            return
        self.speller = result
        self.highlighter.set_speller(result)
        if result.problem:
            self.problem.emit(result.problem)
        self.loaded.emit(result.language)

    # the context menu ----------------------------------------------------------------------------

    def word_at(self, cursor: QTextCursor) -> tuple[int, int, str] | None:
        """The (start, end, word) under ``cursor`` when it is misspelled."""
        if self.speller is None:
            return None
        block = cursor.block()
        text = block.text()
        units = spelling.utf16_offsets(text)  # the cursor counts as Qt does: an emoji is two

        def qt(index: int) -> int:
            return units[index] if units is not None else index

        column = cursor.positionInBlock()
        for match in spelling.WORD.finditer(text):
            if qt(match.start()) <= column <= qt(match.end()):
                if self.speller.known(match.group()):
                    return None
                return block.position() + qt(match.start()), block.position() + qt(match.end()), match.group()
        return None

    def add_to_menu(self, menu: QMenu, cursor: QTextCursor) -> None:
        found = self.word_at(cursor)
        if found is None or self.editor.isReadOnly():
            return
        start, end, word = found
        first = menu.actions()[0] if menu.actions() else None
        assert self.speller is not None  # (word_at found a word)
        suggestions = self.speller.suggestions(word, MAX_SUGGESTIONS)
        entries = []
        for suggestion in suggestions:
            action = menu.addAction(suggestion)
            action.setObjectName("spellingSuggestion")
            action.triggered.connect(lambda _=False, s=suggestion: self.replace(start, end, s))
            entries.append(action)
        if not suggestions:
            none = menu.addAction("No suggestions")
            none.setEnabled(False)
            entries.append(none)
        add = menu.addAction(f"Add “{word}” to dictionary")
        add.setObjectName("addToDictionary")
        add.triggered.connect(lambda _=False: self.add_word(word))
        entries.append(add)
        entries.append(menu.addSeparator())
        for action in entries:  # above the standard entries, where the eye starts
            menu.removeAction(action)
            if first is not None:
                menu.insertAction(first, action)
            else:
                menu.addAction(action)

    def replace(self, start: int, end: int, text: str) -> None:
        """Put ``text`` in place of the document's ``start``..``end``: one undo step."""
        cursor = QTextCursor(self.editor.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        cursor.beginEditBlock()
        cursor.insertText(text)
        cursor.endEditBlock()
        self.editor.setTextCursor(cursor)

    def add_word(self, word: str) -> None:
        if self.speller is None:
            return
        note = self.speller.add(word)
        if note:
            self.problem.emit(note)
        self.highlighter.recheck(word)
