"""Data: the data-directory setting, MNIST via torchvision, IDX pairs, ImageFolder, batched augmentation."""
import hashlib
import shutil

import pytest
import torch

from conftest import write_png_folder
from model import data as D


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("DSDC_DATA", str(tmp_path / "env"))
    assert D.resolve_data_dir(str(tmp_path / "cli")) == tmp_path / "cli"
    assert D.resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("DSDC_DATA")
    assert D.resolve_data_dir(None) == D.user_data_dir() / "data"
    assert str(D.user_data_dir()).startswith(str(tmp_path.parent.parent)) or "dsdc-studio" in str(D.user_data_dir())


def test_mnist_from_the_shared_folder(data_root, mnist_train, mnist_test):
    assert len(mnist_train) == 24_345 and len(mnist_test) == 10_000
    assert mnist_test.images.shape == (10_000, 28, 28) and mnist_test.images.dtype == torch.uint8
    assert mnist_test.classes == [str(i) for i in range(10)]
    assert torch.bincount(mnist_test.labels).tolist()[:2] == [980, 1135]  # the official test set's counts
    raw = data_root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    assert hashlib.md5(raw.read_bytes()).hexdigest() == "27ae3e4e09519cfbb04c329615203637"


def test_missing_mnist_offline_names_the_folder_and_files(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST
    # Offline: every mirror refuses the connection (a closed local port), as on a machine with no network.
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])
    with pytest.raises(D.DataError) as e:
        D.load_mnist(tmp_path / "empty", train=False)
    msg = str(e.value)
    assert str(tmp_path / "empty" / "MNIST" / "raw") in msg
    assert "t10k-images-idx3-ubyte" in msg and "could not be downloaded" in msg


def test_missing_mnist_without_download(tmp_path):
    with pytest.raises(D.DataError, match="train-images-idx3-ubyte"):
        D.load_mnist(tmp_path, train=True, download=False)


def test_download_path_uses_torchvision_when_files_are_missing(tmp_path, monkeypatch, data_root):
    """When the files are missing, torchvision's own download is what fetches them (here it is served
    from the shared folder through a local 'mirror' so that the real code path runs offline)."""
    import gzip
    import http.server
    import threading
    from functools import partial
    from torchvision.datasets import MNIST

    served = tmp_path / "mirror"
    served.mkdir()
    for name in D.MNIST_FILES[False]:
        with open(data_root / "MNIST" / "raw" / name, "rb") as src, gzip.open(served / (name + ".gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(MNIST, "mirrors", [f"http://127.0.0.1:{server.server_port}/"])
        monkeypatch.setattr(MNIST, "resources", [(n + ".gz", None) for n in D.MNIST_FILES[False]])
        s = D.load_mnist(tmp_path / "fresh", train=False)
    finally:
        server.shutdown()
    assert len(s) == 10_000
    assert (tmp_path / "fresh" / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file()


def test_idx_pair_and_corrupt_files(tmp_path, data_root):
    raw = data_root / "KMNIST" / "raw"
    k = D.load_idx_pair(raw / "t10k-images-idx3-ubyte", raw / "t10k-labels-idx1-ubyte")
    assert len(k) == 10_000 and torch.bincount(k.labels).tolist() == [1000] * 10
    truncated = tmp_path / "imgs"
    truncated.write_bytes((raw / "t10k-images-idx3-ubyte").read_bytes()[:5000])
    with pytest.raises(D.DataError, match="truncated or not IDX"):
        D.load_idx_pair(truncated, raw / "t10k-labels-idx1-ubyte")
    with pytest.raises(D.DataError, match="missing data file"):
        D.load_idx_pair(tmp_path / "nope", raw / "t10k-labels-idx1-ubyte")


def test_kmnist_target_is_split_in_order(data_root):
    train, held = D.load_target("kmnist", data_root)
    full = D.load_kmnist(data_root)
    assert len(train) == 8000 and len(held) == 2000
    assert torch.equal(held.images, full.images[8000:]) and train.classes == D.KMNIST_CLASSES


def test_image_folder_polarity_classes_and_bad_files(tmp_path):
    root = write_png_folder(tmp_path / "f", {"cat": 4, "dog": 3}, size=40, dark_on_light=True)
    (root / "dog" / "broken.png").write_bytes(b"not an image")
    s = D.load_image_folder(root)
    assert s.classes == ["cat", "dog"] and len(s) == 7 and s.skipped == 1
    assert s.images.shape == (7, 28, 28)
    # dark-on-light input was inverted to MNIST polarity: the border is dark
    assert s.images[:, 0, :].float().mean() < 30 and s.images.float().mean() > 5
    train, held = D.load_target(f"folder:{root}")
    assert len(train) + len(held) == 7 and len(held) >= 1


def test_image_folder_errors(tmp_path):
    with pytest.raises(D.DataError, match="does not exist"):
        D.load_image_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(D.DataError):
        D.load_image_folder(tmp_path / "empty")
    one = write_png_folder(tmp_path / "one", {"only": 3})
    with pytest.raises(D.DataError, match="single class"):
        D.load_target(f"folder:{one}")
    with pytest.raises(D.DataError, match="unknown target"):
        D.load_target("cifar")


def test_random_affine_is_batched_and_keeps_the_background(mnist_test):
    x = D.normalize(mnist_test.images[:64])
    g = torch.Generator().manual_seed(0)
    y = D.random_affine(x, g)
    assert y.shape == x.shape
    background = -D.MNIST_MEAN / D.MNIST_STD
    assert torch.allclose(y[:, :, 0, 0], torch.full((64, 1), background), atol=1e-4)
    assert not torch.allclose(y, x)
    # ink is moved, not destroyed: total ink changes by little
    ink_x = (x - background).sum((1, 2, 3))
    ink_y = (y - background).sum((1, 2, 3))
    assert ((ink_y / ink_x - 1).abs() < 0.35).all()
    # zero-strength augmentation is the identity
    z = D.random_affine(x, g, degrees=0, scale=0, translate=0, shear=0)
    torch.testing.assert_close(z, x, atol=1e-4, rtol=0)


def test_iterate_batches_covers_everything_once(mnist_test):
    s = mnist_test.subset(slice(0, 300))
    seen = torch.cat([y for _, y in D.iterate_batches(s, 128, shuffle=True, generator=torch.Generator().manual_seed(1))])
    assert len(seen) == 300 and torch.equal(torch.sort(seen).values, torch.sort(s.labels).values)
