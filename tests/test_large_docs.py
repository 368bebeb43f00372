"""Long documents and long lines: nothing a keystroke does reads the whole document, big files
open in the background with progress, autosave copies in steps, over-long lines are broken.

The sizes here are small (the slices and thresholds are made small to match); the timings are
in bench/bench_large_docs.py, not here.
"""

from __future__ import annotations

import json
import random
import re
import threading

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication, QPlainTextEdit

from app import bigtext
from app.bigtext import LONG_LINE, LineBreaker, break_long_lines, count_words
from app.recovery import SnapshotSlot, autosave_dir
from app.settings import Settings
from app.ui import autosave as autosave_module
from app.ui import loading
from app.ui.autosave import TextCollector
from app.ui.main_window import MainWindow
from app.ui.wordcount import WordCounter

PARAGRAPH = ("It was late in the evening when the carriage finally stopped before the house, and the "
             "rain began at last to ease.")


@pytest.fixture
def window(qtbot):
    settings = Settings.load()
    settings.update({"auto_suggest": False})
    win = MainWindow(settings)  # no model is loaded: these tests are about the text alone
    win.show()
    qtbot.waitExposed(win)
    win.editor.setFocus()
    yield win
    win.editor.document().setModified(False)
    win.close()
    win.deleteLater()


@pytest.fixture
def small_slices(monkeypatch):
    """Loading and autosave in many small steps, one per turn of the event loop, as a 50 MB
    document would take them."""
    monkeypatch.setattr(loading, "SMALL_BYTES", 20_000)
    monkeypatch.setattr(loading, "SMALL_CHARS", 20_000)
    monkeypatch.setattr(loading, "SLICE", 4096)
    monkeypatch.setattr(loading, "TURN_S", 0.0)
    monkeypatch.setattr(autosave_module, "PIECE_CHARS", 4096)
    monkeypatch.setattr(autosave_module, "SMALL_CHARS", 20_000)
    monkeypatch.setattr(autosave_module, "TURN_S", 0.0)


def prose(paragraphs: int) -> str:
    return "\n".join(f"{i} {PARAGRAPH}" for i in range(paragraphs))


def words_shown(window) -> int:
    return int(window.status.words_label.text().split()[0].replace(",", ""))


def whole_text(document) -> str:
    cursor = QTextCursor(document)
    cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
    return cursor.selectedText().replace("\u2029", "\n")


def spy_on_whole_text(monkeypatch, window) -> list[str]:
    """Record every call that copies the whole document out of the editor."""
    calls = []
    editor, document = window.editor, window.editor.document()
    for owner, name in ((editor, "toPlainText"), (document, "toPlainText"), (document, "toRawText")):
        original = getattr(owner, name)
        monkeypatch.setattr(owner, name, lambda *a, _o=original, _n=name: (calls.append(_n), _o(*a))[1])
    return calls


# ---- per keystroke ---------------------------------------------------------------------------------

def test_typing_never_copies_the_whole_document(qtbot, window, monkeypatch):
    window.files.loader.set_text(prose(3000))
    qtbot.waitUntil(lambda: not window.files.loading, timeout=30000)
    calls = spy_on_whole_text(monkeypatch, window)
    before = window.words.paragraphs_counted
    editor, keys = window.editor, 0
    for where in (QTextCursor.MoveOperation.End, QTextCursor.MoveOperation.Start):
        editor.moveCursor(where)
        for word in ("and", "so", "on"):
            expected = words_shown(window) + 1
            typed = f" {word}" if where == QTextCursor.MoveOperation.End else f"{word} "
            qtbot.keyClicks(editor, typed)
            keys += len(typed)
            # the status bar shows the new count (the old window recounted everything on a timer)
            qtbot.waitUntil(lambda expected=expected: words_shown(window) == expected, timeout=3000)
    assert calls == []
    # each keystroke read the paragraph it changed, not the 3000 of the document
    assert window.words.paragraphs_counted - before <= 2 * keys
    window.editor.document().setModified(False)


