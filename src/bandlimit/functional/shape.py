"""A convolution's sizes for one input: the one place where padding, padded and output sizes
are worked out (the kernel, the cost model, the modules, the summary and the benchmarks all
read them from here)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .arguments import as_tuple, check_kernel_fits, resolve_padding

__all__ = ["ConvShape"]


@dataclass(frozen=True)
class ConvShape:
    """One convolution call's sizes, per spatial dimension (``(L,)`` or ``(H, W)``).

    Attributes:
        in_channels, out_channels, groups: as in ``nn.Conv*d``.
        kernel: the kernel size.
        input_size: the input's spatial size as the band-limited op receives it (padding modes
            other than zeros have already padded it).
        pads: ``(before, after)`` zero padding per dimension, folded into the transforms.
        stride, dilation: per dimension.
        batch: samples per call.
    """

    in_channels: int
    out_channels: int
    groups: int
    kernel: tuple[int, ...]
    input_size: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    batch: int = 1

    @classmethod
    def of(
        cls,
        in_channels: int,
        out_channels: int,
        kernel: Sequence[int],
        input_size: Sequence[int],
        *,
        stride: int | Sequence[int] = 1,
        padding: str | int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        batch: int = 1,
    ) -> ConvShape:
        """Normalise ``F.conv*d``-style arguments (``padding`` may be ``'same'`` or ``'valid'``);
        raises ``ValueError`` if the dilated kernel does not fit the padded input."""
        ndim = len(kernel)
        stride_t = as_tuple("stride", stride, ndim, minimum=1)
        dilation_t = as_tuple("dilation", dilation, ndim, minimum=1)
        pads = tuple(resolve_padding(padding, tuple(kernel), dilation_t, stride_t))
        shape = cls(
            int(in_channels), int(out_channels), int(groups), tuple(kernel), tuple(input_size), pads, stride_t,
            dilation_t, int(batch),
        )  # fmt: skip
        check_kernel_fits(shape.padded, shape.kernel, shape.dilation)
        return shape

    @classmethod
    def of_call(
        cls,
        input: Any,
        weight: Any,
        stride: int | Sequence[int] = 1,
        padding: str | int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
    ) -> ConvShape:
        """The sizes of ``F.conv*d(input, weight, ...)`` for a checked call: ``input``
        ``(B, Cin, *spatial)`` or unbatched ``(Cin, *spatial)``, ``weight`` ``(Cout, Cin/groups, *kernel)``."""
        ndim = weight.dim() - 2
        batch = input.shape[0] if input.dim() == ndim + 2 else 1
        return cls.of(
            weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]), tuple(input.shape[-ndim:]),
            stride=stride, padding=padding, dilation=dilation, groups=groups, batch=batch,
        )  # fmt: skip

    @classmethod
    def of_module(cls, conv: Any, input_size: Sequence[int], batch: int = 1) -> ConvShape:
        """The sizes of an ``nn.Conv1d`` / ``nn.Conv2d`` (or a subclass) on ``batch`` inputs of
        spatial size ``input_size``: zero padding is folded into the transforms; other padding
        modes pad the input first, so it reaches the op padded."""
        shape = cls.of(
            conv.in_channels, conv.out_channels, conv.kernel_size, input_size, stride=conv.stride,
            padding=conv.padding, dilation=conv.dilation, groups=conv.groups, batch=batch,
        )  # fmt: skip
        if conv.padding_mode == "zeros":
            return shape
        return dataclasses.replace(shape, input_size=shape.padded, pads=((0, 0),) * shape.ndim)

    @property
    def ndim(self) -> int:
        return len(self.kernel)

    @property
    def padded(self) -> tuple[int, ...]:
        """The input's size after the zero padding: the grid the band is chosen on."""
        return tuple(n + before + after for n, (before, after) in zip(self.input_size, self.pads))

    @property
    def output_size(self) -> tuple[int, ...]:
        """The output's spatial size, stride applied."""
        return tuple(
            (n - d * (k - 1) - 1) // s + 1 for n, k, d, s in zip(self.padded, self.kernel, self.dilation, self.stride)
        )

    @property
    def symmetric(self) -> bool:
        """The same padding before and after in every dimension."""
        return all(before == after for before, after in self.pads)
