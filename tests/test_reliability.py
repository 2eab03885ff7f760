"""Reliability: bad files, faults and impatient use end in one clear message, with nothing lost."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from gui_helpers import click_action, draw_digit
from model.checkpoint import load_checkpoint, save_checkpoint
from model.network import DSDCNet, NetConfig




def _error_text(window) -> str:
    boxes = [b for b in window.findChildren(QMessageBox, "errorDialog") if b.isVisible()]
    assert len(boxes) == 1, "expected exactly one error dialog on screen"
    text = boxes[0].text()
    boxes[0].close()
    return text


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


# --- 1. untrusted checkpoints ------------------------------------------------------------------------------
def _bad_checkpoints(tmp_path):
    good = save_checkpoint(tmp_path / "good.pt", DSDCNet())
    payload = torch.load(good, weights_only=True)
    files = {}
    evil = dict(payload, meta={"x": _Exploit()})
    torch.save(evil, tmp_path / "evil.pt")
    files["evil.pt"] = "not a safe checkpoint"
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:1000])
    files["cut.pt"] = "corrupt or truncated"
    (tmp_path / "empty.pt").write_bytes(b"")
    files["empty.pt"] = "empty"
    torch.save(dict(payload, config=NetConfig(stem_channels=8).to_dict()), tmp_path / "arch.pt")
    files["arch.pt"] = "do not fit"
    five = DSDCNet()
    five.replace_head(5)
    # says 10 classes, holds a 5-class head
    torch.save(dict(payload, state_dict=five.state_dict()), tmp_path / "classes.pt")
    files["classes.pt"] = "do not fit"
    return files


def test_a_checkpoint_with_another_class_count_loads_and_the_bars_follow(qtbot, window, tmp_path):
    five = DSDCNet()
    five.replace_head(5, ["a", "b", "c", "d", "e"])
    save_checkpoint(tmp_path / "five.pt", five)
    assert window.load_checkpoint_file(str(tmp_path / "five.pt"))
    draw_digit(qtbot, window.canvas, "1")
    qtbot.waitUntil(lambda: window.prediction.predicted is not None)
    assert window.prediction.class_names == ["a", "b", "c", "d", "e"] and len(window.prediction.probabilities) == 5
    with qtbot.waitSignal(window.jobFinished, timeout=30_000) as blocker:  # MNIST evaluation needs 10 classes
        click_action(qtbot, window, window.evaluate_action)
    assert blocker.args == ["failed"] and "needs 10" in _error_text(window)


def test_bad_checkpoints_in_the_app_each_give_one_message_and_keep_the_model(qtbot, window, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    draw_digit(qtbot, window.canvas, "7")
    qtbot.waitUntil(lambda: window.prediction.predicted is not None)
    model, probs = window.model, window.prediction.probabilities.copy()
    for name, needle in _bad_checkpoints(tmp_path).items():
        assert window.load_checkpoint_file(str(tmp_path / name)) is False
        text = _error_text(window)
        assert needle in text and "current network is kept" in text, (name, text)
        assert "\n" not in text and "Traceback" not in text
        assert window.model is model
        np.testing.assert_allclose(window.prediction.probabilities, probs)
    assert not (tmp_path / "PWNED").exists()


# --- 2. atomic writes --------------------------------------------------------------------------------------
WRITER = r"""
import sys, torch
from model.checkpoint import save_checkpoint
from model.network import DSDCNet
net = DSDCNet()
big = {"padding": "x" * 20_000_000}  # a slow write, so that the kill lands in the middle of one
print("ready", flush=True)
i = 0
while True:
    i += 1
    save_checkpoint(sys.argv[1], net, dict(big, i=i))
