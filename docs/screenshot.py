"""Render the README's screenshots of the real window (offscreen): a drawn digit, curves after a short
training, and a feature-map grid.

    QT_QPA_PLATFORM=offscreen python docs/screenshot.py [--data-dir D] [--out docs/screenshot.png]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=os.environ.get("DSDC_DATA", "../shared/data"))
    ap.add_argument("--out", default=str(Path(__file__).with_name("screenshot.png")))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=6000)
    args = ap.parse_args()

    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication
    from dsdc_gui.main_window import MainWindow
    from gui_helpers import draw_digit

    app = QApplication.instance() or QApplication([])
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("data_dir", args.data_dir)
    w = MainWindow(settings=settings)
    w.resize(1400, 860)
    w.show()

    class _Bot:  # the bits of qtbot that draw_digit uses
        @staticmethod
        def wait(ms):
            loop = QEventLoop()
            QTimer.singleShot(ms, loop.quit)
            loop.exec()

    # A short pretraining run so the curves have something to show, then the shipped weights back.
    w.training.epochs.setValue(args.epochs)
    w.training.train_limit.setValue(args.limit)
    loop = QEventLoop()
    w.jobFinished.connect(lambda _: loop.quit())
    w.start_pretrain()
    loop.exec()
    while w.runner.busy:  # the worker thread ends just after its result arrives
        _Bot.wait(20)
    w.reset_to_shipped()
    draw_digit(_Bot, w.canvas, "4")
    w.update_prediction()
    w.feature_maps.set_layer("block2.pointwise")
    w.feature_maps.select_channel(3)

    # First image: the window with the curves of the short run and a feature-map grid beside them is not
    # possible in one tab, so the training tab is shown; the second shows the inspection views.
    w.tabs.setCurrentWidget(w.training)
    _Bot.wait(300)
    out = Path(args.out)
    w.grab().save(str(out))
    w.tabs.setCurrentWidget(w.feature_maps)
    w.saliency_box.setCurrentIndex(w.saliency_box.findData(-1))
    w.feature_maps.select_unit(7, 7)  # its receptive field on the canvas
    _Bot.wait(300)
    w.grab().save(str(out.with_name(out.stem + "_features.png")))
    print(f"wrote {out} and {out.with_name(out.stem + '_features.png')}")
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
