"""The band-limited convolution in the FFT basis (the paper's): its two exact paths.

Restricting the input's spectrum to the band restricts the product's, so the same result
has two ways (:mod:`.cost`): the spectral path contracts channels per frequency
(:class:`SpectralConv2d`); the direct path low-passes the input and runs the ordinary direct
convolution (:class:`DirectConv2d`). The call's :class:`~.plan.ConvPlan` says which (the one
with the smaller estimated time, :func:`.cost.preferred_path`). Both work on 4D tensors;
:func:`.conv.conv2d` lifts 1D and unbatched calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from .autograd import Context, saved_for_backward
from .band import Band
from .contraction import (
    adjoint_weights,
    empty_band,
    filter_band_conj,
    filter_band_gradients,
    filter_dft_matrix,
    frequency_chunks,
    output_band,
)
from .cost import Saved
from .low_pass import band_low_pass, band_low_pass_adjoint
from .spectral import band_irfft2, band_rfft2
from .taps import tap_gradients, tap_output_band

__all__ = ["DirectConv2d", "Geometry", "SpectralConv2d"]


@dataclass(frozen=True)
class Geometry:
    """Everything but tensors that the 2D kernel needs, normalised."""

    band: Band
    offset: tuple[int, int]  # (top, left) padding: where the input sits on the grid (the rest is implicit)
    stride: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    input_hw: tuple[int, int]
    out_hw: tuple[int, int]  # output size (stride applied)
    # The direct path's low-passed input: its samples on the grid, from the origin, step apart.
    low_hw: tuple[int, int]
    low_step: tuple[int, int]
    conv_stride: tuple[int, int]  # the direct product's stride on those samples
    saved: Saved  # what the layer keeps for backward (see cost.saved_kind)
    # A full band with the same padding before and after: the direct path is F.conv2d itself.
    plain: bool
    taps: bool = False  # the spectral path contracts in tap form (:mod:`.taps`, real bands)


def _synthesize(
    x_band: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    geo: Geometry,
    filter_conj: torch.Tensor | None = None,
) -> torch.Tensor:
    """The layer's output from its input band: ``x_band`` ``(F, B, Cin)`` -> ``(B, Cout, Ho, Wo)``.

    ``filter_conj`` is the whole conjugated filter band if cached; otherwise it is built in
    frequency chunks. This is also how a spectral checkpoint recomputes the output in
    backward. The result is a tensor of its own, never a view, so that in-place ops on the
    layer's output work.
    """
    if geo.taps and filter_conj is None:  # no filter band at all (:mod:`.taps`)
        dft = filter_dft_matrix(geo.band, weight.shape[-2:], geo.dilation, weight)
        y_band = tap_output_band(x_band, weight, dft)
    else:
        y_band = empty_band(x_band, weight.shape[0])  # (F, B, Cout)
        for f in frequency_chunks(x_band.shape[0], weight, x_band.dtype):
            w_conj = (
                (filter_conj[f] if filter_conj.is_complex() else filter_conj[:, f])  # (2, F, ...) parts if real
                if filter_conj is not None
                else filter_band_conj(weight, geo.band, geo.dilation, x_band.dtype, f)
            )
            y_band[f] = output_band(x_band[f], w_conj, geo.groups)
    y = band_irfft2(y_band, geo.band, *geo.out_hw, step=geo.stride)  # only the strided samples
    if bias is not None:
        y.add_(bias.view(-1, 1, 1))
    return y


def _input_band(x: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """The input's band ``(F, B, Cin)``; the padding is folded into the transform."""
    return band_rfft2(x, geo.band, *geo.offset)


