"""LeNet-5 style CNN (LeCun et al. 1998) with ReLU and max pooling."""

from __future__ import annotations

import torch
from torch import nn

from .registry import register_model

__all__ = ["LeNet", "lenet"]


class LeNet(nn.Module):
    """conv 5x5 (6) - pool - conv 5x5 (16) - pool - fc 120 - fc 84 - fc num_classes.

    Input ``(B, in_channels, H, W)`` with H, W >= 10, output logits ``(B, num_classes)``.
    The first conv pads by 2 so 28x28 (MNIST) gives the classic 5x5x16 feature map;
    adaptive pooling maps other sizes (e.g. 32x32 -> 6x6) onto that 5x5 grid so the
    fully connected layers do not depend on the input size.

    Args:
        in_channels: Input channels.
        num_classes: Number of output logits.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.pool = nn.AdaptiveAvgPool2d(5)
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


@register_model("lenet", ndim=2)
def lenet(in_channels: int, num_classes: int) -> LeNet:
    """LeNet-5 style model.

    Args:
        in_channels: Input channels.
        num_classes: Number of output logits.

    Returns:
        Model mapping ``(B, in_channels, H, W)`` (H, W >= 10) to ``(B, num_classes)``.
    """
    return LeNet(in_channels, num_classes)
