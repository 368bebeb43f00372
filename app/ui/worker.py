"""The generation engine on its own thread, so that typing never waits for the model.

``Generator`` lives on the GUI thread and is all the window talks to. It owns a QThread on which an
``EngineWorker`` loads the Engine (app.engine) and runs requests one after another. ``request``
returns the ``Request`` itself as the caller's handle: streamed pieces and results come back through
queued signals to the GUI thread, each carrying its Request, so the one who asked
(app.ui.suggestions) tells what is still wanted by the handle alone and cancels what is not (the
worker then drops it within one decode step).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from app.engine.params import GenerationParams
from core import logs

if TYPE_CHECKING:
    from app.engine import Engine


@dataclass(eq=False)  # a handle: one request is equal to itself only
class Request:
    kind: str  # "suggestion" | "story"
    text: str
    params: GenerationParams  # validated on the GUI thread, by Generator.request
    stop: threading.Event = field(default_factory=threading.Event)
    refused: str | None = None  # why the parameters cannot run (then it never reaches the worker)

    def cancel(self) -> None:
        """No longer wanted: the worker skips it, or stops it within one decode step."""
        self.stop.set()


class EngineWorker(QObject):
    """Owns the Engine; every slot runs on the worker thread."""

    loaded = Signal(object)  # EngineStatus
    load_failed = Signal(str)
    piece = Signal(object, int, str, float)  # Request, alternative index, text, its probability
    finished = Signal(object, object)  # Request, GenerationResult
    failed = Signal(object, str)  # Request, message

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
        if request.stop.is_set():
            return  # superseded while it waited in the queue
        if self._engine is None:
            self.failed.emit(request, "No model is loaded")
            return
        try:
            result = self._engine.generate(
                request.text, request.params,
                on_token=lambda alt, piece, prob: self.piece.emit(request, alt, piece, prob),
                cancel=request.stop,
            )
        except Exception as exc:  # noqa: BLE001 - a failed suggestion is reported; the editor goes on
            logs.error("generation failed", exc_info=True)
            self.failed.emit(request, f"Generation failed ({type(exc).__name__}: {exc})")
        else:
            self.finished.emit(request, result)


class Generator(QObject):
    """The GUI's handle on the worker: load a model, ask for text, shut down.

    Its signals are the worker's, emitted again here on the GUI thread: that is where everything
    connected to them runs, plain functions (and pytest-qt's waitSignal) included, which PySide
    would otherwise call on the worker's thread. Each carries the Request that ``request`` gave
    out; which request is wanted is for the caller to say (``Request.cancel``), not for the
    Generator, which keeps none."""

    loaded = Signal(object)  # EngineStatus
    load_failed = Signal(str)
    piece = Signal(object, int, str, float)  # Request, alternative index, text, its probability
    finished = Signal(object, object)  # Request, GenerationResult
    failed = Signal(object, str)  # Request, message

    _load = Signal(str, str, int)
    _unload = Signal()
    _generate = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
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
        self._worker.piece.connect(self._on_piece)
        self._worker.finished.connect(self._on_finished)
        self._worker.failed.connect(self._on_failed)
        self._thread.start()

    def load(self, folder: str, provider: str = "auto", threads: int = 0) -> None:
        self.ready = False
        self._load.emit(folder, provider, threads)

    def unload(self) -> None:
        self.ready = False
        self._unload.emit()

    def request(self, kind: str, text: str, params: GenerationParams) -> Request:
        """Queue a generation; the Request returned is the caller's handle on it (to cancel it,
        and to know its pieces and its end, which carry it).

        ``params`` are checked here, on the GUI thread: parameters that cannot run never reach
        the worker, and are reported through ``failed`` (once the caller holds the handle), as the
        engine's own failures are."""
        request = Request(kind, text, params)
        try:
            request.params = replace(params).validate()  # a copy: the worker's, whatever the caller does next
        except ValueError as exc:
            logs.warning("generation settings refused: %s", exc)
            message = request.refused = f"Generation settings: {exc}"
            QTimer.singleShot(0, self, lambda: self.failed.emit(request, message))
            return request
        self._generate.emit(request)
        return request

    def shutdown(self) -> None:
        self._thread.quit()
        self._thread.wait()

    # (QObject methods: queued from the worker's thread to this one)

    def _on_loaded(self, status) -> None:
        self.ready = True
        self.loaded.emit(status)

    def _on_load_failed(self, message: str) -> None:
        self.ready = False
        self.load_failed.emit(message)

    def _on_piece(self, request: Request, alternative: int, piece: str, probability: float) -> None:
        self.piece.emit(request, alternative, piece, probability)

    def _on_finished(self, request: Request, result) -> None:
        self.finished.emit(request, result)

    def _on_failed(self, request: Request, message: str) -> None:
        self.failed.emit(request, message)
