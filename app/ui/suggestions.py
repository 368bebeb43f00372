"""Suggestions and story mode: the one owner of the model, its requests and what they bring back.

``SuggestionController`` owns the Generator (app.ui.worker: the engine on its own thread) and the
handles of its requests: it alone decides which request is wanted (the suggestion the editor's
ghost text waits for, or the story being written), cancels the others, measures latency, and routes
streamed pieces by their handle: a suggestion's to the editor's ghost text, a story's into the
text. The window only shows what it reports (status, speed, story state) and triggers its actions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from app import models
from app.engine.params import GenerationParams
from app.generation import params_for
from app.settings import Settings
from app.ui.editor import GhostEditor
from app.ui.worker import Generator, Request
from core import paths

MODEL_KEYS = ("model", "provider", "threads")


@dataclass
class _Asked:
    """The suggestion wanted now: its request, when it was asked for, when its first piece came."""

    request: Request
    at: float
    first_piece_ms: float | None = None


class SuggestionController(QObject):
    model_status = Signal(str, str)  # short label, detail (the model label and its tooltip)
    notice = Signal(str)  # something the writer must not miss
    message = Signal(str, int)  # a passing status-bar message, for so many ms
    speed = Signal(str)  # the last suggestion's latency and decoding speed ("" = none yet)
    story_changed = Signal()  # writing started or ended, or the last story was kept

    def __init__(self, editor: GhostEditor, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.settings = settings
        self.generator = Generator(self)
        self.model_name = ""
        self.status_detail = ""
        self._asked: _Asked | None = None  # the suggestion wanted, if any
        self._asking = False  # the writer asked for this suggestion (Ctrl+Space): shown however unsure
        self._story: Request | None = None  # the story being written, if any
        self.story_span: tuple[int, int] | None = None  # the last story's text, while it can be retried
        self._retries = 0
        editor.suggestion_wanted.connect(self.request_suggestion)
        editor.ghost_cleared.connect(self._ghost_cleared)
        editor.user_edited.connect(self._user_edited)
        editor.interrupted.connect(self.story_stop)
        g = self.generator
        g.loaded.connect(self._model_loaded)
        g.load_failed.connect(self._model_failed)
        g.piece.connect(self._piece)
        g.finished.connect(self._finished)
        g.failed.connect(self._failed)

    # the model -------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.generator.ready

    def load_model(self) -> None:
        model, notice = models.active_model(self.settings["model"])
        self.editor.clear_ghost()
        self._drop_suggestion()  # (one typed to its end may still stream: the load waits for no one)
        if self.editor.generating:
            self.story_stop()
        if model is None:
            self.generator.unload()
            self.model_name = ""
            self._status("No model", "No model is installed: suggestions are off. Editing and "
                                     f"files work as usual. Models go in {paths.models_dir()}.")
            self.message.emit("No model installed: suggestions are off", 10000)
            return
        if notice:
            self.notice.emit(notice)
        self.model_name = model.name
        self._status(f"{model.name} · loading…", f"Loading {model.folder}")
        self.generator.load(str(model.folder), self.settings["provider"], self.settings["threads"])

    def _status(self, text: str, detail: str) -> None:
        self.status_detail = detail
        self.model_status.emit(text, detail)

    def _model_loaded(self, status) -> None:
        provider = {"cpu": "CPU", "cuda": "CUDA"}.get(status.provider, status.provider)
        detail = f"{status.model_name} runs on {provider} ({status.variant})."
        if status.message:
            detail += f" {status.message}"
            self.message.emit(status.message, 10000)
        self._status(f"{status.model_name} · {provider} {status.variant}", detail)

    def _model_failed(self, message: str) -> None:
        self._status("Model not loaded", f"{message}. Editing and files work as usual.")
        self.notice.emit(f"The model could not be loaded: {message}")

    def no_model_reason(self) -> str:
        return f"No suggestions: {self.status_detail or 'no model is loaded'}"

    def shutdown(self) -> None:
        self.story_stop()
        self._drop_suggestion()
        self.generator.shutdown()

    # suggestions -----------------------------------------------------------------------------

    def params(self, kind: str, asked: bool = False) -> GenerationParams:
        """What a request asks of the engine; the engine decides whether a suggestion is shown
        (its first word's calibrated confidence against the "Show suggestions" setting, unless
        ``asked``): the editor shows whatever comes."""
        return params_for(self.settings, kind, self._retries, asked=asked)

    def suggest_now(self) -> None:
        if not self.generator.ready:
            self.message.emit(self.no_model_reason(), 5000)
            return
        self._asking = True
        try:
            self.editor.ask_now()
        finally:
            self._asking = False

    def request_suggestion(self, text: str, _anchor: int) -> None:
        """The editor waits for a suggestion of ``text`` at ``_anchor`` (its ghost holds the place)."""
        self._drop_suggestion()
        if not self.generator.ready or self.editor.generating:
            self.editor.clear_ghost()  # none will come
            return
        request = self.generator.request("suggestion", text, self.params("suggestion", asked=self._asking))
        self._asked = _Asked(request, time.perf_counter())

    def _drop_suggestion(self) -> None:
        """The suggestion asked for is no longer wanted: its request stops, its pieces are ignored."""
        asked, self._asked = self._asked, None
        if asked is not None:
            asked.request.cancel()

    def _ghost_cleared(self) -> None:
        self._drop_suggestion()

    def _suggestion(self, request: Request) -> _Asked | None:
        asked = self._asked
        return asked if asked is not None and asked.request is request else None

    def _piece(self, request: Request, alternative: int, piece: str, probability: float = 1.0) -> None:
        if request is self._story:
            if alternative == 0:
                self.editor.append_generated(piece)
            return
        asked = self._suggestion(request)
        if asked is None:
            return  # a request no longer wanted
        if asked.first_piece_ms is None:
            asked.first_piece_ms = (time.perf_counter() - asked.at) * 1e3
        self.editor.add_piece(alternative, piece, probability)

    def _finished(self, request: Request, result) -> None:
        if request is self._story:
            self._story_done()
            return
        asked = self._suggestion(request)
        if asked is None:
            return
        self._asked = None
        self.editor.finish_suggestion(None if result.cancelled else {alt.row for alt in result.alternatives})
        if not result.cancelled and asked.first_piece_ms is not None:
            self.speed.emit(f"latency {asked.first_piece_ms:.0f} ms, {result.decode_tokens_per_s:.0f} tok/s")

    def _failed(self, request: Request, message: str) -> None:
        if request is self._story:
            self._story_done()
        elif self._suggestion(request) is not None:
            self._asked = None
            self.editor.clear_ghost()
        self.message.emit(message, 10000)

    def pick_alternative(self, index: int) -> None:
        self.editor.choose(index)
        self.editor.accept()

    # story mode ------------------------------------------------------------------------------

    @property
    def writing(self) -> bool:
        return self._story is not None

    @property
    def busy(self) -> bool:
        """A request of this controller's is still wanted (a suggestion streaming, or a story)."""
        return self._asked is not None or self._story is not None

    def story_continue(self) -> None:
        if self.editor.generating or self.editor.isReadOnly():
            return
        if not self.generator.ready:
            self.message.emit(self.no_model_reason(), 5000)
            return
        self._retries = 0
        self._start_story(None)

    def story_retry(self) -> None:
        span = self.story_span
        if self.editor.generating or not self.generator.ready or span not in self.editor.generated_ranges():
            return
        self._retries += 1
        self._start_story(span)

    def _start_story(self, replace: tuple[int, int] | None) -> None:
        if replace is not None:
            cursor = self.editor.textCursor()
            cursor.setPosition(replace[0])
            self.editor.setTextCursor(cursor)
        prompt = self.editor.text_before_cursor()
        self.editor.begin_generated(replace)
        self._drop_suggestion()  # (one typed to its end may still stream: the story need not wait)
        self._story = self.generator.request("story", prompt, self.params("story"))
        self.story_changed.emit()

    def story_stop(self) -> None:
        if self._story is not None:
            self._story.cancel()
            self._story_done()

    def _story_done(self) -> None:
        self._story = None
        self.story_span = self.editor.end_generated()
        self.story_changed.emit()

    def story_keep(self) -> None:
        self.story_span = None
        self.story_changed.emit()

    def _user_edited(self) -> None:
        if self._story is not None:
            self.story_stop()
        if self.story_span is not None and self.story_span not in self.editor.generated_ranges():
            # the writer changed the continuation: it is theirs now, nothing to retry
            self.story_keep()

    def reset(self) -> None:
        """A new document: no story, no suggestion, no marks."""
        self.story_stop()
        self.story_keep()
        self.editor.clear_ghost()
        self.editor.clear_marks()
