"""GUI event-loop stalls while the real window (offscreen) runs a Pretrain job, and the delay from a canvas
stroke to the updated prediction during training.

A 10 ms QTimer measures how late each tick fires: lateness is the time the event loop could not run.
Strokes are drawn with real mouse events every ``--stroke-every`` seconds while training runs.

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
    from PySide6.QtCore import QEvent, Qt
    from gui_helpers import DIGIT_STROKES, _send, canvas_to_widget, draw_stroke

    app = QApplication.instance() or QApplication([])
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
    while time.monotonic() < t_end:
        Bot.wait(int(args.stroke_every * 1000))
        w.canvas.clear()
        strokes = DIGIT_STROKES[digits[i % len(digits)]]
        for stroke in strokes[:-1]:
            draw_stroke(Bot, w.canvas, stroke, steps_per_segment=2)
        # the last stroke: press and move, then time from the release to the updated prediction
        last_stroke = strokes[-1]
        pts = [canvas_to_widget(w.canvas, x, y) for x, y in last_stroke]
        _send(w.canvas, QEvent.Type.MouseButtonPress, pts[0], Qt.MouseButton.LeftButton)
        for p in pts[1:]:
            _send(w.canvas, QEvent.Type.MouseMove, p, Qt.MouseButton.LeftButton)
        done = []
        w.predictionUpdated.connect(lambda: done.append(time.perf_counter()))
        t0 = time.perf_counter()
        _send(w.canvas, QEvent.Type.MouseButtonRelease, pts[-1], Qt.MouseButton.NoButton)
        while not done:
            Bot.wait(1)
        stroke_delays.append((done[0] - t0) * 1000)
        w.predictionUpdated.disconnect()
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
