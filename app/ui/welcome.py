"""The first start's welcome: the keys in one picture, a word on the small bundled model, and,
when the network is there, GPT-2 to download with its size. Shown once (the ``welcome_shown``
setting), by the application's start (app.ui.gui), never by a window made for a test or a bench.

Whether the network is there is learnt the way Model ▸ Manage models ▸ Download learns the
size: by asking the hub for GPT-2's file list in a child process (app.models_cli --plan), so
the window never waits for a slow or absent network.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from app import hub, models
from app.settings import Settings
from app.ui.actions import default_key
from app.ui.jobs import JsonProcess
from core.units import human_bytes

OFFERED = "gpt2"  # fast on any computer, and the best step up from the bundled model
# The commands the picture shows, with what they do; their keys are their defaults in the
# actions table (app.ui.actions), cut into keycaps.
SHOWN = (
    ("accept", "accept the suggestion"),
    ("accept_word", "accept its next word"),
    ("dismiss", "dismiss it"),
    ("next_alternative", "the next alternative"),
    ("suggest_now", "suggest now"),
    ("story_continue", "let the model write on"),
    ("find", "find and replace"),
    ("user_guide", "the user guide"),
)
_CAPS = {"Right": "→", "Return": "Enter"}  # as the keys are labelled


def keycaps(name: str) -> tuple[str, ...]:
    """The default key of the command ``name`` as the keycaps pressed together."""
    key = default_key(name)
    return tuple(_CAPS.get(cap, cap) for cap in key.split("+")) if key else ()


def key_rows() -> tuple[tuple[tuple[str, ...], str], ...]:
    """(keycaps, what they do) for each command shown. Asked once the application runs: a
    platform's standard key (the user guide's) is known only then."""
    return tuple((keycaps(name), meaning) for name, meaning in SHOWN)


class KeysPicture(QWidget):
    """The keys drawn as keycaps, each with what it does."""

    ROW = 34
    GAP = 6

    def __init__(self, keys=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.keys = keys or key_rows()
        self.setObjectName("keysPicture")

    def _cap_width(self, metrics: QFontMetrics, label: str) -> int:
        return max(34, metrics.horizontalAdvance(label) + 18)

    def _keys_width(self, metrics: QFontMetrics) -> int:
        widest = 0
        for caps, _ in self.keys:
            width = sum(self._cap_width(metrics, c) for c in caps) + (len(caps) - 1) * 18
            widest = max(widest, width)
        return widest

    def sizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        text = max(metrics.horizontalAdvance(t) for _, t in self.keys)
        return QSize(self._keys_width(metrics) + 24 + text, len(self.keys) * (self.ROW + self.GAP))

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        metrics = self.fontMetrics()
        text_x = self._keys_width(metrics) + 24
        cap_fill = palette.color(QPalette.ColorRole.Button)
        cap_edge = palette.color(QPalette.ColorRole.Mid)
        ink = palette.color(QPalette.ColorRole.ButtonText)
        bold = QFont(self.font())
        bold.setBold(True)
        for row, (caps, meaning) in enumerate(self.keys):
            top = row * (self.ROW + self.GAP)
            x = 0
            for index, cap in enumerate(caps):
                if index:
                    painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
                    painter.drawText(QRectF(x, top, 18, self.ROW), Qt.AlignmentFlag.AlignCenter, "+")
                    x += 18
                width = self._cap_width(metrics, cap)
                box = QRectF(x + 0.5, top + 0.5, width - 1, self.ROW - 4)
                painter.setPen(cap_edge)
                painter.setBrush(cap_edge)
                painter.drawRoundedRect(box.translated(0, 3), 6, 6)  # the key's side
                painter.setBrush(cap_fill)
                painter.drawRoundedRect(box, 6, 6)
                painter.setPen(ink)
                painter.setFont(bold)
                painter.drawText(box, Qt.AlignmentFlag.AlignCenter, cap)
                x += width
            painter.setFont(self.font())
            painter.setPen(palette.color(QPalette.ColorRole.WindowText))
            painter.drawText(QRectF(text_x, top, self.width() - text_x, self.ROW - 4),
                             Qt.AlignmentFlag.AlignVCenter, meaning)
        painter.end()


class Welcome(QDialog):
    """The welcome; ``download_wanted`` asks the window to download ``OFFERED``."""

    download_wanted = Signal(str)

    def __init__(self, settings: Settings, parent: QWidget | None = None, ask_hub: bool = True) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setObjectName("welcome")
        self.setWindowTitle("Welcome to Inkwell")
        title = QLabel("Welcome to Inkwell")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        title.setFont(font)
        intro = QLabel("Write, and stop for a moment: Inkwell suggests how your text goes on, in grey at "
                       "the cursor. It is not part of your text until you take it.")
        intro.setWordWrap(True)
        self.keys = KeysPicture()
        self.keys.setMinimumSize(self.keys.sizeHint())
        model = QLabel(self._model_note())
        model.setObjectName("modelNote")
        model.setWordWrap(True)
        self.network = QLabel("")
        self.network.setObjectName("networkNote")
        self.network.setWordWrap(True)
        self.download_button = QPushButton("Download GPT-2…")
        self.download_button.setObjectName("downloadButton")
        self.download_button.hide()
        self.download_button.clicked.connect(self._download)
        close = QPushButton("Start writing")
        close.setDefault(True)
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addWidget(self.download_button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        column = QVBoxLayout(self)
        column.setContentsMargins(28, 24, 28, 20)
        column.setSpacing(14)
        column.addWidget(title)
        column.addWidget(intro)
        column.addWidget(self.keys)
        column.addWidget(model)
        column.addWidget(self.network)
        column.addLayout(buttons)
        self.setMinimumWidth(560)
        self._query: JsonProcess | None = None
        self.plan: dict | None = None
        if self._have_offered():
            self.network.hide()
        elif ask_hub:
            self.ask_hub()

    @staticmethod
    def _model_note() -> str:
        default = models.default_model()
        size = ""
        if default is not None and default.manifest.get("parameters"):
            size = f" ({default.manifest['parameters'] / 1e6:.1f}M parameters)"
        name = default.name if default is not None else "The bundled model"
        return (f"The model that comes with Inkwell, {name}{size}, is small: trained on novels and stories "
                "published 1880–1925, it writes English in their manner, old-fashioned for an email, and "
                "often guesses wrong. GPT-2 (124M parameters) writes better and still runs on any computer.")

    @staticmethod
    def _have_offered() -> bool:
        repo = hub.repo_id(OFFERED)
        for model in models.installed_models():
            provenance = model.manifest.get("provenance") or {}
            if model.folder.name == OFFERED or provenance.get("hub_repo") == repo:
                return True
        return False

    def event(self, event: QEvent) -> bool:
        # Wrapped labels are as tall as their width makes them, which a window's minimum size does
        # not follow: without this the text below the key picture is drawn over it, and the network
        # note grows once the hub answers.
        if event.type() in (QEvent.Type.Show, QEvent.Type.LayoutRequest):
            layout = self.layout()
            needed = layout.totalHeightForWidth(self.width()) if layout is not None else -1
            if needed > self.height():
                self.resize(self.width(), needed)
        return super().event(event)

    def ask_hub(self) -> None:
        self.network.setText("Looking for the network…")
        query = JsonProcess("app.models_cli", ["download", OFFERED, "--plan", "--json"], self, "the size query")
        query.received.connect(self.planned)
        query.finished.connect(self.answered)
        self._query = query
        query.start()

    def planned(self, event: dict) -> None:
        if event.get("event") != "plan":
            return
        self.plan = event
        size = human_bytes(event["total_bytes"])
        self.download_button.setText(f"Download GPT-2 ({size})…")
        self.download_button.show()
        self.network.setText(f"GPT-2 is a {size} download from the Hugging Face Hub; it is converted "
                             "for Inkwell on this computer. Model ▸ Manage models ▸ Download… has it and "
                             "larger ones at any time.")

    def answered(self, ok: bool, message: str) -> None:
        self._query = None
        if self.plan is None and message != "cancelled":
            self.network.setText("No network now: Model ▸ Manage models ▸ Download… gets GPT-2 (124M "
                                 "parameters) when you are online.")
            self.network.setToolTip(message)

    def _download(self) -> None:
        self.accept()
        self.download_wanted.emit(OFFERED)

    def done(self, result: int) -> None:
        # Closed in any way (the button, Esc, the window's close box): never shown again.
        if self._query is not None:
            self._query.cancel()
            self._query = None
        self.settings.set("welcome_shown", True)
        self.settings.flush()  # on disk now: it must not come back after a crash either
        super().done(result)


def show_first_run(window) -> Welcome | None:
    """Show the welcome over ``window`` (a MainWindow) unless it was seen before."""
    if window.settings["welcome_shown"]:
        return None
    welcome = Welcome(window.settings, window)
    welcome.download_wanted.connect(window.download_model)
    welcome.open()
    window.welcome = welcome
    return welcome
