"""Modules: drop-in replacements for ``nn.Conv1d``, ``nn.Conv2d`` and ``nn.Linear``."""

from .conv import BandLimitedConv1d, BandLimitedConv2d
from .sparse import CsrConv1d, CsrConv2d, CsrLinear
from .strassen import StrassenConv1d, StrassenConv2d, StrassenLinear

__all__ = [
    "BandLimitedConv1d",
    "BandLimitedConv2d",
    "CsrConv1d",
    "CsrConv2d",
    "CsrLinear",
    "StrassenConv1d",
    "StrassenConv2d",
    "StrassenLinear",
]
