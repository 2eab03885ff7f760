"""The fine-tuning experiment of docs/finetuning.md.

1. KMNIST (the 10,000-image IDX pair in the data folder: the first 8,000 to fine-tune on, the last 2,000
   held out): accuracy on the held-out part after fine-tuning the shipped MNIST network with each policy —
   zero (evaluate only), head only, first 3 blocks frozen, full — and after training from scratch, with
   100, 1,000 and 8,000 fine-tuning images; seconds taken; MNIST test accuracy after (forgetting).
2. Personal handwriting: digits drawn on the real canvas by programmatic strokes in one person's style,
   saved through the collect store, fine-tuned on; accuracy on held-out drawings before and after.

    python benchmarks/finetune_experiment.py [--sizes 100,1000,8000]
"""
from __future__ import annotations

import argparse
import copy
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from _common import data_dir, emit, machine

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

POLICIES = [("zero (evaluate only)", "all"), ("head only", "backbone"), ("first 3 blocks frozen", "first:3"),
            ("full fine-tuning", "none")]


STEPS, BATCH = 500, 32


def epochs_for(n: int) -> int:
    """The same budget for every size: at least 500 optimiser steps of 32 images, and at least 3 passes."""
    return max(3, -(-STEPS * BATCH // n))


def kmnist_table(root, sizes, seed=0):
    import torch
    from model.checkpoint import load_pretrained
    from model.data import load_mnist, load_target
    from model.network import DSDCNet
    from model.train import Trainer, evaluate, finetune, finetune_config, pretrain_config
    train_all, held = load_target("kmnist", root)
    mnist_test = load_mnist(root, train=False)
    shipped = load_pretrained()
    rows = []
    for n in sizes:
        train = train_all.take(n, seed=seed)
        ep = epochs_for(n)
        for name, policy in POLICIES:
            net = copy.deepcopy(shipped)
            t0 = time.perf_counter()
            r = finetune(net, train, held, policy, finetune_config(epochs=ep, lr=1e-3, batch_size=BATCH, seed=seed,
                                                                 eval_every_epoch=False),
                         mnist_test)
            rows.append((n, name, r.trainable, r.target_after, r.mnist_after, time.perf_counter() - t0))
            print(f"  {n:>5} {name:<24} {r.target_after:.4f}", flush=True)
        torch.manual_seed(seed)
        net = DSDCNet()
        t0 = time.perf_counter()
        Trainer(net, train, None, pretrain_config(epochs=ep, batch_size=BATCH, seed=seed)).fit()
        acc = evaluate(net, held)[1]
        rows.append((n, "from scratch", net.param_counts()["total"], acc, None, time.perf_counter() - t0))
        print(f"  {n:>5} {'from scratch':<24} {acc:.4f}", flush=True)
    return rows


def handwriting(per_digit: int, seed=0):
    from PySide6.QtWidgets import QApplication
    from dsdc_gui.canvas import DrawingCanvas
    from gui_helpers import DIGIT_STROKES, PERSONAL_STYLE, jittered
    from model.checkpoint import load_pretrained
    from model.collect import DigitStore
    from model.data import split_held_out
    from model.preprocess import preprocess_canvas
    from model.train import finetune, finetune_config

    app = QApplication.instance() or QApplication([])
    canvas = DrawingCanvas()
    canvas.resize(280, 280)
    store = DigitStore(Path(tempfile.mkdtemp()) / "my_digits")
    style = {**DIGIT_STROKES, **PERSONAL_STYLE}
    rng = random.Random(seed)
    for _ in range(per_digit):
        for d, strokes in style.items():
            canvas.clear()
            for s in jittered(strokes, rng, amount=1.6):
                canvas.add_stroke(s)
            pre = preprocess_canvas(canvas.image_array(), ink="dark")
            store.add(d, pre.image28.numpy(), canvas.image_array())
    data = store.load()
    train, held = split_held_out(data, 0.3, seed)
    rows = []
    for name, policy in POLICIES[1:]:
        net = load_pretrained()
        r = finetune(net, train, held, policy, finetune_config(epochs=15, lr=1e-3, batch_size=16, seed=seed,
                                                                   eval_every_epoch=False))
        rows.append((name, r.target_before, r.target_after))
    return len(train), len(held), rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir")
    ap.add_argument("--sizes", default="100,1000,8000")
    ap.add_argument("--per-digit", type=int, default=30, help="drawings per digit for the handwriting run")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    root = data_dir(args.data_dir)
    rows = kmnist_table(root, sizes)
    n_train, n_held, hw = handwriting(args.per_digit)
    print(machine())
    print(f"KMNIST: accuracy on the 2,000 held-out images (last 2,000 of the test IDX pair); batch {BATCH}, at "
          f"least {STEPS} steps and 3 epochs per run; fine-tuning: Adam lr 1e-3, cosine; from scratch: the "
          f"pretrain recipe (peak lr 5e-3)")
    print(f"{'images':>6} | {'policy':<24} | {'trainable':>9} | {'KMNIST held-out':>15} | {'MNIST test after':>16} | {'seconds':>7}")
    for n, name, trainable, acc, mnist, secs in rows:
        m = "" if mnist is None else f"{mnist:.4f}"
        print(f"{n:>6} | {name:<24} | {trainable:>9,} | {acc:>15.4f} | {m:>16} | {secs:>7.1f}")
    print(f"Personal handwriting: {n_train} drawings to fine-tune on, {n_held} held out")
    print(f"{'policy':<24} | {'before':>7} | {'after':>7}")
    for name, before, after in hw:
        print(f"{name:<24} | {before:>7.4f} | {after:>7.4f}")
    best = max(r[3] for r in rows if r[0] == max(sizes) and r[1] != "from scratch")
    emit(kmnist_best_finetuned=best, handwriting_before=hw[0][1], handwriting_after_best=max(r[2] for r in hw))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
