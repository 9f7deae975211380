"""Fully convolutional network for time-series classification (Wang et al. 2017).

The baseline of "Time Series Classification from Scratch with Deep Neural Networks",
used for the time-series experiments of Dziedzic et al. (ICML 2019).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..checks import check_int
from ..errors import ArgumentError
from .registry import register_model

__all__ = ["FCN", "fcn"]

_KERNEL_SIZES = (8, 5, 3)


class FCN(nn.Module):
    """Three Conv1d-BN-ReLU blocks (kernels 8, 5, 3, padding 'same'), global average pooling, linear.

    Input ``(B, in_channels, L)``, output logits ``(B, num_classes)``; 'same' padding keeps
    the length L through every block, so any L >= 1 works.

    Args:
        in_channels: Input channels (variables of the time series).
        num_classes: Number of output logits.
        widths: Filters of the three conv blocks.
    """

    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int] = (128, 256, 128)) -> None:
        super().__init__()
        if isinstance(widths, str) or not isinstance(widths, Sequence) or len(widths) != len(_KERNEL_SIZES):
            raise ArgumentError(f"widths must be a list of {len(_KERNEL_SIZES)} ints, got {widths!r}")
        layers: list[nn.Module] = []
        channels = in_channels
        for width, kernel_size in zip(widths, _KERNEL_SIZES):
            width = check_int(width, "widths entry", minimum=1)
            # Conv bias kept (redundant before BN) to match the original Keras model's parameters.
            layers += [nn.Conv1d(channels, width, kernel_size, padding="same"), nn.BatchNorm1d(width), nn.ReLU()]
            channels = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


@register_model("fcn", ndim=1)
def fcn(in_channels: int, num_classes: int, widths: Sequence[int] = (128, 256, 128)) -> FCN:
    """FCN of Wang et al. (2017) with filters ``widths`` (default 128/256/128).

    Args:
        in_channels: Input channels.
        num_classes: Number of output logits.
        widths: Filters of the three conv blocks.

    Returns:
        Model mapping ``(B, in_channels, L)`` to ``(B, num_classes)``.
    """
    return FCN(in_channels, num_classes, widths)
