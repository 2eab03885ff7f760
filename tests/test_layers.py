"""The DS-dilated layer: shapes, structure, and its accounting against hand-computed figures."""
import pytest
import torch
from torch import nn

from model.layers import ConvBNReLU, DSDilatedConv2d, StandardConv2d, receptive_field_step


@pytest.mark.parametrize("dilation", [1, 2, 3, 4])
def test_stride_one_keeps_size_and_uses_groups_and_dilation(dilation):
    layer = DSDilatedConv2d(8, 16, kernel_size=3, dilation=dilation)
    out = layer(torch.randn(2, 8, 13, 11))
    assert out.shape == (2, 16, 13, 11)
    dw = layer.depthwise
    assert dw.groups == 8 and dw.dilation == (dilation, dilation) and dw.padding == (dilation, dilation)
    assert dw.weight.shape == (8, 1, 3, 3)
    assert layer.pointwise.conv.weight.shape == (16, 8, 1, 1)


def test_stride_two_halves_the_size():
    assert DSDilatedConv2d(4, 6, stride=2, dilation=2)(torch.randn(1, 4, 14, 14)).shape == (1, 6, 7, 7)


def test_taps_hold_depthwise_and_pointwise_outputs():
    layer = DSDilatedConv2d(3, 5, dilation=2).eval()
    x = torch.randn(1, 3, 9, 9)
    taps = {}
    out = layer(x, taps)
    assert set(taps) == {"depthwise", "pointwise"}
    assert taps["depthwise"].shape == (1, 3, 9, 9)
    assert torch.equal(taps["pointwise"], out)
    torch.testing.assert_close(taps["depthwise"], layer.depthwise(x))


def test_params_and_macs_against_hand_computed_values():
    cin, cout, k, h, w = 6, 10, 3, 12, 8
    layer = DSDilatedConv2d(cin, cout, k, dilation=2)
    cost = layer.cost((h, w))
    # depthwise k*k*Cin (no bias), pointwise Cin*Cout (no bias) + batch norm (2*Cout)
    assert cost.params == k * k * cin + cin * cout + 2 * cout == sum(p.numel() for p in layer.parameters())
    assert cost.macs == h * w * (k * k * cin + cin * cout)
    assert cost.out_shape == (cout, h, w)
    std = layer.standard_cost((h, w))
    assert std.params == k * k * cin * cout + 2 * cout
    assert std.macs == h * w * k * k * cin * cout
    assert std.params == sum(p.numel() for p in StandardConv2d(cin, cout, k, 2).parameters())


def test_strided_macs_use_the_output_size():
    layer = DSDilatedConv2d(4, 8, stride=2)
    cost = layer.cost((14, 14))
    assert cost.out_shape == (8, 7, 7)
    assert cost.macs == 7 * 7 * (9 * 4 + 4 * 8)


def test_receptive_field_of_a_stack_matches_the_formula():
    # 3x3 d=1 -> 3; then d=2 -> 3 + 2*2 = 7; then stride-2 d=1 -> 9 (jump 2); then d=4 -> 9 + 2*4*2 = 25
    rf, jump = 1, 1
    for d, s in [(1, 1), (2, 1), (1, 2), (4, 1)]:
        rf, jump = DSDilatedConv2d(2, 2, dilation=d, stride=s).receptive_field(rf, jump)
    assert (rf, jump) == (25, 2)
    assert receptive_field_step(1, 1, 3, 1, 1) == (3, 1)


def test_dilation_costs_no_parameters():
    p = [sum(x.numel() for x in DSDilatedConv2d(8, 8, dilation=d).parameters()) for d in (1, 2, 4)]
    assert p[0] == p[1] == p[2]


def test_conv_bn_relu_cost():
    m = ConvBNReLU(1, 4, 3, stride=2)
    c = m.cost((28, 28))
    assert c.out_shape == (4, 14, 14) and c.macs == 14 * 14 * 4 * 9 and c.params == 4 * 9 + 8
    assert isinstance(m[-1], nn.ReLU)
