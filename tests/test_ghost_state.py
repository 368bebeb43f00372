"""The suggestion state on its own, without Qt: streaming, typing through, accepting, cycling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.ghost import GhostState, Outcome


class Place:
    """An anchor as the editor's text cursor is one: text inserted at or before it moves it on."""

    def __init__(self, at: int) -> None:
        self.at = at

    def position(self) -> int:
        return self.at

    def inserted(self, at: int, count: int) -> None:
        if at <= self.at:
            self.at += count


def streamed(*alternatives: str, anchor: Place | None = None, finish: bool = True) -> GhostState:
    state = GhostState()
    state.expect(anchor or Place(10))
    for row, text in enumerate(alternatives):
        for piece in (text[: len(text) // 2], text[len(text) // 2:]):
            state.add(row, piece)
    if finish:
        state.finish()
    return state


def test_a_new_suggestion_replaces_the_one_before():
    state = GhostState()
    state.expect(Place(0))
    assert state.add(0, " was")
    state.expect(Place(3))
    assert state.text == "" and state.anchor == 3
    assert state.add(0, " is")
    assert state.text == " is"


def test_pieces_after_the_suggestion_was_dropped_are_ignored():
    state = streamed(" was", finish=False)
    state.clear()
    assert not state.add(0, " late") and state.finish() is Outcome.NONE and not state.active


def test_only_the_shown_row_changes_the_shown_text():
    state = GhostState()
    state.expect(Place(0))
    assert state.add(0, " a")
    assert not state.add(1, " b")
    assert state.text == " a" and state.alternatives == [" a", " b"]


def test_typing_through_keeps_the_rest_as_the_anchor_moves_on():
    place = Place(10)
    state = streamed(" universally acknowledged", anchor=place)
    place.inserted(10, 3)  # (the edit is made, and the anchor has followed it, before the state hears of it)
    assert state.may_type_into(10, 0, 3)
    assert not state.may_type_into(11, 0, 3) and not state.may_type_into(10, 1, 3)
    assert state.typed(" un") is Outcome.KEPT
    assert state.text == "iversally acknowledged" and state.anchor == 13
    assert state.typed("iversally acknowledged") is Outcome.USED_UP
    assert not state.active


def test_text_typed_before_the_anchor_is_not_typed_into_it():
    place = Place(10)
    state = streamed(" universally", anchor=place)
    place.inserted(4, 3)
    assert not state.may_type_into(4, 0, 3) and state.anchor == 13


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
    state.expect(Place(0))
    state.add(0, " go home")
    state.add(1, " g")  # behind what will be typed, but it agrees so far
    assert state.typed(" go") is Outcome.KEPT
    state.add(1, "one")
    state.finish()
    assert state.alternatives == [" home", "ne"]


def test_finish_keeps_only_the_result_rows_and_drops_blank_ones():
    state = streamed(" a", " b", "  ", finish=False)
    assert state.finish({0, 2}) is Outcome.KEPT
    assert state.alternatives == [" a"]
    empty = streamed("   ", finish=False)
    assert empty.finish() is Outcome.DROPPED and not empty.active


def test_accept_gives_the_text_once():
    state = streamed(" the end")
    assert state.accept() == " the end"
    assert not state.active and state.accept() == ""


def test_accept_word_keeps_the_alternatives_that_begin_with_it():
    place = Place(10)
    state = streamed(" a truth universally", " a lie", " the truth", anchor=place)
    word = state.next_word()
    assert word == " a"
    place.inserted(10, len(word))
    assert state.accept_word(word) is Outcome.KEPT
    assert state.alternatives == [" truth universally", " lie"] and state.anchor == 12
    state.choose(1)
    assert state.accept_word(state.next_word()) is Outcome.USED_UP and not state.active


def test_a_word_and_the_mark_after_it_are_taken_one_at_a_time():
    state = streamed(" her.\u201d She went")
    assert state.next_word() == " her"  # the writer may go on with a comma, not a full stop
    state.accept_word(" her")
    assert state.next_word() == "."
    state.accept_word(".")
    assert state.next_word() == "\u201d"
    state.accept_word("\u201d")
    assert state.next_word() == " She"


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
