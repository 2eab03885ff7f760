"""Data sets as whole uint8 tensors, the data-directory setting, and batched tensor augmentation.

Every data set here is an ``ImageSet``: ``images`` (N x 28 x 28, uint8, white ink on black as in MNIST),
``labels`` (N, int64) and ``classes`` (names). Keeping whole sets as one tensor and augmenting whole
batches with ``affine_grid``/``grid_sample`` avoids per-image Python and PIL work, which on a small CPU
costs more than the network itself.

Where the data lives: ``resolve_data_dir`` takes a command-line value, else the ``DSDC_DATA``
environment variable, else a per-user folder. Files are in torchvision's layout
(``<root>/MNIST/raw/train-images-idx3-ubyte`` ...). When MNIST is missing it is downloaded with
torchvision; when that fails, ``DataError`` names the folder and the files it expected.
"""
from __future__ import annotations

import math
import os
import socket
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

__all__ = [
    "DataError",
    "ImageSet",
    "MNIST_MEAN",
    "MNIST_STD",
    "resolve_data_dir",
    "user_data_dir",
    "load_mnist",
    "load_kmnist",
    "load_idx_pair",
    "load_image_folder",
    "load_target",
    "load_online_set",
    "split_held_out",
    "normalize",
    "random_affine",
    "iterate_batches",
]

# Mean and standard deviation of the MNIST training pixels (in [0, 1]), as in PyTorch's examples/mnist.
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081

MNIST_FILES = {True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

APP_NAME = "dsdc-studio"


class DataError(RuntimeError):
    """A data set is missing, unreadable or unusable; the message says which and where it looked."""


@dataclass
class ImageSet:
    images: torch.Tensor  # N x 28 x 28 uint8, ink bright on dark
    labels: torch.Tensor  # N int64
    classes: list[str]
    name: str = ""
    skipped: int = 0  # files that could not be read when the set was loaded

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 3:
            raise ValueError("images must be an N x H x W uint8 tensor")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        self.labels = self.labels.long()

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, index: slice | torch.Tensor | list[int], name: str | None = None) -> "ImageSet":
        return ImageSet(self.images[index], self.labels[index], self.classes, name or self.name)

    def split(self, n_first: int) -> tuple["ImageSet", "ImageSet"]:
        """The first ``n_first`` items and the rest, in order (reproducible)."""
        return (self.subset(slice(0, n_first), f"{self.name}[:{n_first}]"),
                self.subset(slice(n_first, None), f"{self.name}[{n_first}:]"))

    def take(self, n: int, seed: int = 0) -> "ImageSet":
        """A reproducible random subset of ``n`` items."""
        if n >= len(self):
            return self
        g = torch.Generator().manual_seed(seed)
        return self.subset(torch.randperm(len(self), generator=g)[:n], f"{self.name}[{n}]")


