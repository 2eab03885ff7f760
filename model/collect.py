"""The user's own handwriting: samples drawn on the canvas, stored in torchvision's ImageFolder layout.

    <root>/samples/<class>/<id>.png   28 x 28 network input (MNIST polarity): what fine-tuning reads
    <root>/canvas/<class>/<id>.png    the full canvas drawing, kept so samples can be re-processed later

``<root>/samples`` is a plain ImageFolder: ``model.data.load_image_folder`` (and torchvision) read it as is.
Every file is written atomically (temporary file, fsync, rename), so a crash or a full disk never leaves a
half-written sample, and a failed write leaves earlier samples intact.
"""
from __future__ import annotations

import io
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import atomic_write
from .data import DataError, user_data_dir

__all__ = ["DigitStore", "Sample", "StoreError", "default_store_dir"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class StoreError(RuntimeError):
    """A sample could not be written, read, imported or exported; the message says why."""


def default_store_dir() -> Path:
    return user_data_dir() / "my_digits"


@dataclass(frozen=True)
class Sample:
    label: str
    id: str
    path: Path          # the 28 x 28 file


def _png_bytes(array: np.ndarray) -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


class DigitStore:
    def __init__(self, root: str | os.PathLike | None = None, classes: list[str] | None = None):
        self.root = Path(root) if root is not None else default_store_dir()
        self.classes = list(classes or [str(i) for i in range(10)])

    @property
    def samples_root(self) -> Path:
        return self.root / "samples"

    @property
    def canvas_root(self) -> Path:
        return self.root / "canvas"

    # --- writing -------------------------------------------------------------------------------------
    def add(self, label: str, image28: np.ndarray, canvas: np.ndarray | None = None) -> Sample:
        """Save one sample (28 x 28 uint8, ink bright on dark; optional canvas image) under ``label``."""
        label = str(label)
        if label not in self.classes:
            raise StoreError(f"unknown class {label!r}: classes are {', '.join(self.classes)}")
        image28 = np.asarray(image28)
        if image28.shape != (28, 28):
            raise StoreError(f"a sample must be 28x28, not {image28.shape}")
        sample_id = time.strftime("%Y%m%d-%H%M%S") + f"-{time.time_ns() % 1_000_000_000:09d}"
        target = self.samples_root / label / f"{sample_id}.png"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if canvas is not None:
                c = self.canvas_root / label / f"{sample_id}.png"
                c.parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(c) as f:
                    f.write(_png_bytes(canvas))
            # the 28x28 file last: a sample exists (for training) only once everything is on disk
            with atomic_write(target) as f:
                f.write(_png_bytes(image28))
        except OSError as e:
            raise StoreError(f"could not save the sample in {target.parent}: {e.strerror or e}. "
                             f"Earlier samples are unchanged.") from None
        return Sample(label, sample_id, target)

    def delete(self, sample: Sample) -> None:
        for p in (sample.path, self.canvas_root / sample.label / sample.path.name):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
            except OSError as e:
                raise StoreError(f"could not delete {p}: {e.strerror or e}") from None

    # --- reading -------------------------------------------------------------------------------------
    def samples(self) -> list[Sample]:
        out = []
        for label in self.classes:
            d = self.samples_root / label
            if d.is_dir():
                out += [Sample(label, p.stem, p) for p in sorted(d.iterdir())
                        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
        return out

    def counts(self) -> dict[str, int]:
        counts = {c: 0 for c in self.classes}
        for s in self.samples():
            counts[s.label] += 1
        return counts

    def __len__(self) -> int:
        return len(self.samples())

    def load(self):
        """The samples as an ``ImageSet`` (for fine-tuning); only classes with samples are included."""
        from .data import ImageSet, load_image_folder
        if not any(self.counts().values()):
            raise DataError(f"no samples collected yet in {self.samples_root}")
        s = load_image_folder(self.samples_root)
        # ImageFolder numbers only the classes that have a folder; map them onto all our classes by name so
        # that a digit collection keeps the 10-class MNIST head (label 7 stays 7 even with no 5s collected).
        index = torch.tensor([self.classes.index(c) for c in s.classes])
        return ImageSet(s.images, index[s.labels], list(self.classes), "my digits")

    # --- import / export -----------------------------------------------------------------------------
    def export_to(self, folder: str | os.PathLike) -> Path:
        """Copy the samples (ImageFolder layout) into ``folder`` (created; must not exist yet)."""
        folder = Path(folder)
        if folder.exists() and any(folder.iterdir()):
            raise StoreError(f"{folder} is not empty; choose a new folder to export to")
        try:
            shutil.copytree(self.samples_root, folder, dirs_exist_ok=True)
        except (OSError, shutil.Error) as e:
            raise StoreError(f"could not export to {folder}: {e}") from None
        return folder

    def import_from(self, folder: str | os.PathLike) -> int:
        """Add every image of an ImageFolder whose class is one of ours; returns how many were added."""
        from PIL import Image
        folder = Path(folder)
        if not folder.is_dir():
            raise StoreError(f"{folder} is not a folder")
        added = 0
        for label in self.classes:
            d = folder / label
            if not d.is_dir():
                continue
            for p in sorted(d.iterdir()):
                if p.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                try:
                    with Image.open(p) as im:
                        arr = np.asarray(im.convert("L").resize((28, 28)))
                except Exception:
                    continue
                self.add(label, arr)
                added += 1
        return added
