"""Convolution and linear modules that run a sparse weight as CSR at inference.

Subclasses of ``nn.Conv1d`` / ``nn.Conv2d`` / ``nn.Linear`` that keep the parent's parameters
and ``state_dict`` layout (a pruned layer's ``weight_orig`` and mask too); only the product
changes. When the weight is being trained (grad mode on and ``weight.requires_grad``), they
run the parent's dense computation, which gives the weight its gradient; otherwise (eval
under ``no_grad``, or frozen weights) the CSR path of :mod:`bandlimit.functional.sparse`,
which still gives the input its gradient.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from ..functional.arguments import resolve_padding
from ..functional.sparse import csr_linear, csr_weight, lowered_conv2d, sparse_product

__all__ = ["ColumnPrunedConv", "CsrConv1d", "CsrConv2d", "CsrLayer", "CsrLinear", "lowered_forward"]


class CsrCache:
    """The CSR form of a layer's weight, kept between calls.

    Valid while the tensors it was made from (the weight, or a pruned layer's ``weight_orig``
    and ``weight_mask``) are the same objects, at the same version, storage and dtype: an
    optimizer step, ``load_state_dict``, a new mask or ``module.to(dtype)`` rebuilds it. Like
    autograd, it does not see changes made through ``weight.data``; :meth:`clear` drops it.
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Drop the cached matrix."""
        self._sources: list[weakref.ref[torch.Tensor]] = []
        # Held so that their memory cannot be reused by a tensor that replaces them through
        # ``.data = ...`` (as ``module.to(dtype)`` does), whose address would then look the same.
        self._storages: list[torch.UntypedStorage] = []
        self._key: tuple[Any, ...] = ()
        self.matrix: torch.Tensor | None = None

    def get(self, weight: torch.Tensor, groups: int, sources: tuple[torch.Tensor, ...]) -> torch.Tensor:
        key = (groups, *((t._version, t.data_ptr(), t.dtype, t.device) for t in sources))
        same = len(self._sources) == len(sources) and all(r() is t for r, t in zip(self._sources, sources))
        if self.matrix is None or not same or key != self._key:
            self.matrix = csr_weight(weight, groups)
            self._sources, self._key = [weakref.ref(t) for t in sources], key
            self._storages = [t.untyped_storage() for t in sources]
        return self.matrix

    def __getstate__(self) -> dict[str, Any]:  # copies and pickles start empty
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.clear()


class _CsrMixin(nn.Module):
    """``sparse_input`` and the cached CSR weight of the CSR modules."""

    sparse_input: bool = False  # multiply by the activations as CSR too (sparse x sparse)

    def _csr(self, weight: torch.Tensor, groups: int = 1) -> torch.Tensor | None:
        """The CSR weight, or None where the weight trains (the dense path runs)."""
        if torch.is_grad_enabled() and weight.requires_grad:
            return None
        pruned = "weight_orig" in self._parameters  # the weight is remade from these at each call
        sources = (self._parameters["weight_orig"], self._buffers["weight_mask"]) if pruned else (weight,)
        return self.csr_cache.get(weight, groups, tuple(t for t in sources if t is not None))

    @property
    def csr_cache(self) -> CsrCache:
        """The CSR weight kept between calls (``csr_cache.clear()`` after editing ``weight.data``)."""
        cache = self.__dict__.get("_csr_cache")
        if cache is None:  # modules made by retyping a plain layer start without one
            cache = self.__dict__["_csr_cache"] = CsrCache()
        return cache

    def extra_repr(self) -> str:
        return super().extra_repr() + f", sparse_input={self.sparse_input}"


class _ConvLike(Protocol):
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: str | tuple[int, ...]
    padding_mode: str
    _reversed_padding_repeated_twice: list[int]


def lowered_forward(
    conv: _ConvLike,
    input: torch.Tensor,
    product: Callable[[torch.Tensor], torch.Tensor],
    bias: torch.Tensor | None,
) -> torch.Tensor:
    """``conv``'s convolution of ``input`` (1-D or 2-D, batched or not, any padding mode) as
    im2col and ``product`` (:func:`~bandlimit.functional.sparse.lowered_conv2d`)."""
    ndim = len(conv.kernel_size)
    if conv.padding_mode != "zeros":
        input = F.pad(input, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
        pads: tuple[tuple[int, int], ...] = ((0, 0),) * ndim
    else:
        pads = resolve_padding(conv.padding, conv.kernel_size, conv.dilation, conv.stride)
    if any(before != after for before, after in pads):  # 'same' with an even kernel: pad by hand
        input = F.pad(input, [p for pair in reversed(pads) for p in pair])
        pads = ((0, 0),) * ndim
    unbatched = input.dim() == ndim + 1
    x = input.unsqueeze(0) if unbatched else input
    if ndim == 1:  # a row of height 1
        x = x.unsqueeze(-2)

    def lift(values: tuple[int, ...], fill: int = 1) -> tuple[int, int]:
        return (fill,) * (2 - ndim) + tuple(values)  # type: ignore[return-value]  # (1, k) for 1-D

    out = lowered_conv2d(
        x,
        product,
        bias,
        lift(conv.kernel_size),
        lift(conv.stride),
        lift(tuple(before for before, _ in pads), fill=0),
        lift(conv.dilation),
    )
    out = out.reshape(*out.shape[:2], *out.shape[-ndim:])
    return out.squeeze(0) if unbatched else out


class _CsrConvMixin(_CsrMixin):
    groups: int

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        matrix = self._csr(weight, self.groups)
        if matrix is None:
            dense: torch.Tensor = super()._conv_forward(input, weight, bias)  # type: ignore[misc]
            return dense
        return lowered_forward(self, input, lambda cols: sparse_product(matrix, cols, self.sparse_input), bias)  # type: ignore[arg-type]


class CsrConv1d(_CsrConvMixin, nn.Conv1d):
    """``nn.Conv1d`` whose weight runs as CSR at inference (see the module docstring)."""


class CsrConv2d(_CsrConvMixin, nn.Conv2d):
    """``nn.Conv2d`` whose weight runs as CSR at inference (see the module docstring)."""


class CsrLinear(_CsrMixin, nn.Linear):
    """``nn.Linear`` whose weight runs as CSR at inference (see the module docstring)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        matrix = self._csr(self.weight)
        if matrix is None:
            return F.linear(input, self.weight, self.bias)
        return csr_linear(input, matrix, self.bias, self.sparse_input)


