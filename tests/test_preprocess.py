"""Canvas preprocessing: MNIST-style crop, scale, centre; blank canvases; MNIST digits round-trip."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model.data import normalize
from model.preprocess import MNIST_BOX, preprocess_canvas
from model.train import evaluate


def _canvas_with_box(h=280, w=280, box=(60, 100, 200, 140), dark_ink=True):
    img = np.full((h, w), 255 if dark_ink else 0, np.uint8)
    t, l, b, r = box
    img[t:b, l:r] = 0 if dark_ink else 255
    return img


def test_blank_canvas_is_empty_not_a_guess():
    for blank in (np.full((280, 280), 255, np.uint8), np.ones((50, 70), np.float32)):
        p = preprocess_canvas(blank, ink="dark")
        assert p.empty and p.tensor is None and int(p.image28.sum()) == 0
    assert preprocess_canvas(np.zeros((28, 28), np.uint8), ink="light").empty


def test_crop_scale_and_centre():
    p = preprocess_canvas(_canvas_with_box(), ink="dark")
    assert not p.empty and p.bbox == (60, 100, 199, 139)
    ink = p.image28 > 0
    rows, cols = torch.nonzero(ink.any(1)).flatten(), torch.nonzero(ink.any(0)).flatten()
    # 140 x 40 box -> 20 x ~6 keeping the aspect ratio
    assert rows[-1] - rows[0] + 1 == MNIST_BOX
    assert 5 <= cols[-1] - cols[0] + 1 <= 7
    w = p.image28.float()
    cy = (w.sum(1) * torch.arange(28.)).sum() / w.sum()
    cx = (w.sum(0) * torch.arange(28.)).sum() / w.sum()
    assert abs(cy - 14) <= 0.6 and abs(cx - 14) <= 0.6
    assert p.tensor.shape == (1, 1, 28, 28)
    torch.testing.assert_close(p.tensor, normalize(p.image28[None]))


def test_polarity_is_stated_and_respected():
    dark = preprocess_canvas(_canvas_with_box(dark_ink=True), ink="dark")
    light = preprocess_canvas(_canvas_with_box(dark_ink=False), ink="light")
    assert torch.equal(dark.image28, light.image28)
    with pytest.raises(ValueError):
        preprocess_canvas(_canvas_with_box(), ink="purple")


def test_rgb_and_float_inputs():
    g = _canvas_with_box()
    rgb = np.stack([g, g, g, np.full_like(g, 255)], -1)
    assert torch.equal(preprocess_canvas(rgb).image28, preprocess_canvas(g).image28)
    assert torch.equal(preprocess_canvas(g.astype(np.float32) / 255).image28, preprocess_canvas(g).image28)


def upscale_as_drawn(images: torch.Tensor, size: int = 280) -> np.ndarray:
    """MNIST digits scaled up to canvas size and turned into dark strokes on a light background."""
    x = F.interpolate(images[:, None].float() / 255, size=(size, size), mode="bilinear", align_corners=False)
    return (255 - (x[:, 0].clamp(0, 1) * 255).round()).to(torch.uint8).numpy()


def test_mnist_digits_drawn_at_canvas_size_keep_their_accuracy(pretrained, mnist_test):
    """The honest check of the preprocessing: MNIST test digits, scaled up to a 280 x 280 canvas as if
    drawn, go back through the canvas path; accuracy moves by at most 0.5 points (full test set)."""
    from model.data import ImageSet
    _, base_acc = evaluate(pretrained, mnist_test)
    back = []
    for start in range(0, len(mnist_test), 500):
        for img in upscale_as_drawn(mnist_test.images[start:start + 500]):
            back.append(preprocess_canvas(img, ink="dark").image28)
    round_trip = ImageSet(torch.stack(back), mnist_test.labels, mnist_test.classes)
    _, acc = evaluate(pretrained, round_trip)
    print(f"MNIST test accuracy: original {base_acc:.4f}, through the canvas path {acc:.4f}")
    assert abs(acc - base_acc) <= 0.005
