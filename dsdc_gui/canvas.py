"""The drawing canvas: round, anti-aliased strokes with undo, from a mouse or a pen/tablet.

Dark ink on a light (paper) background; ``image_array()`` returns what ``model.preprocess`` reads with
``ink="dark"``. Strokes are kept as point lists so that undo redraws exactly what remains.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QPainter, QPainterPath, QPen, QShortcut
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["DrawingCanvas"]

CANVAS_SIZE = 280      # logical pixels of the drawing (10 x MNIST's 28)
PEN_WIDTH = 20.0       # ~2 px once scaled into MNIST's 20 px box, like MNIST's strokes


class DrawingCanvas(QWidget):
    """Draw digits. Signals: ``changed`` while drawing and after clear/undo; ``strokeFinished``."""

    changed = Signal()
    strokeFinished = Signal()

    def __init__(self, parent=None, size: int = CANVAS_SIZE, pen_width: float = PEN_WIDTH):
        super().__init__(parent)
        self._size = size
        self.pen_width = pen_width
        self.strokes: list[list[QPointF]] = []
        self._current: list[QPointF] | None = None
        self._background: QImage | None = None  # a loaded image (e.g. a test digit), strokes draw over it
        # Receptive-field overlay: an RGBA image of the 28 x 28 field, where that field lies on the canvas,
        # and a box (both in canvas pixels). Cleared as soon as the drawing changes.
        self._overlay: QImage | None = None
        self._overlay_rect: QRectF | None = None
        self._overlay_box: QRectF | None = None
        self._image = QImage(size, size, QImage.Format.Format_Grayscale8)
        self._image.fill(QColor("white"))
        self.setMinimumSize(QSize(200, 200))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setAttribute(Qt.WidgetAttribute.WA_TabletTracking, True)
        self.setToolTip("Draw a digit with the mouse or a pen.\nEsc/Delete: clear    Ctrl+Z: undo the last stroke")
        QShortcut(QKeySequence.StandardKey.Undo, self, self.undo)

    # --- public API ---------------------------------------------------------------------------
    @property
    def is_empty(self) -> bool:
        return not self.strokes and not self._current and self._background is None

    def image(self) -> QImage:
        return self._image

    def image_array(self) -> np.ndarray:
        """The drawing as an H x W uint8 array (dark ink on white)."""
        img = self._image
        ptr = img.constBits()
        arr = np.frombuffer(ptr, np.uint8, count=img.bytesPerLine() * img.height())
        return arr.reshape(img.height(), img.bytesPerLine())[:, : img.width()].copy()

    def clear(self) -> None:
        self.strokes.clear()
        self._current = None
        self._background = None
        self._overlay = None
        self._redraw()
        self.changed.emit()

    def undo(self) -> None:
        if self.strokes:
            self.strokes.pop()
            self._redraw()
            self.changed.emit()

    def add_stroke(self, points: list[tuple[float, float]]) -> None:
        """Draw a stroke given in canvas pixel coordinates (for scripts and demos)."""
        stroke = [QPointF(x, y) for x, y in points]
        self.strokes.append(stroke)
        self._paint_stroke(stroke)
        self.update()
        self.changed.emit()
        self.strokeFinished.emit()

    def load_image(self, gray: np.ndarray) -> None:
        """Show an image (H x W uint8, dark ink on white) as the drawing, e.g. a test digit to inspect."""
        self.strokes.clear()
        self._current = None
        gray = np.ascontiguousarray(gray, dtype=np.uint8)
        h, w = gray.shape
        src = QImage(gray.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
        self._background = src.scaled(self._size, self._size, Qt.AspectRatioMode.IgnoreAspectRatio,
                                      Qt.TransformationMode.SmoothTransformation)
        self._redraw()
        self.changed.emit()

    def set_overlay(self, rgba: np.ndarray | None, field_rect: QRectF | None = None, box: QRectF | None = None) -> None:
        """Show ``rgba`` (H x W x 4 uint8) stretched over ``field_rect`` and outline ``box`` (canvas pixels)."""
        if rgba is None:
            self._overlay = self._overlay_rect = self._overlay_box = None
        else:
            rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
            h, w = rgba.shape[:2]
            self._overlay = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()
            self._overlay_rect, self._overlay_box = field_rect, box
        self.update()

    @property
    def has_overlay(self) -> bool:
        return self._overlay is not None

    # --- painting -----------------------------------------------------------------------------
    def _pen(self) -> QPen:
        return QPen(QColor("black"), self.pen_width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
                    Qt.PenJoinStyle.RoundJoin)

    def _paint_stroke(self, stroke: list[QPointF], start: int = 0) -> None:
        p = QPainter(self._image)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(self._pen())
        if len(stroke) == 1:
            p.drawPoint(stroke[0])
        else:
            path = QPainterPath(stroke[max(0, start - 1)])
            for pt in stroke[max(1, start):]:
                path.lineTo(pt)
            p.drawPath(path)
        p.end()

    def _redraw(self) -> None:
        self._image.fill(QColor("white"))
        if self._background is not None:
            p = QPainter(self._image)
            p.drawImage(0, 0, self._background)
            p.end()
        for s in self.strokes + ([self._current] if self._current else []):
            self._paint_stroke(s)
        self.update()

    def _to_canvas(self, pos: QPointF) -> QPointF:
        r = self._target_rect()
        return QPointF((pos.x() - r.x()) * self._size / r.width(), (pos.y() - r.y()) * self._size / r.height())

    def _target_rect(self) -> QRectF:
        side = min(self.width(), self.height())
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().window())
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        r = self._target_rect()
        p.drawImage(r, self._image)
        if self._overlay is not None:
            k = r.width() / self._size

            def to_widget(rect: QRectF) -> QRectF:
                return QRectF(r.x() + rect.x() * k, r.y() + rect.y() * k, rect.width() * k, rect.height() * k)
            p.save()
            p.setClipRect(r)
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            p.drawImage(to_widget(self._overlay_rect), self._overlay)
            if self._overlay_box is not None:
                p.setPen(QPen(QColor(0, 160, 255), 2, Qt.PenStyle.DashLine))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(to_widget(self._overlay_box))
            p.restore()
        p.setPen(QPen(QColor(150, 150, 150), 1))
        p.drawRect(r.adjusted(0, 0, -1, -1))
        if self.is_empty:
            p.setPen(QColor(160, 160, 160))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "draw a digit here")
        p.end()

    # --- input: mouse and tablet map to the same strokes --------------------------------------
    def _begin(self, pos: QPointF) -> None:
        self._overlay = None
        self._current = [self._to_canvas(pos)]
        self._paint_stroke(self._current)
        self.update()
        self.changed.emit()

    def _extend(self, pos: QPointF) -> None:
        if self._current is None:
            return
        self._current.append(self._to_canvas(pos))
        self._paint_stroke(self._current, len(self._current) - 1)
        self.update()
        self.changed.emit()

    def _end(self) -> None:
        if self._current is None:
            return
        self.strokes.append(self._current)
        self._current = None
        self.changed.emit()
        self.strokeFinished.emit()

    def mousePressEvent(self, e) -> None:
        if e.button() == Qt.MouseButton.LeftButton:
            self._begin(e.position())

    def mouseMoveEvent(self, e) -> None:
        if e.buttons() & Qt.MouseButton.LeftButton:
            self._extend(e.position())

    def mouseReleaseEvent(self, e) -> None:
        if e.button() == Qt.MouseButton.LeftButton:
            self._end()

    def tabletEvent(self, e) -> None:
        t = e.type()
        if t == e.Type.TabletPress:
            self._begin(e.position())
        elif t == e.Type.TabletMove and e.pressure() > 0:
            self._extend(e.position())
        elif t == e.Type.TabletRelease:
            self._end()
        e.accept()

    def keyPressEvent(self, e) -> None:
        if e.key() in (Qt.Key.Key_Escape, Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.clear()
        else:
            super().keyPressEvent(e)
