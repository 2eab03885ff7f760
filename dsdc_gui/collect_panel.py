"""'My digits': collect the user's own handwriting for fine-tuning.

In collect mode, draw a digit and press its key (0-9) or click its button: the drawing is saved (canvas
image and 28 x 28 input) into the per-user ImageFolder (``model.collect.DigitStore``) and the canvas
clears for the next one. Counts per class, a gallery with delete, import and export.
"""
from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QFileDialog, QGridLayout, QHBoxLayout, QLabel,
                               QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from model.collect import DigitStore, Sample

__all__ = ["CollectPanel"]


def _icon(path) -> QIcon:
    img = QImage(str(path))
    if img.isNull():
        return QIcon()
    return QIcon(QPixmap.fromImage(img).scaled(56, 56, Qt.AspectRatioMode.KeepAspectRatio,
                                               Qt.TransformationMode.FastTransformation))


class CollectPanel(QWidget):
    """Signals: ``labelChosen(str)`` when a class button is clicked (the window saves the drawing)."""

    labelChosen = Signal(str)
    collectModeChanged = Signal(bool)
    importRequested = Signal(str)
    exportRequested = Signal(str)
    deleteRequested = Signal(object)   # list of Sample

    def __init__(self, store: DigitStore, parent=None):
        super().__init__(parent)
        self.store = store
        self.mode = QCheckBox("Collect mode: draw a digit, then press its key (0-9) or click its button")
        self.mode.setToolTip("Save your own handwriting to fine-tune on it (target 'My digits').")
        self.mode.toggled.connect(self.collectModeChanged)
        self.buttons: dict[str, QPushButton] = {}
        grid = QGridLayout()
        for i, label in enumerate(store.classes):
            b = QPushButton()
            b.setMinimumHeight(44)
            b.setToolTip(f"Save the drawing as a '{label}' (key {label})")
            b.clicked.connect(lambda _=False, lab=label: self.labelChosen.emit(lab))
            self.buttons[label] = b
            grid.addWidget(b, i // 5, i % 5)
        self.summary = QLabel()
        self.folder_label = QLabel(f"Saved in {store.samples_root}")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_label.setWordWrap(True)

        self.gallery = QListWidget()
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(56, 56))
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.gallery.setMovement(QListWidget.Movement.Static)
        self.gallery.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.gallery.setToolTip("Your collected samples (28x28, as the network sees them). Select and press "
                                "Delete to remove.")
        delete = QPushButton("Delete selected")
        delete.clicked.connect(self._delete_selected)
        imp = QPushButton("Import folder…")
        imp.setToolTip("Add images from a folder with one subfolder per digit (0 ... 9).")
        imp.clicked.connect(self._import)
        exp = QPushButton("Export…")
        exp.setToolTip("Copy your samples to a folder (ImageFolder layout) to keep or share them.")
        exp.clicked.connect(self._export)
        row = QHBoxLayout()
        row.addWidget(delete)
        row.addStretch(1)
        row.addWidget(imp)
        row.addWidget(exp)

        lay = QVBoxLayout(self)
        lay.addWidget(self.mode)
        lay.addLayout(grid)
        lay.addWidget(self.summary)
        lay.addWidget(self.gallery, 1)
        lay.addLayout(row)
        lay.addWidget(self.folder_label)
        self.refresh()

    def refresh(self) -> None:
        samples = self.store.samples()
        counts = {c: 0 for c in self.store.classes}
        for s in samples:
            counts[s.label] += 1
        for label, b in self.buttons.items():
            b.setText(f"{label}\n({counts[label]})")
        self.summary.setText(f"{len(samples)} samples collected" + (
            "" if len(samples) else " — collect a few of each digit, then fine-tune on 'My digits'."))
        self.gallery.clear()
        for s in samples:
            item = QListWidgetItem(_icon(s.path), s.label)
            item.setData(Qt.ItemDataRole.UserRole, s)
            self.gallery.addItem(item)

    @property
    def counts(self) -> dict[str, int]:
        return self.store.counts()

    def selected_samples(self) -> list[Sample]:
        return [i.data(Qt.ItemDataRole.UserRole) for i in self.gallery.selectedItems()]

    def keyPressEvent(self, e) -> None:
        if e.key() == Qt.Key.Key_Delete and self.gallery.hasFocus():
            self._delete_selected()
        else:
            super().keyPressEvent(e)

    def _delete_selected(self) -> None:
        chosen = self.selected_samples()
        if chosen:
            self.deleteRequested.emit(chosen)

    def _import(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Import samples from a folder (one subfolder per digit)")
        if d:
            self.importRequested.emit(d)

    def _export(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Export samples to an empty folder")
        if d:
            self.exportRequested.emit(d)
