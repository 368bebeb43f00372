"""The fields of the window's status bar: model, last suggestion's speed, words, cursor, file format,
and the progress of opening a long file."""

from __future__ import annotations

from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QLabel, QStatusBar

from app.documents import FileFormat


class StatusFields:
    def __init__(self, bar: QStatusBar) -> None:
        bar.setSizeGripEnabled(False)
        self.model_label = QLabel("No model")
        self.model_label.setObjectName("modelLabel")
        self.speed_label = QLabel("")
        self.speed_label.setObjectName("speedLabel")
        self.speed_label.setToolTip("The last suggestion: time to its first word, and decoding speed")
        self.words_label = QLabel("")
        self.words_label.setObjectName("wordsLabel")
        self.cursor_label = QLabel("")
        self.cursor_label.setObjectName("cursorLabel")
        self.format_label = QLabel("")
        self.format_label.setObjectName("formatLabel")
        # (a label, not a QProgressBar: that repaints the window at once on every new value)
        self.load_label = QLabel("")
        self.load_label.setObjectName("loadLabel")
        bar.addPermanentWidget(self.load_label)
        self.load_label.hide()
        for index, label in enumerate((self.model_label, self.speed_label, self.words_label,
                                       self.cursor_label, self.format_label)):
            if index:
                dot = QLabel("·")
                dot.setObjectName("statusSeparator")
                bar.addPermanentWidget(dot)
                if label is self.speed_label:
                    self._speed_dot = dot
            label.setContentsMargins(6, 0, 6, 0)
            bar.addPermanentWidget(label)
        self.show_speed("")

    def show_model(self, text: str, detail: str) -> None:
        self.model_label.setText(text)
        self.model_label.setToolTip(detail)

    def show_speed(self, text: str) -> None:
        self.speed_label.setText(text)
        self.speed_label.setVisible(bool(text))  # (no empty field between two separators)
        self._speed_dot.setVisible(bool(text))

    def show_cursor(self, cursor: QTextCursor) -> None:
        self.cursor_label.setText(f"Ln {cursor.blockNumber() + 1}, Col {cursor.positionInBlock() + 1}")

    def show_words(self, count: int) -> None:
        self.words_label.setText(f"{count:,} word" + ("" if count == 1 else "s"))

    def show_format(self, fmt: FileFormat) -> None:
        self.format_label.setText(fmt.label)
        tip = f"Saved as {fmt.encoding_name} with {fmt.newline_name} line ends"
        if not fmt.certain:
            tip += " (the encoding was a guess)"
        self.format_label.setToolTip(tip)
