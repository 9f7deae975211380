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

import functools
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

import torch

from ..checks import check_choice, check_rate
from ..recompute import current_tape
from .arguments import check_conv_inputs
from .basis import BASES
from .cache import FilterCache
from .contraction import filter_band_conj
from .plan import forced_path, plan_conv
from .shape import ConvShape
from .spectral import complex_dtype

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
    """Validate, lift 1D and unbatched calls to the 4D kernel, choose the path, undo the lift."""
    rate = check_rate(rate)
    basis = check_choice(basis, "basis", tuple(BASES))
    param = weight  # the caller's tensor, before any cast: what a filter cache is keyed on
    if isinstance(input, torch.Tensor) and torch.is_autocast_enabled(input.device.type):
        # Under autocast a convolution runs in the autocast dtype, as F.conv*d does; anything
        # that is not a tensor is left for check_conv_inputs to refuse.
        input = _autocast(input)
        weight = _autocast(weight) if isinstance(weight, torch.Tensor) else weight
        bias = _autocast(bias) if isinstance(bias, torch.Tensor) else bias
    check_conv_inputs(input, weight, bias, groups, ndim)
    unbatched = input.dim() == ndim + 1
    shape = ConvShape.of(
        weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]), tuple(input.shape[-ndim:]),
        stride=stride, padding=padding, dilation=dilation, groups=groups, batch=1 if unbatched else input.shape[0],
    )  # fmt: skip
    training = torch.is_grad_enabled() and (input.requires_grad or weight.requires_grad)
    plan = plan_conv(shape, rate, basis, training=training, cached_filter=filter_cache is not None, dtype=input.dtype)

    x = input.unsqueeze(0) if unbatched else input
    w = weight
    if ndim == 1:  # a 1D layer is a 2D layer on one row
        x, w = x.unsqueeze(-2), w.unsqueeze(-2)
    dtype = x.dtype
    if dtype != plan.compute_dtype:  # FFTs of half types are not supported everywhere: compute in float32
        x, w = x.to(plan.compute_dtype), w.to(plan.compute_dtype)
        bias = bias.to(plan.compute_dtype) if bias is not None else None

    geo = plan.geometry
    filter_conj = None
    if plan.path == "spectral" and filter_cache is not None:
        key = (plan.band, geo.dilation, w.dtype, tuple(w.shape))
        filter_conj = filter_cache.get(
            param, key, lambda: filter_band_conj(w, geo.band, geo.dilation, complex_dtype(w.dtype))
        )
    function: Any = plan.function
    tape = current_tape()
    if tape is not None and geo.saved == "input":
        tape.keep(x)  # saved as it is by the layer: other ops that save it share it, nothing replays it
    with torch.autocast(x.device.type, enabled=False), tape.pause() if tape else nullcontext():
        # torch leaves Function.apply unannotated; it returns forward's tensor.
        y: torch.Tensor = function.apply(x, w, bias, geo, filter_conj)
        node: Any = y.grad_fn  # the Function's context
        if tape is not None and node is not None:
            # A spectral checkpoint: the output is recomputable from what the layer saved and the weight.
            recipe = functools.partial(function.recompute, node.saved_tensors[0], w, bias, geo)
            node.release = functools.partial(tape.release, tape.anchor(y, recipe))

    y = y.to(dtype)
    if ndim == 1:
        y = y.squeeze(-2)
    return y.squeeze(0) if unbatched else y


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
        ``(B, Cout, Ho, Wo)`` (or ``(Cout, Ho, Wo)``), in the input dtype. float16/bfloat16
        inputs are computed in float32.
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
