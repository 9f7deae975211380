"""Band-limited convolutions (cross-correlations, like ``F.conv1d`` / ``F.conv2d``).

The input and filter spectra are restricted to a low-frequency band in the forward pass,
and the gradient spectrum to the same band in the backward pass, so the backward is the
exact adjoint of the band-limited forward. A layer saves for backward the smallest thing it
can restart from (its input, its input band or its low-passed input) and the weight; the
filter band is recomputed from the weight, or kept between calls by a :class:`FilterCache`.

This module validates a call, lifts 1D and unbatched calls to 4D and hands them to a basis:
the FFT's (:mod:`.fft_conv`, the paper's, with its spectral and direct paths) or the DCT-II's
(:mod:`.dct_conv`). A band-limited output is registered as a spectral checkpoint when a
:mod:`bandlimit.recompute` tape records.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..checks import check_choice, check_rate
from .arguments import check_conv_inputs
from .basis import BASES
from .cache import FilterCache
from .execute import run_conv
from .export import compiled_conv
from .plan import forced_path
from .shape import ConvShape

__all__ = ["BASES", "FilterCache", "conv1d", "conv2d", "forced_path"]


def _autocast(t: torch.Tensor) -> torch.Tensor:
    """``t`` in the active autocast dtype of its device if it is float32 (float64 stays, as in autocast)."""
    return t.to(torch.get_autocast_dtype(t.device.type)) if t.dtype == torch.float32 else t


def _conv(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: int | Sequence[int],
    padding: str | int | Sequence[int],
    dilation: int | Sequence[int],
    groups: int,
    rate: float,
    ndim: int,
    filter_cache: FilterCache | None,
    basis: str,
) -> torch.Tensor:
    """Validate the call and run it: eagerly (:func:`.execute.run_conv`), or as one custom op
    when torch.compile or torch.export traces it."""
    rate = check_rate(rate)
    basis = check_choice(basis, "basis", tuple(BASES))
    autocast = None
    if isinstance(input, torch.Tensor) and torch.is_autocast_enabled(input.device.type):
        # Under autocast a convolution runs in the autocast dtype, as F.conv*d does; anything
        # that is not a tensor is left for check_conv_inputs to refuse. A float32 weight is
        # cast by the layer, which saves the caller's tensor for backward rather than the cast.
        autocast = torch.get_autocast_dtype(input.device.type)
        input = _autocast(input)
        bias = _autocast(bias) if isinstance(bias, torch.Tensor) else bias
    check_conv_inputs(input, weight, bias, groups, ndim, autocast)
    shape = ConvShape.of_call(input, weight, stride, padding, dilation, groups)
    if torch.compiler.is_compiling():  # torch.compile and torch.export see one opaque op (:mod:`.export`)
        return compiled_conv(input, weight.to(input.dtype), bias, shape, rate, basis)
    return run_conv(input, weight, bias, shape, rate, basis, filter_cache)


def conv2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: str | int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    *,
    rate: float = 0.0,
    filter_cache: FilterCache | None = None,
    basis: str = "fft",
) -> torch.Tensor:
    """Band-limited 2D cross-correlation with the signature of ``torch.nn.functional.conv2d``.

    Args:
        input: ``(B, Cin, H, W)`` or unbatched ``(Cin, H, W)``.
        weight: ``(Cout, Cin / groups, kh, kw)``.
        bias: ``(Cout,)`` or None.
        stride, padding, dilation, groups: as in ``F.conv2d`` (padding may be 'same' or 'valid').
        rate: fraction of the rfft coefficients of the layer's FFT grid to discard, in
            ``[0, 1)``. At 0 the result equals ``F.conv2d`` up to floating-point rounding.
        filter_cache: keeps the filter band between calls (see :class:`FilterCache`); for
            inference, where the weight does not change from call to call.
        basis: ``"fft"`` (the paper's) or ``"dct"``: band-limit the input in the DCT-II basis
            (:mod:`.dct`); ``rate`` is then the fraction of the input's DCT coefficients
            discarded, and ``filter_cache`` is not used (the filter is not transformed).

    Returns:
        ``(B, Cout, Ho, Wo)`` (or ``(Cout, Ho, Wo)``), in the input dtype, channels_last if the
        input or the weight is. float16/bfloat16 inputs (and calls under autocast) compute in
        their own dtype where the device multiplies it natively, else in float32 (:func:`low_precision`).
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, rate, 2, filter_cache, basis)


def conv1d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: str | int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    *,
    rate: float = 0.0,
    filter_cache: FilterCache | None = None,
    basis: str = "fft",
) -> torch.Tensor:
    """Band-limited 1D cross-correlation with the signature of ``torch.nn.functional.conv1d``.

    Args:
        input: ``(B, Cin, L)`` or unbatched ``(Cin, L)``.
        weight: ``(Cout, Cin / groups, k)``.
        bias: ``(Cout,)`` or None.
        rate: fraction of the rfft coefficients (columns ``0..N//2``) to discard, in ``[0, 1)``.
        filter_cache, basis: as in :func:`conv2d`.

    Returns:
        ``(B, Cout, Lo)`` (or ``(Cout, Lo)``), in the input dtype.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, rate, 1, filter_cache, basis)