def test_word_count_follows_edits_across_paragraphs_undo_redo_and_paste(qtbot, window):
    editor = window.editor
    window.files.loader.set_text(prose(400))
    rng = random.Random(5)

    def check() -> None:
        assert words_shown(window) == count_words(editor.toPlainText())
        assert len(window.words._counts) == editor.document().blockCount()

    check()
    before = window.words.paragraphs_counted
    cursor = editor.textCursor()
    cursor.setPosition(500)
    cursor.setPosition(2500, QTextCursor.MoveMode.KeepAnchor)  # across many paragraphs
    editor.setTextCursor(cursor)
    qtbot.keyClicks(editor, "x")  # replaces them
    check()
    QApplication.clipboard().setText("one two\n\nthree  four\nfive")
    for _ in range(20):
        cursor = editor.textCursor()
        cursor.setPosition(rng.randrange(editor.document().characterCount()))
        editor.setTextCursor(cursor)
        rng.choice([lambda: qtbot.keyClick(editor, "\r"), lambda: qtbot.keyClick(editor, "\b"),
                    lambda: qtbot.keyClicks(editor, " new words "), editor.paste, editor.undo, editor.redo])()
        check()
    for _ in range(30):
        editor.undo()
    check()
    for _ in range(30):
        editor.redo()
    check()
    assert window.words.paragraphs_counted - before < 400  # never the whole document again
    editor.document().setModified(False)


def test_word_counter_stays_exact_under_random_edits(qtbot):
    editor = QPlainTextEdit()
    qtbot.addWidget(editor)
    counter = WordCounter(editor.document())
    rng = random.Random(11)
    pieces = ["a", "bb ", " ", "\n", "\n\n", "x y", "\u00a0", "é", "😀 hi", "\t"]
    for _ in range(1500):
        end = editor.document().characterCount() - 1
        cursor = editor.textCursor()
        cursor.setPosition(rng.randint(0, end))
        cursor.setPosition(rng.randint(0, end), QTextCursor.MoveMode.KeepAnchor)
        action = rng.random()
        if action < 0.6:
            cursor.insertText("".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))))
        elif action < 0.75:
            cursor.removeSelectedText()
        elif action < 0.85:
            editor.undo()
        elif action < 0.95:
            editor.redo()
        else:
            editor.setPlainText("".join(rng.choice(pieces) for _ in range(rng.randint(0, 60))))
        assert counter.total == len(whole_text(editor.document()).split())


# ---- opening ---------------------------------------------------------------------------------------

def test_big_file_opens_in_the_background_with_progress(qtbot, window, tmp_path, small_slices):
    text = prose(2000)  # about 240 kB: 60 slices here
    path = tmp_path / "novel.txt"
    path.write_text(text, encoding="utf-8")
    ticks, progress, read_only, bar_shown, shown = [], [], [], [], []
    timer = QTimer(interval=0)
    timer.timeout.connect(lambda: ticks.append(window.files.loading))
    window.files.loader.progress.connect(lambda done, total: (progress.append(done / total),
                                                        read_only.append(window.editor.isReadOnly()),
                                                        bar_shown.append(window.status.load_label.isVisible()),
                                                        shown.append(window.status.load_label.text())))
    timer.start()
    assert window.files.load_file(str(path))
    assert window.files.loading  # the window is back before the text is in
    qtbot.waitUntil(lambda: not window.files.loading, timeout=60000)
    timer.stop()
    assert ticks.count(True) >= 20  # the event loop kept turning while the file went in
    assert len(progress) >= 20 and progress == sorted(progress) and progress[-1] == 1.0
    assert all(read_only) and all(bar_shown)  # read-only, with progress, until it is all there
    assert shown[0].startswith("Opening novel.txt… ") and shown[-2].endswith("%")
    assert window.editor.toPlainText() == text
    assert not window.editor.isReadOnly() and not window.status.load_label.isVisible()
    assert not window.editor.document().isModified()
    assert not window.editor.document().isUndoAvailable()
    assert words_shown(window) == count_words(text)
    assert window.windowTitle().startswith("novel.txt")
    assert window.settings["recent_files"][0] == str(path.resolve())


