"""The events Inkwell's command-line tools report: one protocol, for programs and for people.

An event is a JSON object with its kind under ``"event"`` (``{"event": "progress", "step": 3,
...}``). With ``--json`` each goes to stdout as one line (``emit_json``), which the editor reads
from the tool's process; a failure is an ``error`` event with a ``message``. Without it a
``Printer`` puts the events a person cares about in words on stderr, one line each, and the
rest not at all.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

Event = dict[str, Any]
Emit = Callable[[Event], None]
Words = Callable[[Event], "str | None"]  # an event in words; None: nothing to say


def event_line(event: Event) -> str:
    """One event as its JSON line. ASCII only: the line passes any pipe's encoding unchanged
    (a Windows console's code page included), and reads back as the same text."""
    return json.dumps(event)


def read_line(line: str | bytes) -> Event | None:
    """The event a line holds; None for a line that is not one (a stray print from a library)."""
    try:
        event = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) and "event" in event else None


def emit_json(event: Event, stream: TextIO | None = None) -> None:
    """Write ``event`` as one JSON line to ``stream`` (stdout), at once: the reader follows live."""
    out = stream or sys.stdout
    out.write(event_line(event) + "\n")
    out.flush()


class Printer:
    """Events in words on ``stream`` (stderr), one line each, as ``words`` (event kind -> the
    event in words) says. On a terminal the kinds in ``in_place`` (a running count) update one
    line instead of adding one a tick; elsewhere (a log file) every line stays."""

    def __init__(self, words: dict[str, Words], in_place: frozenset[str] = frozenset(),
                 stream: TextIO | None = None) -> None:
        self.words = words
        self.in_place = in_place
        self.stream = stream
        self._open = False  # a line updated in place and not ended yet

    def __call__(self, event: Event) -> None:
        describe = self.words.get(event.get("event", ""))
        line = describe(event) if describe else None
        if line is None:
            return
        out = self.stream or sys.stderr
        if event["event"] in self.in_place and out.isatty():
            out.write("\r" + line)
            self._open = True
            out.flush()
        else:
            self.say(line)

    def say(self, message: str) -> None:
        """A line of the tool's own, among the events."""
        out = self.stream or sys.stderr
        out.write(("\n" if self._open else "") + message + "\n")
        self._open = False
        out.flush()

    def end_line(self) -> None:
        """End a line updated in place, so that what is written next (an error) starts its own."""
        if self._open:
            out = self.stream or sys.stderr
            out.write("\n")
            self._open = False
            out.flush()
