"""The suggestion state on its own, without Qt: streaming, typing through, accepting, cycling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.ghost import GhostState, Outcome


def streamed(*alternatives: str, request_id: int = 1, anchor: int = 10, finish: bool = True) -> GhostState:
    state = GhostState()
    state.expect(request_id, anchor)
    for row, text in enumerate(alternatives):
        for piece in (text[: len(text) // 2], text[len(text) // 2:]):
            state.add(request_id, row, piece)
    if finish:
        state.finish(request_id)
    return state


def test_pieces_of_another_request_are_ignored():
    state = GhostState()
    state.expect(5, 0)
    assert state.add(5, 0, " was")
    state.expect(6, 3)
    assert not state.add(5, 0, " late")  # the request before: no longer wanted
    assert state.add(6, 0, " is")
    assert state.text == " is" and state.request_id == 6 and state.anchor == 3
    assert state.finish(5) is Outcome.NONE and state.active


def test_only_the_shown_row_changes_the_shown_text():
    state = GhostState()
    state.expect(1, 0)
    assert state.add(1, 0, " a")
    assert not state.add(1, 1, " b")
    assert state.text == " a" and state.alternatives == [" a", " b"]


def test_typing_through_keeps_the_rest_and_moves_the_anchor():
    state = streamed(" universally acknowledged")
    assert state.may_type_into(10, 0, 3)
    assert not state.may_type_into(11, 0, 3) and not state.may_type_into(10, 1, 3)
    assert state.typed(" un") is Outcome.KEPT
    assert state.text == "iversally acknowledged" and state.anchor == 13
    assert state.typed("iversally acknowledged") is Outcome.USED_UP
    assert not state.active


def test_the_anchor_moves_in_the_document_s_units_past_an_emoji():
    state = streamed(" \U0001F600 and a smile")
    assert state.typed(" \U0001F600") is Outcome.KEPT
    assert state.anchor == 10 + 3  # Qt counts the emoji as two positions
    assert state.text == " and a smile"


def test_typing_something_else_drops_it():
    state = streamed(" universally")
    assert state.typed(" x") is Outcome.DROPPED
    assert not state.active and state.text == ""


def test_typing_filters_the_alternatives_without_renumbering():
    state = streamed(" yes sir", " no", " yes madam")
    assert state.typed(" yes") is Outcome.KEPT
    assert state.alternatives == [" sir", " madam"]
    assert state.cycle(1) and state.text == " madam"


def test_a_row_still_streaming_may_catch_up_with_what_was_typed():
    state = GhostState()
    state.expect(1, 0)
    state.add(1, 0, " go home")
    state.add(1, 1, " g")  # behind what will be typed, but it agrees so far
    assert state.typed(" go") is Outcome.KEPT
    state.add(1, 1, "one")
    state.finish(1)
    assert state.alternatives == [" home", "ne"]


def test_finish_keeps_only_the_result_rows_and_drops_blank_ones():
    state = streamed(" a", " b", "  ", finish=False)
    assert state.finish(1, {0, 2}) is Outcome.KEPT
    assert state.alternatives == [" a"]
    empty = streamed("   ", finish=False)
    assert empty.finish(1) is Outcome.DROPPED and not empty.active


def test_accept_gives_the_text_once():
    state = streamed(" the end")
    assert state.accept() == " the end"
    assert not state.active and state.accept() == ""


def test_accept_word_keeps_the_alternatives_that_begin_with_it():
    state = streamed(" a truth universally", " a lie", " the truth")
    word = state.next_word()
    assert word == " a"
    assert state.accept_word(word) is Outcome.KEPT
    assert state.alternatives == [" truth universally", " lie"] and state.anchor == 12
    state.choose(1)
    assert state.accept_word(state.next_word()) is Outcome.USED_UP and not state.active


def test_cycling_wraps_and_needs_two():
    state = streamed(" one", " two", " three")
    assert state.cycle(-1) and state.text == " three" and state.index == 2
    assert state.cycle(1) and state.text == " one"
    assert not streamed(" alone").cycle(1)
    assert not GhostState().cycle(1)


def test_moving_off_the_anchor_drops_it():
    state = streamed(" onward")
    assert not state.moved(10, selection=False)
    assert state.moved(10, selection=True) and not state.active
    assert not state.moved(3, selection=False)  # nothing left to drop


def test_the_state_imports_no_qt():
    code = "import sys, app.ghost; print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken'))))"
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
