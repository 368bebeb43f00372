"""The slim bars above and below the text: notices the writer must not miss, and story mode's."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget


class StoryBar(QWidget):
    """A slim bar under the text while the model writes, and after, to retry."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("storyBar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        row = QHBoxLayout(self)
        row.setContentsMargins(16, 4, 16, 4)
        self.label = QLabel("")
        self.stop_button = QPushButton("Stop")
        self.retry_button = QPushButton("Retry")
        self.keep_button = QPushButton("Keep")
        for button in (self.stop_button, self.retry_button, self.keep_button):
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the writer's focus stays in the text
        row.addWidget(self.label, 1)
        row.addWidget(self.retry_button)
        row.addWidget(self.keep_button)
        row.addWidget(self.stop_button)
        self.hide()

    def writing(self, stop_key: str) -> None:
        self.label.setText(f"Writing…   {stop_key} stops" if stop_key else "Writing…")
        self.stop_button.show()
        self.retry_button.hide()
        self.keep_button.hide()
        self.show()

    def written(self, retry_key: str) -> None:
        self.label.setText(f"Not what you wanted? Retry ({retry_key}) writes it again" if retry_key
                           else "Not what you wanted? Retry writes it again")
        self.stop_button.hide()
        self.retry_button.show()
        self.keep_button.show()
        self.show()


class NoticeBar(QWidget):
    """Messages the writer must not miss (a settings file was reset, a model failed): they stay
    above the text until closed, unlike status-bar messages."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("noticeBar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        row = QHBoxLayout(self)
        row.setContentsMargins(16, 6, 8, 6)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton("Dismiss")
        close.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        close.clicked.connect(self.dismiss)
        row.addWidget(self.label, 1)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.messages: list[str] = []
        self._kept: dict[str, str] = {}  # a notice that stays until its cause is gone: key -> text
        self._about_document: set[str] = set()  # notices that go when another text replaces it
        self.hide()

    def add(self, text: str, about_document: bool = False) -> None:
        """Show ``text`` (once, however often it comes); a notice ``about_document`` (how the
        open file was read, say) goes when another text replaces the document."""
        if text not in self.messages:
            self.messages.append(text)
            if about_document:
                self._about_document.add(text)
        self._show()

    def document_replaced(self) -> None:
        self.messages = [m for m in self.messages if m not in self._about_document]
        self._about_document.clear()
        self._show()

    def set_lasting(self, key: str, text: str) -> None:
        """Show ``text`` as the notice ``key`` (in place of the one before), or take it away
        (``text`` empty): for problems that last until they are gone (autosave failing)."""
        old = self._kept.pop(key, None)
        if old in self.messages and old != text:
            self.messages.remove(old)
        if text:
            self._kept[key] = text
            if text not in self.messages:
                self.messages.append(text)
        self._show()

    def _show(self) -> None:
        self.label.setText("\n".join(self.messages))
        self.setVisible(bool(self.messages))

    def dismiss(self) -> None:
        self.messages = []
        self._kept = {}
        self._about_document.clear()
        self.hide()
