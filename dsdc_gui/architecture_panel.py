"""Architecture view: what depthwise separation and dilation buy, layer by layer, against standard convolutions;
and, when a standard-conv baseline checkpoint is present, the two networks' measured accuracy and speed."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from model.network import layer_table

__all__ = ["ArchitecturePanel"]

COLUMNS = ["layer", "kind", "output", "dilation", "stride", "receptive field", "params", "MACs",
           "std params", "std MACs", "params saved", "MACs saved"]


def _item(text, right=True, tip=None) -> QTableWidgetItem:
    it = QTableWidgetItem(text)
    if right:
        it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if tip:
        it.setToolTip(tip)
    return it


class ArchitecturePanel(QWidget):
    trainBaselineRequested = Signal()
    loadBaselineRequested = Signal()
    compareRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip("Each DS-dilated layer beside the standard 3x3 convolution it replaces (same channels, "
                              "dilation and stride). MACs: multiply-adds for one 28x28 image. Receptive field: the "
                              "input pixels one unit sees; dilation widens it at no cost in parameters.")
        self.explain = QLabel()
        self.explain.setWordWrap(True)
        self.explain.setTextFormat(Qt.TextFormat.RichText)

        train = QPushButton("Train standard-conv baseline")
        train.setToolTip("Pretrain the same layout with standard convolutions (uses the Training settings), to "
                         "compare measured accuracy and speed.")
        train.clicked.connect(self.trainBaselineRequested)
        load = QPushButton("Load baseline…")
        load.clicked.connect(self.loadBaselineRequested)
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Measure both networks on the MNIST test set: accuracy and inference time.")
        self.compare_button.clicked.connect(self.compareRequested)
        self.compare_button.setEnabled(False)
        self.baseline_label = QLabel("No baseline yet.")
        self.comparison = QTableWidget(0, 5)
        self.comparison.setHorizontalHeaderLabels(["network", "parameters", "test accuracy", "ms / image (batch 1)",
                                                   "images / s (batch 1000)"])
        self.comparison.verticalHeader().setVisible(False)
        self.comparison.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.comparison.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.comparison.setMaximumHeight(110)
        row = QHBoxLayout()
        row.addWidget(train)
        row.addWidget(load)
        row.addWidget(self.compare_button)
        row.addWidget(self.baseline_label, 1)
        box = QGroupBox("Measured: DS-dilated vs standard convolution")
        bl = QVBoxLayout(box)
        bl.addLayout(row)
        bl.addWidget(self.comparison)

        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.explain)
        lay.addWidget(box)

    def set_model(self, model) -> None:
        rows = layer_table(model)
        self.table.setRowCount(len(rows) + 1)
        saved_color = QColor("#2ca02c")
        for i, r in enumerate(rows):
            shape = "x".join(str(s) for s in r.out_shape)
            cells = [_item(r.name, False), _item(r.kind, False), _item(shape), _item(str(r.dilation)),
                     _item(str(r.stride)), _item(f"{r.receptive_field} px"), _item(f"{r.params:,}"),
                     _item(f"{r.macs:,}"), _item(f"{r.std_params:,}"), _item(f"{r.std_macs:,}"),
                     _item(f"{r.params_ratio:.1f}x"), _item(f"{r.macs_ratio:.1f}x")]
            for j, c in enumerate(cells):
                if j >= 10 and (r.params_ratio > 1.01 if j == 10 else r.macs_ratio > 1.01):
                    c.setForeground(saved_color)
                self.table.setItem(i, j, c)
        p, m = sum(r.params for r in rows), sum(r.macs for r in rows)
        sp, sm = sum(r.std_params for r in rows), sum(r.std_macs for r in rows)
        total = [_item("total", False), _item("", False), _item(""), _item(""), _item(""),
                 _item(f"{rows[-1].receptive_field} px"), _item(f"{p:,}"), _item(f"{m:,}"), _item(f"{sp:,}"),
                 _item(f"{sm:,}"), _item(f"{sp / p:.1f}x"), _item(f"{sm / m:.1f}x")]
        for j, c in enumerate(total):
            f = c.font()
            f.setBold(True)
            c.setFont(f)
            self.table.setItem(len(rows), j, c)
        dilated = [r for r in rows if r.dilation > 1]
        self.explain.setText(
            f"Depthwise separation: <b>{p:,}</b> parameters and <b>{m / 1e6:.2f} M</b> multiply-adds per image, "
            f"against {sp:,} and {sm / 1e6:.2f} M for standard convolutions — <b>{sp / p:.1f}x</b> fewer parameters, "
            f"<b>{sm / m:.1f}x</b> fewer multiply-adds. Dilation: {len(dilated)} dilated layers take the receptive "
            f"field to <b>{rows[-1].receptive_field} px</b> (the digit is 28 px) for no extra parameter.")

    def set_baseline(self, text: str, available: bool) -> None:
        self.baseline_label.setText(text)
        self.compare_button.setEnabled(available)

    def show_comparison(self, rows: list[tuple[str, int, float, float, float]]) -> None:
        self.comparison.setRowCount(len(rows))
        for i, (name, params, acc, ms, ips) in enumerate(rows):
            for j, c in enumerate([_item(name, False), _item(f"{params:,}"), _item(f"{acc:.2%}"),
                                   _item(f"{ms:.2f}"), _item(f"{ips:,.0f}")]):
                self.comparison.setItem(i, j, c)
