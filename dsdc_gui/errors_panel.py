"""Errors after an evaluation: a clickable confusion matrix and a gallery of misclassified test images.
Clicking an image loads it onto the canvas, so its feature maps and saliency can be inspected."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

__all__ = ["ErrorsPanel"]


def _icon(image28: np.ndarray) -> QIcon:
    a = np.ascontiguousarray(image28, dtype=np.uint8)
    q = QImage(a.data, 28, 28, 28, QImage.Format.Format_Grayscale8).copy()
    return QIcon(QPixmap.fromImage(q).scaled(56, 56))


class ErrorsPanel(QWidget):
    evaluateRequested = Signal()
    imageChosen = Signal(int)      # index into the evaluated data set

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data = None
        self.probs = None
        self.matrix: np.ndarray | None = None
        self.classes: list[str] = []
        run = QPushButton("Evaluate on the MNIST test set")
        run.clicked.connect(self.evaluateRequested)
        self.summary = QLabel("Evaluate to see which digits the network confuses.")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("Rows: true class; columns: predicted class. Click a cell to list those mistakes.")
        self.table.cellClicked.connect(self.select_cell)
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(56, 56))
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.gallery.setMovement(QListWidget.Movement.Static)
        self.gallery.setToolTip("Misclassified test images (true -> predicted, confidence). Click one to load it "
                                "onto the canvas and inspect it.")
        self.gallery.itemClicked.connect(lambda it: self.imageChosen.emit(it.data(Qt.ItemDataRole.UserRole)))
        self.gallery_label = QLabel("")
        top = QHBoxLayout()
        top.addWidget(run)
        top.addWidget(self.summary, 1)
        body = QHBoxLayout()
        body.addWidget(self.table, 1)
        right = QVBoxLayout()
        right.addWidget(self.gallery_label)
        right.addWidget(self.gallery, 1)
        body.addLayout(right, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addLayout(body, 1)

    def show_results(self, data, probs, matrix, classes) -> None:
        self.data, self.probs, self.classes = data, probs, list(classes)
        self.matrix = np.asarray(matrix)
        n = len(self.classes)
        self.table.setRowCount(n)
        self.table.setColumnCount(n)
        self.table.setHorizontalHeaderLabels([f"→{c}" for c in self.classes])
        self.table.setVerticalHeaderLabels(self.classes)
        off = self.matrix.copy()
        np.fill_diagonal(off, 0)
        worst = max(1, int(off.max()))
        for i in range(n):
            for j in range(n):
                v = int(self.matrix[i, j])
                it = QTableWidgetItem(str(v))
                it.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if i == j:
                    it.setBackground(QColor(200, 235, 200))
                elif v:
                    t = v / worst
                    it.setBackground(QColor(255, int(235 - 150 * t), int(220 - 170 * t)))
                self.table.setItem(i, j, it)
        total, correct = int(self.matrix.sum()), int(np.trace(self.matrix))
        self.summary.setText(f"{correct:,} of {total:,} correct ({correct / total:.2%}); {total - correct} mistakes. "
                             f"Click a cell to see them.")
        self.select_cell(None, None)

    def select_cell(self, row, col) -> None:
        """List the mistakes of one cell (true ``row``, predicted ``col``), or all of them."""
        from model.inspect import misclassified
        if self.data is None:
            return
        if row is not None and row == col:
            row = col = None  # the diagonal holds no mistakes: show them all
        mistakes = misclassified(self.data, self.probs, row, col, limit=300)
        self.gallery.clear()
        for m in mistakes:
            it = QListWidgetItem(_icon(self.data.images[m.index].numpy()),
                                 f"{self.classes[m.true]}→{self.classes[m.predicted]} {m.confidence:.0%}")
            it.setData(Qt.ItemDataRole.UserRole, m.index)
            self.gallery.addItem(it)
        what = "all mistakes" if row is None else f"true {self.classes[row]}, predicted {self.classes[col]}"
        self.gallery_label.setText(f"{len(mistakes)} images: {what} (most confident first)")