"""


def test_killing_the_process_mid_write_leaves_a_loadable_checkpoint(tmp_path):
    path = tmp_path / "w.pt"
    save_checkpoint(path, DSDCNet(), {"i": 0})
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    model, meta = load_checkpoint(path)  # the old file or a complete new one, never half of one
    assert isinstance(model, DSDCNet) and "i" in meta


# --- 3. data faults ----------------------------------------------------------------------------------------
def test_data_folder_that_is_a_file(tmp_path):
    from model.data import DataError, load_mnist
    f = tmp_path / "data.txt"
    f.write_text("not a folder")
    with pytest.raises(DataError, match="is a file, not a folder"):
        load_mnist(f, train=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_data_folder(tmp_path):
    from model.data import DataError, load_mnist
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(DataError, match="read-only"):
        load_mnist(ro, train=False)


def test_truncated_idx_in_the_data_folder(tmp_path, data_root):
    from model.data import DataError, load_mnist
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    src = data_root / "MNIST" / "raw"
    (raw / "t10k-images-idx3-ubyte").write_bytes((src / "t10k-images-idx3-ubyte").read_bytes()[:100_000])
    (raw / "t10k-labels-idx1-ubyte").write_bytes((src / "t10k-labels-idx1-ubyte").read_bytes())
    with pytest.raises(DataError, match="truncated or not IDX"):
        load_mnist(tmp_path, train=False)


def test_data_faults_reach_the_app_as_one_sentence(qtbot, window, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    window.training.data_dir.setText(str(f))
    with qtbot.waitSignal(window.jobFinished, timeout=30_000) as blocker:
        click_action(qtbot, window, window.pretrain_action)
    assert blocker.args == ["failed"]
    assert "is a file, not a folder" in _error_text(window)
    assert window.pretrain_action.isEnabled()


# --- 4. training faults ------------------------------------------------------------------------------------
def test_learning_rate_10_in_the_app_stops_says_so_and_keeps_the_model(qtbot, window):
    model = window.model
    before = {k: v.clone() for k, v in model.state_dict().items()}
    window.layers.target.setCurrentIndex(window.layers.target.findData("kmnist"))
    window.training.finetune_lr.setValue(10.0)
    window.training.train_limit.setValue(2000)
    window.training.epochs.setValue(1)
    with qtbot.waitSignal(window.jobFinished, timeout=60_000) as blocker:
        click_action(qtbot, window, window.finetune_action)
    assert blocker.args == ["diverged"]
    text = _error_text(window)
    assert "learning rate 10 is probably too high" in text
    assert window.model is model
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_an_exception_in_the_worker_is_a_message_and_the_app_stays_usable(qtbot, window, monkeypatch):
    import model.train as T

    def boom(self):
        raise RuntimeError("simulated failure inside the training loop")
    monkeypatch.setattr(T.Trainer, "fit", boom)
    with qtbot.waitSignal(window.jobFinished, timeout=30_000) as blocker:
        click_action(qtbot, window, window.pretrain_action)
    assert blocker.args == ["failed"]
    assert "simulated failure" in _error_text(window)
    qtbot.waitUntil(lambda: not window.runner.busy)
    monkeypatch.undo()
    draw_digit(qtbot, window.canvas, "1")
    qtbot.waitUntil(lambda: window.prediction.digit.text() == "1")
    with qtbot.waitSignal(window.jobFinished, timeout=60_000) as blocker:
        click_action(qtbot, window, window.evaluate_action)
    assert blocker.args == ["finished"]


def test_out_of_memory_batch_is_refused_up_front(mnist_test):
    from model.train import Trainer, TrainConfig
    net = DSDCNet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match="choose a smaller batch size"):
        Trainer(net, mnist_test, None, TrainConfig(batch_size=50_000_000)).fit()
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


# --- 5. impatient use --------------------------------------------------------------------------------------
def test_impatient_clicks(qtbot, window, tmp_path):
    window.stop_job()  # Stop before any job: nothing happens
    assert not window.runner.busy
    window.training.epochs.setValue(50)
    window.training.batch_size.setValue(64)
    threads_before = threading.active_count()
    with qtbot.waitSignal(window.runner.batchEnd, timeout=60_000):
        click_action(qtbot, window, window.pretrain_action)
    from PySide6.QtWidgets import QToolBar
    bar = window.findChild(QToolBar, "actions")
    for _ in range(5):  # hammering the disabled Pretrain button
        qtbot.mouseClick(bar.widgetForAction(window.pretrain_action), Qt.MouseButton.LeftButton)
    assert window.start_finetune() is False and window.start_pretrain() is False
    save_checkpoint(tmp_path / "other.pt", DSDCNet())
    model = window.model
    assert window.load_checkpoint_file(str(tmp_path / "other.pt")) is False
    assert "stop it" in _error_text(window) and window.model is model
    with qtbot.waitSignal(window.jobFinished, timeout=10_000) as blocker:
        click_action(qtbot, window, window.stop_action)
    assert blocker.args == ["stopped"]
    qtbot.waitUntil(lambda: not window.runner.busy)
    window.stop_job()  # Stop after the job ended: nothing happens
    assert window.pretrain_action.isEnabled() and not window.stop_action.isEnabled()
    qtbot.waitUntil(lambda: threading.active_count() <= threads_before, timeout=5000)


# --- 6. long sessions (scaled down; benchmarks/gui_responsiveness.py --seconds 600 is the full soak) -------
def test_soak_training_with_continuous_drawing_stays_bounded(qtbot, window):
    import resource
    from dsdc_gui.training_panel import MAX_POINTS
    window.training.epochs.setValue(100)
    window.training.batch_size.setValue(32)  # many steps: the curve buffers must decimate
    with qtbot.waitSignal(window.runner.batchEnd, timeout=60_000):
        click_action(qtbot, window, window.pretrain_action)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t_end = time.monotonic() + (12 if os.environ.get("CI") else 6)
    strokes = 0
    while time.monotonic() < t_end:
        window.canvas.clear()
        draw_digit(qtbot, window.canvas, "0147"[strokes % 4])
        strokes += 1
    for _ in range(20_000):  # and a long run's worth of steps straight into the curves
        window.training.raw_loss.append(len(window.training.raw_loss), 1.0)
    assert len(window.training.raw_loss) <= MAX_POINTS
    assert len(window.training.smooth_loss) <= MAX_POINTS and len(window.training.lrs) <= MAX_POINTS
    with qtbot.waitSignal(window.jobFinished, timeout=10_000):
        window.stop_job()
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    print(f"{strokes} drawings during training; peak memory grew by {grown_mb:.0f} MB")
    assert strokes > 5 and grown_mb < 300


# --- downloads ---------------------------------------------------------------------------------------------
class _StalledServer:
    """A local 'mirror' that accepts connections and never answers: a download that hangs."""

    def __enter__(self):
        import socket
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        return self

    def __exit__(self, *exc):
        self.sock.close()


def test_closing_the_window_mid_download_exits_cleanly(qtbot, make_window, tmp_path, monkeypatch):
    from torchvision.datasets import MNIST
    monkeypatch.setenv("DSDC_DOWNLOAD_TIMEOUT", "2")
    with _StalledServer() as server:
        monkeypatch.setattr(MNIST, "mirrors", [server.url])
        window = make_window()
        window.training.data_dir.setText(str(tmp_path / "empty"))
        threads_before = threading.active_count()
        click_action(qtbot, window, window.pretrain_action)
        qtbot.waitUntil(lambda: "downloading" in window.status_label.text(), timeout=10_000)
        qtbot.wait(500)  # the worker is now blocked inside torchvision's download
        t0 = time.monotonic()
        window.close()
        closed_in = time.monotonic() - t0
    assert not window.runner.busy and not window.isVisible()
    qtbot.waitUntil(lambda: threading.active_count() <= threads_before, timeout=5000)
    print(f"closed mid-download in {closed_in:.1f} s")
    assert closed_in < 30  # bounded by the download timeout, not by the download


def test_fashion_mnist_is_downloaded_on_request_with_torchvision(tmp_path, monkeypatch, data_root):
    """The 'fashion' target fetches Fashion-MNIST with torchvision's own download code. Offline here, a local
    mirror serves IDX files (MNIST's, renamed: the download path is what is tested, not the pictures)."""
    import gzip
    import http.server
    import shutil
    from functools import partial
    from torchvision.datasets import FashionMNIST
    from model.data import load_target
    served = tmp_path / "mirror"
    served.mkdir()
    for train in (True, False):
        for name in (("train" if train else "t10k") + "-images-idx3-ubyte", ("train" if train else "t10k") +
                     "-labels-idx1-ubyte"):
            with open(data_root / "MNIST" / "raw" / name, "rb") as src, gzip.open(served / (name + ".gz"), "wb") as dst:
                shutil.copyfileobj(src, dst)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             partial(http.server.SimpleHTTPRequestHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(FashionMNIST, "mirrors", [f"http://127.0.0.1:{server.server_port}/"])
        monkeypatch.setattr(FashionMNIST, "resources", [(f.name, None) for f in sorted(served.iterdir())])
        train, held = load_target("fashion", tmp_path / "data")
    finally:
        server.shutdown()
    assert len(train) == 24_345 and len(held) == 10_000
    assert train.classes[0] == "T-shirt/top" and (tmp_path / "data" / "FashionMNIST" / "raw").is_dir()


def test_emnist_digits_is_downloaded_on_request_with_torchvision(tmp_path, monkeypatch, data_root):
    """The 'emnist-digits' target goes through torchvision's EMNIST download (one zip of gzipped IDX files),
    here from a local mirror that serves MNIST's files under EMNIST's names, stored transposed as EMNIST is."""
    import gzip
    import http.server
    import zipfile
    from functools import partial
    from torchvision.datasets import EMNIST
    from model.data import load_mnist, load_target
    served = tmp_path / "mirror"
    served.mkdir()
    with zipfile.ZipFile(served / "gzip.zip", "w") as z:
        for part, mnist_part in (("train", "train"), ("test", "t10k")):
            images = data_root / "MNIST" / "raw" / f"{mnist_part}-images-idx3-ubyte"
            raw = images.read_bytes()
            n = int.from_bytes(raw[4:8], "big")
            pixels = np.frombuffer(raw[16:], np.uint8).reshape(n, 28, 28).transpose(0, 2, 1)  # EMNIST's layout
            z.writestr(f"gzip/emnist-digits-{part}-images-idx3-ubyte.gz", gzip.compress(raw[:16] + pixels.tobytes()))
            labels = (data_root / "MNIST" / "raw" / f"{mnist_part}-labels-idx1-ubyte").read_bytes()
            z.writestr(f"gzip/emnist-digits-{part}-labels-idx1-ubyte.gz", gzip.compress(labels))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             partial(http.server.SimpleHTTPRequestHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(EMNIST, "url", f"http://127.0.0.1:{server.server_port}/gzip.zip")
        monkeypatch.setattr(EMNIST, "md5", None)
        train, held = load_target("emnist-digits", tmp_path / "data")
    finally:
        server.shutdown()
    assert len(train) == 24_345 and len(held) == 10_000 and train.classes == [str(i) for i in range(10)]
    # transposed back: the images are upright digits again
    assert torch.equal(held.images, load_mnist(data_root, train=False).images)
