"""``inkwell --self-test``: does this installation work? Checks what a writer's first minute needs.

Runs offscreen (no display needed) in a temporary Inkwell home, so the user's settings, models
and autosaves are neither read nor touched. Prints one line per check and exits 0 when all pass,
1 when one fails (its line says what went wrong). The same checks run from source and in the
standalone build; tests/test_packaging.py runs them in a freshly built bundle.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable

PROMPT = "It is a truth universally acknowledged, that a single man in possession of a good"
TOKENS = 8
WAIT_S = 120


class Failed(Exception):
    """A check failed; the message says why, in words."""


def main(argv: list[str]) -> int:
    if argv:
        print("usage: inkwell --self-test", file=sys.stderr)
        return 2
    saved = {key: os.environ.get(key) for key in ("QT_QPA_PLATFORM", "INKWELL_HOME")}
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    try:
        with tempfile.TemporaryDirectory(prefix="inkwell-self-test-") as home:
            os.environ["INKWELL_HOME"] = home
            return _run()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run() -> int:
    from app.about import frozen

    print(f"Inkwell self-test ({'standalone build at ' + sys.executable if frozen() else 'from ' + sys.executable})")
    state: dict = {}
    checks: list[tuple[str, Callable[[dict], str]]] = [
        ("versions", _versions),
        ("tokenizer", _tokenizer),
        ("bundled model", _bundled_model),
        ("generation", _generation),
        ("window", _window),
        ("torch kept out", _no_torch),
    ]
    failed = 0
    for name, check in checks:
        started = time.perf_counter()
        try:
            detail = check(state)
        except Failed as exc:
            failed += 1
            print(f"FAIL {name}: {exc}", flush=True)
            continue
        except Exception as exc:  # noqa: BLE001 - a self-test reports every failure and goes on
            failed += 1
            print(f"FAIL {name}: {type(exc).__name__}: {exc}", flush=True)
            traceback.print_exc(file=sys.stderr)
            continue
        print(f"ok   {name}: {detail} [{time.perf_counter() - started:.2f} s]", flush=True)
    from app.tools import torch_missing

    print(f"note torch tools (export, train): {torch_missing() or 'available'}")
    print(f"self-test {'FAILED: ' + str(failed) + ' of ' + str(len(checks)) + ' checks' if failed else 'passed'}"
          f" ({len(checks) - failed} of {len(checks)} checks passed)")
    return 1 if failed else 0


def _versions(state: dict) -> str:
    from app.about import versions
    from app.ui.about import qt_versions

    return ", ".join(f"{name} {version}" for name, version in versions(qt_versions()))


def _tokenizer(state: dict) -> str:
    from core import tokenizer

    text = "Elizabeth's letter — «naïve» 🙂"
    tokens = tokenizer.encode(text)
    if tokenizer.decode(tokens) != text:
        raise Failed("GPT-2 tokenizer does not round-trip text")
    return f"GPT-2 BPE files at {tokenizer.BPE_DIR} (sha256 checked), {len(tokens)} tokens round-trip"


def _bundled_model(state: dict) -> str:
    from app import models
    from core import paths
    from core.bundle import Bundle

    bundled = [m for m in models.installed_models() if m.bundled]
    if not bundled:
        raise Failed(f"no model bundle under {paths.bundled_models_dir()}")
    if bundled[0].problem:
        raise Failed(bundled[0].problem)
    Bundle.load(bundled[0].folder).verify()  # every file's sha256, as the manifest lists it
    state["model"] = bundled[0]
    return f"{bundled[0].name} at {bundled[0].folder} (all files' sha256 checked)"


def _generation(state: dict) -> str:
    from app.engine import Engine, GenerationParams

    if "model" not in state:
        raise Failed("skipped: no bundled model")
    started = time.perf_counter()
    engine = Engine.load(state["model"].folder)
    load_s = time.perf_counter() - started
    result = engine.generate(PROMPT, GenerationParams(max_new_tokens=TOKENS, temperature=0, length="tokens",
                                                      stop_at_eot=False))
    produced = len(result.alternatives[0].token_ids) if result.alternatives else 0
    if produced == 0 or not result.text.strip():
        raise Failed(f"the model produced no text for {PROMPT!r}")
    state["continuation"] = result.text
    s = engine.status
    return (f"{s.model_name} on {s.provider} ({s.variant}), loaded in {load_s:.2f} s; {produced} tokens greedy: "
            f"{PROMPT[-20:]!r} -> {result.text!r}")


def _window(state: dict) -> str:
    """The real main window, offscreen, with the icon; the worker thread loads the bundled model
    and streams a suggestion, as when a writer pauses."""
    from PySide6.QtCore import qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0]])
    # Qt's own chatter (the offscreen platform warns about what it cannot do) is no result of the
    # check: it is kept, and shown only if the check fails.
    qt_messages: list[str] = []
    previous = qInstallMessageHandler(lambda _kind, _context, message: qt_messages.append(message))
    try:
        return _show_window(app, state)
    except Failed as exc:
        if qt_messages:
            raise Failed(f"{exc} (Qt said: {'; '.join(qt_messages[-5:])})") from None
        raise
    finally:
        qInstallMessageHandler(previous)


def _show_window(app, state: dict) -> str:
    from PySide6.QtCore import QEventLoop, QObject, QTimer

    from app.engine.params import GenerationParams
    from app.ui.gui import app_icon
    from app.ui.main_window import MainWindow

    icon = app_icon()
    if icon.isNull() or not icon.availableSizes():
        raise Failed("the application icon's files are missing")
    app.setWindowIcon(icon)
    window = MainWindow()
    window.show()
    window.start()
    events: dict = {}
    loop = QEventLoop()
    generator = window.suggestions.generator

    class Watch(QObject):
        """(A QObject's methods: the worker's signals reach them on this thread.)"""

        def loaded(self, _status) -> None:
            params = GenerationParams(max_new_tokens=TOKENS, temperature=0, length="tokens", stop_at_eot=False)
            events["request"] = generator.request("suggestion", PROMPT, params)

        def finished(self, request, result) -> None:
            if request is events.get("request"):
                events["result"] = result
                loop.quit()

        def failed(self, _request, message: str) -> None:
            self.load_failed(message)

        def load_failed(self, message: str) -> None:
            events["error"] = message
            loop.quit()

    watch = Watch()
    generator.loaded.connect(watch.loaded)
    generator.load_failed.connect(watch.load_failed)
    generator.finished.connect(watch.finished)
    generator.failed.connect(watch.failed)
    QTimer.singleShot(WAIT_S * 1000, loop.quit)
    loop.exec()
    window.close()
    if "error" in events:
        raise Failed(events["error"])
    if "result" not in events:
        raise Failed(f"no suggestion from the worker thread within {WAIT_S} s")
    text = events["result"].text
    if "continuation" in state and text != state["continuation"]:
        raise Failed(f"the window's suggestion {text!r} differs from the engine's {state['continuation']!r}")
    return (f"main window on Qt's {app.platformName()} platform, icon {max(s.width() for s in icon.availableSizes())} px; "
            f"worker thread suggested {text!r}")


def _no_torch(state: dict) -> str:
    if "torch" in sys.modules:
        raise Failed("the GUI process imported torch")
    return "the GUI process did not import torch"
