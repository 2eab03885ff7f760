"""The DS-dilated network: a stem, named DS-dilated blocks, and a head (global pooling + linear).

Shaped like torchvision's MobileNetV2: ``features`` is a sequence of small named blocks and the head is
separate, so "freeze the first k blocks", "every block's output" and "each block's parameters" are
one-liners. The same class with ``separable=False`` is the standard-convolution baseline with the same
layout (same channels, dilations, strides), for side-by-side comparison.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConvBNReLU, DSDilatedConv2d, StandardConv2d, receptive_field_step

__all__ = [
    "NetConfig",
    "DSDCNet",
    "ExamplesMnistNet",
    "LayerRow",
    "layer_table",
    "parse_freeze_policy",
    "FREEZE_POLICIES",
]

DIGITS = [str(i) for i in range(10)]


@dataclass(frozen=True)
class NetConfig:
    """Architecture settings; saved in every checkpoint so a file rebuilds its own network.

    ``blocks`` holds one ``(out_channels, dilation, stride)`` per DS-dilated block. The defaults are the
    shipped architecture: the stride-2 stem and the stride-2 third block downsample early (cheap on a
    CPU), and the dilations 1, 2, 1, 2, 4 make the last block's receptive field cover the whole 28x28
    image (see ``layer_table``).
    """

    stem_channels: int = 24
    stem_stride: int = 2
    blocks: tuple[tuple[int, int, int], ...] = ((32, 1, 1), (48, 2, 1), (64, 1, 2), (64, 2, 1), (64, 4, 1))
    num_classes: int = 10
    class_names: tuple[str, ...] = tuple(DIGITS)
    separable: bool = True
    kernel_size: int = 3

    def to_dict(self) -> dict:
        d = asdict(self)
        d["blocks"] = [list(b) for b in self.blocks]
        d["class_names"] = list(self.class_names)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "NetConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown architecture settings: {sorted(unknown)}")
        d = dict(d)
        if "blocks" in d:
            d["blocks"] = tuple(tuple(int(v) for v in b) for b in d["blocks"])
        if "class_names" in d:
            d["class_names"] = tuple(str(c) for c in d["class_names"])
        return cls(**d)


FREEZE_POLICIES = ("none", "backbone", "first:K", "all")


def parse_freeze_policy(policy: str, block_names: list[str]) -> set[str]:
    """Names of the modules to freeze for a policy string.

    ``none``: full fine-tuning; ``backbone``: everything but the head; ``first:K``: the first K blocks of
    ``features`` (the stem counts as the first); ``all``: everything (zero fine-tuning). A comma-separated
    list of block names freezes exactly those.
    """
    features = [n for n in block_names if n != "head"]
    policy = policy.strip()
    if policy == "none":
        return set()
    if policy == "backbone":
        return set(features)
    if policy == "all":
        return set(block_names)
    if policy.startswith("first:"):
        try:
            k = int(policy.split(":", 1)[1])
        except ValueError:
            raise ValueError(f"bad freeze policy {policy!r}: expected first:K with K a whole number") from None
        if not 0 <= k <= len(features):
            raise ValueError(f"bad freeze policy {policy!r}: K must be between 0 and {len(features)}")
        return set(features[:k])
    names = {n.strip() for n in policy.split(",") if n.strip()}
    unknown = names - set(block_names)
    if unknown or not names:
        raise ValueError(
            f"bad freeze policy {policy!r}: use none, backbone, first:K, all, or block names from {block_names}")
    return names


class DSDCNet(nn.Module):
    """Depthwise-separable dilated convolutional network for 1 x 28 x 28 images."""

    def __init__(self, config: NetConfig | None = None):
        super().__init__()
        self.config = config or NetConfig()
        c = self.config
        block_cls = DSDilatedConv2d if c.separable else StandardConv2d
        layers: list[tuple[str, nn.Module]] = [("stem", ConvBNReLU(1, c.stem_channels, 3, stride=c.stem_stride))]
        in_ch = c.stem_channels
        for i, (out_ch, dilation, stride) in enumerate(c.blocks, start=1):
            layers.append((f"block{i}", block_cls(in_ch, out_ch, c.kernel_size, dilation=dilation, stride=stride)))
            in_ch = out_ch
        self.features = nn.Sequential(OrderedDict(layers))
        self.head = nn.Linear(in_ch, c.num_classes)
        self.frozen: set[str] = set()

    # --- forward ----------------------------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def feature_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, "OrderedDict[str, torch.Tensor]"]:
        """One forward pass returning the logits and every stage's output by name.

        Names: ``stem``, ``blockI.depthwise`` and ``blockI.pointwise`` (``blockI.conv`` for the standard
        baseline), ``pool`` (N x C after global pooling) and ``head`` (the logits).
        """
        maps: OrderedDict[str, torch.Tensor] = OrderedDict()
        for name, module in self.features.named_children():
            if name == "stem":
                x = module(x)
                maps["stem"] = x
            else:
                taps: dict[str, torch.Tensor] = {}
                x = module(x, taps)
                for stage, t in taps.items():
                    maps[f"{name}.{stage}"] = t
        pooled = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        maps["pool"] = pooled
        logits = self.head(pooled)
        maps["head"] = logits
        return logits, maps

    # --- structure ----------------------------------------------------------------------------------
    @property
    def block_names(self) -> list[str]:
        return [n for n, _ in self.features.named_children()] + ["head"]

    def block(self, name: str) -> nn.Module:
        return self.head if name == "head" else getattr(self.features, name)

    # --- freezing -----------------------------------------------------------------------------------
    def freeze(self, policy: str | set[str] | list[str] = "none") -> dict[str, int]:
        """Freeze blocks by policy (see ``parse_freeze_policy``) or by a set of names; unfreeze the rest.

        Frozen blocks also keep their batch-norm statistics fixed (they stay in eval mode), so their
        weights and buffers are bit-identical after fine-tuning. Returns ``param_counts()``.
        """
        names = parse_freeze_policy(policy, self.block_names) if isinstance(policy, str) else set(policy)
        unknown = names - set(self.block_names)
        if unknown:
            raise ValueError(f"unknown blocks {sorted(unknown)}; blocks are {self.block_names}")
        self.frozen = names
        for name in self.block_names:
            for p in self.block(name).parameters():
                p.requires_grad_(name not in names)
        self.train(self.training)
        return self.param_counts()

    def train(self, mode: bool = True) -> "DSDCNet":
        super().train(mode)
        for name in getattr(self, "frozen", ()):
            self.block(name).eval()
        return self

    def param_counts(self) -> dict[str, int]:
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.parameters())
        return {"trainable": trainable, "frozen": total - trainable, "total": total}

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def replace_head(self, num_classes: int, class_names: list[str] | tuple[str, ...] | None = None) -> None:
        """A new, freshly initialised linear head for a target with ``num_classes`` classes."""
        names = tuple(class_names) if class_names is not None else tuple(str(i) for i in range(num_classes))
        if len(names) != num_classes:
            raise ValueError(f"{num_classes} classes but {len(names)} class names")
        old = self.head
        self.head = nn.Linear(old.in_features, num_classes).to(old.weight.device)
        self.config = replace(self.config, num_classes=num_classes, class_names=names)
        self.head.requires_grad_("head" not in self.frozen)


class ExamplesMnistNet(nn.Module):
    """The network of PyTorch's examples/mnist (1.2 M parameters): the speed baseline of the benchmarks."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.dropout1(F.max_pool2d(x, 2))
        x = self.dropout2(F.relu(self.fc1(torch.flatten(x, 1))))
        return self.fc2(x)


