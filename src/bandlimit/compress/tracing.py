"""The graph that the removals of zero structure trace with ``torch.fx``: which modules stay
leaves, and which modules, functions and methods act on each channel alone, so that a channel
can be followed through them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..errors import BandlimitError

__all__ = [
    "CONVS",
    "PER_CHANNEL_FUNCTIONS",
    "PER_CHANNEL_METHODS",
    "PER_CHANNEL_MODULES",
    "SHAPE_KEEPING",
    "BranchConstant",
    "trace",
]

CONVS = (nn.Conv1d, nn.Conv2d)

# Per-channel modules that keep the spatial size: a residual branch may hold them.
SHAPE_KEEPING = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Identity,
    nn.Dropout,
)
# Modules and functions that act on each channel alone: a channel can be followed through them.
PER_CHANNEL_MODULES = (
    *SHAPE_KEEPING,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
)
PER_CHANNEL_FUNCTIONS = {F.relu, torch.relu, F.gelu, torch.sigmoid, torch.tanh, F.dropout, F.max_pool2d, F.avg_pool2d,
                          F.adaptive_avg_pool1d, F.adaptive_avg_pool2d}  # fmt: skip
PER_CHANNEL_METHODS = {"relu", "sigmoid", "tanh", "contiguous"}


# Here rather than beside skip_zero_branches_, which makes it: the tracer must keep it a leaf (its
# forward computes sizes in Python), so that a model with skipped branches can be traced again.
class BranchConstant(nn.Module):
    """What a skipped residual branch adds: a constant per channel, at the size the branch's
    convolutions would have produced.

    Args:
        value: ``(C,)``, the branch's output per channel.
        geometry: per convolution of the branch, ``(kernel, stride, padding (before, after),
            dilation)`` per spatial dimension.
    """

    def __init__(self, value: torch.Tensor, geometry: list[tuple[tuple[int, int, tuple[int, int], int], ...]]) -> None:
        super().__init__()
        self.value: torch.Tensor
        self.register_buffer("value", value)
        self.geometry = geometry

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ndim = len(self.geometry[0])
        size = list(x.shape[-ndim:])
        for conv in self.geometry:
            for i, (k, s, (before, after), d) in enumerate(conv):
                size[i] = (size[i] + before + after - d * (k - 1) - 1) // s + 1
        lead = x.shape[: -ndim - 1]
        value = self.value.view(*([1] * len(lead)), -1, *([1] * ndim))
        return value.expand(*lead, -1, *size).contiguous()  # contiguous: in-place ops may follow


class _Tracer(fx.Tracer):
    """Keeps convolutions, linear layers and batch norms (and their subclasses) as leaves."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        leaves = (*CONVS, nn.Linear, *PER_CHANNEL_MODULES, BranchConstant)
        return isinstance(m, leaves) or super().is_leaf_module(m, qualname)


def trace(model: nn.Module) -> fx.Graph:
    """``model``'s graph, with the leaves above.

    Raises:
        BandlimitError: the model cannot be traced with ``torch.fx``.
    """
    try:
        return _Tracer().trace(model)
    # What a forward that fx cannot follow raises (tried: control flow on a tensor, range() or
    # int() of one, tolist, numpy, len): TraceError, TypeError, or RuntimeError for len().
    except (fx.proxy.TraceError, TypeError, RuntimeError) as err:
        raise BandlimitError(f"cannot trace the model with torch.fx to find its structure: {err}") from None
