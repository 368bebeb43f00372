"""Start the desktop application: ``inkwell [FILE]``."""

from __future__ import annotations

import os
import sys
import time
from typing import cast

from app.about import APP_ID
from core import paths

# Set by bench/bench_startup.py: print a line and quit once the window is first on screen.
QUIT_WHEN_SHOWN = "INKWELL_QUIT_WHEN_SHOWN"


def app_icon():
    """The application icon: the PNG sizes (no SVG image plugin needed) plus the SVG."""
    from PySide6.QtGui import QIcon

    icon = QIcon()
    for png in sorted((paths.icons_dir() / "hicolor").glob(f"*/apps/{APP_ID}.png")):
        icon.addFile(str(png))
    svg = paths.icons_dir() / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    if svg.is_file():
        icon.addFile(str(svg))
    return icon


def display_problem(environ=os.environ, platform: str = sys.platform) -> str | None:
    """Why the window cannot open here (no display to open it on), or None.

    Qt, started on Linux without one, aborts the whole process with a hint about a missing
    xcb-cursor library; this says what is really wrong before Qt is asked."""
    if not platform.startswith("linux"):
        return None
    chosen = environ.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    if chosen and not chosen.startswith(("xcb", "wayland")):
        return None  # offscreen, vnc, eglfs...: platforms that need no desktop session
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return ("no display: the editor needs a desktop session to open its window, and neither DISPLAY "
            "nor WAYLAND_DISPLAY is set. In a terminal: inkwell --help lists the commands that need no "
            "window; inkwell --self-test checks the installation.")


def run(argv: list[str]) -> int:
    started = time.perf_counter()
    if len(argv) > 1:
        print(f"inkwell: one file at a time (got {len(argv)}: {' '.join(argv)}); "
              "inkwell --help lists the commands", file=sys.stderr)
        return 2
    if argv and argv[0].startswith("-"):
        print(f"inkwell: unknown option {argv[0]} (inkwell --help lists the commands and options)", file=sys.stderr)
        return 2
    problem = display_problem()
    if problem:
        print(f"inkwell: {problem}", file=sys.stderr)
        return 1
    from PySide6.QtWidgets import QApplication

    from app.ui.main_window import MainWindow
    from core import logs
    logs.setup()  # never fails: without a writable log folder there is simply no log
    app = cast(QApplication, QApplication.instance() or QApplication([sys.argv[0]]))
    app.setApplicationName("Inkwell")
    app.setApplicationDisplayName("Inkwell")
    # The desktop entry's name without ".desktop": Wayland's app id, so the dock shows our icon.
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())
    window = MainWindow()
    if os.environ.get(QUIT_WHEN_SHOWN):
        _quit_when_shown(window, started)
    window.show()
    # The model loads on the worker thread once the window is up; the file opens right away.
    window.start(argv[0] if argv else None)
    if not os.environ.get(QUIT_WHEN_SHOWN):
        from app.ui.welcome import show_first_run

        show_first_run(window)  # the first start only
    return app.exec()


def _quit_when_shown(window, started: float) -> None:
    """Print 'inkwell: window shown' once the window has been exposed and painted, then quit."""
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication

    class Watcher(QObject):
        def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt's name
            if event.type() == QEvent.Type.Expose and obj.isExposed():
                obj.removeEventFilter(self)
                # The first frame is painted on the turn after the expose event.
                QTimer.singleShot(0, done)
            return False

    def done() -> None:
        print(f"inkwell: window shown ({(time.perf_counter() - started) * 1e3:.0f} ms after run())", flush=True)
        window.close()
        QApplication.quit()

    window.winId()  # creates the native window, so its QWindow exists to be watched
    window._shown_watcher = Watcher(window)
    window.windowHandle().installEventFilter(window._shown_watcher)