CsrLayer = CsrConv1d | CsrConv2d | CsrLinear


class ColumnPrunedConv(nn.Module):
    """A convolution without its all-zero filter-shape columns: the (input channel, kernel tap)
    pairs whose weight is zero in every filter (SSL's shape-wise sparsity). It runs as im2col
    and a dense product with the kept columns only, so its weight is ``(C_out, kept)``.

    Args:
        conv: a ``groups=1`` ``nn.Conv1d`` / ``nn.Conv2d``; its settings are copied and its
            bias parameter is shared.
        keep: ``(C_in * prod(kernel),)`` booleans, the columns to keep.
    """

    def __init__(self, conv: nn.Conv1d | nn.Conv2d, keep: torch.Tensor) -> None:
        super().__init__()
        if conv.groups != 1:
            raise ValueError(f"ColumnPrunedConv needs groups=1, got groups={conv.groups}")
        for key in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "padding_mode"):
            setattr(self, key, getattr(conv, key))
        self._reversed_padding_repeated_twice = conv._reversed_padding_repeated_twice
        rows = conv.weight.detach().reshape(conv.out_channels, -1)
        self.weight = nn.Parameter(rows[:, keep].clone())
        self.bias = conv.bias
        self.columns: torch.Tensor
        self.register_buffer("columns", keep.nonzero().flatten())

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return lowered_forward(self, input, lambda cols: self.weight @ cols[self.columns], self.bias)  # type: ignore[arg-type]

    def extra_repr(self) -> str:
        kept = len(self.columns)
        return f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, columns kept={kept}"
