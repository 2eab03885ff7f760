"""Command line: ``python -m model {train,finetune,evaluate,summary,export}``.

Each subcommand prints progress on stderr and, last on stdout, one line with the result. Bad input
(missing data, bad path, corrupt checkpoint) exits with status 2 and one clear line, no traceback.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from .checkpoint import CheckpointError, load_checkpoint, load_pretrained, pretrained_path, save_checkpoint
from .data import DataError, load_mnist, load_target, resolve_data_dir
from .network import DSDCNet, NetConfig, layer_table, parse_freeze_policy
from .train import BatchInfo, EpochInfo, evaluate, finetune, finetune_config, pretrain_config, Trainer


class Progress:
    """A text progress bar on stderr (redrawn in place on a terminal, a line every 10% otherwise)."""

    def __init__(self, stream=sys.stderr, width: int = 30):
        self.stream, self.width = stream, width
        self.tty = stream.isatty()
        self._last_draw = 0.0
        self._last_decile = -1

    def batch(self, b: BatchInfo) -> None:
        frac = b.samples_done / max(1, b.samples_total)
        now = time.monotonic()
        decile = int(frac * 10)
        if self.tty and now - self._last_draw < 0.1 and frac < 1:
            return
        if not self.tty and decile == self._last_decile:
            return
        self._last_draw, self._last_decile = now, decile
        filled = int(frac * self.width)
        left = (b.samples_total - b.samples_done) / max(b.samples_per_s, 1e-9)
        text = (f"[{'#' * filled}{'.' * (self.width - filled)}] {frac * 100:5.1f}%  epoch {b.epoch}  "
                f"loss {b.loss:.4f}  lr {b.lr:.2e}  {b.samples_per_s:,.0f} img/s  {left:4.0f} s left")
        self.stream.write(("\r" + text) if self.tty else text + "\n")
        self.stream.flush()

    def epoch(self, e: EpochInfo) -> None:
        if self.tty:
            self.stream.write("\n")
        acc = "" if e.test_accuracy is None else f"  test loss {e.test_loss:.4f}  test accuracy {e.test_accuracy:.4f}"
        self.stream.write(f"epoch {e.epoch}: train loss {e.train_loss:.4f}{acc}  ({e.elapsed:.1f} s)\n")
        self.stream.flush()


def _limit(data, n):
    return data.take(n, seed=0) if n else data


def _load_weights(path: str | None) -> DSDCNet:
    return load_checkpoint(path)[0] if path else load_pretrained()


def cmd_train(args) -> str:
    root = resolve_data_dir(args.data_dir)
    train, test = load_mnist(root, train=True), load_mnist(root, train=False)
    train = _limit(train, args.limit)
    torch.manual_seed(args.seed)  # weight initialisation
    config = NetConfig(separable=not args.standard)
    model = DSDCNet(config)
    cfg = pretrain_config(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    print(f"training {'DS-dilated' if config.separable else 'standard-conv'} net "
          f"({model.param_counts()['total']:,} parameters) on {len(train):,} MNIST images from {root}, "
          f"testing on {len(test):,}", file=sys.stderr)
    progress = Progress()
    result = Trainer(model, train, test, cfg, progress.batch, progress.epoch).fit()
    if not result.ok:
        raise RuntimeError(result.message)
    acc = result.test_accuracy  # the last epoch's evaluation, of the weights the run ended with
    if args.out:
        save_checkpoint(args.out, model, {
            "trained_on": f"MNIST training set, {len(train)} images from {root}",
            "train_config": cfg.to_dict(), "test_accuracy": acc, "test_set": f"MNIST test set, {len(test)} images",
            "seconds": round(result.seconds, 1), "torch": torch.__version__})
        print(f"saved {args.out}", file=sys.stderr)
    if args.info:
        write_info(args.info, args.out, model, train, test, cfg, result, acc)
    return f"accuracy={acc:.4f} n={len(test)}"


def write_info(path, checkpoint, model, train, test, cfg, result, acc) -> None:
    """The JSON that says how a checkpoint was made (resources/dsdc_mnist.json for the shipped weights)."""
    import json
    import os
    import platform
    info = {
        "file": os.path.basename(checkpoint) if checkpoint else None,
        "parameters": model.param_counts()["total"],
        "architecture": model.config.to_dict(),
        "trained_on": f"the first {len(train):,} images of the official MNIST training set",
        "test_set": f"MNIST test set (official, {len(test):,} images)",
        "test_accuracy": round(acc, 6),
        "recipe": cfg.to_dict(),
        "command": "python -m model " + " ".join(sys.argv[1:]),
        "train_seconds": round(result.seconds, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                   f"{torch.get_num_threads()} threads",
        "history": [{"epoch": h.epoch, "test_accuracy": round(h.test_accuracy, 4), "seconds": round(h.elapsed, 1)}
                    for h in result.history],
    }
    with open(path, "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")


def cmd_finetune(args) -> str:
    root = resolve_data_dir(args.data_dir)
    model = _load_weights(args.weights)
    parse_freeze_policy(args.freeze, model.block_names)  # bad policies fail before any data is loaded
    train, held_out = load_target(args.target, root)
    train = _limit(train, args.limit)
    mnist_test = load_mnist(root, train=False)
    replay = load_mnist(root, train=True).take(args.replay, seed=1) if args.replay else None
    cfg = finetune_config(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    print(f"fine-tuning on {args.target}: {len(train):,} images, {len(held_out):,} held out; "
          f"freeze policy {args.freeze}", file=sys.stderr)
    progress = Progress()
    report = finetune(model, train, held_out, args.freeze, cfg, mnist_test, progress.batch, progress.epoch,
                      replay=replay)
    if report.result is not None and not report.result.ok:
        raise RuntimeError(report.result.message)
    if args.out:
        save_checkpoint(args.out, model, {"finetuned_on": args.target, "freeze": args.freeze,
                                          "target_after": report.target_after, "mnist_after": report.mnist_after})
        print(f"saved {args.out}", file=sys.stderr)
    first, last = report.lines()
    print(first)
    return last


def cmd_evaluate(args) -> str:
    root = resolve_data_dir(args.data_dir)
    model = _load_weights(args.weights)
    test = load_mnist(root, train=False)
    t0 = time.perf_counter()
    loss, acc = evaluate(model, test)
    print(f"{args.weights or pretrained_path()}: test loss {loss:.4f} in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return f"accuracy={acc:.4f} n={len(test)}"


def format_summary(model: DSDCNet) -> str:
    rows = layer_table(model)
    head = (f"{'layer':<8} {'kind':<13} {'output':<11} {'dil':>3} {'str':>3} {'params':>7} {'MACs':>10} "
            f"{'RF':>4} | {'std params':>10} {'std MACs':>11} {'x params':>8} {'x MACs':>7}")
    out = [head, "-" * len(head)]
    for r in rows:
        shape = "x".join(str(s) for s in r.out_shape)
        out.append(f"{r.name:<8} {r.kind:<13} {shape:<11} {r.dilation:>3} {r.stride:>3} {r.params:>7,} "
                   f"{r.macs:>10,} {r.receptive_field:>4} | {r.std_params:>10,} {r.std_macs:>11,} "
                   f"{r.params_ratio:>8.1f} {r.macs_ratio:>7.1f}")
    p, m = sum(r.params for r in rows), sum(r.macs for r in rows)
    sp, sm = sum(r.std_params for r in rows), sum(r.std_macs for r in rows)
    out.append("-" * len(head))
    out.append(f"{'total':<8} {'':<13} {'':<11} {'':>3} {'':>3} {p:>7,} {m:>10,} {'':>4} | {sp:>10,} {sm:>11,} "
               f"{sp / p:>8.1f} {sm / m:>7.1f}")
    out.append("params/MACs count conv, batch-norm and linear weights; MACs for one 1x28x28 image; RF = receptive "
               "field in input pixels; std = the standard 3x3 convolution each DS-dilated layer replaces.")
    return "\n".join(out)


def cmd_summary(args) -> str:
    model = _load_weights(args.weights) if args.weights else DSDCNet(NetConfig(separable=not args.standard))
    print(format_summary(model))
    c = model.param_counts()
    return f"params={c['total']} trainable={c['trainable']}"


def cmd_export(args) -> str:
    from .inspect import export_onnx, export_torchscript
    if not (args.onnx or args.torchscript):
        raise ValueError("nothing to export: give --onnx PATH and/or --torchscript PATH")
    model = _load_weights(args.weights)
    done = []
    if args.onnx:
        export_onnx(model, args.onnx)
        done.append(f"onnx={args.onnx}")
        try:  # check the export against PyTorch when onnxruntime is installed
            import numpy as np
            import onnxruntime as ort
            x = torch.randn(4, 1, 28, 28)
            out = ort.InferenceSession(args.onnx, providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})[0]
            with torch.inference_mode():
                ref = model(x).numpy()
            diff = float(np.abs(out - ref).max())
            print(f"onnxruntime vs PyTorch: max difference {diff:.2e}", file=sys.stderr)
            if diff > 1e-5:
                raise RuntimeError(f"ONNX export differs from PyTorch by {diff:.2e}")
        except ImportError:
            print("onnxruntime not installed: export not checked", file=sys.stderr)
    if args.torchscript:
        export_torchscript(model, args.torchscript)
        done.append(f"torchscript={args.torchscript}")
    return " ".join(done)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m model", description="DSDC Studio: train, fine-tune, evaluate and "
                                "inspect the depthwise-separable dilated network.")
    sub = p.add_subparsers(dest="command", required=True)

    def data_dir(sp):
        sp.add_argument("--data-dir", help="data folder (default: $DSDC_DATA, else the per-user data folder)")

    t = sub.add_parser("train", help="pretrain on MNIST")
    data_dir(t)
    t.add_argument("--epochs", type=int, default=15)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=pretrain_config().lr)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--limit", type=int, default=0, help="train on this many images only (0: all)")
    t.add_argument("--standard", action="store_true", help="train the standard-conv baseline (same layout)")
    t.add_argument("--out", help="checkpoint to write")
    t.add_argument("--info", help="also write a JSON file saying how the checkpoint was made")
    t.set_defaults(func=cmd_train)

    f = sub.add_parser("finetune", help="fine-tune on a new target")
    data_dir(f)
    f.add_argument("--weights", help="checkpoint to start from (default: the shipped weights)")
    f.add_argument("--target", required=True,
                   help="mnist, kmnist, mydigits (your collected samples), folder:PATH, fashion or emnist-digits "
                        "(downloaded when missing)")
    f.add_argument("--replay", type=int, default=0, help="mix this many MNIST training images in, to limit "
                   "forgetting")
    f.add_argument("--freeze", default="backbone", help="none | backbone | first:K | all (default: backbone)")
    f.add_argument("--epochs", type=int, default=5)
    f.add_argument("--batch-size", type=int, default=64)
    f.add_argument("--lr", type=float, default=finetune_config().lr)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--limit", type=int, default=0, help="fine-tune on this many images only (0: all)")
    f.add_argument("--out", help="checkpoint to write")
    f.set_defaults(func=cmd_finetune)

    e = sub.add_parser("evaluate", help="accuracy on the MNIST test set")
    data_dir(e)
    e.add_argument("--weights", help="checkpoint (default: the shipped weights)")
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("summary", help="per-layer table: DS-dilated vs standard convolution")
    s.add_argument("--weights", help="checkpoint (default: the shipped architecture)")
    s.add_argument("--standard", action="store_true", help="the standard-conv baseline")
    s.set_defaults(func=cmd_summary)
    x = sub.add_parser("export", help="export to ONNX and/or TorchScript")
    x.add_argument("--weights", help="checkpoint (default: the shipped weights)")
    x.add_argument("--onnx", help="ONNX file to write (input 'image' N x 1 x 28 x 28, output 'logits')")
    x.add_argument("--torchscript", help="TorchScript file to write")
    x.set_defaults(func=cmd_export)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        line = args.func(args)
    except (DataError, CheckpointError, ValueError, OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