def test_saving_or_opening_another_file_while_one_loads(qtbot, window, tmp_path, small_slices):
    big = tmp_path / "big.txt"
    big.write_text(prose(2000), encoding="utf-8")
    other = tmp_path / "other.txt"
    other.write_text("A short one.", encoding="utf-8")
    window.files.load_file(str(big))
    qtbot.waitUntil(lambda: window.files.loader.loading and window.editor.document().characterCount() > 10000)
    # Save As while only part of it is in the editor: the whole text is written
    copy = tmp_path / "copy.txt"
    assert window.files.write(str(copy))
    assert copy.read_text(encoding="utf-8") == big.read_text(encoding="utf-8")
    # another file, asked for meanwhile, replaces it cleanly
    window.files.load_file(str(big))
    window.files.load_file(str(other))
    qtbot.waitUntil(lambda: not window.files.loading, timeout=60000)
    assert window.editor.toPlainText() == "A short one."
    assert window.files.path == str(other.resolve()) and not window.editor.isReadOnly()
    assert words_shown(window) == 3


def test_a_big_file_that_cannot_be_read_is_reported(qtbot, window, tmp_path, small_slices, monkeypatch):
    path = tmp_path / "binary.txt"
    path.write_bytes(b"\x00\x01\x02" * 20_000)
    messages = []
    monkeypatch.setattr("app.ui.main_window.QMessageBox.warning", lambda *a: messages.append(a[2]))
    qtbot.keyClicks(window.editor, "kept")
    window.files.load_file(str(path))
    qtbot.waitUntil(lambda: bool(messages), timeout=20000)
    assert "binary" in messages[0]
    assert window.editor.toPlainText() == "kept" and not window.editor.isReadOnly()
    window.editor.document().setModified(False)


# ---- long lines --------------------------------------------------------------------------------------

def test_over_long_lines_are_broken_on_opening_with_a_notice(qtbot, window, tmp_path):
    long_prose = " ".join([PARAGRAPH] * 450)  # about 50,000 characters on one line
    no_space = "".join(random.Random(3).choice("abcdefgh") for _ in range(30_000))
    original = f"Title\n{long_prose}\n{no_space}\nThe end."
    path = tmp_path / "lines.txt"
    path.write_text(original, encoding="utf-8")
    assert window.files.load_file(str(path))
    qtbot.waitUntil(lambda: not window.files.loading)
    shown = window.editor.toPlainText()
    assert max(map(len, shown.split("\n"))) <= LONG_LINE
    assert shown.replace("\n", "") == original.replace("\n", "")  # only line breaks were added
    lines = shown.split("\n")
    parts = next(lines[1:k] for k in range(2, len(lines)) if "".join(lines[1:k]) == long_prose)
    assert all(part.endswith(" ") for part in parts[:-1])  # broken after a space, words whole
    assert count_words("\n".join(parts)) == count_words(long_prose)
    rest = lines[1 + len(parts):-1]
    assert "".join(rest) == no_space and [len(x) for x in rest] == [LONG_LINE] * 3  # hard at the limit
    assert "2 lines longer than 10,000 characters" in window.notice_bar.label.text()
    assert not window.editor.document().isModified()


def test_a_long_line_in_a_big_file_is_broken_too(qtbot, window, tmp_path, small_slices):
    original = prose(100) + "\n" + "z" * 45_000 + "\n" + prose(100)
    path = tmp_path / "mixed.txt"
    path.write_text(original, encoding="utf-8")
    window.files.load_file(str(path))
    qtbot.waitUntil(lambda: not window.files.loading, timeout=60000)
    shown = window.editor.toPlainText()
    assert max(map(len, shown.split("\n"))) <= LONG_LINE
    assert shown.replace("\n", "") == original.replace("\n", "")
    assert "1 line longer than" in window.notice_bar.label.text()


def test_pasted_long_line_is_broken_and_undone_in_one_step(qtbot, window):
    qtbot.keyClicks(window.editor, "Before. ")
    QApplication.clipboard().setText(" ".join([PARAGRAPH] * 300))
    window.editor.paste()
    shown = window.editor.toPlainText()
    assert max(map(len, shown.split("\n"))) <= LONG_LINE and shown.count("\n") >= 3
    assert "pasted text had 1 line" in window.notice_bar.label.text()
    window.editor.undo()
    assert window.editor.toPlainText() == "Before. "
    window.editor.document().setModified(False)


