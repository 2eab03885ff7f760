"""The inspection views through real widgets: receptive field on the canvas, saliency, errors, architecture."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from gui_helpers import click_action, draw_digit




def test_clicking_a_unit_highlights_its_receptive_field_on_the_canvas(qtbot, window):
    draw_digit(qtbot, window.canvas, "4")
    qtbot.waitUntil(lambda: window.prediction.predicted is not None)
    viewer = window.feature_maps
    viewer.set_layer("block2.depthwise")
    viewer.select_channel(3)
    # click the middle of the large channel view: unit (7, 7) of a 14 x 14 map
    view = viewer.large_view
    scene_pt = viewer.large_image.mapToScene(QPointF(7.5, 7.5))
    pos = view.mapFromScene(scene_pt)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    assert viewer.selected_unit == (7, 7)
    assert window.canvas.has_overlay
    rf = window.receptive_field
    assert rf["box"] == (7, 7, 21, 21)  # 15 x 15 around input pixel (14, 14)
    assert rf["support"].sum() == 15 * 15 and rf["effective"].max() == pytest.approx(1.0)
    viewer.layer_only.setChecked(True)
    assert window.receptive_field["support"].sum() == 9 * 4  # the dilated taps only, gaps between them
    draw_digit(qtbot, window.canvas, "1")
    assert not window.canvas.has_overlay  # drawing clears the highlight


def test_saliency_overlay_on_the_network_input(qtbot, window):
    draw_digit(qtbot, window.canvas, "7")
    qtbot.waitUntil(lambda: window.prediction.predicted is not None)
    assert window.preview.heat is None
    window.saliency_box.setCurrentIndex(window.saliency_box.findData(-1))
    heat = window.preview.heat
    assert heat is not None and heat.shape == (28, 28) and np.abs(heat).max() > 0
    window.saliency_box.setCurrentIndex(window.saliency_box.findData(1))
    assert not np.allclose(window.preview.heat, heat)  # another class, another map


def test_evaluate_shows_the_confusion_matrix_and_mistakes(qtbot, window):
    with qtbot.waitSignal(window.jobFinished, timeout=120_000):
        click_action(qtbot, window, window.evaluate_action)
    errors = window.errors
    assert window.tabs.currentWidget() is errors
    assert errors.table.rowCount() == 10 and int(errors.matrix.sum()) == 10_000
    total_wrong = 10_000 - int(np.trace(errors.matrix))
    assert errors.gallery.count() == min(300, total_wrong)
    # click an off-diagonal cell with mistakes: the gallery lists exactly those
    off = errors.matrix.copy()
    np.fill_diagonal(off, 0)
    i, j = np.unravel_index(off.argmax(), off.shape)
    rect = errors.table.visualItemRect(errors.table.item(i, j))
    qtbot.mouseClick(errors.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert errors.gallery.count() == off[i, j]
    # clicking a mistake loads it onto the canvas, predicted as the matrix said
    item = errors.gallery.item(0)
    rect = errors.gallery.visualItemRect(item)
    qtbot.mouseClick(errors.gallery.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert not window.canvas.is_empty
    assert window.prediction.predicted == j


def test_architecture_view_lists_every_layer_and_the_totals(qtbot, window):
    arch = window.architecture
    n = len(window.model.block_names)
    assert arch.table.rowCount() == n + 1
    assert arch.table.item(n, 0).text() == "total"
    total = window.model.param_counts()["total"]
    assert arch.table.item(n, 6).text() == f"{total:,}"
    assert "fewer parameters" in arch.explain.text()
    assert not arch.compare_button.isEnabled()  # no baseline yet


def test_plots_and_feature_grid_save_as_png(qtbot, window, tmp_path):
    from PySide6.QtGui import QImage
    draw_digit(qtbot, window.canvas, "0")
    qtbot.waitUntil(lambda: window.prediction.predicted is not None)
    window.tabs.setCurrentWidget(window.feature_maps)
    assert window.feature_maps.save_png(str(tmp_path / "grid.png"))
    window.tabs.setCurrentWidget(window.training)
    assert window.training.save_png(str(tmp_path / "curves.png"))
    for name in ("grid.png", "curves.png"):
        img = QImage(str(tmp_path / name))
        assert not img.isNull() and img.width() > 100 and img.height() > 100


def test_side_by_side_with_a_standard_conv_baseline(qtbot, window, tmp_path):
    from model.checkpoint import save_checkpoint
    from model.network import DSDCNet, NetConfig
    baseline = DSDCNet(NetConfig(separable=False))
    save_checkpoint(tmp_path / "baseline.pt", baseline)
    window.settings.setValue("baseline_path", str(tmp_path / "baseline.pt"))
    window._refresh_baseline()
    arch = window.architecture
    assert arch.compare_button.isEnabled()
    with qtbot.waitSignal(window.jobFinished, timeout=120_000) as blocker:
        qtbot.mouseClick(arch.compare_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["finished"]
    assert arch.comparison.rowCount() == 2
    assert arch.comparison.item(1, 1).text() == f"{baseline.param_counts()['total']:,}"
    ds_acc = float(arch.comparison.item(0, 2).text().rstrip("%"))
    assert ds_acc > 99  # the shipped weights; the untrained baseline is near chance
