"""core.events: one JSON line per event for programs, the same events in words for people."""

from __future__ import annotations

import io
import json

from core.events import Printer, emit_json, read_line


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_an_event_is_one_ascii_json_line_that_reads_back_the_same():
    out = io.StringIO()
    emit_json({"event": "sample", "text": "naïve — “quoted”\nnext"}, out)
    line = out.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1 and line.isascii()
    assert read_line(line) == {"event": "sample", "text": "naïve — “quoted”\nnext"}
    assert json.loads(line)["event"] == "sample"


def test_lines_that_are_not_events_are_left_out():
    for line in ("", "warming up", "[1, 2]", '{"no": "kind"}', "[" * 100_000):
        assert read_line(line) is None


WORDS = {"progress": lambda e: f"{e['done']} of 10", "done": lambda e: "done",
         "quiet": lambda e: None}


def test_a_printer_says_the_events_it_has_words_for():
    out = io.StringIO()
    printer = Printer(WORDS, in_place=frozenset({"progress"}), stream=out)
    for event in ({"event": "progress", "done": 1}, {"event": "other"}, {"event": "quiet"},
                  {"event": "progress", "done": 2}, {"event": "done"}):
        printer(event)
    printer.say("bye")
    assert out.getvalue() == "1 of 10\n2 of 10\ndone\nbye\n"  # not a terminal: a line each


def test_on_a_terminal_a_running_count_updates_one_line():
    out = Terminal()
    printer = Printer(WORDS, in_place=frozenset({"progress"}), stream=out)
    for event in ({"event": "progress", "done": 1}, {"event": "progress", "done": 2}, {"event": "done"}):
        printer(event)
    assert out.getvalue() == "\r1 of 10\r2 of 10\ndone\n"


def test_a_line_updated_in_place_is_ended_before_others_write():
    out = Terminal()
    printer = Printer(WORDS, in_place=frozenset({"progress"}), stream=out)
    printer({"event": "progress", "done": 3})
    printer.end_line()
    printer.end_line()  # once only
    assert out.getvalue() == "\r3 of 10\n"
