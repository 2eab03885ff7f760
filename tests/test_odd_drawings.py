"""Odd drawings: property-based tests of the preprocessing and prediction path. Never a crash; never a
confident prediction for an empty canvas."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from model.preprocess import preprocess_canvas

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _predict(net, pre):
    if pre.empty:
        return None
    with torch.inference_mode():
        logits, maps = net.feature_maps(pre.tensor)
    assert torch.isfinite(logits).all()
    return torch.softmax(logits, 1)[0]


def _check(pre):
    assert pre.image28.shape == (28, 28) and pre.image28.dtype == torch.uint8
    if pre.empty:
        assert pre.tensor is None and int(pre.image28.sum()) == 0
    else:
        assert pre.tensor.shape == (1, 1, 28, 28) and torch.isfinite(pre.tensor).all()


@FUZZ
@given(arrays(np.uint8, st.tuples(st.integers(1, 400), st.integers(1, 400)), elements=st.integers(0, 255)))
def test_any_uint8_image(image):
    for ink in ("dark", "light"):
        _check(preprocess_canvas(image, ink=ink))


@FUZZ
@given(arrays(np.float32, st.tuples(st.integers(1, 120), st.integers(1, 120)),
              elements=st.floats(allow_nan=True, allow_infinity=True, width=32)))
def test_float_images_with_nans_and_infinities(image):
    _check(preprocess_canvas(image, ink="dark"))


@FUZZ
@given(st.integers(1, 600), st.integers(1, 600), st.integers(0, 599), st.integers(0, 599), st.integers(1, 40))
def test_a_single_dot_or_square_anywhere(h, w, y, x, size):
    img = np.full((h, w), 255, np.uint8)
    img[min(y, h - 1): min(y, h - 1) + size, min(x, w - 1): min(x, w - 1) + size] = 0
    pre = preprocess_canvas(img, ink="dark")
    _check(pre)
    assert not pre.empty


@pytest.mark.parametrize("image", [
    np.full((280, 280), 255, np.uint8),            # blank
    np.zeros((280, 280), np.uint8),                # all ink
    np.zeros((1, 1), np.uint8),                    # one pixel of ink
    np.full((1, 1), 255, np.uint8),                # one blank pixel
    np.zeros((0, 0), np.uint8),                    # nothing at all
    np.full((4000, 3000), 255, np.uint8),          # huge
], ids=["blank", "all-ink", "one-ink-pixel", "one-blank-pixel", "zero-size", "huge"])
def test_edge_images(image, pretrained):
    pre = preprocess_canvas(image, ink="dark")
    _check(pre)
    _predict(pretrained, pre)


def test_line_at_the_border(pretrained):
    img = np.full((280, 280), 255, np.uint8)
    img[:, :3] = 0
    pre = preprocess_canvas(img, ink="dark")
    _check(pre)
    assert _predict(pretrained, pre) is not None


@pytest.mark.parametrize("value", [254, 240, float("nan")])
def test_faint_or_broken_blank_canvas_is_empty(value):
    img = np.full((280, 280), value, np.float32 if value != value else np.uint8)
    assert preprocess_canvas(img, ink="dark").empty


def test_blank_canvas_in_the_app_gives_no_prediction(qtbot, tmp_path, data_root):
    from PySide6.QtCore import QSettings
    from dsdc_gui.main_window import MainWindow
    w = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(w)
    w.update_prediction()
    assert w.prediction.predicted is None and w.prediction.confidence.text() == "draw a digit"
    assert w.prediction.probabilities.max() == 0
