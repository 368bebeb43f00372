"""A small live chart of training and validation loss against steps (PySide6-Essentials has no
QtCharts, so it is drawn with QPainter)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

TRAIN_COLOR = QColor(52, 101, 164)
VAL_COLOR = QColor(204, 102, 0)


class LossChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.train: list[tuple[int, float]] = []
        self.val: list[tuple[int, float]] = []
        self.total_steps = 1
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAccessibleName("Loss chart")

    def clear(self) -> None:
        self.train, self.val = [], []
        self.update()

    def set_total(self, steps: int) -> None:
        self.total_steps = max(int(steps), 1)
        self.update()

    def add_train(self, step: int, loss: float) -> None:
        self.train.append((step, loss))
        self.update()

    def add_val(self, step: int, loss: float) -> None:
        self.val.append((step, loss))
        self.update()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        fm = p.fontMetrics()
        left, bottom = fm.horizontalAdvance("00.00") + 10, fm.height() + 8
        plot = QRectF(left, 8, max(self.width() - left - 10, 10), max(self.height() - bottom - 8 - fm.height(), 10))
        p.setPen(QPen(pal.mid().color()))
        p.drawRect(plot)
        values = [v for _, v in self.train + self.val]
        if not values:
            p.setPen(pal.placeholderText().color())
            p.drawText(plot, Qt.AlignmentFlag.AlignCenter, "The loss appears here as training runs")
            return
        lo, hi = min(values), max(values)
        if hi - lo < 1e-6:
            lo, hi = lo - 0.5, hi + 0.5
        pad = (hi - lo) * 0.05
        lo, hi = lo - pad, hi + pad
        steps = max(self.total_steps, max(s for s, _ in self.train + self.val))

        def point(step: int, value: float) -> QPointF:
            return QPointF(plot.left() + plot.width() * step / steps,
                           plot.bottom() - plot.height() * (value - lo) / (hi - lo))

        p.setPen(pal.text().color())
        for value, flag in ((hi, Qt.AlignmentFlag.AlignTop), (lo, Qt.AlignmentFlag.AlignBottom)):
            p.drawText(QRectF(0, plot.top() - 2, left - 6, plot.height() + 4), flag | Qt.AlignmentFlag.AlignRight,
                       f"{value:.2f}")
        p.drawText(QRectF(plot.left(), plot.bottom() + 2, plot.width(), fm.height()),
                   Qt.AlignmentFlag.AlignRight, f"step {steps:,}")
        p.drawText(QRectF(plot.left(), plot.bottom() + 2, plot.width(), fm.height()), Qt.AlignmentFlag.AlignLeft, "0")
        for series, color, dots in ((self.train, TRAIN_COLOR, False), (self.val, VAL_COLOR, True)):
            if not series:
                continue
            path = QPainterPath(point(*series[0]))
            for s, v in series[1:]:
                path.lineTo(point(s, v))
            p.setPen(QPen(color, 2))
            p.drawPath(path)
            if dots:
                p.setBrush(color)
                for s, v in series:
                    p.drawEllipse(point(s, v), 3, 3)
                p.setBrush(Qt.BrushStyle.NoBrush)
        # legend
        y = plot.bottom() + 4 + 2 * fm.height() - fm.descent()
        x = plot.left() + plot.width() / 2 - 100
        for label, color in (("training loss", TRAIN_COLOR), ("validation loss", VAL_COLOR)):
            p.setPen(QPen(color, 3))
            p.drawLine(QPointF(x, y - fm.ascent() / 2), QPointF(x + 16, y - fm.ascent() / 2))
            p.setPen(pal.text().color())
            p.drawText(QPointF(x + 20, y), label)
            x += 30 + fm.horizontalAdvance(label)
