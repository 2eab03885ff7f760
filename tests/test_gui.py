"""The desktop app, driven through its real widgets with pytest-qt (offscreen in CI)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from gui_helpers import click_action, draw_digit




def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("digit", ["1", "7", "0", "4"])
def test_drawing_a_digit_predicts_it(qtbot, window, digit):
    assert window.prediction.confidence.text() == "draw a digit"
    with qtbot.waitSignal(window.predictionUpdated, timeout=2000):
        draw_digit(qtbot, window.canvas, digit)
    assert window.prediction.digit.text() == digit
    assert window.prediction.probabilities.argmax() == int(digit)
    assert abs(window.prediction.probabilities.sum() - 1) < 1e-4
    assert window.preview.image28.max() > 200  # the 28 x 28 input shows the digit


def test_prediction_updates_while_the_stroke_is_drawn(qtbot, window):
    from gui_helpers import _send, canvas_to_widget
    from PySide6.QtCore import QEvent
    canvas = window.canvas
    updates = []
    window.predictionUpdated.connect(lambda: updates.append(1))
    _send(canvas, QEvent.Type.MouseButtonPress, canvas_to_widget(canvas, 150, 40), Qt.MouseButton.LeftButton)
    for y in range(40, 240, 10):
        _send(canvas, QEvent.Type.MouseMove, canvas_to_widget(canvas, 150, y), Qt.MouseButton.LeftButton)
        qtbot.wait(15)
    assert updates, "no prediction while the button was still down"
    assert window.prediction.digit.text() == "1"
    assert len(updates) < 20  # throttled: not one forward pass per mouse event
    _send(canvas, QEvent.Type.MouseButtonRelease, canvas_to_widget(canvas, 150, 240), Qt.MouseButton.NoButton)


def test_clear_key_and_undo(qtbot, window):
    draw_digit(qtbot, window.canvas, "4")
    assert len(window.canvas.strokes) == 2
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(window.canvas.strokes) == 1
    qtbot.waitUntil(lambda: window.prediction.predicted is not None)
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Escape)
    assert window.canvas.is_empty
    qtbot.waitUntil(lambda: window.prediction.confidence.text() == "draw a digit")
    assert window.preview.image28.max() == 0


def test_feature_map_viewer_shows_the_chosen_layers_channels(qtbot, window):
    draw_digit(qtbot, window.canvas, "7")
    qtbot.waitUntil(lambda: window.prediction.predicted is not None)
    viewer = window.feature_maps
    names = [viewer.layer_box.itemText(i) for i in range(viewer.layer_box.count())]
    assert names[0] == "stem" and "block1.depthwise" in names and "block5.pointwise" in names and names[-1] == "head"
    blocks = window.model.config.blocks
    for name, channels in [("block3.depthwise", blocks[1][0]), ("block3.pointwise", blocks[2][0]),
                           ("stem", window.model.config.stem_channels), ("head", 10)]:
        viewer.layer_box.setCurrentText(name)
        assert viewer.channel_count == channels
        assert f"{channels} channels" in viewer.shape_label.text()
        assert viewer.grid_image.image is not None
    # click a channel in the grid: it is shown large
    viewer.layer_box.setCurrentText("block1.pointwise")
    viewer.select_channel(5)
    assert "channel 5" in viewer.large_label.text()
    viewer.per_channel.setChecked(True)
    assert viewer.grid_image.image is not None


def _start_small_pretrain(qtbot, window, epochs=1, limit=800):
    window.training.epochs.setValue(epochs)
    window.training.train_limit.setValue(limit)
    window.training.batch_size.setValue(64)
    window.training.lr.setValue(3e-3)
    click_action(qtbot, window, window.pretrain_action)


def test_pretrain_runs_in_the_background_and_updates_curves(qtbot, window):
    draw_digit(qtbot, window.canvas, "1")
    before = _weights(window.model)
    gui_thread = threading.get_ident()
    batch_threads = []
    window.runner.batchEnd.connect(lambda b: batch_threads.append(threading.get_ident()))
    with qtbot.waitSignal(window.jobFinished, timeout=120_000) as blocker:
        _start_small_pretrain(qtbot, window)
        assert not window.pretrain_action.isEnabled() and window.stop_action.isEnabled()
        assert window.runner.busy
    assert blocker.args == ["finished"]
    points = window.training.curve_points
    assert points["loss"] > 5 and points["lr"] > 5 and points["test_accuracy"] == 1
    assert set(batch_threads) == {gui_thread}  # signals arrive on the GUI thread (queued)
    after = window.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert window.model_source.startswith("pretrained here")
    qtbot.waitUntil(lambda: window.pretrain_action.isEnabled())
    assert not window.stop_action.isEnabled()


def test_stop_ends_a_run_promptly(qtbot, window):
    import time
    with qtbot.waitSignal(window.runner.batchEnd, timeout=60_000):
        _start_small_pretrain(qtbot, window, epochs=50, limit=0)
    t0 = time.monotonic()
    with qtbot.waitSignal(window.jobFinished, timeout=10_000) as blocker:
        click_action(qtbot, window, window.stop_action)
    assert blocker.args == ["stopped"]
    print(f"stop took {time.monotonic() - t0:.2f} s")
    qtbot.waitUntil(lambda: not window.runner.busy)


def test_second_pretrain_is_not_possible_while_one_runs(qtbot, window):
    with qtbot.waitSignal(window.runner.batchEnd, timeout=60_000):
        _start_small_pretrain(qtbot, window, epochs=50, limit=0)
    assert not window.pretrain_action.isEnabled()
    assert window.start_pretrain() is False  # even the shortcut's slot refuses
    with qtbot.waitSignal(window.jobFinished, timeout=10_000):
        window.stop_job()


def test_freeze_toggles_change_gradients_and_counts(qtbot, window):
    layers = window.layers
    window.tabs.setCurrentWidget(layers)
    total = window.model.param_counts()["total"]
    # untick one block's "trainable" box with the mouse
    row = layers._names.index("block2")
    item = layers.table.item(row, layers.table.columnCount() - 1)
    rect = layers.table.visualItemRect(item)
    qtbot.mouseClick(layers.table.viewport(), Qt.MouseButton.LeftButton,
                     pos=rect.topLeft() + (rect.bottomLeft() - rect.topLeft()) / 2 + type(rect.topLeft())(10, 0))
    assert window.model.frozen == {"block2"}
    assert not any(p.requires_grad for p in window.model.features.block2.parameters())
    n2 = sum(p.numel() for p in window.model.features.block2.parameters())
    assert f"{total - n2:,}</b> trainable" in layers.totals.text()
    # a policy through the combo box and the Freeze layers button
    layers.policy.setCurrentIndex(layers.policy.findData("backbone"))
    qtbot.mouseClick(layers.freeze_button, Qt.MouseButton.LeftButton)
    head = sum(p.numel() for p in window.model.head.parameters())
    assert window.model.param_counts()["trainable"] == head
    assert f"{head:,}</b> trainable" in layers.totals.text()
    assert all(p.requires_grad for p in window.model.head.parameters())
    layers.policy.setCurrentIndex(layers.policy.findData("first"))
    layers.first_k.setValue(2)
    click_action(qtbot, window, window.freeze_action)
    assert window.model.frozen == {"stem", "block1"}


def test_finetune_leaves_frozen_weights_bit_identical(qtbot, window):
    layers = window.layers
    layers.policy.setCurrentIndex(layers.policy.findData("first"))
    layers.first_k.setValue(3)
    click_action(qtbot, window, window.freeze_action)
    layers.target.setCurrentIndex(layers.target.findData("kmnist"))
    window.training.epochs.setValue(1)
    window.training.train_limit.setValue(500)
    window.training.finetune_lr.setValue(1e-3)
    before = _weights(window.model)
    with qtbot.waitSignal(window.jobFinished, timeout=120_000) as blocker:
        click_action(qtbot, window, window.finetune_action)
    assert blocker.args == ["finished"]
    after = window.model.state_dict()
    for k in before:
        block = k.split(".")[1] if k.startswith("features.") else "head"
        if block in {"stem", "block1", "block2"}:
            assert torch.equal(before[k], after[k]), k
    assert not torch.equal(before["head.weight"], after["head.weight"])
    report = window.last_report
    assert report.mnist_before is not None and report.target_after is not None
    assert "MNIST test set" in window.training.results_label.text()
    assert window.prediction.class_names[0] == "o"  # KMNIST class names follow the target


def test_corrupt_checkpoint_shows_an_error_and_keeps_the_model(qtbot, window, tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    model_before = window.model
    assert window.load_checkpoint_file(str(bad)) is False
    box = window.findChild(QMessageBox, "errorDialog")
    assert box is not None and box.isVisible()
    assert "corrupt or truncated" in box.text() and "current network is kept" in box.text()
    assert window.model is model_before
    box.close()


def test_save_and_load_checkpoint_round_trip(qtbot, window, tmp_path):
    path = tmp_path / "mine.pt"
    window.model.freeze("first:1")
    assert window.save_checkpoint_file(str(path))
    window.reset_to_shipped()
    assert window.model.frozen == set()
    assert window.load_checkpoint_file(str(path))
    assert window.model.frozen == {"stem"} and window.model_source == "mine.pt"


def test_settings_are_remembered(qtbot, tmp_path, data_root):
    from dsdc_gui.main_window import MainWindow
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.training.epochs.setValue(7)
    w.training.lr.setValue(0.002)
    w.training.data_dir.setText(str(data_root))
    w.close()
    w2 = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w2)
    assert w2.training.epochs.value() == 7 and abs(w2.training.lr.value() - 0.002) < 1e-9
    assert w2.training.data_dir.text() == str(data_root)


def test_missing_data_is_a_clear_message(qtbot, window, tmp_path, monkeypatch):
    from torchvision.datasets import MNIST
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])
    window.training.data_dir.setText(str(tmp_path / "nodata"))
    with qtbot.waitSignal(window.jobFinished, timeout=60_000) as blocker:
        click_action(qtbot, window, window.pretrain_action)
    assert blocker.args == ["failed"]
    assert "could not be downloaded" in window.last_error and str(tmp_path / "nodata") in window.last_error
    assert window.pretrain_action.isEnabled() or not window.runner.busy


def test_closing_mid_training_exits_cleanly(qtbot, tmp_path, data_root):
    from dsdc_gui.main_window import MainWindow
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("data_dir", str(data_root))
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.show()
    threads_before = threading.active_count()
    with qtbot.waitSignal(w.runner.batchEnd, timeout=60_000):
        _start_small_pretrain(qtbot, w, epochs=50, limit=0)
    assert w.runner.busy
    w.close()
    assert not w.runner.busy
    qtbot.waitUntil(lambda: threading.active_count() <= threads_before, timeout=5000)


def test_live_model_is_shown_while_training(qtbot, window):
    draw_digit(qtbot, window.canvas, "7")
    qtbot.waitUntil(lambda: window.prediction.predicted is not None)
    shipped = window.prediction.probabilities.copy()
    snapshots = []
    window.runner.snapshot.connect(lambda s: snapshots.append(1))
    with qtbot.waitSignal(window.jobFinished, timeout=120_000):
        _start_small_pretrain(qtbot, window, epochs=1, limit=1500)
    assert snapshots, "no weights reached the canvas during training"
    assert not np.allclose(window.prediction.probabilities, shipped)


def test_signals_keep_refcounts(qtbot):
    """PySide6 6.12.0 decremented True's refcount on every emit, crashing Python < 3.12 after a few
    thousand signals (a canvas stroke emits dozens). pyproject.toml excludes it; this catches a relapse."""
    import sys
    from PySide6.QtCore import QObject, Signal

    class Emitter(QObject):
        plain = Signal()
        carrying = Signal(object)

    e = Emitter()
    e.carrying.connect(lambda _: None)
    before = sys.getrefcount(True)
    for _ in range(300):
        e.plain.emit()
        e.carrying.emit(1)
    assert abs(sys.getrefcount(True) - before) < 50


def test_finetune_on_a_five_class_folder_swaps_the_head_live(qtbot, window, tmp_path):
    from conftest import write_png_folder
    root = write_png_folder(tmp_path / "five", {c: 40 for c in "abcde"})
    draw_digit(qtbot, window.canvas, "1")
    layers = window.layers
    layers.target.setCurrentIndex(layers.target.findData("folder"))
    layers.folder.setText(str(root))
    window.training.epochs.setValue(30)
    window.training.batch_size.setValue(8)
    window.training.finetune_lr.setValue(3e-3)
    shown = []
    window.predictionUpdated.connect(lambda: shown.append(list(window.prediction.class_names)))
    original = window.model
    with qtbot.waitSignal(window.jobFinished, timeout=120_000) as blocker:
        click_action(qtbot, window, window.finetune_action)
    assert blocker.args == ["finished"]
    assert ["a", "b", "c", "d", "e"] in shown[:-1]  # the live network (new head) was shown during the run
    assert original.config.num_classes == 10 and window.model is not original  # trained a copy, then swapped
    assert window.prediction.class_names == ["a", "b", "c", "d", "e"] and window.last_report.head_replaced
    assert window.last_report.target_after > 0.6