def _low_pass(x_band: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """The band back on the grid at the direct path's samples: ``(B, Cin, *low_hw)``."""
    return band_irfft2(x_band, geo.band, *geo.low_hw, step=geo.low_step)


def _low_pass_input(x: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """``x`` ``(B, Cin, H, W)`` low-passed at the direct path's samples, ``(B, Cin, *low_hw)``
    (or ``x`` itself if ``geo.plain``: the direct product then pads and strides it)."""
    if geo.plain:
        return x
    return band_low_pass(x, geo.band, *geo.low_hw, *geo.offset, step=geo.low_step)


def _low_pass_adjoint(g: torch.Tensor, geo: Geometry) -> torch.Tensor:
    """The adjoint of :func:`_low_pass_input`: ``(B, C, *low_hw)`` -> ``(B, C, H, W)``."""
    if geo.plain:
        return g
    return band_low_pass_adjoint(g, geo.band, *geo.input_hw, *geo.offset, step=geo.low_step)


def _restart(saved: torch.Tensor, geo: Geometry, want: str) -> torch.Tensor:
    """The input band (``want="band"``) or low-passed input (``"low"``) from what the layer saved."""
    if geo.saved == want:
        return saved
    if want == "low":
        return _low_pass_input(saved, geo) if geo.saved == "input" else _low_pass(saved, geo)
    return _input_band(saved, geo)  # the spectral path saves its input or its band


def _direct_args(geo: Geometry) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(stride, padding)`` of the direct product on :func:`_low_pass_input`'s result."""
    return (geo.stride, geo.offset) if geo.plain else (geo.conv_stride, (0, 0))


def _direct(low: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: Geometry) -> torch.Tensor:
    """The direct product on the low-passed input (its zero padding is already on the grid)."""
    stride, padding = _direct_args(geo)
    return F.conv2d(low, weight, bias, stride, padding, geo.dilation, geo.groups)


class SpectralConv2d(torch.autograd.Function):
    """Band-limited 2D cross-correlation contracted per frequency, with a hand-written backward."""

    @staticmethod
    def forward(
        ctx: Context,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        geo: Geometry,
        filter_conj: torch.Tensor | None,
    ) -> torch.Tensor:
        """``x`` ``(B, Cin, H, W)``, ``weight`` ``(Cout, Cin_g, kh, kw)`` -> ``(B, Cout, Ho, Wo)``."""
        x_band = _input_band(x, geo)  # (F, B, Cin)
        y = _synthesize(x_band, weight if filter_conj is not None else weight.to(x.dtype), bias, geo, filter_conj)
        ctx.save_for_backward(x if geo.saved == "input" else x_band, weight)  # the caller's weight
        ctx.filter_conj = filter_conj  # a cached band serves the input gradient too (eval mode)
        ctx.geo = geo
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    def recompute(saved: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: Geometry) -> torch.Tensor:
        """The output again from what forward saved (a spectral checkpoint's recipe)."""
        return _synthesize(_restart(saved, geo, "band"), weight, bias, geo)

    @staticmethod
    @once_differentiable  # the backward is not itself differentiable (no double backward)
    def backward(
        ctx: Context, grad_y: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None, None]:
        """Gradients of ``x``, ``weight`` and ``bias`` from ``grad_y`` ``(B, Cout, Ho, Wo)``."""
        saved, weight, weight_dtype = saved_for_backward(ctx, grad_y.dtype)
        geo: Geometry = ctx.geo
        band = geo.band
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_x = grad_w = grad_b = None
        if need_x or need_w:
            # The strided samples' spectrum on the stride-1 output grid (zeros between them).
            g_band = band_rfft2(grad_y, band, step=geo.stride)  # (F, B, Cout)
            x_band = _restart(saved, geo, "band") if need_w else None  # (F, B, Cin)
            dft = filter_dft_matrix(band, weight.shape[-2:], geo.dilation, weight)  # complex64 for half types
            if geo.taps:  # no filter band at all (:mod:`.taps`)
                x_bar, grad_w = tap_gradients(g_band, x_band, weight, dft, adjoint_weights(band), need_x)
            else:
                x_bar, grad_w = filter_band_gradients(
                    g_band, x_band, weight, dft, band, geo.groups, ctx.filter_conj, need_x
                )
            del g_band, x_band  # before the inverse transform allocates the input gradient
            if x_bar is not None:
                grad_x = band_irfft2(x_bar, band, *geo.input_hw, *geo.offset)
            grad_w = grad_w.to(weight_dtype) if grad_w is not None else None
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_y.sum(dim=(0, 2, 3))
        return grad_x, grad_w, grad_b, None, None


class DirectConv2d(torch.autograd.Function):
    """Band-limited 2D cross-correlation as a low-pass of the input, then ``F.conv2d``.

    Equal to :class:`SpectralConv2d` (same grid and band) without a filter band or a
    per-frequency contraction. The low-passed input is computed only where the kernel reads
    it: every grid position of the padded extent, or for a 1x1 kernel the output positions.
    The low-pass is separable (:func:`.low_pass.band_low_pass`, two real matrix products per
    plane). A full band (rate 0) removes nothing: with the same padding before and after, the
    layer is then ``F.conv2d`` itself.
    """

    @staticmethod
    def forward(
        ctx: Context,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        geo: Geometry,
        filter_conj: None,
    ) -> torch.Tensor:
        """``x`` ``(B, Cin, H, W)``, ``weight`` ``(Cout, Cin_g, kh, kw)`` -> ``(B, Cout, Ho, Wo)``."""
        if geo.saved == "band":  # low-passed from the band, as a spectral checkpoint recomputes it
            x_band = _input_band(x, geo)
            low = _low_pass(x_band, geo)
            ctx.save_for_backward(x_band, weight)  # the caller's weight
        else:
            low = _low_pass_input(x, geo)
            ctx.save_for_backward(x if geo.saved == "input" else low, weight)
        ctx.geo = geo
        ctx.has_bias = bias is not None
        return _direct(low, weight.to(x.dtype), bias, geo)

    @staticmethod
    def recompute(saved: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: Geometry) -> torch.Tensor:
        """The output again from what forward saved (a spectral checkpoint's recipe)."""
        return _direct(_restart(saved, geo, "low"), weight, bias, geo)

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Context, grad_y: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None, None]:
        saved, weight, weight_dtype = saved_for_backward(ctx, grad_y.dtype)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        geo: Geometry = ctx.geo
        # Only the weight gradient reads the low-passed input; the input gradient needs its shape.
        low = (
            _restart(saved, geo, "low")
            if need_w
            else grad_y.new_empty(
                grad_y.shape[0], weight.shape[1] * geo.groups, *(geo.input_hw if geo.plain else geo.low_hw)
            )
        )
        stride, padding = _direct_args(geo)
        grad_low, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad_y,
            low,
            weight,
            [weight.shape[0]] if ctx.has_bias else None,
            list(stride),
            list(padding),
            list(geo.dilation),
            False,
            [0, 0],
            geo.groups,
            [need_x, need_w, need_b and ctx.has_bias],
        )
        grad_x = _low_pass_adjoint(grad_low, geo) if need_x else None
        return grad_x, grad_w.to(weight_dtype) if need_w else None, grad_b, None, None
