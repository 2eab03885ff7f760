"""The command line, run as a user runs it (a subprocess), on the real data."""
import os
import subprocess
import sys

import pytest


def run(*args, env_extra=None, timeout=600):
    env = dict(os.environ, **(env_extra or {}))
    p = subprocess.run([sys.executable, "-m", "model", *args], capture_output=True, text=True, env=env,
                       timeout=timeout)
    return p.returncode, p.stdout.strip().splitlines(), p.stderr


def test_summary_prints_the_table_and_totals():
    rc, out, _ = run("summary")
    assert rc == 0
    assert out[0].startswith("layer") and any(line.startswith("block5") for line in out)
    assert out[-1].startswith("params=")


def test_evaluate_shipped_weights(data_root):
    rc, out, _ = run("evaluate", "--data-dir", str(data_root))
    assert rc == 0
    acc, n = out[-1].split()
    assert n == "n=10000" and float(acc.split("=")[1]) >= 0.993


def test_train_small_run_writes_a_checkpoint(data_root, tmp_path):
    out_path = tmp_path / "w.pt"
    rc, out, err = run("train", "--data-dir", str(data_root), "--epochs", "2", "--limit", "3000",
                       "--out", str(out_path))
    assert rc == 0, err
    assert out[-1].startswith("accuracy=") and out[-1].endswith("n=10000")
    assert "epoch 1:" in err and "img/s" in err
    assert float(out[-1].split()[0].split("=")[1]) > 0.5
    rc, out, _ = run("evaluate", "--data-dir", str(data_root), "--weights", str(out_path))
    assert rc == 0 and out[-1].startswith("accuracy=")


def test_finetune_kmnist_prints_before_and_after(data_root, tmp_path):
    rc, out, err = run("finetune", "--data-dir", str(data_root), "--target", "kmnist", "--freeze", "backbone",
                       "--epochs", "1", "--limit", "500", "--lr", "1e-3", "--out", str(tmp_path / "k.pt"))
    assert rc == 0, err
    fields = dict(kv.split("=") for kv in out[-1].split())
    assert set(fields) == {"target_before", "target_after", "mnist_before", "mnist_after"}
    assert float(fields["mnist_before"]) >= 0.99
    assert (tmp_path / "k.pt").is_file()


@pytest.mark.parametrize("args,needle", [
    (["evaluate", "--weights", "/nonexistent/w.pt"], "does not exist"),
    (["finetune", "--target", "folder:/nonexistent/dir"], "does not exist"),
    (["finetune", "--target", "kmnist", "--freeze", "first:x"], "freeze policy"),
])
def test_bad_input_exits_with_one_clear_line(args, needle, data_root):
    rc, out, err = run(*args, "--data-dir", str(data_root))
    assert rc == 2
    assert "Traceback" not in err and err.strip().count("\n") == 0
    assert err.startswith("error:") and needle in err


def test_missing_data_offline_is_one_clear_line(tmp_path):
    # MNIST mirrors pointed at a closed local port: what an offline machine sees.
    code = ("import sys; from torchvision.datasets import MNIST; MNIST.mirrors=['http://127.0.0.1:9/']; "
            "from model.__main__ import main; sys.exit(main(sys.argv[1:]))")
    p = subprocess.run([sys.executable, "-c", code, "evaluate", "--data-dir", str(tmp_path / "none")],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert str(tmp_path / "none" / "MNIST" / "raw") in p.stderr and "t10k-images-idx3-ubyte" in p.stderr


def test_corrupt_checkpoint_is_one_clear_line(tmp_path, data_root):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x02garbage")
    rc, out, err = run("evaluate", "--weights", str(bad), "--data-dir", str(data_root))
    assert rc == 2 and "corrupt or truncated" in err and "Traceback" not in err
