"""Feature-map viewer: every channel of a chosen layer as a grid of small heat maps, one click for a large view.

All channels are tiled into one mosaic shown by a single pyqtgraph ``ImageItem`` (one ``setImage`` per
update, however many channels), so the grid keeps up with live drawing.
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QSplitter,
                               QVBoxLayout, QWidget)

__all__ = ["FeatureMapViewer", "tile_channels"]

GAP = 1  # pixels between tiles


def tile_channels(maps: np.ndarray, per_channel: bool) -> tuple[np.ndarray, int, int, int, int]:
    """C x H x W activations -> (mosaic image, rows, cols, tile_h, tile_w), values scaled to [0, 1].

    ``per_channel``: each channel gets its own min..max; otherwise one scale for the whole layer, so
    channels can be compared. Gaps between tiles are NaN (drawn transparent).
    """
    c, h, w = maps.shape
    cols = max(1, math.ceil(math.sqrt(c * w / h))) if h > 1 else min(c, 16)
    rows = math.ceil(c / cols)
    m = maps.astype(np.float32)
    if per_channel:
        lo = m.reshape(c, -1).min(1)[:, None, None]
        hi = m.reshape(c, -1).max(1)[:, None, None]
    else:
        lo, hi = m.min(), m.max()
    m = (m - lo) / np.maximum(hi - lo, 1e-8)
    mosaic = np.full((rows * (h + GAP) - GAP, cols * (w + GAP) - GAP), np.nan, np.float32)
    for i in range(c):
        r, q = divmod(i, cols)
        mosaic[r * (h + GAP): r * (h + GAP) + h, q * (w + GAP): q * (w + GAP) + w] = m[i]
    return mosaic, rows, cols, h, w


class FeatureMapViewer(QWidget):
    """Pick a layer; see all its channels; click one to see it large."""

    layerChanged = Signal(str)
    unitSelected = Signal(str, int, int, int)   # layer, channel, row, column (click in the large view)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.maps: dict[str, np.ndarray] = {}
        self.selected_channel = 0
        self._grid_geom = (1, 1, 1, 1)

        self.layer_box = QComboBox()
        self.layer_box.setToolTip("Which layer to show: the stem, each block's depthwise (spatial filtering, one "
                                  "filter per channel) and pointwise (1x1 channel mixing) outputs, and the head.")
        self.layer_box.currentTextChanged.connect(self._on_layer_changed)
        self.per_channel = QCheckBox("per-channel colour scale")
        self.per_channel.setToolTip("Off: one colour scale for the whole layer (compare channels).\n"
                                    "On: each channel stretched to its own range (see faint patterns).")
        self.per_channel.toggled.connect(self.refresh)
        self.shape_label = QLabel("")
        top = QHBoxLayout()
        top.addWidget(QLabel("Layer:"))
        top.addWidget(self.layer_box, 1)
        top.addWidget(self.per_channel)
        top.addWidget(self.shape_label)
        save = QPushButton("Save PNG…")
        save.setToolTip("Save the channel grid as a PNG image.")
        save.clicked.connect(self._save_dialog)
        top.addWidget(save)

        cmap = pg.colormap.get("inferno")
        self.grid_view = pg.GraphicsLayoutWidget()
        self.grid_view.setBackground("#151515")
        self.grid_view.setToolTip("Every channel of the chosen layer for the current drawing. Click one to enlarge it.")
        self.grid_box = self.grid_view.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.grid_image = pg.ImageItem(axisOrder="row-major")
        self.grid_image.setColorMap(cmap)
        self.grid_box.addItem(self.grid_image)
        self.highlight = pg.QtWidgets.QGraphicsRectItem()
        self.highlight.setPen(pg.mkPen("#39c5ff", width=0))
        self.grid_box.addItem(self.highlight)
        self.grid_image.mouseClickEvent = self._on_grid_click

        self.large_view = pg.GraphicsLayoutWidget()
        self.large_view.setBackground("#151515")
        self.large_box = self.large_view.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.large_image = pg.ImageItem(axisOrder="row-major")
        self.large_image.setColorMap(cmap)
        self.large_box.addItem(self.large_image)
        self.large_image.mouseClickEvent = self._on_large_click
        self.large_view.setToolTip("Click a unit: the canvas shows the input it sees — its theoretical receptive "
                                   "field (dashed box, tinted) and its effective field (red: how strongly each "
                                   "pixel moves it).")
        self.layer_only = QCheckBox("this layer's taps only")
        self.layer_only.setToolTip("Show only the input positions the unit's own kernel reads (the gaps of "
                                   "dilation), instead of the field of the whole stack below it.")
        self.layer_only.toggled.connect(lambda _: self._reselect())
        self.selected_unit: tuple[int, int] | None = None
        self.large_label = QLabel("channel –")
        self.large_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        large = QWidget()
        ll = QVBoxLayout(large)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.large_view, 1)
        ll.addWidget(self.large_label)
        ll.addWidget(self.layer_only)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.grid_view)
        split.addWidget(large)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(split, 1)

    # --- data in ----------------------------------------------------------------------------------
    def set_maps(self, maps: dict[str, np.ndarray]) -> None:
        """Activations of one image by layer name (C x H x W arrays, or C for pooled/logit vectors)."""
        self.maps = maps
        names = list(maps)
        if [self.layer_box.itemText(i) for i in range(self.layer_box.count())] != names:
            current = self.layer_box.currentText()
            self.layer_box.blockSignals(True)
            self.layer_box.clear()
            self.layer_box.addItems(names)
            if current in names:
                self.layer_box.setCurrentText(current)
            else:
                self.layer_box.setCurrentIndex(min(1, len(names) - 1))
            self.layer_box.blockSignals(False)
        self.refresh()

    def clear(self) -> None:
        self.maps = {}
        self.grid_image.clear()
        self.large_image.clear()
        self.shape_label.setText("(draw a digit)")
        self.large_label.setText("channel –")

    @property
    def layer(self) -> str:
        return self.layer_box.currentText()

    def set_layer(self, name: str) -> None:
        self.layer_box.setCurrentText(name)

    def current_array(self) -> np.ndarray | None:
        a = self.maps.get(self.layer)
        if a is None:
            return None
        return a[:, None, None] if a.ndim == 1 else a

    @property
    def channel_count(self) -> int:
        a = self.current_array()
        return 0 if a is None else a.shape[0]

    # --- drawing ----------------------------------------------------------------------------------
    def refresh(self) -> None:
        a = self.current_array()
        if a is None:
            return
        raw = self.maps[self.layer]
        shape = "x".join(str(s) for s in raw.shape)
        self.shape_label.setText(f"{raw.shape[0]} channels, {shape}")
        mosaic, rows, cols, h, w = tile_channels(a, self.per_channel.isChecked())
        self._grid_geom = (rows, cols, h, w)
        self.grid_image.setImage(mosaic, levels=(0, 1))
        self.grid_box.autoRange(padding=0.01)
        self.selected_channel = min(self.selected_channel, a.shape[0] - 1)
        self._show_large()

    def _show_large(self) -> None:
        a = self.current_array()
        if a is None:
            return
        c = self.selected_channel
        ch = a[c]
        lo, hi = (float(ch.min()), float(ch.max())) if self.per_channel.isChecked() else (float(a.min()), float(a.max()))
        self.large_image.setImage(ch.astype(np.float32), levels=(lo, hi if hi > lo else lo + 1e-6))
        self.large_box.autoRange(padding=0.01)
        self.large_label.setText(f"{self.layer}  channel {c}   min {ch.min():.3g}  max {ch.max():.3g}")
        rows, cols, h, w = self._grid_geom
        r, q = divmod(c, cols)
        self.highlight.setRect(q * (w + GAP) - 0.5, r * (h + GAP) - 0.5, w + 1, h + 1)

    def select_channel(self, c: int) -> None:
        if 0 <= c < self.channel_count:
            self.selected_channel = c
            self._show_large()

    def _on_grid_click(self, ev) -> None:
        pos = ev.pos()
        rows, cols, h, w = self._grid_geom
        q, r = int(pos.x() // (w + GAP)), int(pos.y() // (h + GAP))
        if 0 <= q < cols and 0 <= r < rows:
            self.select_channel(r * cols + q)
        ev.accept()

    def _on_large_click(self, ev) -> None:
        a = self.current_array()
        if a is None or a.shape[1] == 1 and a.shape[2] == 1 and self.maps[self.layer].ndim == 1:
            return
        pos = ev.pos()
        row, col = int(pos.y()), int(pos.x())
        if 0 <= row < a.shape[1] and 0 <= col < a.shape[2]:
            self.select_unit(row, col)
        ev.accept()

    def select_unit(self, row: int, col: int) -> None:
        """Select unit (row, col) of the shown channel (as a click in the large view does)."""
        self.selected_unit = (row, col)
        self.unitSelected.emit(self.layer, self.selected_channel, row, col)

    def _reselect(self) -> None:
        if self.selected_unit is not None:
            self.select_unit(*self.selected_unit)

    def save_png(self, path: str) -> bool:
        """The channel grid as shown (one tile per channel, with the colour map) as a PNG file."""
        return self.grid_view.grab().save(str(path), "PNG")

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save feature maps", f"{self.layer or 'features'}.png",
                                              "PNG images (*.png)")
        if path:
            self.save_png(path)

    def _on_layer_changed(self, name: str) -> None:
        self.selected_unit = None
        self.selected_channel = 0
        self.refresh()
        self.layerChanged.emit(name)
