"""The inspection views through real widgets: receptive field on the canvas, saliency, errors, architecture."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, QSettings, Qt

from gui_helpers import click_action, draw_digit


@pytest.fixture
def window(qtbot, tmp_path, data_root):
    from dsdc_gui.main_window import MainWindow
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("data_dir", str(data_root))
    w = MainWindow(settings=settings)
    qtbot.addWidget(w)
    w.resize(1280, 820)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.runner.shutdown()


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
