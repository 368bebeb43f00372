"""The ghost-text editor widget on its own: suggestions are fed in directly, as the worker would."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QTextCursor

from app.ui.actions import DEFAULT_KEYS, GHOST_ACTIONS


def type_text(qtbot, editor, text):
    qtbot.keyClicks(editor, text)


def show_ghost(editor, *alternatives):
    editor.expect_suggestion()
    for index, text in enumerate(alternatives):
        for piece in (text[: len(text) // 2], text[len(text) // 2 :]):
            editor.add_piece(index, piece)
    editor.finish_suggestion()


def preedit(editor):
    block = editor.textCursor().block()
    return block.layout().preeditAreaText()


def test_ghost_is_painted_not_inserted(qtbot, editor):
    type_text(qtbot, editor, "It was a truth")
    editor.document().setModified(False)
    undo_steps = editor.document().availableUndoSteps()
    show_ghost(editor, " universally acknowledged")
    assert editor.ghost_text == " universally acknowledged"
    assert preedit(editor) == " universally acknowledged"
    assert editor.toPlainText() == "It was a truth"
    assert not editor.document().isModified()
    assert editor.document().availableUndoSteps() == undo_steps


def test_tab_accepts_as_one_undo_step(qtbot, editor):
    type_text(qtbot, editor, "It was a truth")
    show_ghost(editor, " universally acknowledged")
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == "It was a truth universally acknowledged"
    assert editor.ghost_text == "" and preedit(editor) == ""
    type_text(qtbot, editor, " by")
    editor.undo()
    assert editor.toPlainText() == "It was a truth universally acknowledged"
    editor.undo()
    assert editor.toPlainText() == "It was a truth"


def test_tab_without_suggestion_inserts_tab(qtbot, editor):
    type_text(qtbot, editor, "a")
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == "a\t"


def test_the_suggestion_s_keys_and_commands_are_the_action_table_s(editor):
    assert {name: key.toString() for name, key in editor.keymap.items()} == \
        {name: QKeySequence(DEFAULT_KEYS[name]).toString() for name in GHOST_ACTIONS}
    assert set(editor.ghost_commands()) == set(GHOST_ACTIONS)


def test_ctrl_right_accepts_next_word_and_keeps_rest(qtbot, editor):
    type_text(qtbot, editor, "It was")
    show_ghost(editor, " a truth universally")
    qtbot.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert editor.toPlainText() == "It was a"
    assert editor.ghost_text == " truth universally"
    qtbot.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert editor.toPlainText() == "It was a truth"


def test_esc_and_cursor_move_dismiss(qtbot, editor):
    type_text(qtbot, editor, "It was a truth")
    show_ghost(editor, " universally")
    with qtbot.waitSignal(editor.ghost_cleared, timeout=1000):
        qtbot.keyClick(editor, Qt.Key.Key_Escape)
    assert editor.ghost_text == "" and preedit(editor) == ""
    show_ghost(editor, " universally")
    qtbot.keyClick(editor, Qt.Key.Key_Left)
    assert editor.ghost_text == ""
    assert all(b.layout().preeditAreaText() == "" for b in _blocks(editor))
    assert editor.toPlainText() == "It was a truth"


def _blocks(editor):
    block = editor.document().firstBlock()
    while block.isValid():
        yield block
        block = block.next()


def test_typing_through_keeps_the_rest(qtbot, editor):
    type_text(qtbot, editor, "It was a")
    show_ghost(editor, " truth universally", " fine day")
    type_text(qtbot, editor, " tr")
    assert editor.ghost_text == "uth universally"
    assert editor.ghost_alternatives == ["uth universally"]
    assert preedit(editor) == "uth universally"
    type_text(qtbot, editor, "x")
    assert editor.ghost_text == ""
    assert editor.toPlainText() == "It was a trx"


def test_alternatives_cycle(qtbot, editor):
    type_text(qtbot, editor, "She said")
    show_ghost(editor, " yes", " no", " nothing")
    assert editor.ghost_text == " yes"
    qtbot.keyClick(editor, Qt.Key.Key_BracketRight, Qt.KeyboardModifier.AltModifier)
    assert editor.ghost_text == " no"
    qtbot.keyClick(editor, Qt.Key.Key_BracketRight, Qt.KeyboardModifier.AltModifier)
    qtbot.keyClick(editor, Qt.Key.Key_BracketRight, Qt.KeyboardModifier.AltModifier)
    assert editor.ghost_text == " yes"
    qtbot.keyClick(editor, Qt.Key.Key_BracketLeft, Qt.KeyboardModifier.AltModifier)
    assert editor.ghost_text == " nothing"
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == "She said nothing"


def test_ghost_mid_paragraph_wraps_and_moves_text(qtbot, editor):
    editor.setPlainText("First line here.\nSecond paragraph.")
    cursor = editor.textCursor()
    cursor.setPosition(len("First line here."))
    editor.setTextCursor(cursor)
    long = " and then a long suggestion that surely wraps over more than one line of this narrow editor"
    show_ghost(editor, long)
    layout = editor.document().firstBlock().layout()
    qtbot.waitUntil(lambda: layout.lineCount() > 1)
    assert editor.toPlainText() == "First line here.\nSecond paragraph."


def test_generated_text_is_one_undo_step_and_marked(qtbot, editor):
    type_text(qtbot, editor, "Once upon a time")
    editor.begin_generated()
    for piece in (" there", " was", " a", " king."):
        editor.append_generated(piece)
    span = editor.end_generated()
    assert editor.toPlainText() == "Once upon a time there was a king."
    assert span == (16, 34) and editor.generated_ranges() == [span]
    # typing after it is new writing: the mark stays as it was
    type_text(qtbot, editor, " Yes")
    assert editor.generated_ranges() == [(16, 34)]
    editor.undo()
    assert editor.toPlainText() == "Once upon a time there was a king."
    editor.undo()
    assert editor.toPlainText() == "Once upon a time"


def test_editing_generated_text_removes_mark(qtbot, editor):
    type_text(qtbot, editor, "Once")
    editor.begin_generated()
    editor.append_generated(" upon a time")
    editor.end_generated()
    cursor = editor.textCursor()
    cursor.setPosition(7)
    editor.setTextCursor(cursor)
    type_text(qtbot, editor, "X")
    assert editor.generated_ranges() == []


def test_retry_replaces_last_generated_text(qtbot, editor):
    type_text(qtbot, editor, "Once")
    editor.begin_generated()
    editor.append_generated(" upon a time")
    span = editor.end_generated()
    editor.begin_generated(replace=span)
    editor.append_generated(" more")
    assert editor.end_generated() == (4, 9)
    assert editor.toPlainText() == "Once more"
    editor.undo()
    assert editor.toPlainText() == "Once upon a time"


def test_accepting_after_generated_text_does_not_grow_its_mark(qtbot, editor):
    type_text(qtbot, editor, "Once")
    editor.begin_generated()
    editor.append_generated(" upon a time")
    span = editor.end_generated()
    show_ghost(editor, " there was")
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == "Once upon a time there was"
    assert editor.generated_ranges() == [span]
    selections = editor.extraSelections()
    assert [(s.cursor.selectionStart(), s.cursor.selectionEnd()) for s in selections] == [span]


def test_edit_elsewhere_removes_the_ghost_from_its_paragraph(qtbot, editor):
    editor.setPlainText("First paragraph.\nSecond one")
    editor.moveCursor(QTextCursor.MoveOperation.End)
    show_ghost(editor, " goes on")
    cursor = QTextCursor(editor.document())
    cursor.insertText("New start.\n")  # an edit far from the cursor (as undo or a script makes)
    assert editor.ghost_text == ""
    assert all(b.layout().preeditAreaText() == "" for b in _blocks(editor))


def test_pieces_after_typing_into_a_streaming_ghost_stay_on_their_alternative(qtbot, editor):
    """Typing into a suggestion still streaming filtered its alternatives, and the pieces that
    came after went by position into that filtered list: onto the wrong alternatives."""
    type_text(qtbot, editor, "It was")
    editor.expect_suggestion()
    for row, piece in enumerate((" the", " a", " then")):
        editor.add_piece(row, piece)
    type_text(qtbot, editor, " t")
    assert editor.ghost_alternatives == ["he", "hen"]
    for row, piece in enumerate((" morning", " day", " came")):
        editor.add_piece(row, piece)
    assert editor.ghost_alternatives == ["he morning", "hen came"]
    assert editor.ghost_text == "he morning" and preedit(editor) == "he morning"
    qtbot.keyClick(editor, Qt.Key.Key_BracketRight, Qt.KeyboardModifier.AltModifier)
    assert editor.ghost_text == "hen came"
    editor.add_piece(2, " home")  # the shown alternative grows in place
    assert preedit(editor) == "hen came home"
    editor.finish_suggestion()
    assert editor.ghost_alternatives == ["he morning", "hen came home"] and editor.ghost_index == 1
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == "It was then came home"


def test_pieces_after_accepting_a_word_stay_on_their_alternative(qtbot, editor):
    type_text(qtbot, editor, "She")
    editor.expect_suggestion()
    for row, piece in enumerate((" said yes", " said", " ran")):
        editor.add_piece(row, piece)
    qtbot.keyClick(editor, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    assert editor.toPlainText() == "She said"
    assert editor.ghost_alternatives == [" yes"]  # " ran" disagrees; " said" has nothing left yet
    editor.add_piece(1, " no")
    editor.add_piece(2, " away")
    editor.add_piece(0, " please")
    assert editor.ghost_alternatives == [" yes please", " no"]
    assert editor.ghost_text == " yes please"
    editor.finish_suggestion()
    editor.choose(1)
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert editor.toPlainText() == "She said no"


def test_rows_the_engine_left_out_are_not_offered(qtbot, editor):
    """The engine keeps one alternative per first word; the ghost follows its result by row."""
    type_text(qtbot, editor, "She")
    editor.expect_suggestion()
    for row, piece in enumerate((" said yes", " said no", " ran")):
        editor.add_piece(row, piece)
    assert len(editor.ghost_alternatives) == 3
    editor.finish_suggestion({0, 2})
    assert editor.ghost_alternatives == [" said yes", " ran"]


def test_a_new_suggestion_replaces_the_one_before(qtbot, editor):
    type_text(qtbot, editor, "It")
    editor.expect_suggestion()
    editor.add_piece(0, " was")
    editor.expect_suggestion()
    assert editor.ghost_text == "" and preedit(editor) == ""
    editor.add_piece(0, " is")
    assert editor.ghost_text == " is"


def test_an_emoji_typed_through_the_ghost_moves_its_anchor_in_qt_s_units(qtbot, editor):
    type_text(qtbot, editor, "I")
    show_ghost(editor, " \U0001F600 and a smile")
    editor.textCursor().insertText(" \U0001F600")  # Qt counts the emoji as two positions
    assert editor.ghost_text == " and a smile" and preedit(editor) == " and a smile"
    assert editor.ghost.anchor == editor.textCursor().position() == 1 + 3


def test_only_the_pieces_of_the_suggestion_wanted_reach_the_ghost(qtbot, editor, monkeypatch):
    """The controller alone knows which request is wanted: an older one's pieces never reach the
    ghost, and a request no longer wanted is cancelled. One signal per suggestion, editor to
    controller, carries all it needs."""
    from app.settings import Settings
    from app.ui.suggestions import SuggestionController
    from app.ui.worker import Request

    controller = SuggestionController(editor, Settings.load())
    made: list[Request] = []
    monkeypatch.setattr(controller.generator, "ready", True)
    monkeypatch.setattr(controller.generator, "request",
                        lambda kind, text, params: made.append(Request(kind, text, params)) or made[-1])
    try:
        type_text(qtbot, editor, "It")
        with qtbot.waitSignal(editor.suggestion_wanted) as wanted:
            editor.ask_now()
        older = made[-1]
        assert wanted.args == ["It", 2] and older.text == "It" and editor.ghost.anchor == 2
        controller._piece(older, 0, " was")
        assert editor.ghost_text == " was"
        editor.ask_now()
        newer = made[-1]
        assert older.stop.is_set() and not newer.stop.is_set() and editor.ghost_text == ""
        controller._piece(older, 0, " late")
        assert editor.ghost_text == ""
        controller._piece(newer, 0, " is")
        assert editor.ghost_text == " is" and controller.busy
        qtbot.keyClick(editor, Qt.Key.Key_Escape)
        assert newer.stop.is_set() and not controller.busy and not editor.ghost.active
    finally:
        controller.generator.shutdown()
