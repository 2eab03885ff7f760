"""The depthwise-separable dilated convolution and its accounting.

A ``DSDilatedConv2d`` is a depthwise k x k convolution with dilation d (one filter per input channel,
``groups=in_ch``), then a 1x1 pointwise convolution that mixes channels; each is followed by batch norm
and a ReLU. Compared with a standard k x k convolution it needs

    params:        k*k*Cin + Cin*Cout      instead of   k*k*Cin*Cout
    multiply-adds: H*W*(k*k*Cin + Cin*Cout) instead of   H*W*k*k*Cin*Cout

and dilation widens the receptive field by (k-1)*d input steps at no cost in either.

The accounting helpers count convolution and linear weights/biases and batch-norm affine parameters
(what ``sum(p.numel() for p in module.parameters())`` counts), and multiply-adds of convolutions and
linear layers only (batch norm and ReLU are folded or negligible at inference).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "DSDilatedConv2d",
    "StandardConv2d",
    "ConvBNReLU",
    "Cost",
    "conv_output_size",
    "receptive_field_step",
]


def conv_output_size(size: int, kernel_size: int, stride: int, dilation: int, padding: int) -> int:
    """Output length of a convolution along one axis (PyTorch's formula)."""
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def receptive_field_step(rf: int, jump: int, kernel_size: int, dilation: int, stride: int) -> tuple[int, int]:
    """Grow a receptive field (in input pixels) through one convolution.

    ``jump`` is the distance, in input pixels, between neighbouring units of the layer's input. A k x k
    kernel with dilation d spans (k-1)*d of those steps, so the field grows by (k-1)*d*jump; the stride
    multiplies the jump for the layers after it.
    """
    return rf + (kernel_size - 1) * dilation * jump, jump * stride


@dataclass(frozen=True)
class Cost:
    """What one layer costs for a given input: parameters, multiply-adds, output shape (C, H, W)."""

    params: int
    macs: int
    out_shape: tuple[int, int, int]


class ConvBNReLU(nn.Sequential):
    """Conv2d + BatchNorm2d + ReLU (the conv has no bias: batch norm supplies it)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, dilation: int = 1,
                 groups: int = 1, activation: bool = True):
        padding = dilation * (kernel_size - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding, dilation=dilation,
                      groups=groups, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        if activation:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)
        self.in_ch, self.out_ch = in_ch, out_ch
        self.kernel_size, self.stride, self.dilation, self.groups = kernel_size, stride, dilation, groups

    @property
    def conv(self) -> nn.Conv2d:
        return self[0]

    def cost(self, in_hw: tuple[int, int]) -> Cost:
        pad = self.dilation * (self.kernel_size - 1) // 2
        h, w = (conv_output_size(s, self.kernel_size, self.stride, self.dilation, pad) for s in in_hw)
        macs = h * w * self.out_ch * (self.in_ch // self.groups) * self.kernel_size ** 2
        return Cost(sum(p.numel() for p in self.parameters()), macs, (self.out_ch, h, w))


class DSDilatedConv2d(nn.Module):
    """Depthwise k x k dilated convolution, then 1x1 pointwise convolution with BN + ReLU.

    As in Xception, there is no batch norm or activation between the depthwise and the pointwise
    convolution: the depthwise output is a linear filtering that the pointwise conv mixes at once. On a
    CPU this also saves a quarter of the training time (batch norm on wide activations is
    memory-bound), at no cost in accuracy (measured: see docs/performance.md).

    ``forward(x, taps=None)``: when ``taps`` is a dict, the depthwise and pointwise outputs are stored in it
    under ``"depthwise"`` and ``"pointwise"`` (so a viewer can show both from the same pass).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, dilation: int = 1, stride: int = 1):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError("kernel_size must be odd so that padding can keep the size")
        self.in_ch, self.out_ch = in_ch, out_ch
        self.kernel_size, self.dilation, self.stride = kernel_size, dilation, stride
        # padding = d*(k-1)/2 keeps H x W at stride 1 (for k=3 that is padding=d).
        self.depthwise = nn.Conv2d(in_ch, in_ch, kernel_size, stride=stride, padding=dilation * (kernel_size - 1) // 2,
                                   dilation=dilation, groups=in_ch, bias=False)
        self.pointwise = ConvBNReLU(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor, taps: dict | None = None) -> torch.Tensor:
        x = self.depthwise(x)
        if taps is not None:
            taps["depthwise"] = x
        x = self.pointwise(x)
        if taps is not None:
            taps["pointwise"] = x
        return x

    # --- accounting -----------------------------------------------------------------------------
    def cost(self, in_hw: tuple[int, int]) -> Cost:
        pad = self.dilation * (self.kernel_size - 1) // 2
        h, w = (conv_output_size(s, self.kernel_size, self.stride, self.dilation, pad) for s in in_hw)
        dw = Cost(self.depthwise.weight.numel(), h * w * self.in_ch * self.kernel_size ** 2, (self.in_ch, h, w))
        pw = self.pointwise.cost((h, w))
        return Cost(dw.params + pw.params, dw.macs + pw.macs, pw.out_shape)

    def standard_cost(self, in_hw: tuple[int, int]) -> Cost:
        """Cost of the standard k x k convolution (+ BN) this layer replaces (same dilation and stride)."""
        return StandardConv2d(self.in_ch, self.out_ch, self.kernel_size, self.dilation, self.stride).cost(in_hw)

    def receptive_field(self, rf: int = 1, jump: int = 1) -> tuple[int, int]:
        # The 1x1 pointwise conv does not widen the field.
        return receptive_field_step(rf, jump, self.kernel_size, self.dilation, self.stride)

    def extra_repr(self) -> str:
        return f"{self.in_ch}, {self.out_ch}, kernel_size={self.kernel_size}, dilation={self.dilation}, stride={self.stride}"


class StandardConv2d(nn.Module):
    """A standard k x k dilated convolution (+ BN + ReLU) with the same interface as ``DSDilatedConv2d``.

    Used for the same-layout baseline network. Its single stage is tapped as ``"conv"``.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, dilation: int = 1, stride: int = 1):
        super().__init__()
        self.in_ch, self.out_ch = in_ch, out_ch
        self.kernel_size, self.dilation, self.stride = kernel_size, dilation, stride
        self.conv = ConvBNReLU(in_ch, out_ch, kernel_size, stride=stride, dilation=dilation)

    def forward(self, x: torch.Tensor, taps: dict | None = None) -> torch.Tensor:
        x = self.conv(x)
        if taps is not None:
            taps["conv"] = x
        return x

    def cost(self, in_hw: tuple[int, int]) -> Cost:
        return self.conv.cost(in_hw)

    def standard_cost(self, in_hw: tuple[int, int]) -> Cost:
        return self.cost(in_hw)

    def receptive_field(self, rf: int = 1, jump: int = 1) -> tuple[int, int]:
        return receptive_field_step(rf, jump, self.kernel_size, self.dilation, self.stride)

    def extra_repr(self) -> str:
        return f"{self.in_ch}, {self.out_ch}, kernel_size={self.kernel_size}, dilation={self.dilation}, stride={self.stride}"
