"""Find, replace and spell checking in a 2 MB novel, in the real main window (offscreen).

    python bench/bench_find.py [--corpus DIR] [--megabytes 2]

The first --megabytes of the Austen novels (Emma, Pride and Prejudice, ... as they come), opened
from a file. Measured, each the wall time of the call and the longest the event loop did not
turn meanwhile (a 2 ms precise timer stamps each turn):
- spelling: from the text being in the editor to every paragraph checked (a few ms per turn);
- find: the next match of a word from the top; the search for a word that is nowhere (the whole
  text: the worst case of find as you type); the same with whole words and a regular expression;
- replace all: "the" -> "THE" as whole words (thousands of matches: replaced a slice per turn),
  and undoing it (Qt's undo of thousands of edits, in one call);
- a keystroke in the middle of the text with spelling on (key to repaint).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from bench_gui import Probe, spin, wait
from PySide6.QtGui import QTextCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication


def timed(what: str, call, rows: list) -> object:
    with Probe() as probe:
        started = time.perf_counter()
        result = call()
        took = (time.perf_counter() - started) * 1e3
        spin(20)
    rows.append((what, took, max(probe.pauses_ms())))
    return result


def find_and_wait(bar, text: str, words: bool = False, regex: bool = False, backward: bool = False) -> bool:
    """Find ``text`` from the top (from the end, ``backward``) and wait for the search to end:
    whether a match is selected. A long search goes on between turns of the event loop
    (``bar.searching``), so its time is until it ends, not until find_next returns."""
    editor = bar.editor
    editor.moveCursor(QTextCursor.MoveOperation.End if backward else QTextCursor.MoveOperation.Start)
    bar.words_box.setChecked(words)
    bar.regex_box.setChecked(regex)
    bar.find_edit.setText(text)
    (bar.find_previous if backward else bar.find_next)()
    wait(lambda: not bar.searching, 600)
    return editor.textCursor().hasSelection()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("/work/shared/data/corpus/austen"))
    parser.add_argument("--megabytes", type=float, default=2.0)
    args = parser.parse_args()
    text = ""
    for path in sorted(args.corpus.glob("*.txt")):
        text += path.read_text(encoding="utf-8", errors="replace") + "\n"
    text = text[: int(args.megabytes * 1_000_000)]
    app = QApplication([sys.argv[0]])  # noqa: F841
    with tempfile.TemporaryDirectory() as home:
        os.environ["INKWELL_HOME"] = home
        from app.settings import Settings
        from app.ui.main_window import MainWindow

        settings = Settings.load()
        settings.update({"model": str(Path(home) / "none"), "auto_suggest": False})
        window = MainWindow(settings)
        window.resize(1100, 760)
        window.show()
        wait(lambda: window.spelling.speller is not None, 120)
        novel = Path(home) / "novel.txt"
        novel.write_text(text, encoding="utf-8")
        rows: list = []
        with Probe() as probe:
            started = time.perf_counter()
            window.files.load_file(str(novel))
            wait(lambda: not window.files.loading, 300)
            opened = (time.perf_counter() - started) * 1e3
            wait(lambda: not window.highlighter.rechecking, 600)
            checked = (time.perf_counter() - started) * 1e3
        rows.append(("open (text in the editor)", opened, max(probe.pauses_ms())))
        rows.append(("open + spelling of every paragraph", checked, max(probe.pauses_ms())))
        editor, bar = window.editor, window.find_bar
        bar.show_find(replace=True)

        def find(text: str, words: bool = False, regex: bool = False, backward: bool = False):
            return lambda: find_and_wait(bar, text, words, regex, backward)

        timed("find 'Elizabeth' from the top", find("Elizabeth"), rows)
        timed("find a word that is nowhere", find("zzyzxq"), rows)
        timed("  ... whole words", find("zzyzxq", words=True), rows)
        timed("  ... regular expression \\bzz+y\\w*", find(r"\bzz+y\w*", regex=True), rows)
        timed("  ... backwards from the end", find("zzyzxq", backward=True), rows)

        def replace_all():
            bar.words_box.setChecked(True)
            bar.regex_box.setChecked(False)
            bar.find_edit.setText("the")
            bar.replace_edit.setText("THE")
            counts = []
            bar.replaced.connect(counts.append)
            bar.replace_all()  # (in a long text: a slice per turn)
            wait(lambda: not bar.replacing, 600)
            return counts[-1]

        count = timed("replace all 'the' (whole words)", replace_all, rows)
        timed("  ... spelling after it (in slices)", lambda: wait(lambda: not window.highlighter.rechecking, 600),
              rows)
        timed("  ... undo", editor.undo, rows)
        cursor = editor.textCursor()
        cursor.setPosition(len(text) // 2)
        editor.setTextCursor(cursor)
        spin(200)
        keys = []
        for char in "wrod and ":
            with Probe() as probe:
                started = time.perf_counter()
                QTest.keyClick(editor, char)
                QApplication.processEvents()
                keys.append((time.perf_counter() - started) * 1e3)
            spin(30)
        rows.append(("keystroke mid-text, spelling on (mean, max)", sum(keys) / len(keys), max(keys)))
        editor.document().setModified(False)
        window.close()
    print(f"{len(text):,} characters; replace all replaced {count:,}; load: "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"| {'what':<44} | {'time':>10} | {'longest pause':>13} |")
    print(f"|{'-' * 46}|{'-' * 12}|{'-' * 15}|")
    for what, took, pause in rows:
        print(f"| {what:<44} | {took:>7.1f} ms | {pause:>10.1f} ms |")


if __name__ == "__main__":
    main()