def test_line_breaker_on_text_in_pieces():
    rng = random.Random(1)
    for _ in range(300):
        text = "".join(rng.choice(["\n", " ", "x" * rng.randint(1, 30), "é"]) for _ in range(rng.randint(0, 300)))
        limit = rng.randint(5, 60)
        whole, broken = break_long_lines(text, limit)
        assert broken == sum(1 for line in text.split("\n") if len(line) > limit)
        breaker, out, at = LineBreaker(limit), [], 0
        while at < len(text):
            step = rng.randint(1, 40)
            out.append(breaker.feed(text[at:at + step]))
            at += step
        assert breaker.broken == broken  # a line broken in several pieces counts once
        for result in (whole, "".join(out)):
            assert max(map(len, result.split("\n"))) <= limit
            assert result.replace("\n", "") == text.replace("\n", "")


def test_line_breaker_prefers_spaces_and_keeps_accents_with_their_letters():
    words = "the quick brown fox " * 5  # 100 characters
    assert break_long_lines(words, 30)[0].split("\n") == [
        "the quick brown fox the quick ", "brown fox the quick brown fox ", "the quick brown fox the quick ",
        "brown fox "]
    combining = "e\u0301" * 20  # 40 characters: é written as e + combining accent
    first = break_long_lines(combining, 15)[0].split("\n")[0]
    assert len(first) == 14 and first.endswith("\u0301")
    assert break_long_lines("short\nlines", 30) == ("short\nlines", 0)
    big = "word " * (bigtext.SLICE // 2)  # more than a slice: the sliced path
    text, broken = break_long_lines(big)
    assert broken == 1 and text.replace("\n", "") == big


# ---- autosave ------------------------------------------------------------------------------------------

def _snapshot_texts() -> list[str]:
    return [json.loads(f.read_text(encoding="utf-8"))["text"] for f in autosave_dir().glob("*.json")]


def test_autosave_of_a_long_text_copies_in_steps_and_follows_edits(qtbot, window, monkeypatch, small_slices,
                                                                     tmp_path):
    editor = window.editor
    window.files.loader.set_text(prose(1500))
    qtbot.waitUntil(lambda: not window.files.loading, timeout=30000)
    qtbot.keyClicks(editor, "Edited. ")  # unsaved changes, at the start
    calls = spy_on_whole_text(monkeypatch, window)
    window.files.autosave()
    assert window.files._autosaver.busy  # the window is back before the copy is done
    for position, typed in ((150_000, " middle "), (10, " start "), (None, " end")):
        cursor = editor.textCursor()
        if position is None:
            cursor.movePosition(QTextCursor.MoveOperation.End)
        else:
            cursor.setPosition(position)
        editor.setTextCursor(cursor)
        qtbot.keyClicks(editor, typed)  # typed while the copy goes on
        QApplication.processEvents()
    qtbot.waitUntil(lambda: not window.files._autosaver.busy, timeout=30000)
    assert calls == []  # copied in pieces, never in one call
    snapshot = _snapshot_texts()
    assert snapshot == [whole_text(editor.document())]
    assert snapshot[0].startswith("Edited. ") and " start " in snapshot[0] and " middle " in snapshot[0]
    assert snapshot[0].endswith(" end")
    assert window.files.write(str(tmp_path / "saved.txt"))
    assert _snapshot_texts() == []  # saved: nothing to recover


@pytest.mark.slow
def test_text_collector_matches_the_document_under_random_edits(qtbot, monkeypatch):
    monkeypatch.setattr(autosave_module, "PIECE_CHARS", 40)
    monkeypatch.setattr(autosave_module, "TURN_S", 0.0)
    editor = QPlainTextEdit()
    qtbot.addWidget(editor)
    document = editor.document()
    collector = TextCollector(document)
    results = []
    collector.done.connect(lambda pieces: results.append("".join(pieces)))
    rng = random.Random(7)
    alphabet = ["a", "b", " ", "\n", "😀", "é", "xyz ", "\n\n"]
    editor.setPlainText("".join(rng.choice(alphabet) for _ in range(600)))
    for _ in range(150):
        results.clear()
        collector.start()
        while collector.running:
            end = document.characterCount() - 1
            cursor = QTextCursor(document)
            start = rng.randint(0, end)
            cursor.setPosition(start)
            cursor.setPosition(min(end, max(0, start + rng.randint(-15, 15))), QTextCursor.MoveMode.KeepAnchor)
            action = rng.random()
            if action < 0.35:
                cursor.insertText("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))))
            elif action < 0.45:
                cursor.removeSelectedText()
            elif action < 0.5:
                editor.undo()
            elif action < 0.52:
                editor.setPlainText("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 700))))
            collector._step()
        assert results == [whole_text(document)]


def test_a_clear_wins_over_a_snapshot_being_written(qtbot):
    slot = SnapshotSlot()
    halfway, go_on = threading.Event(), threading.Event()

    def pieces():
        yield "first half, "
        halfway.set()
        go_on.wait(10)
        yield "second half"

    outcome = []
    writer = threading.Thread(target=lambda: outcome.append(slot.write(pieces(), "")))
    writer.start()
    assert halfway.wait(10)
    slot.clear()  # the text was saved meanwhile
    go_on.set()
    writer.join(10)
    assert outcome == [False] and not slot.file.exists()
    assert slot.write(["all ", "of it"], "") and _snapshot_texts() == ["all of it"]
    slot.close()


def test_a_file_of_many_empty_lines_goes_in_by_slices_of_lines_without_per_paragraph_python(
        qtbot, window, tmp_path, monkeypatch):
    # 3 MB of empty lines took 17.5 s with pauses of 575 ms: Qt's work, and a Python call of the
    # highlighter (and of the word count) for every paragraph, all in slices of 65,536 of them.
    from app.ui.highlighter import TextHighlighter

    original_segments = TextHighlighter._segments
    highlighted, segmented = [], []
    monkeypatch.setattr(TextHighlighter, "highlightBlock", lambda self, text: highlighted.append(text))
    monkeypatch.setattr(TextHighlighter, "_segments", lambda self, text, *a: (segmented.append(text),
                                                                             original_segments(self, text, *a))[1])
    path = tmp_path / "empty.txt"
    path.write_text("\n" * 30_000 + "The end.", encoding="utf-8")  # 30 kB: a "small" file
    document = window.editor.document()
    grown = []  # paragraphs each change of the document added
    document.contentsChange.connect(lambda *_: grown.append(document.blockCount()))
    assert window.files.load_file(str(path))
    qtbot.waitUntil(lambda: not window.files.loading, timeout=60000)
    assert window.editor.toPlainText() == "\n" * 30_000 + "The end." and words_shown(window) == 2
    steps = [b - a for a, b in zip([1] + grown, grown)]
    assert len(steps) > 10 and max(steps) <= loading.SLICE_LINES  # a few milliseconds per turn
    assert highlighted == []  # the highlighter waits for the whole text, then goes through it
    qtbot.waitUntil(lambda: not window.highlighter.rechecking, timeout=60000)
    assert segmented == ["The end."]  # an empty paragraph costs it nothing
    cursor = window.editor.textCursor()
    cursor.setPosition(0)
    window.editor.setTextCursor(cursor)
    qtbot.keyClicks(window.editor, "A")  # an edit highlights its paragraph, not all after it
    assert 1 <= len(highlighted) <= 2
    window.editor.document().setModified(False)


def test_forced_breaks_keep_flags_emoji_sequences_and_accents_whole(tmp_path):
    family = "\U0001F468\u200d\U0001F469\u200d\U0001F467\u200d\U0001F466"  # 7 code points, one emoji
    flag = "\U0001F1EB\U0001F1F7"  # two regional indicators: one flag
    accented = "e\u0301\u0327"  # a letter and two accents
    whole = re.compile("(?:{})*".format("|".join(map(re.escape, (family, flag, accented, "x")))))
    rng = random.Random(5)
    mixed = "".join(rng.choice((family, flag, accented, "x")) for _ in range(5000))
    for unit in (family, flag, accented, mixed):
        for offset in range(7):  # the limit (and a slice's end) falls at every place inside a cluster
            original = "x" * offset + unit * (7 * LONG_LINE // len(unit))  # more than a slice
            path = tmp_path / "emoji.txt"
            path.write_text(original, encoding="utf-8")
            opened, broken = loading.read_for_editor(path)
            pasted = LineBreaker(column=offset, cluster_start=loading.grapheme_start)
            for text in (opened.text, "x" * offset + pasted.feed(original[offset:])):
                lines = text.split("\n")
                assert broken == pasted.broken == 1 and "".join(lines) == original
                assert max(map(len, lines)) <= LONG_LINE
                assert all(whole.fullmatch(line) for line in lines), [line[:3] for line in lines]
