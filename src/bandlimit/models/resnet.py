"""ResNets for small images: the CIFAR ResNet-18 and a tiny three-stage ResNet.

Both use the CIFAR-style stem (one 3x3 conv, stride 1, no max-pool) because 28x28 or
32x32 inputs are too small for the ImageNet stem's 4x downsampling.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..checks import check_int
from .registry import register_model

__all__ = ["BasicBlock", "ResNet", "resnet18", "small_resnet"]


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut.

    Input ``(B, in_channels, H, W)``, output ``(B, out_channels, ceil(H / stride), ceil(W / stride))``.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        stride: Stride of the first conv and of the projection shortcut.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        # Convs feeding a BatchNorm need no bias: BN's shift absorbs it.
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu2 = nn.ReLU()
        # Projection only when the residual would not match the output shape.
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet of :class:`BasicBlock` stages with a CIFAR-style stem.

    Input ``(B, in_channels, H, W)``, output logits ``(B, num_classes)``. Each stage after
    the first halves H and W; adaptive average pooling makes any large-enough size work.

    Args:
        in_channels: Input channels.
        num_classes: Number of output logits.
        widths: Output channels of each stage; the stem outputs ``widths[0]``.
        blocks: Number of blocks in each stage.
    """

    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int], blocks: Sequence[int]) -> None:
        super().__init__()
        if len(widths) != len(blocks):
            raise ValueError(f"widths and blocks must have the same length, got {len(widths)} and {len(blocks)}")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        )
        stages = []
        channels = widths[0]
        for index, (width, count) in enumerate(zip(widths, blocks)):
            stride = 1 if index == 0 else 2
            stage = []
            for block_index in range(count):
                stage.append(BasicBlock(channels, width, stride if block_index == 0 else 1))
                channels = width
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stages(self.stem(x))
        return self.fc(torch.flatten(self.pool(out), 1))


@register_model("resnet18", ndim=2)
def resnet18(in_channels: int, num_classes: int, width: int = 64) -> ResNet:
    """ResNet-18, CIFAR variant: stages of [2, 2, 2, 2] blocks, widths ``width * (1, 2, 4, 8)``.

    11,173,962 parameters for 3 input channels, 10 classes and the default ``width=64``.

    Args:
        in_channels: Input channels.
        num_classes: Number of output logits.
        width: Channels of the stem and first stage.

    Returns:
        Model mapping ``(B, in_channels, H, W)`` to ``(B, num_classes)``.
    """
    width = check_int(width, "width", minimum=1)
    return ResNet(in_channels, num_classes, widths=[width, 2 * width, 4 * width, 8 * width], blocks=[2, 2, 2, 2])


@register_model("small_resnet", ndim=2)
def small_resnet(in_channels: int, num_classes: int, width: int = 16) -> ResNet:
    """Small ResNet: three stages of one block each, widths ``width * (1, 2, 4)``, strides 1/2/2.

    Sized to train on 28x28 / 32x32 images on a couple of CPU cores in minutes. Arguments and
    result as in :func:`resnet18`.
    """
    width = check_int(width, "width", minimum=1)
    return ResNet(in_channels, num_classes, widths=[width, 2 * width, 4 * width], blocks=[1, 1, 1])