# --- where the data lives ------------------------------------------------------------------------------
def user_data_dir() -> Path:
    """The per-user folder for this application's data (platform convention)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / APP_NAME


def resolve_data_dir(cli_value: str | os.PathLike | None = None) -> Path:
    """The data directory: the command-line value, else ``$DSDC_DATA``, else ``user_data_dir()/data``."""
    if cli_value:
        return Path(cli_value).expanduser()
    env = os.environ.get("DSDC_DATA")
    if env:
        return Path(env).expanduser()
    return user_data_dir() / "data"


@contextmanager
def download_timeout():
    """Downloads give up after $DSDC_DOWNLOAD_TIMEOUT seconds (default 30) without data, instead of hanging a
    job (and the app's exit) on a stalled connection. torchvision has no timeout of its own."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(float(os.environ.get("DSDC_DOWNLOAD_TIMEOUT", "30")))
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


# --- readers ---------------------------------------------------------------------------------------------
def load_idx_pair(images_path: str | os.PathLike, labels_path: str | os.PathLike,
                  classes: list[str] | None = None, name: str = "") -> ImageSet:
    """Read an IDX image file and its IDX label file (uncompressed, as torchvision stores them)."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    images_path, labels_path = Path(images_path), Path(labels_path)
    for p in (images_path, labels_path):
        if not p.is_file():
            raise DataError(f"missing data file {p}")
    try:
        images = read_image_file(str(images_path))
        labels = read_label_file(str(labels_path))
    except Exception as e:  # torchvision raises assertion/value/runtime errors on bad headers or sizes
        raise DataError(f"cannot read IDX pair {images_path.name} / {labels_path.name} in {images_path.parent}: "
                        f"the files are truncated or not IDX files ({type(e).__name__}: {e})") from None
    if images.dim() != 3 or labels.dim() != 1 or len(images) != len(labels):
        raise DataError(f"IDX pair in {images_path.parent} does not match: {tuple(images.shape)} images, "
                        f"{tuple(labels.shape)} labels")
    n_classes = int(labels.max()) + 1 if len(labels) else 0
    classes = classes or [str(i) for i in range(n_classes)]
    if len(labels) and int(labels.max()) >= len(classes):
        raise DataError(f"labels in {labels_path} go up to {int(labels.max())} but there are {len(classes)} classes")
    return ImageSet(images.contiguous(), labels, list(classes), name or images_path.parent.parent.name)


def _torchvision_set(cls, root: Path, train: bool, download: bool, files: tuple[str, str], label: str) -> ImageSet:
    raw = root / cls.__name__ / "raw"
    if root.exists() and not root.is_dir():
        raise DataError(f"the data folder {root} is a file, not a folder; choose a folder for the data")
    if all((raw / f).is_file() for f in files):
        return load_idx_pair(raw / files[0], raw / files[1], name=f"{label}-{'train' if train else 'test'}")
    if download and root.exists() and not os.access(root, os.W_OK):
        raise DataError(f"{label} is missing from {raw} ({', '.join(files)}) and the data folder {root} is "
                        f"read-only, so it cannot be downloaded there; choose a writable data folder")
    if download:
        try:
            root.mkdir(parents=True, exist_ok=True)
            with download_timeout():
                cls(str(root), train=train, download=True)
        except Exception as e:  # offline, read-only folder, mirror down ...
            raise DataError(
                f"{label} {'training' if train else 'test'} set is missing and could not be downloaded: "
                f"looked in {raw} for {', '.join(files)} ({type(e).__name__}: {e}). Copy the files there "
                f"or point DSDC_DATA / --data-dir at a folder that has them.") from None
        if all((raw / f).is_file() for f in files):
            return load_idx_pair(raw / files[0], raw / files[1], name=f"{label}-{'train' if train else 'test'}")
    raise DataError(f"{label} {'training' if train else 'test'} set not found: looked in {raw} for "
                    f"{', '.join(files)}. Set DSDC_DATA or --data-dir to a folder that has {cls.__name__}/raw/.")


def load_mnist(root: str | os.PathLike | None = None, train: bool = True, download: bool = True) -> ImageSet:
    """MNIST (train or test) from ``root`` (see ``resolve_data_dir``), downloading it when missing."""
    from torchvision.datasets import MNIST

    return _torchvision_set(MNIST, resolve_data_dir(root), train, download, MNIST_FILES[train], "MNIST")


KMNIST_CLASSES = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]


def load_kmnist(root: str | os.PathLike | None = None, train: bool = False, download: bool = True) -> ImageSet:
    """KMNIST from ``root``: its IDX pair (the test split by default, which is all ../shared/data has)."""
    from torchvision.datasets import KMNIST

    s = _torchvision_set(KMNIST, resolve_data_dir(root), train, download, MNIST_FILES[train], "KMNIST")
    s.classes = list(KMNIST_CLASSES)
    return s


def load_image_folder(path: str | os.PathLike, size: int = 28) -> ImageSet:
    """Any folder in torchvision's ``ImageFolder`` layout (one subfolder per class), as 28x28 grey images.

    Images are converted to greyscale and resized to ``size`` x ``size``. Polarity is made MNIST-like:
    an image whose border is brighter than its centre (dark ink on paper) is inverted. Unreadable files
    are skipped and counted in ``ImageSet.name``; a folder with no readable image raises ``DataError``.
    """
    from PIL import Image
    from torchvision.datasets import ImageFolder
    from torchvision.transforms.functional import pil_to_tensor

    path = Path(path).expanduser()
    if not path.is_dir():
        raise DataError(f"image folder {path} does not exist or is not a folder")
    try:
        folder = ImageFolder(str(path), loader=lambda p: p)  # load lazily below so bad files can be skipped
    except (FileNotFoundError, RuntimeError) as e:
        raise DataError(f"{path} is not a folder of labelled images (one subfolder per class with images in "
                        f"it): {e}") from None
    images, labels, skipped = [], [], 0
    for file, label in folder.samples:
        try:
            with Image.open(file) as im:
                im = im.convert("L")
                if im.size != (size, size):
                    im = im.resize((size, size), Image.Resampling.BILINEAR)
                t = pil_to_tensor(im)[0]
        except Exception:
            skipped += 1
            continue
        border = torch.cat([t[0], t[-1], t[:, 0], t[:, -1]]).float().mean()
        centre = t[size // 4: -size // 4, size // 4: -size // 4].float().mean()
        if border > centre:
            t = 255 - t
        images.append(t)
        labels.append(label)
    if not images:
        raise DataError(f"no readable images in {path} ({skipped} files could not be read)")
    name = path.name + (f" ({skipped} unreadable files skipped)" if skipped else "")
    return ImageSet(torch.stack(images), torch.tensor(labels), list(folder.classes), name, skipped)


ONLINE_SETS = {
    # target name: (torchvision class name, constructor keyword arguments, label)
    "fashion": ("FashionMNIST", {}, "Fashion-MNIST"),
    "emnist-digits": ("EMNIST", {"split": "digits"}, "EMNIST digits"),
}
TARGETS = ("mnist", "kmnist", "mydigits", "folder:PATH", *ONLINE_SETS)


def split_held_out(s: ImageSet, fraction: float = 0.2, seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """A reproducible (seeded) split into a training part and a held-out part of about ``fraction``."""
    perm = torch.randperm(len(s), generator=torch.Generator().manual_seed(seed))
    n_held = max(1, round(len(s) * fraction))
    return s.subset(perm[n_held:], s.name + "-train"), s.subset(perm[:n_held], s.name + "-held-out")


def load_online_set(name: str, root: str | os.PathLike | None = None, train: bool = True,
                    download: bool = True) -> ImageSet:
    """A torchvision data set fetched on request (Fashion-MNIST, EMNIST digits) into the data folder."""
    import torchvision.datasets as tvd

    cls_name, kwargs, label = ONLINE_SETS[name]
    root = resolve_data_dir(root)
    try:
        with download_timeout():
            ds = getattr(tvd, cls_name)(str(root), train=train, download=download, **kwargs)
    except Exception as e:
        raise DataError(f"{label} is not in {root / cls_name} and could not be downloaded "
                        f"({type(e).__name__}: {e}); connect to the internet or copy it there") from None
    images = ds.data if isinstance(ds.data, torch.Tensor) else torch.as_tensor(ds.data)
    if cls_name == "EMNIST":  # EMNIST is stored transposed
        images = images.transpose(1, 2)
    return ImageSet(images.to(torch.uint8).contiguous(), torch.as_tensor(ds.targets), list(ds.classes),
                    f"{label}-{'train' if train else 'test'}")


def load_target(target: str, root: str | os.PathLike | None = None, n_kmnist_train: int = 8000
                ) -> tuple[ImageSet, ImageSet]:
    """A fine-tuning target as (train part, held-out part).

    ``mnist``: the MNIST training and test sets. ``kmnist``: the KMNIST IDX pair split in order, the first
    ``n_kmnist_train`` to train on and the rest held out. ``mydigits``: the user's collected samples
    (``model.collect``), labelled as digits, split 80/20. ``folder:PATH``: an ImageFolder, split 80/20 by a
    seeded permutation. ``fashion``, ``emnist-digits``: torchvision sets, downloaded when missing.
    """
    if target == "mnist":
        return load_mnist(root, train=True), load_mnist(root, train=False)
    if target == "kmnist":
        s = load_kmnist(root)
        if len(s) <= n_kmnist_train:
            raise DataError(f"KMNIST has {len(s)} images; need more than {n_kmnist_train} to hold some out")
        return s.split(n_kmnist_train)
    if target == "mydigits":
        from .collect import DigitStore
        s = DigitStore().load()
        if len(s) < 2:
            raise DataError(f"only {len(s)} sample collected: collect more digits to fine-tune on")
        return split_held_out(s)
    if target in ONLINE_SETS:
        return load_online_set(target, root, train=True), load_online_set(target, root, train=False)
    if target.startswith("folder:"):
        folder = target.split(":", 1)[1]
        s = load_image_folder(folder)
        if s.num_classes < 2:
            raise DataError(f"{folder} has a single class ({s.classes[0]}); a classifier needs at least two")
        return split_held_out(s)
    raise DataError(f"unknown target {target!r}: use {', '.join(TARGETS)}")


# --- tensors for the network -----------------------------------------------------------------------------
def normalize(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 N x H x W (or N x 1 x H x W) -> float N x 1 x H x W, standardised as in training."""
    x = images_uint8.float().div_(255.0)
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return x.sub_(MNIST_MEAN).div_(MNIST_STD)


def random_affine(x: torch.Tensor, generator: torch.Generator | None = None, degrees: float = 10.0,
                  scale: float = 0.1, translate: float = 0.1, shear: float = 5.0) -> torch.Tensor:
    """Random affine transform of a whole batch (N x 1 x H x W) in one ``grid_sample`` call.

    Each image gets its own rotation (+-degrees), scale (1+-scale), shear (+-shear degrees) and
    translation (+-translate of the size). Works on normalised images: the background is filled with
    the normalised value of a black pixel.
    """
    n = x.shape[0]
    u = torch.rand(n, 5, generator=generator) * 2 - 1
    angle = u[:, 0] * math.radians(degrees)
    s = 1 + u[:, 1] * scale
    sh = u[:, 2] * math.radians(shear)
    tx, ty = u[:, 3] * translate * 2, u[:, 4] * translate * 2  # affine_grid works in [-1, 1]
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Inverse map (output -> input coordinates): rotation with shear, divided by the scale.
    theta = torch.stack([
        torch.stack([cos / s, (-sin + torch.tan(sh) * cos) / s, tx], 1),
        torch.stack([sin / s, (cos + torch.tan(sh) * sin) / s, ty], 1),
    ], 1).to(x.dtype)
    background = -MNIST_MEAN / MNIST_STD
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x - background, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False) + background


def iterate_batches(data: ImageSet, batch_size: int, shuffle: bool = True, augment: bool = False,
                    generator: torch.Generator | None = None, drop_last: bool = False):
    """Yield (normalised float images, labels) batches straight from the uint8 tensor."""
    n = len(data)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    end = n - (n % batch_size) if drop_last and n >= batch_size else n
    for start in range(0, end, batch_size):
        idx = order[start:start + batch_size]
        x = normalize(data.images[idx])
        if augment:
            x = random_affine(x, generator)
        yield x, data.labels[idx]
