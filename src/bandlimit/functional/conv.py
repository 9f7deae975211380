"""Band-limited convolutions (cross-correlations, like ``F.conv1d`` / ``F.conv2d``).

The input and filter spectra are restricted to a low-frequency band in the forward pass,
and the gradient spectrum to the same band in the backward pass, so the backward is the
exact adjoint of the band-limited forward. Only the compressed input spectrum (or the
input, when that is smaller) and the weight are saved for backward; the filter band is
recomputed from the weight.

A 1x1 kernel's spectrum is the same at every frequency, so its band-limited layer is a
low-pass of the input followed by the pointwise channel product: it runs as that, with no
filter spectrum (:class:`_BandLimitedPointwise`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ..checks import check_rate
from ..recompute import current_tape
from .arguments import as_tuple, check_conv_inputs, check_kernel_fits, resolve_padding
from .band import Band, band_for_size
from .spectral import band_irfft2, band_rfft2, chunks, filter_dft_matrix, kernel_taps, tap_adjoint_matrix

__all__ = ["conv1d", "conv2d"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


@dataclass(frozen=True)
class _Geometry:
    """Everything but tensors that the 2D kernel needs, normalised."""

    band: Band
    offset: tuple[int, int]  # (top, left) padding: where the input sits on the grid (the rest is implicit)
    stride: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    input_hw: tuple[int, int]
    out_hw: tuple[int, int]  # output size (stride applied)
    # Save the input for backward instead of its band, and transform it again there: the band
    # is larger at low rates and on small grids (zero padding, rfft's extra column), while the
    # input is often saved already by the activation before the layer, so it costs nothing.
    saves_input: bool


# The channel contraction is a batched matrix product over frequencies (and groups):
# X (F, B, Cin), W (F, Cout, Cin_g), G (F, B, Cout).
def _grouped(t: torch.Tensor, groups: int) -> torch.Tensor:
    """(F, N, C) -> (F, groups, N, C / groups)."""
    return torch.unflatten(t, 2, (groups, -1)).transpose(1, 2) if groups > 1 else t.unsqueeze(1)


def _ungrouped(t: torch.Tensor) -> torch.Tensor:
    """(F, groups, N, C_g) -> (F, N, groups * C_g)."""
    return t.transpose(1, 2).flatten(2)


def _output_band(x_band: torch.Tensor, w_conj: torch.Tensor, groups: int) -> torch.Tensor:
    """``Y[f, b, o] = sum_i X[f, b, i] * Wc[f, o, i]`` with ``Wc = conj(W)`` -> (F, B, Cout)."""
    w = torch.unflatten(w_conj, 1, (groups, -1))  # (F, g, Cout_g, Cin_g)
    return _ungrouped(_grouped(x_band, groups) @ w.transpose(-1, -2))


def _input_grad_band(g_band: torch.Tensor, w_band: torch.Tensor, groups: int) -> torch.Tensor:
    """``Xbar[f, b, i] = sum_o G[f, b, o] * W[f, o, i]`` -> (F, B, Cin)."""
    w = torch.unflatten(w_band, 1, (groups, -1))
    return _ungrouped(_grouped(g_band, groups) @ w)


def _weight_grad_band(x_band: torch.Tensor, g_band: torch.Tensor, groups: int) -> torch.Tensor:
    """``Wbar[f, o, i] = sum_b conj(G[f, b, o]) * X[f, b, i]`` -> (F, Cout, Cin_g)."""
    wbar = _grouped(g_band, groups).conj().transpose(-1, -2) @ _grouped(x_band, groups)  # (F, g, Cout_g, Cin_g)
    return wbar.flatten(1, 2)


def _frequency_chunks(n_freq: int, weight: torch.Tensor, dtype: torch.dtype) -> list[slice]:
    """Frequencies in chunks whose filter spectrum (f x Cout x Cin_g) is about ``CHUNK_BYTES``."""
    return chunks(n_freq, weight.shape[0] * weight.shape[1] * torch.empty((), dtype=dtype).element_size())


def _synthesize(x_band: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: _Geometry) -> torch.Tensor:
    """The layer's output from its input band: ``x_band`` ``(F, B, Cin)`` -> ``(B, Cout, Ho, Wo)``.

    This is also how a spectral checkpoint recomputes the output in backward. The result is a
    tensor of its own, never a view, so that in-place ops on the layer's output work.
    """
    band = geo.band
    dft_conj = filter_dft_matrix(band, weight.shape[-2:], geo.dilation, weight).conj().resolve_conj()
    taps = kernel_taps(weight, x_band.dtype)  # (kh*kw, Cout*Cin_g)
    y_band = x_band.new_empty(x_band.shape[0], x_band.shape[1], weight.shape[0])  # (F, B, Cout)
    for f in _frequency_chunks(x_band.shape[0], weight, x_band.dtype):
        w_conj = torch.unflatten(dft_conj[f] @ taps, 1, weight.shape[:2])  # conj(W): (f, Cout, Cin_g)
        y_band[f] = _output_band(x_band[f], w_conj, geo.groups)
    y = band_irfft2(y_band, band, *geo.out_hw, step=geo.stride)  # only the strided samples
    if bias is not None:
        y.add_(bias.view(-1, 1, 1))
    return y


def _input_band(saved: torch.Tensor, geo: _Geometry) -> torch.Tensor:
    """The layer's input band ``(F, B, Cin)`` from what it saved (the input, or the band itself)."""
    return band_rfft2(saved, geo.band, *geo.offset) if geo.saves_input else saved


