"""The prediction view: the predicted class in large type, the class probabilities as bars, and the
28 x 28 image the network actually sees."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QImage, QPixmap
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QVBoxLayout

__all__ = ["PredictionPanel", "InputPreview"]


class InputPreview(QLabel):
    """The 28 x 28 network input, shown enlarged with visible pixels."""

    def __init__(self, parent=None, scale: int = 4):
        super().__init__(parent)
        self._scale = scale
        self.setFixedSize(28 * scale + 2, 28 * scale + 2)
        self.setStyleSheet("background: black; border: 1px solid #888;")
        self.setToolTip("What the network sees: your drawing cropped, scaled into 20x20, centred by centre of "
                        "mass in 28x28, exactly as MNIST digits were made.")
        self.image28: np.ndarray = np.zeros((28, 28), np.uint8)
        self.heat: np.ndarray | None = None
        self.show_image(self.image28)

    def show_image(self, image28: np.ndarray, heat: np.ndarray | None = None) -> None:
        """Show the 28 x 28 input; ``heat`` (28 x 28, signed) is blended over it: red positive, blue negative."""
        self.image28 = np.ascontiguousarray(image28, dtype=np.uint8)
        self.heat = heat
        if heat is None:
            q = QImage(self.image28.data, 28, 28, 28, QImage.Format.Format_Grayscale8).copy()
        else:
            rgb = np.repeat(self.image28[..., None].astype(np.float32) * 0.6, 3, axis=2)
            h = heat / max(float(np.abs(heat).max()), 1e-12)
            rgb[..., 0] += 255 * np.clip(h, 0, 1)
            rgb[..., 2] += 255 * np.clip(-h, 0, 1)
            self._rgb = np.ascontiguousarray(np.clip(rgb, 0, 255).astype(np.uint8))
            q = QImage(self._rgb.data, 28, 28, 3 * 28, QImage.Format.Format_RGB888).copy()
        self.setPixmap(QPixmap.fromImage(q).scaled(28 * self._scale, 28 * self._scale,
                                                   Qt.AspectRatioMode.IgnoreAspectRatio,
                                                   Qt.TransformationMode.FastTransformation))


class PredictionPanel(QGroupBox):
    """Big predicted label + confidence, and one bar per class."""

    def __init__(self, parent=None):
        super().__init__("Prediction", parent)
        self.class_names: list[str] = [str(i) for i in range(10)]
        self.probabilities = np.zeros(10)
        self.predicted: int | None = None

        self.digit = QLabel("–")
        f = QFont()
        f.setPointSize(48)
        f.setBold(True)
        self.digit.setFont(f)
        self.digit.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.digit.setMinimumWidth(90)
        self.confidence = QLabel("draw a digit")
        self.confidence.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.confidence.setWordWrap(True)

        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(120)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setYRange(0, 1, padding=0.02)
        self.plot.setLabel("left", "probability")
        self.plot.getPlotItem().setMenuEnabled(False)
        self.bars = pg.BarGraphItem(x=np.arange(10), height=np.zeros(10), width=0.7, brush="#4a90d9")
        self.best_bar = pg.BarGraphItem(x=[0], height=[0], width=0.7, brush="#e8871e")
        self.plot.addItem(self.bars)
        self.plot.addItem(self.best_bar)
        self._set_ticks()
        self.plot.setToolTip("The probability the network gives each class (softmax of its outputs).")

        left = QVBoxLayout()
        left.addWidget(self.digit)
        left.addWidget(self.confidence)
        left.addStretch(1)
        lay = QHBoxLayout(self)
        lay.addLayout(left)
        lay.addWidget(self.plot, 1)

    def _set_ticks(self) -> None:
        ticks = [(i, n) for i, n in enumerate(self.class_names)]
        self.plot.getAxis("bottom").setTicks([ticks])
        self.plot.setXRange(-0.6, len(self.class_names) - 0.4, padding=0)

    def set_class_names(self, names: list[str]) -> None:
        if list(names) != self.class_names:
            self.class_names = list(names)
            self._set_ticks()
            self.show_empty()

    def show_probabilities(self, probs: np.ndarray) -> None:
        self.probabilities = np.asarray(probs, dtype=float)
        best = int(np.argmax(self.probabilities))
        self.predicted = best
        x = np.arange(len(self.probabilities))
        self.bars.setOpts(x=x, height=self.probabilities)
        self.best_bar.setOpts(x=[best], height=[self.probabilities[best]])
        self.digit.setText(self.class_names[best] if best < len(self.class_names) else str(best))
        self.confidence.setText(f"{self.probabilities[best] * 100:.1f}% sure")

    def show_empty(self) -> None:
        n = len(self.class_names)
        self.predicted = None
        self.probabilities = np.zeros(n)
        self.bars.setOpts(x=np.arange(n), height=np.zeros(n))
        self.best_bar.setOpts(x=[0], height=[0])
        self.digit.setText("–")
        self.confidence.setText("draw a digit")
