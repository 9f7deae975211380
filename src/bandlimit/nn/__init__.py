"""Modules: drop-in replacements for ``nn.Conv1d`` and ``nn.Conv2d``."""

from .conv import BandLimitedConv1d, BandLimitedConv2d

__all__ = ["BandLimitedConv1d", "BandLimitedConv2d"]
