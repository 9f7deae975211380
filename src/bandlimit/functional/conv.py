"""Band-limited convolutions (cross-correlations, like ``F.conv1d`` / ``F.conv2d``).

The input and filter spectra are restricted to a low-frequency band in the forward pass,
and the gradient spectrum to the same band in the backward pass, so the backward is the
exact adjoint of the band-limited forward. Only the compressed input spectrum and the
weight are saved for backward; the filter band is recomputed from the weight.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .arguments import as_tuple, check_conv_inputs, check_kernel_fits, check_rate, resolve_padding
from .band import Band, band_for_size
from .spectral import band_irfft2, band_rfft2, filter_spectrum, filter_spectrum_adjoint

__all__ = ["conv1d", "conv2d"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class _Geometry:
    """Everything but tensors that the 2D kernel needs, normalised."""

    band: Band
    padding: tuple[int, int, int, int]  # left, right, top, bottom (F.pad order)
    stride: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    input_hw: tuple[int, int]
    full_out_hw: tuple[int, int]  # output size at stride 1


# The contraction over channels is a batched matrix product over (group, row, column).
def _output_band(x_band: torch.Tensor, w_band: torch.Tensor, groups: int) -> torch.Tensor:
    """``Y[b, o] = sum_i X[b, i] * conj(W[o, i])``: (B, Cin, r, c), (Cout, Cin_g, r, c) -> (B, Cout, r, c)."""
    x, w = x_band.unflatten(1, (groups, -1)), w_band.unflatten(0, (groups, -1))
    return torch.einsum("bgirc,goirc->bgorc", x, w.conj()).flatten(1, 2)


def _input_grad_band(g_band: torch.Tensor, w_band: torch.Tensor, groups: int) -> torch.Tensor:
    """``Xbar[b, i] = sum_o G[b, o] * W[o, i]``: (B, Cout, r, c), (Cout, Cin_g, r, c) -> (B, Cin, r, c)."""
    g, w = g_band.unflatten(1, (groups, -1)), w_band.unflatten(0, (groups, -1))
    return torch.einsum("bgorc,goirc->bgirc", g, w).flatten(1, 2)


def _weight_grad_band(x_band: torch.Tensor, g_band: torch.Tensor, groups: int) -> torch.Tensor:
    """``Wbar[o, i] = sum_b X[b, i] * conj(G[b, o])``: (B, Cin, r, c), (B, Cout, r, c) -> (Cout, Cin_g, r, c)."""
    x, g = x_band.unflatten(1, (groups, -1)), g_band.unflatten(1, (groups, -1))
    return torch.einsum("bgirc,bgorc->goirc", x, g.conj()).flatten(0, 1)


class _BandLimitedConv2d(torch.autograd.Function):
    """Band-limited 2D cross-correlation on 4D tensors with a hand-written backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: _Geometry):
        band = geo.band
        if any(geo.padding):
            x = F.pad(x, geo.padding)
        x_band = band_rfft2(x, band)  # (B, Cin, rows, cols)
        w_band = filter_spectrum(weight, band, geo.dilation)  # (Cout, Cin_g, rows, cols)
        y_band = _output_band(x_band, w_band, geo.groups)
        y = band_irfft2(y_band, band, *geo.full_out_hw)
        if geo.stride != (1, 1):
            y = y[..., :: geo.stride[0], :: geo.stride[1]]
        if bias is not None:
            y = y + bias.view(-1, 1, 1)
        ctx.save_for_backward(x_band, weight)
        ctx.geo = geo
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    def backward(ctx, grad_y: torch.Tensor):
        x_band, weight = ctx.saved_tensors
        geo: _Geometry = ctx.geo
        band = geo.band
        grad_x = grad_w = grad_b = None
        grad_full = grad_y
        if geo.stride != (1, 1):
            grad_full = grad_y.new_zeros(*grad_y.shape[:2], *geo.full_out_hw)
            grad_full[..., :: geo.stride[0], :: geo.stride[1]] = grad_y
        g_band = band_rfft2(grad_full, band)  # (B, Cout, rows, cols)
        if ctx.needs_input_grad[0]:
            w_band = filter_spectrum(weight, band, geo.dilation)
            x_bar = _input_grad_band(g_band, w_band, geo.groups)
            left, _, top, _ = geo.padding
            h, w = geo.input_hw
            grad_x = band_irfft2(x_bar, band, top + h, left + w)[..., top:, left:]
        if ctx.needs_input_grad[1]:
            w_bar = _weight_grad_band(x_band, g_band, geo.groups)
            grad_w = filter_spectrum_adjoint(w_bar, band, weight.shape[-2:], geo.dilation)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_y.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None


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
) -> torch.Tensor:
    """Validate, lift 1D and unbatched calls to the 4D kernel, and undo the lift."""
    rate = check_rate(rate)
    check_conv_inputs(input, weight, bias, groups, ndim)
    stride_t = as_tuple("stride", stride, ndim, minimum=1)
    dilation_t = as_tuple("dilation", dilation, ndim, minimum=1)
    kernel = tuple(weight.shape[2:])
    pads = resolve_padding(padding, kernel, dilation_t, stride_t)
    spatial = tuple(input.shape[-ndim:])
    padded = tuple(n + before + after for n, (before, after) in zip(spatial, pads))
    check_kernel_fits(padded, kernel, dilation_t)

    unbatched = input.dim() == ndim + 1
    x = input.unsqueeze(0) if unbatched else input
    w = weight
    if ndim == 1:  # a 1D layer is a 2D layer on one row
        x, w = x.unsqueeze(-2), w.unsqueeze(-2)
        spatial, padded, kernel = (1, *spatial), (1, *padded), (1, *kernel)
        stride_t, dilation_t, pads = (1, *stride_t), (1, *dilation_t), ((0, 0), *pads)

    dtype = x.dtype
    if dtype in _LOW_PRECISION:  # FFTs of half types are not supported everywhere: compute in float32
        x, w = x.float(), w.float()
        bias = bias.float() if bias is not None else None

    band = band_for_size(padded[1:] if ndim == 1 else padded, rate)
    full_out = tuple(n - d * (k - 1) for n, k, d in zip(padded, kernel, dilation_t))
    geo = _Geometry(
        band=band,
        padding=(pads[1][0], pads[1][1], pads[0][0], pads[0][1]),
        stride=stride_t,
        dilation=dilation_t,
        groups=int(groups),
        input_hw=spatial,
        full_out_hw=full_out,
    )
    y = _BandLimitedConv2d.apply(x, w, bias, geo)

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
) -> torch.Tensor:
    """Band-limited 2D cross-correlation with the signature of ``torch.nn.functional.conv2d``.

    Args:
        input: ``(B, Cin, H, W)`` or unbatched ``(Cin, H, W)``.
        weight: ``(Cout, Cin / groups, kh, kw)``.
        bias: ``(Cout,)`` or None.
        stride, padding, dilation, groups: as in ``F.conv2d`` (padding may be 'same' or 'valid').
        rate: fraction of the rfft coefficients of the layer's FFT grid to discard, in
            ``[0, 1)``. At 0 the result equals ``F.conv2d`` up to floating-point rounding.

    Returns:
        ``(B, Cout, Ho, Wo)`` (or ``(Cout, Ho, Wo)``), in the input dtype. float16/bfloat16
        inputs are computed in float32.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, rate, ndim=2)


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
) -> torch.Tensor:
    """Band-limited 1D cross-correlation with the signature of ``torch.nn.functional.conv1d``.

    Args:
        input: ``(B, Cin, L)`` or unbatched ``(Cin, L)``.
        weight: ``(Cout, Cin / groups, k)``.
        bias: ``(Cout,)`` or None.
        rate: fraction of the rfft coefficients (columns ``0..N//2``) to discard, in ``[0, 1)``.

    Returns:
        ``(B, Cout, Lo)`` (or ``(Cout, Lo)``), in the input dtype.
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, rate, ndim=1)
