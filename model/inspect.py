"""Looking inside the network: receptive fields (theoretical and effective), saliency, errors, export.

- ``receptive_field_box``: the input pixels one unit of a layer can see, from kernel, dilation and stride.
- ``theoretical_support``: exactly which input pixels reach that unit (the gaps of dilation included), from
  the gradient of the unit in a copy of the network with every weight set to one.
- ``effective_receptive_field``: how strongly each input pixel moves that unit for a real image (the
  gradient of the unit with respect to the input).
- ``saliency``: gradient x input for a class score.
- ``confusion_matrix`` and ``misclassified`` after an evaluation.
- ``export_onnx`` and ``export_torchscript``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from .data import ImageSet, normalize
from .network import DSDCNet

__all__ = [
    "unit_geometry",
    "receptive_field_box",
    "theoretical_support",
    "layer_taps",
    "effective_receptive_field",
    "saliency",
    "confusion_matrix",
    "misclassified",
    "Mistake",
    "export_onnx",
    "export_torchscript",
]


def unit_geometry(net: DSDCNet, layer: str) -> tuple[int, int]:
    """(receptive field, jump) of a tapped layer: the field's side in input pixels, and the distance in input
    pixels between neighbouring units. Unit (i, j) is centred on input pixel (i*jump, j*jump): every conv
    here pads by d*(k-1)/2, which keeps unit 0 centred on pixel 0."""
    from .network import layer_table
    block = layer.split(".")[0]  # a block's depthwise and pointwise stages share its geometry
    jump = 1
    for row in layer_table(net):
        if row.name == "head":
            break
        jump *= row.stride
        if row.name == block:
            return row.receptive_field, jump
    raise ValueError(f"{layer!r} is not a spatial layer of this network")


def receptive_field_box(net: DSDCNet, layer: str, y: int, x: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right), inclusive, in input pixels (may reach past the 28 x 28 image)."""
    rf, jump = unit_geometry(net, layer)
    half = (rf - 1) // 2
    return y * jump - half, x * jump - half, y * jump + half, x * jump + half


def _unit_gradient(net: nn.Module, x: torch.Tensor, layer: str, channel: int | None, y: int, xx: int) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    _, maps = net.feature_maps(x)
    act = maps[layer]
    unit = act[0, :, y, xx].sum() if channel is None else act[0, channel, y, xx]
    (grad,) = torch.autograd.grad(unit, x)
    return grad[0, 0]


def theoretical_support(net: DSDCNet, layer: str, y: int, x: int, size: int = 28) -> torch.Tensor:
    """Boolean size x size map of the input pixels connected to unit (y, x) of ``layer`` (all channels).

    Computed on a copy of the network whose convolution weights are all one, batch norm is the identity and
    the input is positive, so every path is active: the gradient is non-zero exactly where a path exists.
    """
    probe = DSDCNet(net.config).eval()
    with torch.no_grad():
        for m in probe.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1.0)
            elif isinstance(m, nn.BatchNorm2d):
                m.running_mean.zero_()
                m.running_var.fill_(1.0 - m.eps)
                m.weight.fill_(1.0)
                m.bias.zero_()
    g = _unit_gradient(probe, torch.ones(1, 1, size, size), layer, None, y, x)
    return g != 0


def layer_taps(net: DSDCNet, layer: str, y: int, x: int, size: int = 28):
    """Boolean size x size map of the input cells read by the unit's *own* kernel (one layer, not the stack):
    each of its k x k taps, d input-units apart, marks the cell of the input unit it reads. The gaps between
    the marks are the dilation."""
    import numpy as np
    block = layer.split(".")[0]
    if block == "stem":
        return theoretical_support(net, layer, y, x, size).numpy()
    module = net.block(block)
    _, jump_out = unit_geometry(net, layer)
    jump_in = jump_out // module.stride
    k, d = module.kernel_size, module.dilation
    mask = np.zeros((size, size), bool)
    cy, cx = y * jump_out, x * jump_out
    half = (k - 1) // 2
    for i in range(-half, half + 1):
        for j in range(-half, half + 1):
            ty, tx = cy + i * d * jump_in, cx + j * d * jump_in
            mask[max(0, ty): max(0, ty + jump_in), max(0, tx): max(0, tx + jump_in)] = True
    return mask


def effective_receptive_field(net: DSDCNet, x: torch.Tensor, layer: str, channel: int, y: int, xx: int) -> torch.Tensor:
    """|d unit / d input| (size x size) of unit (channel, y, xx) of ``layer`` for the normalised input ``x``."""
    was = net.training
    net.eval()
    try:
        return _unit_gradient(net, x, layer, channel, y, xx).abs()
    finally:
        net.train(was)


def saliency(net: nn.Module, x: torch.Tensor, target: int | None = None) -> tuple[torch.Tensor, int]:
    """Gradient x input of the class score (the predicted class when ``target`` is None), H x W, and the class.

    Pixels are measured against the background value (a black pixel), so the map is zero off the ink.
    """
    was = net.training
    net.eval()
    try:
        background = float(normalize(torch.zeros(1, 1, 1, dtype=torch.uint8)).flatten()[0])
        xi = x.detach().clone().requires_grad_(True)
        logits = net(xi)
        cls = int(logits.argmax(1)) if target is None else int(target)
        (grad,) = torch.autograd.grad(logits[0, cls], xi)
        return (grad * (xi - background)).detach()[0, 0], cls
    finally:
        net.train(was)


@torch.inference_mode()
def confusion_matrix(net: nn.Module, data: ImageSet, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(C x C counts with rows = true class and columns = predicted class, per-image probabilities)."""
    from .train import predict
    probs = predict(net, data.images, batch_size)
    c = probs.shape[1]
    pred = probs.argmax(1)
    cm = torch.bincount(data.labels * c + pred, minlength=c * c).reshape(c, c)
    return cm, probs


@dataclass(frozen=True)
class Mistake:
    index: int
    true: int
    predicted: int
    confidence: float


def misclassified(data: ImageSet, probs: torch.Tensor, true: int | None = None, predicted: int | None = None,
                  limit: int = 200) -> list[Mistake]:
    """The misclassified images (most confident first), optionally for one cell of the confusion matrix."""
    pred = probs.argmax(1)
    wrong = pred != data.labels
    if true is not None:
        wrong &= data.labels == true
    if predicted is not None:
        wrong &= pred == predicted
    idx = torch.nonzero(wrong).flatten()
    conf = probs[idx, pred[idx]]
    order = torch.argsort(conf, descending=True)[:limit]
    return [Mistake(int(idx[i]), int(data.labels[idx[i]]), int(pred[idx[i]]), float(conf[i])) for i in order]


class _LogitsOnly(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)


def export_onnx(net: nn.Module, path, opset: int = 17) -> None:
    """ONNX with a dynamic batch axis; input ``image`` N x 1 x 28 x 28 (normalised), output ``logits``."""
    model = copy.deepcopy(net).eval().to(memory_format=torch.contiguous_format)
    torch.onnx.export(_LogitsOnly(model), (torch.zeros(1, 1, 28, 28),), str(path), input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=opset, dynamo=False)


def export_torchscript(net: nn.Module, path) -> None:
    import warnings
    model = copy.deepcopy(net).eval().to(memory_format=torch.contiguous_format)
    with warnings.catch_warnings():  # TorchScript is deprecated upstream but still what many runtimes load
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(_LogitsOnly(model), torch.zeros(1, 1, 28, 28))
    traced.save(str(path))
