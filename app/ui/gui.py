"""Start the desktop application: ``inkwell [FILE]``."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
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


def _xcb_plugin() -> Path | None:
    """Qt's X11 platform plugin as PySide6 carries it (also in the standalone folder)."""
    try:
        import PySide6
    except ImportError:
        return None
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def missing_qt_library(plugin: Path | None = None) -> str | None:
    """The first system library that Qt's X11 plugin (``plugin``, else PySide6's own) needs and
    the dynamic linker cannot find, or None when it loads (or there is no plugin to try, or it
    fails for another reason, which Qt then reports itself).

    Loading the plugin itself asks the linker for everything it links to, Qt's own libraries and
    the system's, as Qt will; its error names the first library it could not find."""
    import ctypes

    plugin = plugin or _xcb_plugin()
    if plugin is None:
        return None
    try:
        ctypes.CDLL(str(plugin))
    except OSError as exc:
        found = re.search(r"([^\s:/]+\.so[.\d]*): cannot open shared object file", str(exc))
        return found.group(1) if found else None
    return None


def _debian_package(soname: str) -> str | None:
    """The package of the README's apt line that holds ``soname`` (Debian names a library's
    package after its name and major version: libxcb-cursor.so.0 is in libxcb-cursor0)."""
    stem, _, version = soname.partition(".so.")
    package = f"{stem.lower()}{'-' if stem[-1:].isdigit() else ''}{version.split('.')[0]}"
    return package if version and package in QT_APT_LINE.split() else None


def display_problem(environ=os.environ, platform: str = sys.platform,
                    missing_library: Callable[[], str | None] | None = None) -> str | None:
    """Why the window cannot open here (no display to open it on, or a system library that Qt's
    X11 plugin needs missing), or None.

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
        missing = (missing_library or missing_qt_library)() if xcb else None
        if missing:
            package = _debian_package(missing)
            named = f"{missing} (package {package} on Debian and Ubuntu)" if package else missing
            return (f"Qt's X11 plugin needs the system library {named}, which is not installed, so the "
                    "window cannot open. On Debian and Ubuntu this installs it with everything else Qt needs "
                    f"(README, \"Troubleshooting: Qt on a bare Linux\"):\n  {QT_APT_LINE}")
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
        def eventFilter(self, obj, event) -> bool:
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
