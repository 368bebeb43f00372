"""The generation engine on its own thread, so that typing never waits for the model.

``Generator`` lives on the GUI thread and is all the window talks to. It owns a QThread on which an
``EngineWorker`` loads the Engine (app.engine) and runs requests one after another. A new request
sets the cancel event of the one before, so the worker drops stale work within one decode step.
Streamed pieces and results come back through queued signals, tagged with the request id, so the
GUI can ignore anything that belongs to a request it no longer wants.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from app.engine.params import GenerationParams
from core import logs

if TYPE_CHECKING:
    from app.engine import Engine


@dataclass
class Request:
    id: int
    kind: str  # "suggestion" | "story"
    text: str
    params: GenerationParams  # validated on the GUI thread, by Generator.request
    cancel: threading.Event = field(default_factory=threading.Event)


class EngineWorker(QObject):
    """Owns the Engine; every slot runs on the worker thread."""

    loaded = Signal(object)  # EngineStatus
    load_failed = Signal(str)
    piece = Signal(int, int, str, float)  # request id, alternative index, text, its probability
    finished = Signal(int, object)  # request id, GenerationResult
    failed = Signal(int, str)  # request id, message

    def __init__(self) -> None:
        super().__init__()
        self._engine: Engine | None = None

    @Slot(str, str, int)
    def load(self, folder: str, provider: str, threads: int) -> None:
        self._engine = None
        try:
            # Imported here, not at start-up: onnxruntime's import then does not delay the window.
            from app.engine import Engine
            from app.generation import lexicon
            from core.errors import ModelError

            try:
                # The words a completion may make (issue 21: never a non-word), on this thread.
                engine = Engine.load(folder, provider=provider, threads=threads, lexicon=lexicon())
            except ModelError as exc:
                logs.warning("model not loaded: %s", exc)
                self.load_failed.emit(str(exc))
                return
        except Exception as exc:  # noqa: BLE001 - a runtime that cannot start must not take the editor down
            logs.error("model not loaded: %s", folder, exc_info=True)
            self.load_failed.emit(f"{folder}: the model could not be loaded ({type(exc).__name__}: {exc})")
            return
        self._engine = engine
        if engine.status.message:
            logs.warning("model %s: %s", engine.status.model_name, engine.status.message)
        self.loaded.emit(engine.status)

    @Slot()
    def unload(self) -> None:
        self._engine = None

    @Slot(object)
    def generate(self, request: Request) -> None:
        if request.cancel.is_set():
            return  # superseded while it waited in the queue
        if self._engine is None:
            self.failed.emit(request.id, "No model is loaded")
            return
        try:
            result = self._engine.generate(
                request.text, request.params,
                on_token=lambda alt, piece, prob: self.piece.emit(request.id, alt, piece, prob),
                cancel=request.cancel,
            )
        except Exception as exc:  # noqa: BLE001 - a failed suggestion is reported; the editor goes on
            logs.error("generation failed", exc_info=True)
            self.failed.emit(request.id, f"Generation failed ({type(exc).__name__}: {exc})")
        else:
            self.finished.emit(request.id, result)


class Generator(QObject):
    """The GUI's handle on the worker: load a model, ask for text, cancel, shut down."""

    loaded = Signal(object)  # EngineStatus
    load_failed = Signal(str)
    piece = Signal(int, int, str, float)
    finished = Signal(int, object)
    failed = Signal(int, str)

    _load = Signal(str, str, int)
    _unload = Signal()
    _generate = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._current: Request | None = None
        self.ready = False
        self._thread = QThread()
        self._thread.setObjectName("inkwell-engine")
        self._worker = EngineWorker()
        self._worker.moveToThread(self._thread)
        self._thread.finished.connect(self._worker.deleteLater)
        self._load.connect(self._worker.load)
        self._unload.connect(self._worker.unload)
        self._generate.connect(self._worker.generate)
        self._worker.loaded.connect(self._on_loaded)
        self._worker.load_failed.connect(self._on_load_failed)
        self._worker.piece.connect(self.piece)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._thread.start()

    def load(self, folder: str, provider: str = "auto", threads: int = 0) -> None:
        self.cancel()
        self.ready = False
        self._load.emit(folder, provider, threads)

    def unload(self) -> None:
        self.cancel()
        self.ready = False
        self._unload.emit()

    def request(self, kind: str, text: str, params: GenerationParams) -> int:
        """Queue a generation; any earlier one still running is cancelled. Returns its id.

        ``params`` are checked here, on the GUI thread: parameters that cannot run never reach
        the worker, and are reported through ``failed`` (once the caller knows the id), as the
        engine's own failures are."""
        self.cancel()
        request_id = next(self._ids)
        try:
            params = replace(params).validate()  # a copy: the worker's, whatever the caller does next
        except ValueError as exc:
            logs.warning("generation settings refused: %s", exc)
            message = f"Generation settings: {exc}"
            QTimer.singleShot(0, self, lambda: self.failed.emit(request_id, message))
            return request_id
        self._current = Request(request_id, kind, text, params)
        self._generate.emit(self._current)
        return self._current.id

    def cancel(self) -> None:
        if self._current is not None:
            self._current.cancel.set()
            self._current = None

    @property
    def busy(self) -> bool:
        return self._current is not None

    def shutdown(self) -> None:
        self.cancel()
        self._thread.quit()
        self._thread.wait()

    def _on_loaded(self, status) -> None:
        self.ready = True
        self.loaded.emit(status)

    def _on_load_failed(self, message: str) -> None:
        self.ready = False
        self.load_failed.emit(message)

    def _on_finished(self, request_id: int, result) -> None:
        if self._current is not None and self._current.id == request_id:
            self._current = None
        self.finished.emit(request_id, result)

    def _on_failed(self, request_id: int, message: str) -> None:
        if self._current is not None and self._current.id == request_id:
            self._current = None
        self.failed.emit(request_id, message)
