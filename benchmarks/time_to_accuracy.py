"""Seconds of training from scratch until the MNIST test accuracy first reaches 99.0%, with the pretrain recipe,
on the first 24,345 MNIST training images (../shared/data); and the accuracy after the fixed budget.

The test set is evaluated at every epoch end and every ``--eval-every`` batches; evaluation time is
excluded from the clock (it is not training).

    python benchmarks/time_to_accuracy.py [--epochs 6] [--target 0.99]
"""
from __future__ import annotations

import argparse
import time

from _common import data_dir, emit, machine


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--target", type=float, default=0.99)
    ap.add_argument("--eval-every", type=int, default=50, help="evaluate every N batches too (0: epochs only)")
    ap.add_argument("--limit", type=int, default=0, help="train on this many images only (for quick checks)")
    ap.add_argument("--test-limit", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch
    from model.data import load_mnist
    from model.network import DSDCNet
    from model.train import Trainer, evaluate, pretrain_config
    root = data_dir(args.data_dir)
    train, test = load_mnist(root, train=True), load_mnist(root, train=False)
    if args.limit:
        train = train.take(args.limit)
    if args.test_limit:
        test = test.subset(slice(0, args.test_limit))
    torch.manual_seed(args.seed)
    model = DSDCNet()
    cfg = pretrain_config(epochs=args.epochs, seed=args.seed, eval_every_epoch=False)
    state = {"eval_time": 0.0, "reached": None, "points": []}
    t0 = time.perf_counter()

    def check(step):
        e0 = time.perf_counter()
        _, acc = evaluate(model, test)
        model.train()
        e1 = time.perf_counter()
        state["eval_time"] += e1 - e0
        train_s = e0 - t0 - (state["eval_time"] - (e1 - e0))
        state["points"].append((step, train_s, acc))
        if state["reached"] is None and acc >= args.target:
            state["reached"] = train_s

    def on_batch(b):
        if args.eval_every and b.step % args.eval_every == 0:
            check(b.step)

    trainer = Trainer(model, train, None, cfg, on_batch_end=on_batch)
    result = trainer.fit()
    check(result.steps)
    _, final_acc = evaluate(model, test)
    print(machine())
    print(f"pretrain recipe: Adam lr {cfg.lr:g}, batch {cfg.batch_size}, {cfg.epochs} epochs, {cfg.schedule}; "
          f"{len(train):,} training images, accuracy on {len(test):,} MNIST test images")
    print(f"{'step':>6} {'train s':>8} {'test acc':>9}")
    for step, s, acc in state["points"]:
        print(f"{step:>6} {s:>8.1f} {acc:>9.4f}")
    total_train = result.seconds - state["eval_time"]
    reached = state["reached"]
    print(f"reached {args.target:.1%} after {reached:.1f} s of training" if reached is not None
          else f"did not reach {args.target:.1%} in {total_train:.1f} s")
    emit(budget_seconds=round(total_train, 1), accuracy_after_budget=final_acc,
         seconds_to_99=round(reached, 1) if reached is not None else float("inf"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