def _low_pass(x: torch.Tensor, geo: _Geometry) -> torch.Tensor:
    """``x`` ``(B, C, H, W)`` restricted to the band on the layer's grid, sampled at the output
    positions: ``(B, C, Ho, Wo)``."""
    return band_irfft2(band_rfft2(x, geo.band, *geo.offset), geo.band, *geo.out_hw, step=geo.stride)


def _low_passed(saved: torch.Tensor, geo: _Geometry) -> torch.Tensor:
    """A 1x1 layer's low-passed input from what it saved (the input, or the low-passed input itself)."""
    return _low_pass(saved, geo) if geo.saves_input else saved


def _low_pass_adjoint(g: torch.Tensor, geo: _Geometry) -> torch.Tensor:
    """The adjoint of :func:`_low_pass`: ``(B, C, Ho, Wo)`` -> ``(B, C, H, W)``."""
    return band_irfft2(band_rfft2(g, geo.band, step=geo.stride), geo.band, *geo.input_hw, *geo.offset)


class _Context(Protocol):
    """What the autograd context of the layers' Functions holds (torch types ``ctx`` as Any)."""

    saved_tensors: tuple[torch.Tensor, ...]
    needs_input_grad: tuple[bool, ...]
    geo: _Geometry
    has_bias: bool
    release: Callable[[], None] | None  # set when a spectral checkpoint recomputes from this layer

    def save_for_backward(self, *tensors: torch.Tensor | None) -> None: ...


def _release(ctx: _Context) -> None:
    """A spectral checkpoint's recipe is dropped in the layer's backward: every consumer of the
    layer's output has run its backward by then."""
    release = getattr(ctx, "release", None)
    if release is not None:
        release()


class _BandLimitedConv2d(torch.autograd.Function):
    """Band-limited 2D cross-correlation on 4D tensors with a hand-written backward."""

    @staticmethod
    def forward(
        ctx: _Context, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: _Geometry
    ) -> torch.Tensor:
        """``x`` ``(B, Cin, H, W)``, ``weight`` ``(Cout, Cin_g, kh, kw)`` -> ``(B, Cout, Ho, Wo)``."""
        x_band = band_rfft2(x, geo.band, *geo.offset)  # (F, B, Cin); padding folded into the transform
        y = _synthesize(x_band, weight, bias, geo)
        ctx.save_for_backward(x if geo.saves_input else x_band, weight)
        ctx.geo = geo
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    def recompute(saved: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: _Geometry) -> torch.Tensor:
        """The output again from what forward saved (a spectral checkpoint's recipe)."""
        return _synthesize(_input_band(saved, geo), weight, bias, geo)

    @staticmethod
    @once_differentiable  # the backward is not itself differentiable (no double backward)
    def backward(
        ctx: _Context, grad_y: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None]:
        """Gradients of ``x``, ``weight`` and ``bias`` from ``grad_y`` ``(B, Cout, Ho, Wo)``."""
        saved, weight = ctx.saved_tensors
        _release(ctx)
        geo = ctx.geo
        band = geo.band
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_x = grad_w = grad_b = None
        if need_x or need_w:
            # The strided samples' spectrum on the stride-1 output grid (zeros between them).
            g_band = band_rfft2(grad_y, band, step=geo.stride)  # (F, B, Cout)
            x_band = _input_band(saved, geo) if need_w else None  # (F, B, Cin)
            dft = filter_dft_matrix(band, weight.shape[-2:], geo.dilation, weight)
            taps = kernel_taps(weight, g_band.dtype)
            n_freq, batch = g_band.shape[:2]
            x_bar = g_band.new_empty(n_freq, batch, weight.shape[1] * geo.groups) if need_x else None
            taps_bar = torch.zeros(taps.shape, dtype=weight.dtype, device=weight.device) if need_w else None
            adjoint = tap_adjoint_matrix(dft, band) if need_w else None  # (kh*kw, F)
            for f in _frequency_chunks(n_freq, weight, g_band.dtype):
                if x_bar is not None:
                    w_band = torch.unflatten(dft[f] @ taps, 1, weight.shape[:2])  # (f, Cout, Cin_g)
                    x_bar[f] = _input_grad_band(g_band[f], w_band, geo.groups)
                if x_band is not None and taps_bar is not None and adjoint is not None:
                    w_bar = _weight_grad_band(x_band[f], g_band[f], geo.groups)  # (f, Cout, Cin_g)
                    taps_bar += (adjoint[:, f] @ w_bar.flatten(1)).real
            del g_band, x_band  # before the inverse transform allocates the input gradient
            if x_bar is not None:
                grad_x = band_irfft2(x_bar, band, *geo.input_hw, *geo.offset)
            if taps_bar is not None:
                grad_w = taps_bar.t().reshape(weight.shape)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_y.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None


