"""Checkpoints: round trip, atomic writes, and every way a file can be wrong."""
import os
import time

import pytest
import torch

from model import checkpoint as C
from model.network import DSDCNet, NetConfig


def test_round_trip_keeps_weights_architecture_frozen_and_meta(tmp_path):
    net = DSDCNet(NetConfig(stem_channels=8, blocks=((16, 2, 1),), num_classes=3, class_names=("a", "b", "c")))
    net.freeze("first:1")
    path = C.save_checkpoint(tmp_path / "w.pt", net, {"note": "hello", "acc": 0.5})
    loaded, meta = C.load_checkpoint(path)
    assert loaded.config == net.config and loaded.frozen == {"stem"}
    assert meta["note"] == "hello" and meta["acc"] == 0.5 and "saved_at" in meta
    for (k, a), (_, b) in zip(net.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert not any(f.name.endswith(".tmp") for f in tmp_path.iterdir())


def test_a_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "w.pt"
    C.save_checkpoint(path, DSDCNet(), {"version": "old"})
    before = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(C.CheckpointError, match="No space left"):
        C.save_checkpoint(path, DSDCNet(), {"version": "new"})
    assert path.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["w.pt"]


def test_missing_empty_truncated_and_foreign_files(tmp_path):
    with pytest.raises(C.CheckpointError, match="does not exist"):
        C.load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(C.CheckpointError, match="empty"):
        C.load_checkpoint(tmp_path / "empty.pt")
    good = C.save_checkpoint(tmp_path / "good.pt", DSDCNet())
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(C.CheckpointError, match="corrupt or truncated"):
        C.load_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(C.CheckpointError, match="corrupt or truncated"):
        C.load_checkpoint(tmp_path / "text.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(C.CheckpointError, match="not a DSDC Studio checkpoint"):
        C.load_checkpoint(tmp_path / "other.pt")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_CHECKPOINT",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    payload = {"format": C.FORMAT, "version": 1, "config": NetConfig().to_dict(),
               "state_dict": DSDCNet().state_dict(), "meta": {"x": _Exploit()}}
    torch.save(payload, tmp_path / "evil.pt")
    with pytest.raises(C.CheckpointError, match="not a safe checkpoint"):
        C.load_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists()


def test_mismatched_architecture_and_class_count(tmp_path):
    net = DSDCNet()
    payload = {"format": C.FORMAT, "version": 1, "config": NetConfig(stem_channels=8).to_dict(),
               "state_dict": net.state_dict(), "meta": {}}
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(C.CheckpointError, match="do not fit"):
        C.load_checkpoint(tmp_path / "mismatch.pt")
    C.save_checkpoint(tmp_path / "ten.pt", net)
    with pytest.raises(C.CheckpointError, match="10 classes but 5"):
        C.load_checkpoint(tmp_path / "ten.pt", num_classes=5)
    payload["config"] = {"stem_channels": 8, "wings": 2}
    torch.save(payload, tmp_path / "weird.pt")
    with pytest.raises(C.CheckpointError, match="cannot build"):
        C.load_checkpoint(tmp_path / "weird.pt")


def test_save_to_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(C.CheckpointError, match="does not exist"):
        C.save_checkpoint(tmp_path / "no" / "w.pt", DSDCNet())


def test_shipped_weights_load_fast_and_predict(mnist_test):
    t0 = time.perf_counter()
    net = C.load_pretrained()
    with torch.inference_mode():
        from model.data import normalize
        pred = net(normalize(mnist_test.images[:1])).argmax(1)
    # Timing is measured by benchmarks/latency.py, not asserted here.
    print(f"load + one prediction: {(time.perf_counter() - t0) * 1000:.0f} ms")
    assert int(pred) == int(mnist_test.labels[0])
    info = C.pretrained_info()
    assert info["test_set"].startswith("MNIST test set") and info["parameters"] == net.param_counts()["total"]


def test_shipped_weights_accuracy_on_the_official_test_set(pretrained, mnist_test):
    from model.train import evaluate
    _, acc = evaluate(pretrained, mnist_test)
    print(f"shipped weights: accuracy {acc:.4f} on the 10,000 MNIST test images")
    assert acc >= 0.993
    assert abs(acc - C.pretrained_info()["test_accuracy"]) < 1e-4
