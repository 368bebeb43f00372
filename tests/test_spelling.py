"""Spell checking: the dictionary, the personal dictionary, underlines in the editor (never on the
suggestion), the context menu, the language setting."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QCheckBox, QComboBox, QMenu

from app import spelling
from app.settings import Settings
from app.ui.main_window import MainWindow
from core import paths

SPELLCHECK = QTextCharFormat.UnderlineStyle.SpellCheckUnderline


@pytest.fixture
def window(qtbot):
    made = []

    def make(**values) -> MainWindow:
        settings = Settings.load()
        settings.update({"auto_suggest": False, **values})
        w = MainWindow(settings)
        w.show()
        qtbot.waitExposed(w)
        if w.settings["spell_check"]:
            qtbot.waitUntil(lambda: w.spelling.speller is not None, timeout=30000)
        made.append(w)
        return w

    yield make
    for w in made:
        w.editor.document().setModified(False)
        w.close()
        w.deleteLater()


def underlined(block) -> list[str]:
    """The words of ``block`` drawn with a spelling underline (pre-edit text counted in)."""
    layout = block.layout()
    text = block.text()
    pre_at, pre = layout.preeditAreaPosition(), layout.preeditAreaText()
    if pre:
        text = text[:pre_at] + pre + text[pre_at:]
    return [text[r.start:r.start + r.length] for r in layout.formats()
            if r.format.underlineStyle() == SPELLCHECK]


def test_known_words_and_the_shapes_of_words():
    speller = spelling.Speller("en")
    assert speller.known("Elizabeth") and speller.known("house") and speller.known("don’t")
    assert speller.known("NASA")  # acronyms are not flagged
    assert not speller.known("recieve") and not speller.known("Teh")
    assert list(speller.misspelled("I recieve teh mp3 file_name")) == [(2, 7), (10, 3)]
    assert speller.suggestions("Recieve")[0] == "Receive"  # in the word's capitalisation
    assert "the" in speller.suggestions("teh")


def test_personal_dictionary_is_kept_in_the_config_folder():
    speller = spelling.Speller("en")
    assert not speller.known("Wickhamshire")
    speller.add("Wickhamshire")
    assert speller.known("Wickhamshire")
    assert (paths.config_dir() / "dictionary.txt").read_text() == "Wickhamshire\n"
    assert spelling.Speller("en").known("Wickhamshire")  # a new session reads it back


def test_unreadable_personal_dictionary_is_said_and_checking_goes_on(tmp_path):
    folder = tmp_path / "dictionary.txt"
    folder.mkdir()  # a folder where the file should be
    speller = spelling.Speller("en", folder)
    assert "cannot be read" in speller.problem and str(folder) in speller.problem
    assert speller.known("house") and not speller.known("recieve")
    note = speller.add("Wickhamshire")
    assert note == speller.problem and "not kept" in note and "until Inkwell closes" in note
    assert speller.known("Wickhamshire")  # for this session all the same
    assert folder.is_dir() and not list(folder.iterdir())


def test_a_dictionary_too_large_to_read_is_never_replaced(tmp_path):
    path = tmp_path / "dictionary.txt"
    words = "".join(f"word{i:07d}\n" for i in range(450_000)).encode()  # 5.4 MB: over the 4 MiB cap
    path.write_bytes(words)
    speller = spelling.Speller("en", path)
    assert "cannot be read" in speller.problem and "4 MiB" in speller.problem
    note = speller.add("Wickhamshire")
    assert path.read_bytes() == words  # today: replaced by the one new word
    assert "not kept" in note and "would lose" in note and speller.known("Wickhamshire")


def test_a_dictionary_that_is_a_named_pipe_stays_one(tmp_path):
    import os
    import stat

    path = tmp_path / "dictionary.txt"
    os.mkfifo(path)
    speller = spelling.Speller("en", path)  # read at once: refused, not waited on
    assert "cannot be read" in speller.problem
    assert "not kept" in speller.add("Wickhamshire")
    assert stat.S_ISFIFO(os.lstat(path).st_mode)


@pytest.mark.parametrize("encoding, mark", [("cp1252", b""), ("utf-16-le", b"\xff\xfe")])
def test_a_dictionary_in_another_encoding_is_read_and_written_in_it(tmp_path, encoding, mark):
    path = tmp_path / "dictionary.txt"
    path.write_bytes(mark + "Bédard\r\nNaïveté\r\n".encode(encoding))
    speller = spelling.Speller("en", path)
    assert speller.problem == "" and speller.known("Bédard") and speller.known("Naïveté")  # today: B�dard
    assert speller.add("Zoë") == ""
    assert path.read_bytes() == mark + "Bédard\r\nNaïveté\r\nZoë\r\n".encode(encoding)


def test_a_word_its_encoding_cannot_hold_is_kept_for_the_session_only(tmp_path):
    path = tmp_path / "dictionary.txt"
    data = "Bédard\n".encode("cp1252")
    path.write_bytes(data)
    speller = spelling.Speller("en", path)
    note = speller.add("Дарья")
    assert "not kept" in note and "Windows-1252" in note and speller.known("Дарья")
    assert path.read_bytes() == data


def test_words_another_window_added_meanwhile_are_kept(tmp_path):
    path = tmp_path / "dictionary.txt"
    one, two = spelling.Speller("en", path), spelling.Speller("en", path)
    assert one.add("Wickhamshire") == ""
    assert two.add("Pemberleigh") == ""  # today: two's rewrite drops Wickhamshire
    assert path.read_text().split() == ["Pemberleigh", "Wickhamshire"]


def test_unknown_language_is_refused_by_name():
    with pytest.raises(ValueError, match="no dictionary for the language 'xx'"):
        spelling.Speller("xx")


def test_misspelled_words_are_underlined_as_you_type(qtbot, window):
    w = window()
    qtbot.keyClicks(w.editor, "The cat sat on teh mat and recieved a letter. ")
    assert underlined(w.editor.document().firstBlock()) == ["teh", "recieved"]


def test_characters_beyond_the_basic_plane_do_not_shift_underlines(qtbot, window):
    w = window()
    w.editor.insertPlainText("🙂 a teh 😀😀 recieve")  # Qt counts each emoji as two positions
    block = w.editor.document().firstBlock()
    text16 = block.text().encode("utf-16-le")
    words = [text16[2 * r.start:2 * (r.start + r.length)].decode("utf-16-le") for r in block.layout().formats()
             if r.format.underlineStyle() == SPELLCHECK]
    assert words == ["teh", "recieve"]
    at = QTextCursor(w.editor.document())
    at.setPosition(len("🙂 a teh 😀😀 rec".encode("utf-16-le")) // 2)
    menu = QMenu()
    w.spelling.add_to_menu(menu, at)
    menu.actions()[0].trigger()
    assert w.editor.toPlainText() == "🙂 a teh 😀😀 receive"


def test_suggestion_text_is_never_underlined(qtbot, window):
    w = window()
    e = w.editor
    qtbot.keyClicks(e, "Teh letter came and she recieve")
    block = e.document().firstBlock()
    assert underlined(block) == ["Teh", "recieve"]
    document = e.document()
    document.setModified(False)
    revision = document.revision()
    e.expect_suggestion()
    e.add_piece(0, "d it wiht gladnes")  # misspelled on purpose: still not underlined
    assert block.layout().preeditAreaText() == "d it wiht gladnes"
    # The word being typed where the suggestion starts is left alone too (its underline would
    # stretch over the suggestion); the others keep theirs.
    assert underlined(block) == ["Teh"]
    ghost = [r for r in block.layout().formats() if r.start >= len("Teh letter came and she recieve")]
    assert ghost and all(r.format.underlineStyle() != SPELLCHECK for r in ghost)
    # Highlighting again (a new dictionary, say) is no edit: the suggestion stays, nothing is
    # taken for typing.
    edits = []
    e.user_edited.connect(lambda: edits.append(1))
    w.highlighter.recheck()
    qtbot.waitUntil(lambda: not w.highlighter.rechecking)
    assert e.ghost_text == "d it wiht gladnes" and edits == []
    # ... and no new revision of the document (autosave would take it for one to save)
    assert document.revision() == revision and not document.isModified()
    qtbot.keyClicks(e, "d ")  # typing what it shows keeps the rest
    assert e.ghost_text == "it wiht gladnes" and underlined(block) == ["Teh", "recieved"]
    e.clear_ghost()
    qtbot.keyClicks(e, "wiht")
    e.expect_suggestion()
    e.add_piece(0, " joy")
    assert underlined(block) == ["Teh", "recieved"]
    e.clear_ghost()
    assert underlined(block) == ["Teh", "recieved", "wiht"]


def test_context_menu_offers_suggestions_and_add_to_dictionary(qtbot, window):
    w = window()
    e = w.editor
    qtbot.keyClicks(e, "She said she would recieve them.")
    at = QTextCursor(e.document())
    at.setPosition(len("She said she would rec"))
    menu = QMenu()
    w.spelling.add_to_menu(menu, at)
    texts = [a.text() for a in menu.actions()]
    assert texts[0] == "receive" and "Add “recieve” to dictionary" in texts
    menu.actions()[0].trigger()
    assert e.toPlainText() == "She said she would receive them."
    assert underlined(e.document().firstBlock()) == []
    e.undo()  # the correction is one undo step
    assert e.toPlainText() == "She said she would recieve them."

    at.setPosition(len("She said she would rec"))
    menu = QMenu()
    w.spelling.add_to_menu(menu, at)
    next(a for a in menu.actions() if a.objectName() == "addToDictionary").trigger()
    qtbot.waitUntil(lambda: not w.highlighter.rechecking)
    assert underlined(e.document().firstBlock()) == []
    assert "recieve" in (paths.config_dir() / "dictionary.txt").read_text().split()

    menu = QMenu()
    at.setPosition(2)  # on "She": spelled right, nothing added
    w.spelling.add_to_menu(menu, at)
    assert menu.actions() == []


def test_language_setting_and_switching_off(qtbot, window):
    w = window()
    qtbot.keyClicks(w.editor, "hola perro house")
    block = w.editor.document().firstBlock()
    assert underlined(block) == ["hola", "perro"]
    language = w.panel.findChild(QComboBox, "setting_spell_language")
    with qtbot.waitSignal(w.spelling.loaded, timeout=30000):
        language.setCurrentIndex(language.findText("Spanish"))
    assert w.settings["spell_language"] == "es"
    qtbot.waitUntil(lambda: not w.highlighter.rechecking)
    assert underlined(block) == ["house"]
    w.panel.findChild(QCheckBox, "setting_spell_check").setChecked(False)
    assert w.settings["spell_check"] is False
    qtbot.waitUntil(lambda: not w.highlighter.rechecking)
    assert underlined(block) == []


def test_typing_highlights_only_the_paragraph_typed_in(qtbot, window):
    w = window()
    w.editor.setPlainText("\n".join(f"Paragraph {i} with a wrod or two." for i in range(3000)))
    qtbot.waitUntil(lambda: not w.highlighter.rechecking, timeout=30000)
    seen = []
    original = w.highlighter.highlightBlock
    w.highlighter.highlightBlock = lambda text: (seen.append(text), original(text))
    cursor = w.editor.textCursor()
    cursor.setPosition(w.editor.document().findBlockByNumber(1500).position())
    w.editor.setTextCursor(cursor)
    qtbot.keyClicks(w.editor, "Xx ")
    assert seen and all(text.startswith("X") for text in seen) and len(seen) <= 3
    assert underlined(w.editor.document().findBlockByNumber(1500)) == ["Xx", "wrod"]


def test_a_long_paste_is_checked_after_it_goes_in(qtbot, window):
    w = window()
    text = "\n".join(f"Line {i} of a long paste with a wrod in it." for i in range(1000))
    assert len(text) > 20_000
    w.editor.insertPlainText(text)  # one change: Qt would otherwise check every line at once
    first = w.editor.document().firstBlock()
    assert underlined(first) == [] and w.highlighter.rechecking
    qtbot.waitUntil(lambda: not w.highlighter.rechecking, timeout=30_000)
    assert underlined(first) == ["wrod"]
    assert underlined(w.editor.document().lastBlock()) == ["wrod"]


# --- issue 22: hostile personal dictionaries -----------------------------------------------------


@pytest.mark.parametrize("data", [b"Wick\x00ham\n\x00\x01\x02" * 50, b"\xff\xfe\x00\xd8"])
def test_a_dictionary_that_is_not_text_is_never_replaced(tmp_path, data):
    path = tmp_path / "dictionary.txt"
    path.write_bytes(data)
    speller = spelling.Speller("en", path)
    assert "cannot be read" in speller.problem
    assert "not kept" in speller.add("Zyx") and path.read_bytes() == data


def test_an_empty_a_marked_and_a_linked_dictionary_are_written_as_they_are(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert spelling.Speller("en", empty).add("Zyx") == "" and empty.read_bytes() == b"Zyx\n"
    marked = tmp_path / "marked.txt"
    marked.write_bytes(b"\xef\xbb\xbfAlpha\n")
    assert spelling.Speller("en", marked).add("Zyx") == ""
    assert marked.read_bytes() == b"\xef\xbb\xbfAlpha\nZyx\n"
    target = tmp_path / "real.txt"
    target.write_text("Alpha\n")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    assert spelling.Speller("en", link).add("Zyx") == ""
    assert link.is_symlink() and target.read_text() == "Alpha\nZyx\n"


def test_a_dictionary_in_a_missing_folder_says_why_the_word_is_not_kept(tmp_path):
    speller = spelling.Speller("en", tmp_path / "missing" / "dictionary.txt")
    note = speller.add("Zyx")
    assert "not kept" in note and "no such file or folder" in note and speller.known("Zyx")


def test_a_dictionary_turned_into_a_folder_after_reading_is_left_alone(tmp_path):
    path = tmp_path / "dictionary.txt"
    path.write_text("Alpha\n")
    speller = spelling.Speller("en", path)
    path.unlink()
    path.mkdir()
    assert "not kept" in speller.add("Zyx") and path.is_dir()


def test_british_spelling_has_a_dictionary_of_its_own():
    """Issue 22: "humour", "naïve", "colour" and "realise" were underlined, and there was no
    English (UK) to choose (pyspellchecker's English list is American)."""
    british, american = spelling.Speller("en_GB"), spelling.Speller("en")
    words = ["humour", "Colour", "colours", "colourful", "realise", "realised", "organisation", "analyse", "centre",
             "theatres", "travelled", "modelling", "defence", "catalogue", "favourite", "behavioural",
             "neighbourhood", "jewellery", "aluminium", "sceptical", "programme", "manoeuvre", "naïve"]
    assert [word for word in words if not british.known(word)] == []
    assert [word for word in ("humour", "colour", "realise", "centre") if american.known(word)] == []
    assert british.known("color") and british.known("realize")  # American forms are English too
    assert [typo for typo in ("humoor", "colur", "rulled", "sise", "midsise", "humourous") if british.known(typo)] == []
    assert "colour" in british.suggestions("colur")
    # words written with the marks of the language they came from, in either English
    assert american.known("naïve") and american.known("Café") and american.known("rôle")
    assert not american.known("naïvx")


@pytest.mark.parametrize("locale, language", [("en_GB", "en_GB"), ("en_US", "en"), ("en_AU", "en_GB"), ("en_IN", "en_GB"),
                                              ("de_AT", "de"), ("ja_JP", "en"), ("C", "en")])
def test_the_dictionary_follows_the_system_until_one_is_chosen(locale, language):
    assert spelling.language_for_locale(locale) == language


def test_a_british_system_checks_british_spelling(qtbot, window):
    from PySide6.QtCore import QLocale

    before = QLocale()
    QLocale.setDefault(QLocale("en_GB"))
    try:
        w = window()
    finally:
        QLocale.setDefault(before)
    assert w.settings["spell_language"] == "" and w.spelling.speller.language == "en_GB"
    qtbot.keyClicks(w.editor, "the humour of colour")
    qtbot.waitUntil(lambda: not w.highlighter.rechecking)
    assert underlined(w.editor.document().firstBlock()) == []
    choice = w.panel.findChild(QComboBox, "setting_spell_language")
    assert choice.currentText() == "As the system (English (UK))" and choice.findText("English (US)") >= 0
