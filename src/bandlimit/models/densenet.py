"""DenseNet-121, CIFAR variant (Huang et al. 2017, DenseNet-BC with a small growth rate)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..checks import check_int
from .registry import register_model

__all__ = ["Bottleneck", "DenseNet", "Transition", "densenet121"]


class Bottleneck(nn.Module):
    """Dense layer BN-ReLU-1x1 conv (to ``4 * growth_rate``) then BN-ReLU-3x3 conv (to ``growth_rate``).

    Input ``(B, C, H, W)``, output ``(B, C + growth_rate, H, W)``: the new features are
    concatenated to the input, which is what makes the block "dense".

    Args:
        in_channels: Input channels ``C``.
        growth_rate: Channels added by this layer.
    """

    def __init__(self, in_channels: int, growth_rate: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU()
        # Pre-activation layout: each conv is followed by a BN, so biases would be redundant.
        self.conv1 = nn.Conv2d(in_channels, 4 * growth_rate, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth_rate)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(4 * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu1(self.bn1(x)))
        out = self.conv2(self.relu2(self.bn2(out)))
        return torch.cat([x, out], dim=1)


class Transition(nn.Module):
    """BN-ReLU-1x1 conv then 2x2 average pooling, between dense blocks.

    Input ``(B, in_channels, H, W)``, output ``(B, out_channels, H // 2, W // 2)``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels (the compressed width).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(self.relu(self.bn(x))))


class DenseNet(nn.Module):
    """DenseNet-BC with a CIFAR-style 3x3 stem of ``2 * growth_rate`` channels.

    Input ``(B, in_channels, H, W)``, output logits ``(B, num_classes)``. Each transition
    halves H and W, so H, W >= ``2 ** (len(blocks) - 1)`` are required.

    Args:
        in_channels: Input channels.
        num_classes: Number of output logits.
        blocks: Number of bottleneck layers in each dense block.
        growth_rate: Channels added by each bottleneck layer.
        compression: Fraction of channels kept by each transition, in (0, 1].
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        blocks: Sequence[int],
        growth_rate: int,
        compression: float = 0.5,
    ) -> None:
        super().__init__()
        if not 0.0 < compression <= 1.0:
            raise ValueError(f"compression must be in (0, 1], got {compression}")
        channels = 2 * growth_rate
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=False)]
        for index, count in enumerate(blocks):
            for _ in range(count):
                layers.append(Bottleneck(channels, growth_rate))
                channels += growth_rate
            if index < len(blocks) - 1:
                out_channels = math.floor(channels * compression)
                layers.append(Transition(channels, out_channels))
                channels = out_channels
        # Pre-activation blocks leave the last output un-normalised, hence a final BN-ReLU.
        layers += [nn.BatchNorm2d(channels), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


@register_model("densenet121", ndim=2)
def densenet121(in_channels: int, num_classes: int, growth_rate: int = 12) -> DenseNet:
    """DenseNet-121, CIFAR variant: dense blocks of (6, 12, 24, 16) layers, compression 0.5.

    Args:
        in_channels: Input channels.
        num_classes: Number of output logits.
        growth_rate: Channels added by each bottleneck layer.

    Returns:
        Model mapping ``(B, in_channels, H, W)`` to ``(B, num_classes)``; needs H, W >= 8.
    """
    growth_rate = check_int(growth_rate, "growth_rate", minimum=1)
    return DenseNet(in_channels, num_classes, blocks=(6, 12, 24, 16), growth_rate=growth_rate)
