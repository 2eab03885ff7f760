"""My digits: collect mode through real widget events, the store's atomic writes, fine-tuning on them."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from gui_helpers import draw_digit
from model.collect import DigitStore, StoreError


@pytest.fixture
def store(tmp_path):
    return DigitStore(tmp_path / "my_digits")


@pytest.fixture
def window(make_window, store):
    return make_window(store=store)


def test_draw_then_press_the_digit_key_saves_a_sample(qtbot, window, store):
    window.collect.mode.click()
    assert window.tabs.currentWidget() is window.collect
    draw_digit(qtbot, window.canvas, "7")
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_7)
    files = list((store.samples_root / "7").glob("*.png"))
    assert len(files) == 1 and window.canvas.is_empty
    assert len(list((store.canvas_root / "7").glob("*.png"))) == 1
    from PIL import Image
    with Image.open(files[0]) as im:
        assert im.size == (28, 28) and np.asarray(im).max() > 200
    assert "(1)" in window.collect.buttons["7"].text() and window.collect.gallery.count() == 1
    # clicking a class button does the same
    draw_digit(qtbot, window.canvas, "1")
    qtbot.mouseClick(window.collect.buttons["1"], Qt.MouseButton.LeftButton)
    assert store.counts()["1"] == 1 and len(store) == 2


def test_digit_keys_do_nothing_outside_collect_mode(qtbot, window, store):
    draw_digit(qtbot, window.canvas, "4")
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_4)
    assert len(store) == 0 and not window.canvas.is_empty


def test_blank_canvas_is_not_saved(qtbot, window, store):
    window.collect.mode.click()
    qtbot.keyClick(window.canvas, Qt.Key.Key_3)
    assert len(store) == 0 and "Nothing drawn" in window.status_label.text()


def test_gallery_delete(qtbot, window, store):
    window.collect.mode.click()
    for d in "101":
        draw_digit(qtbot, window.canvas, d)
        qtbot.mouseClick(window.collect.buttons[d], Qt.MouseButton.LeftButton)
    assert len(store) == 3
    window.collect.gallery.item(0).setSelected(True)
    qtbot.mouseClick([b for b in window.collect.findChildren(type(window.collect.buttons["0"]))
                      if b.text() == "Delete selected"][0], Qt.MouseButton.LeftButton)
    assert len(store) == 2 and window.collect.gallery.count() == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_failed_write_is_reported_and_keeps_earlier_samples_permissions(qtbot, window, store):
    _failed_write_case(qtbot, window, store, lambda: os.chmod(store.samples_root / "7", stat.S_IRUSR | stat.S_IXUSR))


def test_failed_write_is_reported_and_keeps_earlier_samples(qtbot, window, store, monkeypatch):
    """A full disk (ENOSPC injected between write and rename): a clear message, nothing lost."""
    import model.checkpoint as ck
    real_replace = os.replace

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")
    _failed_write_case(qtbot, window, store, lambda: monkeypatch.setattr(ck.os, "replace", full_disk))
    monkeypatch.setattr(ck.os, "replace", real_replace)


def _failed_write_case(qtbot, window, store, break_disk):
    window.collect.mode.click()
    draw_digit(qtbot, window.canvas, "7")
    qtbot.mouseClick(window.collect.buttons["7"], Qt.MouseButton.LeftButton)
    first = list((store.samples_root / "7").glob("*.png"))
    assert len(first) == 1
    content = first[0].read_bytes()
    break_disk()
    draw_digit(qtbot, window.canvas, "7")
    qtbot.mouseClick(window.collect.buttons["7"], Qt.MouseButton.LeftButton)
    box = window.findChild(QMessageBox, "errorDialog")
    assert box is not None and "could not save the sample" in box.text() and "Earlier samples are unchanged" in box.text()
    assert not window.canvas.is_empty  # the drawing is kept so the user can try again
    files = list((store.samples_root / "7").glob("*"))
    assert files == first and first[0].read_bytes() == content  # no partial file, the old one intact
    box.close()


def test_store_import_export_and_load(tmp_path, store):
    for label in "0123":
        for _ in range(2):
            img = np.zeros((28, 28), np.uint8)
            img[6:22, 10 + int(label):14 + int(label)] = 255
            store.add(label, img)
    s = store.load()
    assert len(s) == 8 and s.classes == [str(i) for i in range(10)]
    assert sorted(set(s.labels.tolist())) == [0, 1, 2, 3]
    out = store.export_to(tmp_path / "export")
    assert len(list(out.glob("*/*.png"))) == 8
    other = DigitStore(tmp_path / "other")
    assert other.import_from(out) == 8 and other.counts()["3"] == 2
    with pytest.raises(StoreError, match="not empty"):
        store.export_to(out)
    with pytest.raises(StoreError, match="28x28"):
        store.add("1", np.zeros((10, 10), np.uint8))


def test_personal_handwriting_finetune_from_canvas_strokes(qtbot, window, store, monkeypatch):
    """Samples drawn on the canvas by programmatic strokes, then the 'My digits' target in the app."""
    import random
    from gui_helpers import DIGIT_STROKES, draw_stroke
    rng = random.Random(0)
    window.collect.mode.click()
    for _ in range(6):
        for d, strokes in DIGIT_STROKES.items():
            for stroke in strokes:
                jittered = [(x * rng.uniform(0.8, 1.1) + rng.uniform(-20, 20), y * rng.uniform(0.85, 1.05) +
                             rng.uniform(-15, 15)) for x, y in stroke]
                draw_stroke(qtbot, window.canvas, jittered)
            qtbot.mouseClick(window.collect.buttons[d], Qt.MouseButton.LeftButton)
    assert len(store) == 6 * len(DIGIT_STROKES)
    monkeypatch.setattr("model.collect.default_store_dir", lambda: store.root)
    layers = window.layers
    layers.target.setCurrentIndex(layers.target.findData("mydigits"))
    layers.policy.setCurrentIndex(layers.policy.findData("backbone"))
    click_freeze = layers.freeze_button
    qtbot.mouseClick(click_freeze, Qt.MouseButton.LeftButton)
    window.training.epochs.setValue(3)
    window.training.finetune_lr.setValue(1e-3)
    from gui_helpers import click_action
    with qtbot.waitSignal(window.jobFinished, timeout=60_000) as blocker:
        click_action(qtbot, window, window.finetune_action)
    assert blocker.args == ["finished"]
    r = window.last_report
    assert not r.head_replaced and r.mnist_before is not None  # digits keep the 10-class MNIST head
    assert r.trainable == sum(p.numel() for p in window.model.head.parameters())
    assert 0 <= r.target_before <= 1 and 0 <= r.target_after <= 1
