"""Render the SVG icon to the PNG sizes desktops look for: ``python packaging/render_icons.py``.

Writes resources/icons/hicolor/NxN/apps/APP_ID.png next to the scalable SVG (run it after changing
the SVG and commit the PNGs: the app and the bundle use them without an SVG image plugin).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

from app.about import APP_ID  # noqa: E402

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def main() -> int:
    app = QGuiApplication([sys.argv[0]])  # noqa: F841 - QPainter needs a GUI application
    hicolor = ROOT / "resources" / "icons" / "hicolor"
    renderer = QSvgRenderer(str(hicolor / "scalable" / "apps" / f"{APP_ID}.svg"))
    if not renderer.isValid():
        print("the SVG icon does not parse", file=sys.stderr)
        return 1
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        out = hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        image.save(str(out))
        print(out.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
