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


def arc(cx, cy, rx, ry, start_deg, end_deg, n=24):
    """Points along an ellipse arc; angles clockwise from 12 o'clock."""
    pts = []
    for i in range(n + 1):
        a = math.radians(start_deg + (end_deg - start_deg) * i / n)
        pts.append((cx + rx * math.sin(a), cy - ry * math.cos(a)))
    return pts


# Strokes of digits as one person draws them on the 280 x 280 canvas (a consistent personal style:
# a 1 with a flag, a 7 with a crossbar, an open 4).
DIGIT_STROKES = {
    "0": [ellipse(140, 140, 60, 95)],
    "1": [[(150, 40), (140, 240)]],
    "2": [arc(140, 95, 55, 50, -70, 120) + [(80, 235), (205, 235)]],
    "3": [arc(135, 88, 55, 45, -60, 180), arc(135, 180, 60, 50, 0, 220)],
    "4": [[(160, 40), (70, 170), (210, 170)], [(170, 90), (170, 245)]],
    "5": [[(200, 45), (95, 45), (85, 125)] + arc(135, 170, 60, 60, -40, 220)],
    "6": [[(185, 45), (120, 110)] + arc(140, 180, 60, 60, -50, 310)],
    "7": [[(70, 50), (210, 50), (120, 240)]],
    "8": [ellipse(140, 88, 45, 45), ellipse(140, 185, 55, 55)],
    "9": [arc(140, 95, 55, 55, 100, 460), [(195, 95), (170, 240)]],
}
PERSONAL_STYLE = {
    "1": [[(115, 75), (155, 40), (145, 240)], [(105, 240), (190, 240)]],
    "7": [[(70, 50), (210, 50), (120, 240)], [(105, 140), (195, 140)]],
    "4": [[(100, 40), (85, 160), (215, 160)], [(175, 60), (175, 245)]],
}


def jittered(strokes, rng, amount: float = 1.0):
    """The same strokes drawn again by hand: a small random scale, slant and offset, a little tremor."""
    sx, sy = rng.uniform(0.8, 1.1), rng.uniform(0.85, 1.05)
    slant = rng.uniform(-0.15, 0.15) * amount
    dx, dy = rng.uniform(-20, 20) * amount, rng.uniform(-15, 15) * amount
    out = []
    for stroke in strokes:
        out.append([(140 + (x - 140) * sx + (y - 140) * slant + dx + rng.uniform(-2, 2),
                     140 + (y - 140) * sy + dy + rng.uniform(-2, 2)) for x, y in stroke])
    return out


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
