"""The training engine: learning, callbacks, stop flag, divergence, seeds, fine-tuning."""
import threading

import pytest
import torch

from model.network import DSDCNet
from model.train import (Trainer, TrainConfig, evaluate, finetune, finetune_config, pretrain_config)


def _small(mnist_train, mnist_test, n_train=2000, n_test=1000):
    return mnist_train.take(n_train, seed=1), mnist_test.subset(slice(0, n_test))


def test_training_learns_and_reports_through_callbacks(mnist_train, mnist_test):
    train, test = _small(mnist_train, mnist_test)
    net = DSDCNet()
    _, acc_before = evaluate(net, test)
    batches, epochs = [], []
    cfg = pretrain_config(epochs=2, batch_size=32, lr=1e-2)
    result = Trainer(net, train, test, cfg, batches.append, epochs.append).fit()
    assert result.status == "finished" and result.epochs_done == 2
    assert len(batches) == 2 * 63 and batches[-1].step == 126 and batches[-1].samples_done == 4000
    assert batches[-1].samples_total == 4000 and all(b.lr > 0 for b in batches)
    assert [e.epoch for e in epochs] == [1, 2] and epochs[-1].test_accuracy == result.test_accuracy
    assert batches[-1].loss < batches[0].loss
    assert result.test_accuracy > max(0.8, acc_before + 0.5)


def test_stop_flag_ends_within_one_batch(mnist_train, mnist_test):
    train, test = _small(mnist_train, mnist_test)
    seen = []
    trainer = Trainer(DSDCNet(), train, test, pretrain_config(epochs=5, batch_size=32), None, None)

    def on_batch(b):
        seen.append(b.step)
        if b.step == 3:
            threading.Thread(target=trainer.stop).start()
            threading.Event().wait(0.05)  # let the stop land while this batch finishes
    trainer.on_batch_end = on_batch
    result = trainer.fit()
    assert result.status == "stopped" and max(seen) <= 4


def test_a_huge_learning_rate_stops_and_restores_the_last_good_weights(mnist_train, mnist_test):
    train, test = _small(mnist_train, mnist_test, 1000, 200)
    net = DSDCNet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = Trainer(net, train, test, pretrain_config(epochs=3, lr=10.0, batch_size=32, channels_last=False)).fit()
    assert result.status == "diverged" and not result.ok
    assert "learning rate 10 is probably too high" in result.message
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_same_seed_same_weights(mnist_train, mnist_test):
    train, _ = _small(mnist_train, mnist_test, 512, 10)
    states = []
    for _ in range(2):
        torch.manual_seed(123)
        net = DSDCNet()
        Trainer(net, train, None, TrainConfig(epochs=1, batch_size=64, seed=7)).fit()
        states.append(net.state_dict())
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k


def test_bad_settings_are_refused(mnist_test):
    net = DSDCNet()
    with pytest.raises(ValueError, match="learning rate"):
        Trainer(net, mnist_test, None, TrainConfig(lr=float("nan"))).fit()
    net.freeze("all")
    with pytest.raises(ValueError, match="nothing to train"):
        Trainer(net, mnist_test, None, TrainConfig()).fit()


def test_finetune_keeps_frozen_weights_bit_identical(pretrained, data_root, mnist_test):
    import copy
    from model.data import load_target
    net = copy.deepcopy(pretrained)
    train, held = load_target("kmnist", data_root)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    report = finetune(net, train.take(600), held.subset(slice(0, 500)), "first:3",
                      finetune_config(epochs=1, lr=1e-3), mnist_test.subset(slice(0, 1000)))
    assert report.result.status == "finished" and report.head_replaced  # a new task gets a fresh head
    frozen = {"stem", "block1", "block2"}
    for k, v in net.state_dict().items():
        block = k.split(".")[1] if k.startswith("features.") else "head"
        if block in frozen:
            assert torch.equal(v, before[k]), f"frozen {k} changed"
    changed = [k for k, v in net.state_dict().items() if not torch.equal(v, before[k]) and "weight" in k]
    assert any(k.startswith("features.block4") for k in changed) and "head.weight" in changed
    assert report.trainable == sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert 0 <= report.target_before <= 1 and report.target_after > report.target_before
    assert report.mnist_before > 0.95 and report.mnist_after is not None
    assert "target_after=" in report.lines()[-1]


def test_frozen_backbone_forgets_nothing_of_mnist(pretrained, data_root, mnist_test):
    import copy
    from model.data import load_target
    net = copy.deepcopy(pretrained)
    train, held = load_target("kmnist", data_root)
    report = finetune(net, train.take(1000), held.subset(slice(0, 500)), "backbone",
                      finetune_config(epochs=3, lr=1e-2, eval_every_epoch=False), mnist_test.subset(slice(0, 2000)))
    # MNIST is measured with the original digit head on the (frozen, unchanged) backbone
    assert report.mnist_before == report.mnist_after > 0.98
    assert report.target_after > report.target_before + 0.2  # a linear probe on MNIST features reads KMNIST


def test_zero_finetuning_evaluates_only(pretrained, data_root, mnist_test):
    import copy
    from model.data import load_target
    net = copy.deepcopy(pretrained)
    train, held = load_target("kmnist", data_root)
    report = finetune(net, train.take(100), held.subset(slice(0, 200)), "all", mnist_test=mnist_test.subset(slice(0, 500)))
    assert report.result is None and report.trainable == 0
    assert report.target_before == report.target_after and report.mnist_before == report.mnist_after


def test_head_swap_for_a_five_class_folder(pretrained, tmp_path):
    import copy
    from conftest import write_png_folder
    from model.data import load_target
    root = write_png_folder(tmp_path / "five", {c: 30 for c in "abcde"})
    train, held = load_target(f"folder:{root}")
    net = copy.deepcopy(pretrained)
    report = finetune(net, train, held, "backbone", finetune_config(epochs=8, lr=3e-3, batch_size=16))
    assert report.head_replaced and net.config.num_classes == 5 and net.config.class_names == tuple("abcde")
    assert report.mnist_before is None and report.mnist_after is None
    assert report.target_after >= 0.8
