"""Helpers that drive the real widgets the way a person does (mouse strokes, clicks, keys)."""
from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication


def _send(widget, kind, pos: QPointF, buttons) -> None:
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    global_pos = QPointF(widget.mapToGlobal(pos.toPoint()))
    ev = QMouseEvent(kind, pos, global_pos, button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def canvas_to_widget(canvas, x: float, y: float) -> QPointF:
    r = canvas._target_rect()
    return QPointF(r.x() + x * r.width() / canvas._size, r.y() + y * r.height() / canvas._size)


def draw_stroke(qtbot, canvas, points, steps_per_segment: int = 6) -> None:
    """Press, move through ``points`` (canvas pixel coordinates, 0..280) and release, as a mouse does."""
    pts = [canvas_to_widget(canvas, x, y) for x, y in points]
    _send(canvas, QEvent.Type.MouseButtonPress, pts[0], Qt.MouseButton.LeftButton)
    for a, b in zip(pts, pts[1:]):
        for i in range(1, steps_per_segment + 1):
            t = i / steps_per_segment
            _send(canvas, QEvent.Type.MouseMove, a * (1 - t) + b * t, Qt.MouseButton.LeftButton)
    _send(canvas, QEvent.Type.MouseButtonRelease, pts[-1], Qt.MouseButton.NoButton)
    qtbot.wait(5)


def ellipse(cx, cy, rx, ry, n=40):
    return [(cx + rx * math.sin(2 * math.pi * i / n), cy - ry * math.cos(2 * math.pi * i / n)) for i in range(n + 1)]


# Strokes of digits as a person draws them on the 280 x 280 canvas.
DIGIT_STROKES = {
    "1": [[(150, 40), (140, 240)]],
    "7": [[(70, 50), (210, 50), (120, 240)]],
    "0": [ellipse(140, 140, 60, 95)],
    "4": [[(160, 40), (70, 170), (210, 170)], [(170, 90), (170, 245)]],
}


def draw_digit(qtbot, canvas, digit: str) -> None:
    for stroke in DIGIT_STROKES[digit]:
        draw_stroke(qtbot, canvas, stroke)


def click_action(qtbot, window, action) -> None:
    """Click the toolbar button of ``action``."""
    from PySide6.QtWidgets import QToolBar
    bar = window.findChild(QToolBar, "actions")
    button = bar.widgetForAction(action)
    assert button is not None and button.isEnabled(), f"{action.text()} is not clickable"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
