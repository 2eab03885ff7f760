"""Looking inside: per-layer figures, receptive fields vs gradients, saliency, errors, export."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from model.inspect import (confusion_matrix, effective_receptive_field, export_onnx, export_torchscript,
                           layer_taps, misclassified, receptive_field_box, saliency, theoretical_support)
from model.network import DSDCNet, NetConfig, layer_table

SMALL = NetConfig(stem_channels=4, stem_stride=1, blocks=((8, 2, 1), (6, 1, 2), (6, 3, 1)))


def test_layer_table_against_hand_computed_values():
    rows = {r.name: r for r in layer_table(DSDCNet(SMALL))}
    # stem: 3x3 conv 1->4 at 28x28 (no bias) + BN(4)
    assert rows["stem"].params == 9 * 4 + 8 and rows["stem"].macs == 28 * 28 * 4 * 9
    # block1: depthwise 3x3 on 4 ch (36) + pointwise 4->8 (32) + BN(8) (16), at 28x28, dilation 2
    b1 = rows["block1"]
    assert b1.params == 36 + 32 + 16 and b1.macs == 28 * 28 * (36 + 32)
    assert b1.std_params == 9 * 4 * 8 + 16 and b1.std_macs == 28 * 28 * 9 * 4 * 8
    assert b1.receptive_field == 3 + 2 * 2 and b1.out_shape == (8, 28, 28)
    # block2: stride 2 -> 14x14; depthwise 9*8 + pointwise 8*6 + BN 12
    b2 = rows["block2"]
    assert b2.out_shape == (6, 14, 14) and b2.params == 72 + 48 + 12 and b2.macs == 14 * 14 * (72 + 48)
    assert b2.receptive_field == 7 + 2
    # block3: dilation 3 after a stride-2 layer: the field grows by 2 * 3 * 2 = 12
    assert rows["block3"].receptive_field == 9 + 12
    assert rows["head"].params == 6 * 3 * 10 // 3 + 10 and rows["head"].macs == 60


def _spatial_layers(net):
    _, maps = net.eval().feature_maps(torch.zeros(1, 1, 28, 28))
    return {k: v.shape for k, v in maps.items() if v.dim() == 4}


@pytest.mark.parametrize("config", [NetConfig(), SMALL], ids=["shipped", "small"])
def test_theoretical_field_matches_the_gradient_support_for_every_layer(config):
    net = DSDCNet(config)
    for layer, shape in _spatial_layers(net).items():
        h, w = shape[2:]
        for y, x in [(h // 2, w // 2), (1, w - 2)]:
            support = theoretical_support(net, layer, y, x)
            ys, xs = torch.nonzero(support, as_tuple=True)
            top, left, bottom, right = receptive_field_box(net, layer, y, x)
            assert (int(ys.min()), int(xs.min()), int(ys.max()), int(xs.max())) == (
                max(0, top), max(0, left), min(27, bottom), min(27, right)), (layer, y, x)


def test_effective_field_lies_inside_the_theoretical_one(pretrained, mnist_test):
    from model.data import normalize
    x = normalize(mnist_test.images[:1])
    _, maps = pretrained.feature_maps(x)
    for layer in ["stem", "block2.depthwise", "block3.pointwise", "block4.pointwise"]:
        a = maps[layer][0]
        c, y, xx = np.unravel_index(int(a.argmax()), tuple(a.shape))  # a unit that is active for this digit
        erf = effective_receptive_field(pretrained, x, layer, int(c), int(y), int(xx))
        support = theoretical_support(pretrained, layer, int(y), int(xx))
        assert erf.shape == (28, 28) and erf.sum() > 0
        assert not (erf[~support] > 0).any(), layer


def test_a_single_dilated_layer_shows_its_gaps():
    net = DSDCNet()  # block2: dilation 2 on a 14x14 input (2 input pixels per unit)
    taps = layer_taps(net, "block2.depthwise", 7, 7)
    row = taps[14]
    assert row[10] and row[14] and row[18]            # taps 4 pixels apart ...
    assert not row[12] and not row[16]               # ... with the gaps of dilation between them
    assert taps.sum() == 9 * 2 * 2                   # 3x3 taps, one 2x2 input cell each


def test_saliency_points_at_the_pixels_that_matter(pretrained, mnist_test):
    from model.data import normalize
    drops_salient, drops_random = [], []
    g = torch.Generator().manual_seed(0)
    background = float(normalize(torch.zeros(1, 1, 1, dtype=torch.uint8)).flatten()[0])
    for i in range(20):
        x = normalize(mnist_test.images[i:i + 1])
        sal, cls = saliency(pretrained, x)
        assert sal.shape == (28, 28) and cls == int(pretrained(x).argmax())
        with torch.no_grad():
            score = pretrained(x)[0, cls]
            k = 30
            top = torch.topk(sal.flatten(), k).indices
            ink = torch.nonzero(x.flatten() > background).flatten()
            rnd = ink[torch.randperm(len(ink), generator=g)[:k]]
            for idx, out in ((top, drops_salient), (rnd, drops_random)):
                masked = x.clone().flatten()
                masked[idx] = background
                out.append(float(score - pretrained(masked.view(1, 1, 28, 28))[0, cls]))
    assert np.mean(drops_salient) > 2 * np.mean(drops_random)


def test_confusion_matrix_sums_to_the_test_set(pretrained, mnist_test):
    cm, probs = confusion_matrix(pretrained, mnist_test)
    assert cm.shape == (10, 10) and int(cm.sum()) == len(mnist_test) == 10_000
    assert torch.equal(cm.sum(1), torch.bincount(mnist_test.labels, minlength=10))
    mistakes = misclassified(mnist_test, probs)
    assert len(mistakes) == len(mnist_test) - int(cm.trace())
    assert all(m.true != m.predicted for m in mistakes)
    assert [m.confidence for m in mistakes] == sorted((m.confidence for m in mistakes), reverse=True)
    cell = misclassified(mnist_test, probs, true=4, predicted=9)
    assert len(cell) == int(cm[4, 9])


def test_onnx_and_torchscript_exports_match_pytorch(pretrained, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    x = torch.randn(5, 1, 28, 28)
    with torch.inference_mode():
        ref = pretrained(x).numpy()
    export_onnx(pretrained, tmp_path / "m.onnx")
    out = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"image": x.numpy()})[0]
    assert np.abs(out - ref).max() < 1e-5
    export_torchscript(pretrained, tmp_path / "m.ts")
    ts = torch.jit.load(str(tmp_path / "m.ts"))
    assert np.abs(ts(x).detach().numpy() - ref).max() < 1e-5


def test_export_command_line(tmp_path):
    import subprocess
    import sys
    p = subprocess.run([sys.executable, "-m", "model", "export", "--onnx", str(tmp_path / "w.onnx"),
                        "--torchscript", str(tmp_path / "w.ts")], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "max difference" in p.stderr and p.stdout.strip().splitlines()[-1].startswith("onnx=")
