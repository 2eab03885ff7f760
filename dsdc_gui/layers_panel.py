"""Layers panel: every block with its figures and a frozen/trainable toggle; freeze policy; fine-tune target."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPushButton, QSpinBox, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from model.network import layer_table

__all__ = ["LayersPanel"]

COLUMNS = ["block", "kind", "output", "dilation", "params", "MACs", "receptive field", "trainable"]
TARGETS = [("My digits (collected in the 'My digits' tab)", "mydigits"), ("MNIST", "mnist"),
           ("KMNIST (data folder)", "kmnist"), ("Fashion-MNIST (downloaded when missing)", "fashion"),
           ("EMNIST digits (downloaded when missing)", "emnist-digits"), ("Folder of labelled images…", "folder")]


class LayersPanel(QWidget):
    """Shows the model's blocks; emits ``frozenChanged(set)`` when the user toggles or applies a policy."""

    frozenChanged = Signal(object)   # set of frozen block names

    def __init__(self, parent=None):
        super().__init__(parent)
        self._names: list[str] = []
        self._updating = False

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setToolTip("Untick 'trainable' to freeze a block: fine-tuning leaves its weights unchanged.\n"
                              "MACs: multiply-adds for one 28x28 image. Receptive field: input pixels one output "
                              "unit of the block can see.")
        self.table.itemChanged.connect(self._on_item_changed)

        self.policy = QComboBox()
        self.policy.addItem("none (train everything)", "none")
        self.policy.addItem("all but the head", "backbone")
        self.policy.addItem("first k blocks", "first")
        self.policy.addItem("everything (evaluate only)", "all")
        self.policy.setToolTip("Which blocks 'Freeze layers' freezes.")
        self.first_k = QSpinBox()
        self.first_k.setRange(0, 0)
        self.first_k.setPrefix("k = ")
        self.first_k.setToolTip("Number of blocks, counted from the stem, that 'first k blocks' freezes.")
        self.policy.currentIndexChanged.connect(lambda _: self.first_k.setEnabled(self.policy.currentData() == "first"))
        self.first_k.setEnabled(False)
        self.freeze_button = QPushButton("Freeze layers")
        self.freeze_button.setToolTip("Apply the chosen freeze policy (Ctrl+L).")
        self.freeze_button.clicked.connect(self.apply_policy)
        pol = QHBoxLayout()
        pol.addWidget(QLabel("Policy:"))
        pol.addWidget(self.policy, 1)
        pol.addWidget(self.first_k)
        pol.addWidget(self.freeze_button)
        self.totals = QLabel("")
        self.totals.setTextFormat(Qt.TextFormat.RichText)

        self.target = QComboBox()
        for label, key in TARGETS:
            self.target.addItem(label, key)
        self.target.setToolTip("What 'Fine-tune' trains on. KMNIST: 8,000 images to train on, 2,000 held out, from "
                               "the data folder. Folder: one subfolder per class (torchvision's ImageFolder).\n"
                               "A target with other classes than the network's gets a new head.")
        self.replay = QSpinBox()
        self.replay.setRange(0, 20000)
        self.replay.setSingleStep(500)
        self.replay.setSpecialValueText("off")
        self.replay.setToolTip("Mix this many MNIST training images into fine-tuning, to limit forgetting of MNIST "
                               "(for targets that keep the digit head: My digits, MNIST).")
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("folder with one subfolder of images per class")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        fl = QHBoxLayout()
        fl.addWidget(self.folder, 1)
        fl.addWidget(browse)
        self._folder_row = QWidget()
        self._folder_row.setLayout(fl)
        fl.setContentsMargins(0, 0, 0, 0)
        self.target.currentIndexChanged.connect(self._on_target_changed)
        form = QFormLayout()
        form.addRow("Fine-tune on", self.target)
        form.addRow("Folder", self._folder_row)
        form.addRow("MNIST replay", self.replay)
        self._on_target_changed()
        tgt = QGroupBox("Fine-tuning target")
        tgt.setLayout(form)

        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 1)
        lay.addLayout(pol)
        lay.addWidget(self.totals)
        lay.addWidget(tgt)

    # --- model in ---------------------------------------------------------------------------------
    def set_model(self, model) -> None:
        rows = layer_table(model)
        self._names = [r.name for r in rows]
        self._updating = True
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            shape = "x".join(str(s) for s in r.out_shape)
            cells = [r.name, r.kind, shape, str(r.dilation), f"{r.params:,}", f"{r.macs:,}", f"{r.receptive_field} px"]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j >= 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, j, item)
            toggle = QTableWidgetItem("")
            toggle.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
            toggle.setCheckState(Qt.CheckState.Unchecked if r.name in model.frozen else Qt.CheckState.Checked)
            self.table.setItem(i, len(COLUMNS) - 1, toggle)
        self._updating = False
        self.first_k.setRange(0, len(rows) - 1)
        self.show_counts(model.param_counts())

    def show_counts(self, counts: dict) -> None:
        self.totals.setText(f"<b>{counts['trainable']:,}</b> trainable and <b>{counts['frozen']:,}</b> frozen "
                            f"parameters (of {counts['total']:,})")

    # --- freezing -----------------------------------------------------------------------------------
    def frozen_names(self) -> set[str]:
        col = len(COLUMNS) - 1
        return {self._names[i] for i in range(self.table.rowCount())
                if self.table.item(i, col).checkState() == Qt.CheckState.Unchecked}

    def set_frozen(self, names: set[str]) -> None:
        col = len(COLUMNS) - 1
        self._updating = True
        for i, n in enumerate(self._names):
            self.table.item(i, col).setCheckState(Qt.CheckState.Unchecked if n in names else Qt.CheckState.Checked)
        self._updating = False
        self.frozenChanged.emit(set(names))

    def toggle_block(self, name: str) -> None:
        """Flip one block between frozen and trainable (as a click on its box does)."""
        item = self.table.item(self._names.index(name), len(COLUMNS) - 1)
        item.setCheckState(Qt.CheckState.Checked if item.checkState() == Qt.CheckState.Unchecked
                           else Qt.CheckState.Unchecked)

    def policy_string(self) -> str:
        key = self.policy.currentData()
        return f"first:{self.first_k.value()}" if key == "first" else key

    def apply_policy(self) -> None:
        from model.network import parse_freeze_policy
        self.set_frozen(parse_freeze_policy(self.policy_string(), self._names))

    def _on_item_changed(self, item) -> None:
        if not self._updating and item.column() == len(COLUMNS) - 1:
            self.frozenChanged.emit(self.frozen_names())

    # --- target -------------------------------------------------------------------------------------
    def target_string(self) -> str:
        key = self.target.currentData()
        return f"folder:{self.folder.text().strip()}" if key == "folder" else key

    def _on_target_changed(self, *_) -> None:
        self._folder_row.setEnabled(self.target.currentData() == "folder")

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Folder of labelled images", self.folder.text())
        if d:
            self.folder.setText(d)
            self.target.setCurrentIndex(self.target.findData("folder"))
