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


# What Qt's X11 and Wayland plugins link to, on Debian and Ubuntu (README, "Troubleshooting: Qt
# on a bare Linux").
QT_APT_LINE = ("sudo apt-get install libegl1 libgl1 libfontconfig1 libfreetype6 libdbus-1-3 libglib2.0-0 "
               "libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 "
               "libxcb-image0 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 "
               "libxcb-sync1 libxcb-shm0 libxcb-glx0 libwayland-client0 libwayland-cursor0 libwayland-egl1")


def _has_library(soname: str) -> bool:
    """Whether the dynamic linker can load ``soname`` (or the standalone folder carries it)."""
    import ctypes

    try:
        ctypes.CDLL(soname)
        return True
    except OSError:
        pass
    from pathlib import Path

    here = Path(getattr(sys, "_MEIPASS", "") or Path(__file__).resolve().parent.parent)
    try:
        import PySide6

        places = [here, Path(PySide6.__file__).parent / "Qt" / "lib"]
    except ImportError:
        places = [here]
    return any(next(place.glob(f"{soname}*"), None) for place in places if place.is_dir())


def display_problem(environ=os.environ, platform: str = sys.platform, has_library=None) -> str | None:
    """Why the window cannot open here (no display to open it on, or the X11 plugin's
    libxcb-cursor missing), or None.

    Qt, started on Linux without either, aborts the whole process (rc 134) with a hint about a
    missing xcb-cursor library; this says what is really wrong before Qt is asked."""
    if not platform.startswith("linux"):
        return None
    chosen = environ.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    if chosen and not chosen.startswith(("xcb", "wayland")):
        return None  # offscreen, vnc, eglfs...: platforms that need no desktop session
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        # Qt takes X11 (xcb) when asked, or when there is no Wayland session to use.
        xcb = chosen.startswith("xcb") or (not chosen and not environ.get("WAYLAND_DISPLAY"))
        if xcb and not (has_library or _has_library)("libxcb-cursor.so.0"):
            return ("Qt's X11 plugin needs the system library libxcb-cursor0, which is not installed, so "
                    "the window cannot open. On Debian and Ubuntu install it with what Qt needs (README, "
                    f"\"Troubleshooting: Qt on a bare Linux\"):\n  {QT_APT_LINE}")
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
