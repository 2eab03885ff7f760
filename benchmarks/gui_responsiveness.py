"""GUI event-loop stalls while the real window (offscreen) runs a Pretrain job, and the delay from a canvas
stroke to the updated prediction during training.

A 10 ms QTimer measures how late each tick fires: lateness is the time the event loop could not run.
Strokes are drawn every ``--stroke-every`` seconds while training runs, as real mouse events posted to the
event queue at 125 Hz; the stroke-to-prediction delay runs from the release of the last stroke of a digit
to the prediction that follows it.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_responsiveness.py [--seconds 30]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from _common import data_dir, emit, machine, percentile  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir")
    ap.add_argument("--seconds", type=float, default=30.0, help="how long to measure while training")
    ap.add_argument("--stroke-every", type=float, default=1.0)
    ap.add_argument("--limit", type=int, default=0, help="training images (0: all)")
    ap.add_argument("--train-threads", type=int, default=0, help="PyTorch threads while training (0: the app's "
                    "default, all cores but one)")
    args = ap.parse_args(argv)
    if args.train_threads:
        os.environ["DSDC_TRAIN_THREADS"] = str(args.train_threads)

    from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication
    from dsdc_gui.main_window import MainWindow
    from PySide6.QtCore import QEvent, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from gui_helpers import DIGIT_STROKES, canvas_to_widget

    from dsdc_gui.app import configure_threads
    app = QApplication.instance() or QApplication([])
    configure_threads()  # what the app's entry point does
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("data_dir", data_dir(args.data_dir))
    w = MainWindow(settings=settings)
    w.resize(1280, 820)
    w.show()
    w.training.epochs.setValue(50)
    w.training.train_limit.setValue(args.limit)

    class Bot:
        @staticmethod
        def wait(ms):
            loop = QEventLoop()
            QTimer.singleShot(ms, loop.quit)
            loop.exec()

    lateness, stroke_delays, batches = [], [], []
    clock = QElapsedTimer()
    tick = QTimer()
    tick.setInterval(10)
    last = [None]

    def on_tick():
        now = clock.nsecsElapsed() / 1e6
        if last[0] is not None:
            lateness.append(max(0.0, now - last[0] - 10.0))
        last[0] = now
    tick.timeout.connect(on_tick)
    w.runner.batchEnd.connect(lambda b: batches.append(b))

    started = [False]
    w.runner.batchEnd.connect(lambda b: started.__setitem__(0, True))
    w.start_pretrain()
    while not started[0]:  # data loading happens in the worker; measure once batches flow
        Bot.wait(20)
    clock.start()
    tick.start()
    t_end = time.monotonic() + args.seconds
    digits = list(DIGIT_STROKES)
    i = 0
    # A mouse: one event every 8 ms (125 Hz), posted to the event queue as the window system does, so
    # the app handles them between its other work; a stroke every --stroke-every seconds.
    def play(points):
        """Post press, moves and release; return when the release was posted (the moment the user lets go)."""
        pts = [canvas_to_widget(w.canvas, x, y) for x, y in points]
        events = [(QEvent.Type.MouseButtonPress, pts[0])] + [(QEvent.Type.MouseMove, p) for p in pts[1:]] + [
            (QEvent.Type.MouseButtonRelease, pts[-1])]
        released = []
        for kind, p in events:
            button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
            buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else Qt.MouseButton.LeftButton
            ev = QMouseEvent(kind, p, QPointF(w.canvas.mapToGlobal(p.toPoint())), button, buttons,
                             Qt.KeyboardModifier.NoModifier)
            if kind == QEvent.Type.MouseButtonRelease:
                released.append(time.perf_counter())
            QApplication.postEvent(w.canvas, ev)
            Bot.wait(8)
        return released[0]

    while time.monotonic() < t_end:
        Bot.wait(int(args.stroke_every * 1000))
        w.canvas.clear()
        strokes = DIGIT_STROKES[digits[i % len(digits)]]
        done = []
        slot = lambda: done.append(time.perf_counter())  # noqa: E731
        for stroke in strokes:
            done.clear()
            w.predictionUpdated.connect(slot)
            t_release = play(stroke)
            while not [t for t in done if t >= t_release]:
                Bot.wait(1)
            w.predictionUpdated.disconnect(slot)
        stroke_delays.append(([t for t in done if t >= t_release][0] - t_release) * 1000)
        i += 1
    tick.stop()
    rate = batches[-1].samples_per_s if batches else 0.0
    w.stop_job()
    w.runner.shutdown()
    w.close()
    print(machine())
    print(f"training while measuring: {rate:,.0f} img/s with {MainWindow.train_threads()} PyTorch threads; "
          f"{len(lateness)} timer ticks, {len(stroke_delays)} strokes")
    print(f"{'what':<40} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    print(f"{'event-loop stall (10 ms timer lateness)':<40} {percentile(lateness, 50):>8.1f} "
          f"{percentile(lateness, 99):>8.1f} {max(lateness, default=float('nan')):>8.1f}")
    print(f"{'stroke -> updated prediction':<40} {percentile(stroke_delays, 50):>8.1f} "
          f"{percentile(stroke_delays, 99):>8.1f} {max(stroke_delays, default=float('nan')):>8.1f}")
    emit(train_img_per_s_during=rate, stroke_to_prediction_ms_p50=percentile(stroke_delays, 50),
         stall_ms_max=max(lateness, default=float("nan")), stall_ms_p99=percentile(lateness, 99))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
