"""The DS-dilated network: size, feature maps, freezing, head replacement, the standard baseline."""
import pytest
import torch

from model.layers import DSDilatedConv2d, StandardConv2d
from model.network import DSDCNet, NetConfig, layer_table, parse_freeze_policy


def test_parameter_budget_and_output():
    net = DSDCNet().eval()
    assert net.param_counts()["total"] <= 20_000
    assert net(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_receptive_field_covers_the_digit():
    rows = layer_table(DSDCNet())
    assert rows[-1].receptive_field >= 28
    # dilation is what gets there: the same layout without dilation sees less
    plain = NetConfig(blocks=tuple((c, 1, s) for c, _, s in NetConfig().blocks))
    assert layer_table(DSDCNet(plain))[-1].receptive_field < rows[-1].receptive_field


def test_feature_maps_every_stage_from_one_pass():
    net = DSDCNet().eval()
    x = torch.randn(2, 1, 28, 28)
    logits, maps = net.feature_maps(x)
    names = list(maps)
    n_blocks = len(net.config.blocks)
    assert names[0] == "stem" and names[-2:] == ["pool", "head"]
    for i in range(1, n_blocks + 1):
        assert f"block{i}.depthwise" in maps and f"block{i}.pointwise" in maps
    assert torch.equal(maps["head"], logits)
    torch.testing.assert_close(logits, net(x))
    for (c, _, _), i in zip(net.config.blocks, range(1, n_blocks + 1)):
        assert maps[f"block{i}.pointwise"].shape[1] == c


def test_layer_table_totals_match_the_module():
    net = DSDCNet()
    rows = layer_table(net)
    assert sum(r.params for r in rows) == net.param_counts()["total"]
    assert [r.name for r in rows] == net.block_names
    for r in rows[1:-1]:
        assert r.std_params > r.params and r.std_macs > r.macs


@pytest.mark.parametrize("policy,frozen", [
    ("none", set()), ("backbone", {"stem", "block1", "block2", "block3", "block4", "block5"}),
    ("first:2", {"stem", "block1"}), ("all", {"stem", "block1", "block2", "block3", "block4", "block5", "head"}),
    ("block2,head", {"block2", "head"}),
])
def test_freeze_policies(policy, frozen):
    net = DSDCNet()
    counts = net.freeze(policy)
    assert net.frozen == frozen
    for name in net.block_names:
        assert all(p.requires_grad == (name not in frozen) for p in net.block(name).parameters())
    expect_frozen = sum(p.numel() for n in frozen for p in net.block(n).parameters())
    assert counts["frozen"] == expect_frozen
    assert counts["trainable"] + counts["frozen"] == counts["total"]


def test_frozen_blocks_stay_in_eval_mode():
    net = DSDCNet()
    net.freeze("first:2")
    net.train()
    assert not net.features.stem.training and not net.features.block1.training
    assert net.features.block2.training


@pytest.mark.parametrize("bad", ["first:99", "first:x", "nonsense", ""])
def test_bad_freeze_policy_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="freeze policy"):
        parse_freeze_policy(bad, DSDCNet().block_names)


def test_replace_head_for_another_number_of_classes():
    net = DSDCNet()
    net.freeze("backbone")
    net.replace_head(5, ["a", "b", "c", "d", "e"])
    assert net(torch.randn(1, 1, 28, 28)).shape == (1, 5)
    assert net.config.num_classes == 5 and net.config.class_names == ("a", "b", "c", "d", "e")
    assert all(p.requires_grad for p in net.head.parameters())


def test_standard_baseline_has_the_same_layout():
    ds, std = DSDCNet(), DSDCNet(NetConfig(separable=False))
    assert ds.block_names == std.block_names
    assert all(isinstance(m, StandardConv2d) for n, m in std.features.named_children() if n != "stem")
    assert all(isinstance(m, DSDilatedConv2d) for n, m in ds.features.named_children() if n != "stem")
    _, maps = std.eval().feature_maps(torch.randn(1, 1, 28, 28))
    assert "block1.conv" in maps
    assert std.param_counts()["total"] > 5 * ds.param_counts()["total"]
    # The table of the DS net predicts the standard net's real size.
    assert sum(r.std_params for r in layer_table(ds)) == std.param_counts()["total"]


def test_config_round_trip():
    c = NetConfig(stem_channels=8, blocks=((16, 1, 1), (16, 2, 2)), num_classes=3, class_names=("x", "y", "z"))
    assert NetConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError):
        NetConfig.from_dict({"bogus": 1})