class _BandLimitedPointwise(torch.autograd.Function):
    """Band-limited 1x1 convolution: :func:`_low_pass`, then ``F.conv2d`` with the 1x1 kernel.

    Equal to :class:`_BandLimitedConv2d` on a 1x1 kernel (same grid and band), without building
    a ``(F, Cout, Cin)`` filter spectrum or contracting per frequency. It saves the low-passed,
    sampled input ``(B, Cin, Ho, Wo)``, or the input itself where the band outweighs it (as
    :class:`_BandLimitedConv2d` does), and the weight.
    """

    @staticmethod
    def forward(
        ctx: _Context, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: _Geometry
    ) -> torch.Tensor:
        """``x`` ``(B, Cin, H, W)``, ``weight`` ``(Cout, Cin_g, 1, 1)`` -> ``(B, Cout, Ho, Wo)``."""
        low = _low_pass(x, geo)
        ctx.save_for_backward(x if geo.saves_input else low, weight)
        ctx.geo = geo
        ctx.has_bias = bias is not None
        return F.conv2d(low, weight, bias, groups=geo.groups)

    @staticmethod
    def recompute(saved: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: _Geometry) -> torch.Tensor:
        """The output again from what forward saved (a spectral checkpoint's recipe)."""
        return F.conv2d(_low_passed(saved, geo), weight, bias, groups=geo.groups)

    @staticmethod
    @once_differentiable
    def backward(
        ctx: _Context, grad_y: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None]:
        saved, weight = ctx.saved_tensors
        _release(ctx)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        geo = ctx.geo
        # Only the weight gradient reads the low-passed input; the input gradient needs its shape.
        low = (
            _low_passed(saved, geo)
            if need_w
            else grad_y.new_empty(grad_y.shape[0], weight.shape[1] * geo.groups, *geo.out_hw)
        )
        grad_low, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad_y,
            low,
            weight,
            [weight.shape[0]] if ctx.has_bias else None,
            [1, 1],  # stride: the low-pass already sampled the output positions
            [0, 0],
            [1, 1],
            False,
            [0, 0],
            geo.groups,
            [need_x, need_w, need_b and ctx.has_bias],
        )
        grad_x = _low_pass_adjoint(grad_low, geo) if need_x else None
        return grad_x, grad_w, grad_b, None


def _autocast(t: torch.Tensor) -> torch.Tensor:
    """``t`` in the active autocast dtype of its device if it is float32 (float64 stays, as in autocast)."""
    return t.to(torch.get_autocast_dtype(t.device.type)) if t.dtype == torch.float32 else t


def _pair(values: Sequence[int], fill: int) -> tuple[int, int]:
    """Per-dimension values as 2D ones: a 1D layer is a 2D layer on one row, ``fill`` on the row axis."""
    return (fill, values[0]) if len(values) == 1 else (values[0], values[1])


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
    if isinstance(input, torch.Tensor) and torch.is_autocast_enabled(input.device.type):
        # Under autocast a convolution runs in the autocast dtype, as F.conv*d does; anything
        # that is not a tensor is left for check_conv_inputs to refuse.
        input = _autocast(input)
        weight = _autocast(weight) if isinstance(weight, torch.Tensor) else weight
        bias = _autocast(bias) if isinstance(bias, torch.Tensor) else bias
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

    dtype = x.dtype
    if dtype in _LOW_PRECISION:  # FFTs of half types are not supported everywhere: compute in float32
        x, w = x.float(), w.float()
        bias = bias.float() if bias is not None else None

    out = [(n - d * (k - 1) - 1) // s + 1 for n, k, d, s in zip(padded, kernel, dilation_t, stride_t)]
    band = band_for_size(padded, rate)
    pointwise = all(k == 1 for k in kernel)
    geo = _Geometry(
        band=band,
        offset=_pair([before for before, _ in pads], 0),
        stride=_pair(stride_t, 1),
        dilation=_pair(dilation_t, 1),
        groups=int(groups),
        input_hw=_pair(spatial, 1),
        out_hw=_pair(out, 1),
        # A float32 copy of a half-precision input would be new memory: keep the band then.
        saves_input=dtype not in _LOW_PRECISION and band.outweighs(_pair(spatial, 1)),
    )
    tape = current_tape()
    if tape is not None and geo.saves_input:
        tape.keep(x)  # saved as it is by the layer: other ops that save it share it, nothing replays it
    with torch.autocast(x.device.type, enabled=False), tape.pause() if tape else nullcontext():
        # torch leaves Function.apply unannotated; it returns forward's tensor.
        function = _BandLimitedPointwise if pointwise else _BandLimitedConv2d
        y: torch.Tensor = function.apply(x, w, bias, geo)  # type: ignore[no-untyped-call]
        node: Any = y.grad_fn  # the Function's context
        if tape is not None and node is not None:
            # A spectral checkpoint: the output is recomputable from what the layer saved and the weight.
            anchor = tape.anchor(y, functools.partial(function.recompute, node.saved_tensors[0], w, bias, geo))
            node.release = functools.partial(tape.release, anchor)

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
