"""Canvas image -> MNIST-style 28 x 28 input.

MNIST digits were size-normalised to fit a 20 x 20 box (keeping the aspect ratio) with anti-aliasing,
then placed in a 28 x 28 field so that their centre of mass sits at the centre. A drawing that is not
treated the same way is read badly however good the network is, so ``preprocess_canvas`` does exactly
that: crop to the ink, scale into 20 x 20, anti-alias, centre by centre of mass, normalise as in training.

A canvas with no ink gives ``Preprocessed.empty = True`` (and no tensor): the caller says "nothing
drawn" instead of showing a confident guess for a blank image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .data import normalize

__all__ = ["Preprocessed", "preprocess_canvas", "INK_THRESHOLD", "MNIST_BOX", "MNIST_SIZE"]

MNIST_SIZE = 28
MNIST_BOX = 20
# Ink below this fraction of full intensity is treated as background when finding the digit's box.
INK_THRESHOLD = 0.1
# Where MNIST puts the centre of mass (row, column), in pixel-index coordinates of the 28 x 28 field.
MNIST_CENTRE = (14.0, 14.0)  # measured: mean over the MNIST test set is (13.99, 14.01)


@dataclass
class Preprocessed:
    """What the network sees for one drawing."""

    empty: bool
    image28: torch.Tensor             # 28 x 28 uint8, ink bright on dark (all zero when empty)
    tensor: torch.Tensor | None       # 1 x 1 x 28 x 28 float, normalised; None when empty
    bbox: tuple[int, int, int, int] | None = None  # (top, left, bottom, right) of the ink in the input, inclusive
    scale: float = 1.0                  # input pixels -> 28 x 28 pixels
    offset: tuple[int, int] = (0, 0)    # (row, column) in the 28 x 28 field where the scaled box was placed

    def to_input(self, row: float, col: float) -> tuple[float, float]:
        """A position in the 28 x 28 field (pixel-index coordinates) -> the same place in the drawn image."""
        top, left = (self.bbox[0], self.bbox[1]) if self.bbox else (0, 0)
        return (top + (row - self.offset[0] + 0.5) / self.scale - 0.5,
                left + (col - self.offset[1] + 0.5) / self.scale - 0.5)


def _to_ink(image, ink: str) -> torch.Tensor:
    """Any 2-D (or H x W x C) image -> float H x W ink intensity in [0, 1], ink high."""
    t = torch.as_tensor(np.asarray(image)) if not isinstance(image, torch.Tensor) else image
    if t.dim() == 3:  # H x W x C (RGB/RGBA): average the colour channels, ignore alpha
        t = t[..., :3].float().mean(-1) if t.shape[-1] >= 3 else t[..., 0]
    if t.dim() != 2:
        raise ValueError(f"expected a 2-D image (H x W or H x W x C), got shape {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        x = t.float() / 255.0
    else:
        x = t.float()
        x = torch.nan_to_num(x, nan=0.0 if ink == "light" else 1.0, posinf=1.0, neginf=0.0)
        if x.numel() and float(x.max()) > 1.0:  # 0..255 given as floats
            x = x / 255.0
    x = x.clamp(0.0, 1.0)
    if ink == "dark":
        x = 1.0 - x
    elif ink != "light":
        raise ValueError(f"ink must be 'dark' (dark strokes on a light background) or 'light', not {ink!r}")
    return x


def preprocess_canvas(image, ink: str = "dark", threshold: float = INK_THRESHOLD) -> Preprocessed:
    """Turn a drawn image into the MNIST-style input of the network.

    ``image``: H x W (or H x W x C) array or tensor, uint8 0..255 or float 0..1, of any size.
    ``ink``: ``"dark"`` for dark strokes on a light background (the app's canvas), ``"light"`` for light
    strokes on a dark background (MNIST's own polarity).
    """
    x = _to_ink(image, ink)
    mask = x > threshold
    if x.numel() == 0 or not bool(mask.any()):
        return Preprocessed(True, torch.zeros(MNIST_SIZE, MNIST_SIZE, dtype=torch.uint8), None)
    rows = torch.nonzero(mask.any(1)).flatten()
    cols = torch.nonzero(mask.any(0)).flatten()
    top, bottom, left, right = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    crop = x[top:bottom + 1, left:right + 1]

    # Scale the longer side to 20 px keeping the aspect ratio; antialias averages when shrinking.
    h, w = crop.shape
    scale = MNIST_BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    box = F.interpolate(crop[None, None], size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)[0, 0]
    box = box.clamp(0, 1)
    peak = float(box.max())
    if peak > 0:
        box = box / peak  # thin strokes that shrank to grey get MNIST's full-intensity core back

    # Centre of mass of the box -> centre of the 28 x 28 field (whole-pixel shift, kept inside the field).
    mass = box.sum()
    ys = torch.arange(nh, dtype=torch.float32)
    xs = torch.arange(nw, dtype=torch.float32)
    cy = float((box.sum(1) * ys).sum() / mass)
    cx = float((box.sum(0) * xs).sum() / mass)
    oy = min(max(round(MNIST_CENTRE[0] - cy), 0), MNIST_SIZE - nh)
    ox = min(max(round(MNIST_CENTRE[1] - cx), 0), MNIST_SIZE - nw)
    field = torch.zeros(MNIST_SIZE, MNIST_SIZE)
    field[oy:oy + nh, ox:ox + nw] = box
    image28 = (field * 255).round().to(torch.uint8)
    return Preprocessed(False, image28, normalize(image28[None]), (top, left, bottom, right), scale, (oy, ox))
