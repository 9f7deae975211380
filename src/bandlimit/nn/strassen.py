"""Sum-product (Strassen) layers with a multiplication budget (Tschannen, Khanna and
Anandkumar, "StrassenNets", ICML 2018).

A convolution ``C_in -> C_out`` becomes::

    y = W_c^T * (a  (.)  BN(W_b * x))

- ``W_b``: a ternary convolution ``C_in -> r`` whose kernel covers a ``p x p`` patch of outputs
  (``k + p - 1`` wide, stride ``p``): additions and subtractions only;
- ``BN``: batch norm over the ``r`` channels (folded into ``a`` and a shift at inference);
- ``a``: ``r`` full-precision factors, learned directly (``W_a vec(A)`` of the paper): the only
  multiplications, ``r`` per position of ``W_b``'s output;
- ``W_c``: a ternary transposed convolution ``r -> C_out`` with kernel and stride ``p``, which
  spreads each position back to a ``p x p`` patch: additions only.

``groups`` split ``W_b`` and ``W_c`` into groups like a grouped convolution. A linear layer is
the same without the convolutions and the batch norm. Training goes through three phases
(:attr:`phase`): ``full`` (full-precision ``W_b, W_c``), ``ternary`` (quantised in the forward,
straight-through gradients) and ``frozen`` (quantised and not trained; the rest fine-tunes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..functional.arguments import as_tuple, resolve_padding
from ..functional.ternary import MODES, ternary, twn_scale

__all__ = ["PHASES", "StrassenConv1d", "StrassenConv2d", "StrassenLinear"]

PHASES = ("full", "ternary", "frozen")


class _StrassenMixin(nn.Module):
    """The phase and the quantisation of ``W_b`` and ``W_c``, shared by both layers."""

    weight_b: nn.Parameter
    weight_c: nn.Parameter

    def _init_quantisation(self, mode: str, threshold: float) -> None:
        if mode not in MODES:
            raise ValueError(f"quantization must be one of {list(MODES)}, got {mode!r}")
        self.quantization = mode
        self.threshold = threshold
        self._phase = "full"

    @property
    def phase(self) -> str:
        """``full``, ``ternary`` or ``frozen`` (``W_b`` and ``W_c`` quantised and not trained)."""
        return self._phase

    @phase.setter
    def phase(self, value: str) -> None:
        if value not in PHASES:
            raise ValueError(f"phase must be one of {list(PHASES)}, got {value!r}")
        self._phase = value
        for weight in (self.weight_b, self.weight_c):
            weight.requires_grad_(value != "frozen")

    # The phase is saved in the state dict: a model loaded after training runs quantised.
    def get_extra_state(self) -> dict[str, str]:
        return {"phase": self._phase}

    def set_extra_state(self, state: dict[str, str]) -> None:
        self.phase = state["phase"]

    def _quantised(self, weight: torch.Tensor) -> torch.Tensor:
        if self._phase == "full":
            return weight
        values = ternary(weight, self.quantization, self.threshold)
        if self.quantization == "twn":  # the TWN scale: one multiplication per layer output, folded into a
            values = values * twn_scale(weight, "twn")
        return values

    def ternary_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``W_b`` and ``W_c`` as the values in {-1, 0, 1} the quantised phases use."""
        return tuple(  # type: ignore[return-value]
            ternary(w.detach(), self.quantization, self.threshold) for w in (self.weight_b, self.weight_c)
        )


