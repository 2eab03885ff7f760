"""Training panel: settings, live curves, progress.

Curves are updated by ``setData`` on a timer (at most ``REFRESH_HZ`` times a second), never by adding
items, and the per-step buffers are bounded: when one is full, every other point is dropped and only
every second step is kept from then on (decimation), so a long run costs the same to draw as a short one.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from model.train import finetune_config, pretrain_config

__all__ = ["TrainingPanel", "DecimatingBuffer"]

REFRESH_HZ = 5
MAX_POINTS = 2000


class DecimatingBuffer:
    """Bounded (x, y) buffer: keeps at most ``capacity`` points by halving the resolution when full."""

    def __init__(self, capacity: int = MAX_POINTS):
        self.capacity = capacity
        self.stride = 1
        self._count = 0
        self.x: list[float] = []
        self.y: list[float] = []

    def append(self, x: float, y: float) -> None:
        self._count += 1
        if (self._count - 1) % self.stride:
            return
        self.x.append(x)
        self.y.append(y)
        if len(self.x) >= self.capacity:
            self.x, self.y = self.x[::2], self.y[::2]
            self.stride *= 2

    def clear(self) -> None:
        self.__init__(self.capacity)

    def __len__(self) -> int:
        return len(self.x)


class TrainingPanel(QWidget):
    """Settings for a run and the live view of it."""

    dataDirChanged = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        # --- settings ---
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 500)
        self.epochs.setValue(5)
        self.epochs.setToolTip("Passes over the training set.")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 4096)
        self.batch_size.setValue(128)
        self.batch_size.setToolTip("Images per optimiser step.")
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(5)
        self.lr.setRange(1e-5, 10.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setValue(pretrain_config().lr)
        self.lr.setToolTip("Peak learning rate (Adam) for pretraining.")
        self.finetune_lr = QDoubleSpinBox()
        self.finetune_lr.setDecimals(5)
        self.finetune_lr.setRange(1e-5, 10.0)
        self.finetune_lr.setSingleStep(1e-4)
        self.finetune_lr.setValue(finetune_config().lr)
        self.finetune_lr.setToolTip("Learning rate for fine-tuning: smaller, so pretrained features are adjusted, "
                                    "not overwritten.")
        self.train_limit = QSpinBox()
        self.train_limit.setRange(0, 1_000_000)
        self.train_limit.setSingleStep(1000)
        self.train_limit.setSpecialValueText("all")
        self.train_limit.setToolTip("Train on this many images only (all: the whole set). Small numbers make a "
                                    "quick demonstration.")
        self.data_dir = QLineEdit()
        self.data_dir.setPlaceholderText("folder with MNIST/raw/... (downloaded there when missing)")
        self.data_dir.setToolTip("The data folder: MNIST and KMNIST in torchvision's layout. When MNIST is missing, "
                                 "it is downloaded here.")
        self.data_dir.editingFinished.connect(lambda: self.dataDirChanged.emit(self.data_dir.text()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        dd = QHBoxLayout()
        dd.addWidget(self.data_dir, 1)
        dd.addWidget(browse)
        form = QFormLayout()
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Learning rate", self.lr)
        form.addRow("Fine-tune learning rate", self.finetune_lr)
        form.addRow("Training images", self.train_limit)
        form.addRow("Data folder", dd)
        settings = QGroupBox("Settings")
        settings.setLayout(form)

        # --- progress ---
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        self.rate_label = QLabel("")
        save = QPushButton("Save curves as PNG…")
        save.setToolTip("Save the loss, accuracy and learning-rate plots as a PNG image.")
        save.clicked.connect(self._save_dialog)
        self.results_label = QLabel("")
        self.results_label.setWordWrap(True)

        # --- curves ---
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setMinimumHeight(260)
        self.loss_plot = self.plots.addPlot(title="loss")
        self.loss_plot.setLabel("bottom", "step")
        self.loss_plot.addLegend(offset=(-5, 5))
        self.loss_plot.showGrid(x=True, y=True, alpha=0.2)
        self.loss_plot.setLogMode(y=True)
        # Per-step curves: drawn without antialiasing and downsampled to the screen's resolution, so a
        # repaint costs the same at step 100 and at step 100,000.
        fast = dict(antialias=False, autoDownsample=True, downsampleMethod="peak", clipToView=True)
        self.raw_curve = self.loss_plot.plot(pen=pg.mkPen((120, 160, 220, 110)), name="train (step)", **fast)
        self.smooth_curve = self.loss_plot.plot(pen=pg.mkPen("#2a6fdb", width=2), name="train (smoothed)", **fast)
        self.test_loss_curve = self.loss_plot.plot(pen=pg.mkPen("#e8871e", width=2), symbol="o", symbolSize=6,
                                                   symbolBrush="#e8871e", name="test (epoch)")
        self.acc_plot = self.plots.addPlot(title="test accuracy")
        self.acc_plot.setLabel("bottom", "epoch")
        self.acc_plot.showGrid(x=True, y=True, alpha=0.2)
        self.acc_curve = self.acc_plot.plot(pen=pg.mkPen("#2ca02c", width=2), symbol="o", symbolSize=6,
                                            symbolBrush="#2ca02c")
        self.plots.nextRow()
        self.lr_plot = self.plots.addPlot(title="learning rate", colspan=2)
        self.lr_plot.setLabel("bottom", "step")
        self.lr_plot.setMaximumHeight(130)
        self.lr_curve = self.lr_plot.plot(pen=pg.mkPen("#8c564b", width=1.5), **fast)

        lay = QVBoxLayout(self)
        lay.addWidget(settings)
        lay.addWidget(self.progress)
        row = QHBoxLayout()
        row.addWidget(self.rate_label, 1)
        row.addWidget(save)
        lay.addLayout(row)
        lay.addWidget(self.plots, 1)
        lay.addWidget(self.results_label)

        self.raw_loss = DecimatingBuffer()
        self.smooth_loss = DecimatingBuffer()
        self.lrs = DecimatingBuffer()
        self.epoch_x: list[float] = []
        self.epoch_steps: list[float] = []  # the step at which each epoch ended (x of the test-loss points)
        self.test_loss: list[float] = []
        self.test_acc: list[float] = []
        self._ema: float | None = None
        self._step_offset = 0   # steps and epochs of earlier runs, so successive runs continue the curves
        self._epoch_offset = 0
        self._last_step = 0
        self._dirty = False
        self.refresh_count = 0  # how often the curves were redrawn (tests check throttling)
        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / REFRESH_HZ))
        self._timer.timeout.connect(self._refresh)
        self._timer.start()

    # --- settings ---------------------------------------------------------------------------------
    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Data folder", self.data_dir.text())
        if d:
            self.data_dir.setText(d)
            self.dataDirChanged.emit(d)

    def save_png(self, path: str) -> bool:
        self._refresh()
        return self.plots.grab().save(str(path), "PNG")

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save training curves", "training.png", "PNG images (*.png)")
        if path:
            self.save_png(path)

    # --- live data ----------------------------------------------------------------------------------
    def reset_curves(self) -> None:
        for b in (self.raw_loss, self.smooth_loss, self.lrs):
            b.clear()
        for lst in (self.epoch_x, self.epoch_steps, self.test_loss, self.test_acc):
            lst.clear()
        self._ema = None
        self._step_offset = self._epoch_offset = self._last_step = 0
        self._dirty = True
        self._refresh()

    def begin_run(self, title: str) -> None:
        self._step_offset = self._last_step
        self._epoch_offset = len(self.epoch_x)
        self.progress.setRange(0, 0)  # busy until the first batch: loading or downloading data
        self.progress.setFormat(f"{title}: loading data…")
        self.rate_label.setText("")

    def add_batch(self, info) -> None:
        step = self._step_offset + info.step
        if info.step == 1:
            # The run's extent is known from its first batch: fix the step axes to it, so that they are not
            # laid out and repainted at every refresh (axis repaints were the largest GUI stalls).
            total_steps = math.ceil(info.samples_total / max(1, info.samples_done))
            for plot in (self.loss_plot, self.lr_plot):
                plot.setXRange(0, self._step_offset + total_steps, padding=0.02)
        self._last_step = step
        loss = info.loss if math.isfinite(info.loss) and info.loss > 0 else float("nan")
        self.raw_loss.append(step, loss)
        if math.isfinite(loss):
            self._ema = loss if self._ema is None else 0.95 * self._ema + 0.05 * loss
            self.smooth_loss.append(step, self._ema)
        self.lrs.append(step, info.lr)
        frac = info.samples_done / max(1, info.samples_total)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1000)
        self.progress.setValue(int(frac * 1000))
        self.progress.setFormat(f"epoch {info.epoch}  %p%")
        left = (info.samples_total - info.samples_done) / max(info.samples_per_s, 1e-9)
        self.rate_label.setText(f"{info.samples_per_s:,.0f} images/s   about {_fmt_seconds(left)} left   "
                                f"loss {info.loss:.4f}   lr {info.lr:.2e}")
        self._dirty = True

    def add_epoch(self, info) -> None:
        if info.test_loss is None:
            return
        self.epoch_x.append(self._epoch_offset + info.epoch)
        self.epoch_steps.append(self._last_step)  # test loss shares the train loss's step axis
        self.test_loss.append(info.test_loss)
        self.test_acc.append(info.test_accuracy)
        self._dirty = True

    def end_run(self, text: str) -> None:
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1000)
        self.progress.setFormat(text)
        self._dirty = True
        self._refresh()

    def _refresh(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        self.refresh_count += 1
        self.raw_curve.setData(np.asarray(self.raw_loss.x), np.asarray(self.raw_loss.y), connect="finite")
        self.smooth_curve.setData(np.asarray(self.smooth_loss.x), np.asarray(self.smooth_loss.y))
        self.test_loss_curve.setData(np.asarray(self.epoch_steps, float), np.asarray(self.test_loss, float))
        self.acc_curve.setData(np.asarray(self.epoch_x, float), np.asarray(self.test_acc, float))
        self.lr_curve.setData(np.asarray(self.lrs.x), np.asarray(self.lrs.y))

    @property
    def curve_points(self) -> dict[str, int]:
        return {"loss": len(self.raw_loss), "smoothed": len(self.smooth_loss), "lr": len(self.lrs),
                "test_accuracy": len(self.test_acc)}


def _fmt_seconds(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    s = int(round(s))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"
