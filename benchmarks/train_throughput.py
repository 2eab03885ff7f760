"""Training images per second: the DS-dilated net vs the examples/mnist net (and the same-layout standard net),
measured alternately in one run with the project's real Trainer and data pipeline (augmentation included).

    python benchmarks/train_throughput.py [--images 6144] [--rounds 3]
"""
from __future__ import annotations

import argparse
import time

from _common import data_dir, emit, machine


def measure(make_model, train, batch_size: int, channels_last: bool) -> float:
    from model.train import Trainer, TrainConfig
    model = make_model()
    cfg = TrainConfig(epochs=1, batch_size=batch_size, lr=1e-3, augment=True, seed=0, eval_every_epoch=False,
                      channels_last=channels_last)
    # warm-up on a few batches (allocator, oneDNN primitive caches), then the timed epoch
    Trainer(model, train.subset(slice(0, batch_size * 3)), None, cfg).fit()
    t0 = time.perf_counter()
    Trainer(model, train, None, cfg).fit()
    return len(train) / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data-dir")
    ap.add_argument("--images", type=int, default=6144)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    args = ap.parse_args(argv)

    from model.data import load_mnist
    from model.network import DSDCNet, ExamplesMnistNet, NetConfig
    train = load_mnist(data_dir(args.data_dir), train=True).take(args.images, seed=0)
    contenders = {
        "ds": ("DS-dilated (shipped layout)", lambda: DSDCNet(), True),
        "baseline": ("examples/mnist net", lambda: ExamplesMnistNet(), False),
        "std": ("standard conv, same layout", lambda: DSDCNet(NetConfig(separable=False)), True),
    }
    rates = {k: [] for k in contenders}
    for _ in range(args.rounds):  # alternate so that drifts of a noisy machine hit every contender alike
        for key, (_, make, cl) in contenders.items():
            rates[key].append(measure(make, train, args.batch_size, cl))
    print(machine())
    print(f"{args.images} MNIST training images per epoch, batch {args.batch_size}, augmentation on, "
          f"{args.rounds} alternating rounds; median of rounds")
    params = {"ds": DSDCNet().param_counts()["total"], "baseline": sum(p.numel() for p in ExamplesMnistNet().parameters()),
              "std": DSDCNet(NetConfig(separable=False)).param_counts()["total"]}
    med = {k: sorted(v)[len(v) // 2] for k, v in rates.items()}
    print(f"{'model':<30} {'params':>10} {'img/s':>9}  rounds")
    for key, (name, _, _) in contenders.items():
        print(f"{name:<30} {params[key]:>10,} {med[key]:>9,.0f}  " + " ".join(f"{r:,.0f}" for r in rates[key]))
    emit(std_img_per_s=med["std"], ds_img_per_s=med["ds"], baseline_img_per_s=med["baseline"],
         ratio_ds_vs_baseline=med["ds"] / med["baseline"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
