"""Each benchmark runs (tiny sizes) and prints its table and its name=value lines. No timing is asserted:
timings belong to the benchmarks themselves (see docs/performance.md)."""
import os
import subprocess
import sys
from pathlib import Path


BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def run(script, *args):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    p = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True, env=env,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    lines = p.stdout.strip().splitlines()
    assert any(line.startswith("machine:") for line in lines)
    return dict(line.split("=", 1) for line in lines if "=" in line and " " not in line)


def test_train_throughput(data_root):
    figures = run("train_throughput.py", "--data-dir", str(data_root), "--images", "384", "--rounds", "1")
    assert {"ds_img_per_s", "baseline_img_per_s", "ratio_ds_vs_baseline"} <= set(figures)
    assert float(figures["ds_img_per_s"]) > 0


def test_time_to_accuracy(data_root):
    figures = run("time_to_accuracy.py", "--data-dir", str(data_root), "--epochs", "1", "--limit", "512",
                  "--test-limit", "500", "--eval-every", "2", "--target", "0.5")
    assert list(figures)[-1] == "seconds_to_99" and 0 <= float(figures["accuracy_after_budget"]) <= 1


def test_latency():
    figures = run("latency.py", "--repeats", "20")
    assert list(figures)[-2:] == ["predict_ms_p50", "predict_ms_p99"]


def test_gui_responsiveness(data_root):
    figures = run("gui_responsiveness.py", "--data-dir", str(data_root), "--seconds", "3", "--limit", "3000",
                  "--stroke-every", "0.5")
    assert list(figures)[-2:] == ["stall_ms_max", "stall_ms_p99"]
