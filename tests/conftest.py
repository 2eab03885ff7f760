"""Shared fixtures: the real data folder, a temporary per-user folder, small generated data sets."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path:
    env = os.environ.get("DSDC_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real data folder (DSDC_DATA, else ../shared/data). Without MNIST there the test is skipped,
    except in CI, where missing data is an error."""
    root = _data_root()
    if not (root / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        msg = f"MNIST not found under {root} (set DSDC_DATA)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return root


@pytest.fixture(scope="session")
def mnist_test(data_root):
    from model.data import load_mnist
    return load_mnist(data_root, train=False, download=False)


@pytest.fixture(scope="session")
def mnist_train(data_root):
    from model.data import load_mnist
    return load_mnist(data_root, train=True, download=False)


@pytest.fixture(scope="session")
def pretrained():
    from model.checkpoint import load_pretrained
    return load_pretrained()


@pytest.fixture
def make_window(qtbot, tmp_path, data_root):
    """Open main windows as the app does (own settings file, the real data folder); closed after the test."""
    from PySide6.QtCore import QSettings
    made = []

    def make(**kwargs):
        from dsdc_gui.main_window import MainWindow
        settings = QSettings(str(tmp_path / f"settings{len(made)}.ini"), QSettings.Format.IniFormat)
        settings.setValue("data_dir", str(data_root))
        w = MainWindow(settings=settings, **kwargs)
        qtbot.addWidget(w)
        w.resize(1280, 820)
        w.show()
        qtbot.waitExposed(w)
        made.append(w)
        return w

    yield make
    for w in made:
        w.runner.shutdown()


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep every test off the real per-user folders (data, settings, collected digits)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    torch.set_num_threads(2)


def write_png_folder(root: Path, per_class: dict[str, int], size: int = 28, seed: int = 0,
                     dark_on_light: bool = False) -> Path:
    """An ImageFolder of simple generated digits-like blobs: class i draws a bar at angle i."""
    from PIL import Image, ImageDraw
    import math
    g = torch.Generator().manual_seed(seed)
    for ci, (name, n) in enumerate(per_class.items()):
        d = root / name
        d.mkdir(parents=True, exist_ok=True)
        for j in range(n):
            bg, fg = (255, 0) if dark_on_light else (0, 255)
            im = Image.new("L", (size, size), bg)
            draw = ImageDraw.Draw(im)
            a = math.pi * ci / max(1, len(per_class)) + float(torch.rand(1, generator=g)) * 0.2
            c = size / 2 + float(torch.randn(1, generator=g)) * 1.0
            r = size * 0.35
            draw.line([(c - r * math.cos(a), c - r * math.sin(a)), (c + r * math.cos(a), c + r * math.sin(a))],
                      fill=fg, width=max(2, size // 10))
            im.save(d / f"{j:03d}.png")
    return root
