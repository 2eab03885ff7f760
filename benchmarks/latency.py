"""Milliseconds for the app's per-update work — canvas image -> preprocessing -> one forward pass with all
feature maps -> probabilities and numpy maps — and for loading the shipped model at start-up.

    python benchmarks/latency.py [--repeats 300]
"""
from __future__ import annotations

import argparse
import time

from _common import emit, machine, percentile


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=300)
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from model.checkpoint import load_pretrained
    from model.preprocess import preprocess_canvas

    load_ms = []
    for _ in range(5):
        t0 = time.perf_counter()
        net = load_pretrained()
        load_ms.append((time.perf_counter() - t0) * 1000)

    # A drawn "4" on a 280 x 280 canvas (dark ink on white), as the app's canvas produces it.
    canvas = np.full((280, 280), 255, np.uint8)
    for y in range(40, 245):
        canvas[y, 165:185] = 0
    for y in range(40, 170):
        x = int(160 - (y - 40) * 0.7)
        canvas[y, x:x + 20] = 0
    canvas[160:180, 60:215] = 0

    def update():
        pre = preprocess_canvas(canvas, ink="dark")
        with torch.inference_mode():
            logits, maps = net.feature_maps(pre.tensor)
            probs = torch.softmax(logits, 1)[0].numpy()
            arrays = {k: v[0].numpy() for k, v in maps.items()}
        return probs, arrays

    for _ in range(20):
        update()
    times, pre_times = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        preprocess_canvas(canvas, ink="dark")
        t1 = time.perf_counter()
        update()
        t2 = time.perf_counter()
        pre_times.append((t1 - t0) * 1000)
        times.append((t2 - t1) * 1000)
    print(machine())
    print(f"{'what':<44} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, v in [("preprocess only", pre_times), ("preprocess + forward + all feature maps", times),
                    ("load shipped model (5 loads)", load_ms)]:
        print(f"{name:<44} {percentile(v, 50):>8.2f} {percentile(v, 99):>8.2f} {max(v):>8.2f}")
    emit(load_ms_p50=percentile(load_ms, 50), predict_ms_p50=percentile(times, 50), predict_ms_p99=percentile(times, 99))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