# --- accounting --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerRow:
    """One row of the architecture table: a block's figures and those of its standard counterpart."""

    name: str
    kind: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, ...]
    dilation: int
    stride: int
    params: int
    macs: int
    receptive_field: int
    std_params: int
    std_macs: int

    @property
    def params_ratio(self) -> float:
        return self.std_params / self.params if self.params else 1.0

    @property
    def macs_ratio(self) -> float:
        return self.std_macs / self.macs if self.macs else 1.0


def layer_table(net: DSDCNet, in_hw: tuple[int, int] = (28, 28)) -> list[LayerRow]:
    """Per block: output shape, parameters, multiply-adds, receptive field; and the standard conv's figures."""
    rows: list[LayerRow] = []
    shape = (1, *in_hw)
    rf, jump = 1, 1
    for name, module in net.features.named_children():
        cost = module.cost(shape[1:])
        std = cost if name == "stem" else module.standard_cost(shape[1:])
        kind = "conv 3x3" if name == "stem" else ("DS-dilated" if isinstance(module, DSDilatedConv2d) else "standard")
        if name == "stem":
            rf, jump = receptive_field_step(rf, jump, module.kernel_size, module.dilation, module.stride)
        else:
            rf, jump = module.receptive_field(rf, jump)
        rows.append(LayerRow(name, kind, shape, cost.out_shape, module.dilation, module.stride,
                             cost.params, cost.macs, rf, std.params, std.macs))
        shape = cost.out_shape
    head_params = sum(p.numel() for p in net.head.parameters())
    head_macs = net.head.in_features * net.head.out_features
    rows.append(LayerRow("head", "pool + linear", shape, (net.head.out_features,), 1, 1, head_params, head_macs,
                         rf, head_params, head_macs))
    return rows