class _StrassenConvNd(_StrassenMixin):
    """The sum-product convolution in 1-D or 2-D (a 1-D one runs as 2-D with height 1)."""

    ndim: int

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        hidden: int,
        *,
        stride: int | Sequence[int] = 1,
        padding: str | int | Sequence[int] = 0,
        bias: bool = True,
        patch: int | Sequence[int] = 1,
        groups: int = 1,
        quantization: str = "twn",
        threshold: float = 0.5,
    ) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("hidden", hidden), ("out_channels", out_channels)):
            if value % groups:
                raise ValueError(f"{name} ({value}) must be divisible by groups ({groups})")
        self.kernel_size = as_tuple("kernel_size", kernel_size, self.ndim, minimum=1)
        self.stride = as_tuple("stride", stride, self.ndim, minimum=1)
        self.patch = as_tuple("patch", patch, self.ndim, minimum=1)
        if any(p > 1 and s != 1 for p, s in zip(self.patch, self.stride)):
            raise ValueError(f"patch > 1 needs stride 1 in that dimension; got patch={patch}, stride={stride}")
        # (before, after) per dimension, as F.conv applies it ('same' pads the odd element after)
        self.padding = resolve_padding(padding, self.kernel_size, (1,) * self.ndim, self.stride)
        self.in_channels, self.out_channels, self.hidden, self.groups = in_channels, out_channels, hidden, groups
        span = tuple(k + p - 1 for k, p in zip(self.kernel_size, self.patch))
        self.weight_b = nn.Parameter(torch.empty(hidden, in_channels // groups, *self._lift(span)))
        self.norm = nn.BatchNorm2d(hidden)
        self.scale = nn.Parameter(torch.ones(hidden))  # a = W_a vec(A), learned directly
        self.weight_c = nn.Parameter(torch.empty(hidden, out_channels // groups, *self._lift(self.patch)))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        nn.init.kaiming_uniform_(self.weight_b, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.weight_c, a=math.sqrt(5))
        self._init_quantisation(quantization, threshold)

    def _lift(self, values: tuple[int, ...]) -> tuple[int, int]:
        return (1, values[0]) if self.ndim == 1 else (values[0], values[1])

    def output_size(self, size: tuple[int, ...]) -> tuple[int, ...]:
        """The original convolution's output size for an input of spatial ``size``."""
        return tuple(
            (n + before + after - k) // s + 1
            for n, (before, after), k, s in zip(size, self.padding, self.kernel_size, self.stride)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, *spatial)`` or unbatched ``(C_in, *spatial)`` -> ``(B, C_out, *spatial_out)``
        (or ``(C_out, *spatial_out)``), sized as the original convolution's."""
        if x.dim() == self.ndim + 1:
            return self.forward(x.unsqueeze(0)).squeeze(0)
        out_size = self.output_size(tuple(x.shape[-self.ndim :]))
        # Pad after so that whole patches cover the output, then crop.
        pads: list[int] = []
        for (before, after), n, p in reversed(list(zip(self.padding, out_size, self.patch))):
            pads += [before, after + (-n % p)]
        x = F.pad(x, pads)
        if self.ndim == 1:
            x = x.unsqueeze(-2)
        stride = self._lift(tuple(s * p for s, p in zip(self.stride, self.patch)))
        hidden = F.conv2d(x, self._quantised(self.weight_b), stride=stride, groups=self.groups)
        hidden = self.norm(hidden) * self.scale.view(1, -1, 1, 1)
        patch = self._lift(self.patch)
        out = F.conv_transpose2d(hidden, self._quantised(self.weight_c), self.bias, stride=patch, groups=self.groups)
        if self.ndim == 1:
            return out[..., 0, : out_size[0]]
        return out[..., : out_size[0], : out_size[1]]

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, hidden={self.hidden}, "
            f"stride={self.stride}, padding={self.padding}, patch={self.patch}, groups={self.groups}, "
            f"quantization={self.quantization}, phase={self.phase}"
        )


class StrassenConv1d(_StrassenConvNd):
    """A sum-product replacement for ``nn.Conv1d`` (see :class:`StrassenConv2d`)."""

    ndim = 1


class StrassenConv2d(_StrassenConvNd):
    """A sum-product replacement for ``nn.Conv2d(in_channels, out_channels, kernel_size, stride,
    padding, bias=bias)`` with ``hidden`` ternary products per ``patch`` output patch.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, bias: as ``nn.Conv2d`` (padding
            an int, a pair, ``'same'`` or ``'valid'``; zero padding, no dilation).
        hidden: ``r``, the channels of ``W_b`` (multiplications per position of its output).
        patch: ``p``, the output patch each product serves (``> 1`` needs stride 1 there).
        groups: groups of ``W_b`` and ``W_c`` (dividing ``in_channels``, ``hidden`` and ``out_channels``).
        quantization: ``fixed`` (threshold ``threshold``) or ``twn``.
    """

    ndim = 2


class StrassenLinear(_StrassenMixin):
    """A sum-product replacement for ``nn.Linear(in_features, out_features, bias)``:
    ``y = W_c (a (.) (W_b x)) + bias`` with ``hidden`` ternary products.

    Args:
        hidden: ``r``, the rows of ``W_b`` (multiplications per sample).
        quantization, threshold: as :class:`StrassenConv2d`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: int,
        *,
        bias: bool = True,
        quantization: str = "twn",
        threshold: float = 0.5,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features, self.hidden = in_features, out_features, hidden
        self.weight_b = nn.Parameter(torch.empty(hidden, in_features))
        self.scale = nn.Parameter(torch.ones(hidden))
        self.weight_c = nn.Parameter(torch.empty(out_features, hidden))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        nn.init.kaiming_uniform_(self.weight_b, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.weight_c, a=math.sqrt(5))
        self._init_quantisation(quantization, threshold)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(*, in_features)`` -> ``(*, out_features)``."""
        hidden = F.linear(x, self._quantised(self.weight_b)) * self.scale
        return F.linear(hidden, self._quantised(self.weight_c), self.bias)

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, hidden={self.hidden}, quantization={self.quantization}, "
            f"phase={self.phase}"
        )
