"""Band-limited convolutions (cross-correlations, like ``F.conv1d`` / ``F.conv2d``).

The input and filter spectra are restricted to a low-frequency band in the forward pass,
and the gradient spectrum to the same band in the backward pass, so the backward is the
exact adjoint of the band-limited forward. A layer saves for backward the smallest thing it
can restart from (its input, its input band or its low-passed input) and the weight; the
filter band is recomputed from the weight, or kept between calls by a :class:`FilterCache`.

Restricting the input's spectrum to the band restricts the product's, so the same result
has two ways (:mod:`.cost`): the spectral path contracts channels per frequency
(:class:`_SpectralConv2d`); the direct path low-passes the input and runs the ordinary direct
convolution (:class:`_DirectConv2d`). Each call takes the one with the smaller estimated
time for its shapes, batch and mode (:func:`.cost.preferred_path`); :func:`forced_path`
overrides that.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from ..checks import check_choice, check_rate
from ..recompute import current_tape
from .arguments import as_tuple, check_conv_inputs, check_kernel_fits, resolve_padding
from .band import Band, band_for_size
from .cache import FilterCache
from .cost import Path, Saved, low_pass_grid, preferred_path, saved_kind
from .dct import DctBand, dct_analysis, dct_low_pass, dct_synthesis, select_dct_band
from .spectral import (
    band_irfft2,
    band_low_pass,
    band_low_pass_adjoint,
    band_rfft2,
    chunks,
    complex_dtype,
    filter_dft_matrix,
    kernel_taps,
    tap_adjoint_matrix,
)

__all__ = ["BASES", "FilterCache", "conv1d", "conv2d", "forced_path"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)
_PATHS = ("auto", "spectral", "direct")
BASES = ("fft", "dct")
_forced: ContextVar[str] = ContextVar("bandlimit_forced_path", default="auto")


@contextmanager
def forced_path(path: str) -> Iterator[None]:
    """Run the band-limited convolutions inside the block on one path: ``"spectral"``,
    ``"direct"`` or ``"auto"`` (each call's cheaper one, the default). Both give the same
    result up to rounding; this is for tests and benchmarks."""
    token = _forced.set(check_choice(path, "path", _PATHS))
    try:
        yield
    finally:
        _forced.reset(token)


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
    # The direct path's low-passed input: its samples on the grid, from the origin, step apart.
    low_hw: tuple[int, int]
    low_step: tuple[int, int]
    conv_stride: tuple[int, int]  # the direct product's stride on those samples
    saved: Saved  # what the layer keeps for backward (see cost.saved_kind)
    # A full band with the same padding before and after: the direct path is F.conv2d itself.
    plain: bool


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


def _filter_band_conj(weight: torch.Tensor, geo: _Geometry, dtype: torch.dtype, f: slice = slice(None)) -> torch.Tensor:
    """``conj`` of the filter's band at frequencies ``f``: ``(f, Cout, Cin_g)``."""
    dft_conj = filter_dft_matrix(geo.band, weight.shape[-2:], geo.dilation, weight)[f].conj().resolve_conj()
    return torch.unflatten(dft_conj @ kernel_taps(weight, dtype), 1, weight.shape[:2])


def _synthesize(
    x_band: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    geo: _Geometry,
    filter_conj: torch.Tensor | None = None,
) -> torch.Tensor:
    """The layer's output from its input band: ``x_band`` ``(F, B, Cin)`` -> ``(B, Cout, Ho, Wo)``.

    ``filter_conj`` is the whole conjugated filter band if cached; otherwise it is built in
    frequency chunks. This is also how a spectral checkpoint recomputes the output in
    backward. The result is a tensor of its own, never a view, so that in-place ops on the
    layer's output work.
    """
    y_band = x_band.new_empty(x_band.shape[0], x_band.shape[1], weight.shape[0])  # (F, B, Cout)
    for f in _frequency_chunks(x_band.shape[0], weight, x_band.dtype):
        w_conj = filter_conj[f] if filter_conj is not None else _filter_band_conj(weight, geo, x_band.dtype, f)
        y_band[f] = _output_band(x_band[f], w_conj, geo.groups)
    y = band_irfft2(y_band, geo.band, *geo.out_hw, step=geo.stride)  # only the strided samples
    if bias is not None:
        y.add_(bias.view(-1, 1, 1))
    return y


def _input_band(x: torch.Tensor, geo: _Geometry) -> torch.Tensor:
    """The input's band ``(F, B, Cin)``; the padding is folded into the transform."""
    return band_rfft2(x, geo.band, *geo.offset)


def _low_pass(x_band: torch.Tensor, geo: _Geometry) -> torch.Tensor:
    """The band back on the grid at the direct path's samples: ``(B, Cin, *low_hw)``."""
    return band_irfft2(x_band, geo.band, *geo.low_hw, step=geo.low_step)


def _low_pass_input(x: torch.Tensor, geo: _Geometry) -> torch.Tensor:
    """``x`` ``(B, Cin, H, W)`` low-passed at the direct path's samples, ``(B, Cin, *low_hw)``
    (or ``x`` itself if ``geo.plain``: the direct product then pads and strides it)."""
    if geo.plain:
        return x
    return band_low_pass(x, geo.band, *geo.low_hw, *geo.offset, step=geo.low_step)


def _low_pass_adjoint(g: torch.Tensor, geo: _Geometry) -> torch.Tensor:
    """The adjoint of :func:`_low_pass_input`: ``(B, C, *low_hw)`` -> ``(B, C, H, W)``."""
    if geo.plain:
        return g
    return band_low_pass_adjoint(g, geo.band, *geo.input_hw, *geo.offset, step=geo.low_step)


def _restart(saved: torch.Tensor, geo: _Geometry, want: str) -> torch.Tensor:
    """The input band (``want="band"``) or low-passed input (``"low"``) from what the layer saved."""
    if geo.saved == want:
        return saved
    if want == "low":
        return _low_pass_input(saved, geo) if geo.saved == "input" else _low_pass(saved, geo)
    return _input_band(saved, geo)  # the spectral path saves its input or its band


def _direct_args(geo: _Geometry) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(stride, padding)`` of the direct product on :func:`_low_pass_input`'s result."""
    return (geo.stride, geo.offset) if geo.plain else (geo.conv_stride, (0, 0))


def _direct(low: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: _Geometry) -> torch.Tensor:
    """The direct product on the low-passed input (its zero padding is already on the grid)."""
    stride, padding = _direct_args(geo)
    return F.conv2d(low, weight, bias, stride, padding, geo.dilation, geo.groups)


class _Context(Protocol):
    """What the autograd context of the layers' Functions holds (torch types ``ctx`` as Any)."""

    saved_tensors: tuple[torch.Tensor, ...]
    needs_input_grad: tuple[bool, ...]
    geo: _Geometry
    has_bias: bool
    filter_conj: torch.Tensor | None  # the spectral path's cached filter band, if any
    release: Callable[[], None] | None  # set when a spectral checkpoint recomputes from this layer

    def save_for_backward(self, *tensors: torch.Tensor | None) -> None: ...


def _release(ctx: _Context) -> None:
    """A spectral checkpoint's recipe is dropped in the layer's backward: every consumer of the
    layer's output has run its backward by then."""
    release = getattr(ctx, "release", None)
    if release is not None:
        release()


class _SpectralConv2d(torch.autograd.Function):
    """Band-limited 2D cross-correlation contracted per frequency, with a hand-written backward."""

    @staticmethod
    def forward(
        ctx: _Context,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        geo: _Geometry,
        filter_conj: torch.Tensor | None,
    ) -> torch.Tensor:
        """``x`` ``(B, Cin, H, W)``, ``weight`` ``(Cout, Cin_g, kh, kw)`` -> ``(B, Cout, Ho, Wo)``."""
        x_band = _input_band(x, geo)  # (F, B, Cin)
        y = _synthesize(x_band, weight, bias, geo, filter_conj)
        ctx.save_for_backward(x if geo.saved == "input" else x_band, weight)
        ctx.filter_conj = filter_conj  # a cached band serves the input gradient too (eval mode)
        ctx.geo = geo
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    def recompute(saved: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: _Geometry) -> torch.Tensor:
        """The output again from what forward saved (a spectral checkpoint's recipe)."""
        return _synthesize(_restart(saved, geo, "band"), weight, bias, geo)

    @staticmethod
    @once_differentiable  # the backward is not itself differentiable (no double backward)
    def backward(
        ctx: _Context, grad_y: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None, None]:
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
            x_band = _restart(saved, geo, "band") if need_w else None  # (F, B, Cin)
            dft = filter_dft_matrix(band, weight.shape[-2:], geo.dilation, weight)
            taps = kernel_taps(weight, g_band.dtype)
            n_freq, batch = g_band.shape[:2]
            x_bar = g_band.new_empty(n_freq, batch, weight.shape[1] * geo.groups) if need_x else None
            taps_bar = torch.zeros(taps.shape, dtype=weight.dtype, device=weight.device) if need_w else None
            adjoint = tap_adjoint_matrix(dft, band) if need_w else None  # (kh*kw, F)
            for f in _frequency_chunks(n_freq, weight, g_band.dtype):
                if x_bar is not None:
                    cached = ctx.filter_conj
                    w_band = (  # (f, Cout, Cin_g)
                        cached[f].conj() if cached is not None else torch.unflatten(dft[f] @ taps, 1, weight.shape[:2])
                    )
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
        return grad_x, grad_w, grad_b, None, None


class _DirectConv2d(torch.autograd.Function):
    """Band-limited 2D cross-correlation as a low-pass of the input, then ``F.conv2d``.

    Equal to :class:`_SpectralConv2d` (same grid and band) without a filter band or a
    per-frequency contraction. The low-passed input is computed only where the kernel reads
    it: every grid position of the padded extent, or for a 1x1 kernel the output positions.
    The low-pass is separable (:func:`.spectral.band_low_pass`, two real matrix products per
    plane). A full band (rate 0) removes nothing: with the same padding before and after, the
    layer is then ``F.conv2d`` itself.
    """

    @staticmethod
    def forward(
        ctx: _Context,
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        geo: _Geometry,
        filter_conj: None,
    ) -> torch.Tensor:
        """``x`` ``(B, Cin, H, W)``, ``weight`` ``(Cout, Cin_g, kh, kw)`` -> ``(B, Cout, Ho, Wo)``."""
        if geo.saved == "band":  # low-passed from the band, as a spectral checkpoint recomputes it
            x_band = _input_band(x, geo)
            low = _low_pass(x_band, geo)
            ctx.save_for_backward(x_band, weight)
        else:
            low = _low_pass_input(x, geo)
            ctx.save_for_backward(x if geo.saved == "input" else low, weight)
        ctx.geo = geo
        ctx.has_bias = bias is not None
        return _direct(low, weight, bias, geo)

    @staticmethod
    def recompute(saved: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: _Geometry) -> torch.Tensor:
        """The output again from what forward saved (a spectral checkpoint's recipe)."""
        return _direct(_restart(saved, geo, "low"), weight, bias, geo)

    @staticmethod
    @once_differentiable
    def backward(
        ctx: _Context, grad_y: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None, None]:
        saved, weight = ctx.saved_tensors
        _release(ctx)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        geo = ctx.geo
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
        return grad_x, grad_w, grad_b, None, None


@dataclass(frozen=True)
class _DctGeometry:
    """Everything but tensors that the DCT-basis kernel needs, normalised."""

    band: DctBand  # over the unpadded input: the layer's zero padding comes after the projection
    padding: tuple[int, int, int, int]  # (left, right, top, bottom), as F.pad takes it
    stride: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    saved: Saved  # "input" for a full band (no projection), else "band": its coefficients

    def pad(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """``x`` padded as the convolution reads it and the padding left to ``F.conv2d``: symmetric
        padding stays inside the convolution, other padding is applied here."""
        left, right, top, bottom = self.padding
        if (left, top) == (right, bottom):
            return x, (top, left)
        return F.pad(x, self.padding), (0, 0)


def _dct_projected(saved: torch.Tensor, geo: _DctGeometry) -> torch.Tensor:
    """The projected input ``P x`` from what the DCT-basis layer saved."""
    return saved if geo.saved == "input" else dct_synthesis(saved, geo.band)


def _dct_conv(
    projected: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: _DctGeometry
) -> torch.Tensor:
    x, padding = geo.pad(projected)
    return F.conv2d(x, weight, bias, geo.stride, padding, geo.dilation, geo.groups)


class _DctConv2d(torch.autograd.Function):
    """Band-limited 2D cross-correlation in the DCT-II basis (:mod:`.dct`): ``conv(P x, w)``.

    Saves the band's coefficients (``rows x cols`` reals per plane) and the weight.
    """

    @staticmethod
    def forward(
        ctx: _Context, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: _DctGeometry, _: None
    ) -> torch.Tensor:
        """``x`` ``(B, Cin, H, W)``, ``weight`` ``(Cout, Cin_g, kh, kw)`` -> ``(B, Cout, Ho, Wo)``."""
        saved = x if geo.saved == "input" else dct_analysis(x, geo.band)  # (B, Cin, rows, cols)
        ctx.save_for_backward(saved, weight)
        ctx.geo = geo  # type: ignore[assignment]  # the DCT geometry, read only by this Function
        ctx.has_bias = bias is not None
        return _dct_conv(_dct_projected(saved, geo), weight, bias, geo)

    @staticmethod
    def recompute(
        saved: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: _DctGeometry
    ) -> torch.Tensor:
        """The output again from what forward saved (a spectral checkpoint's recipe)."""
        return _dct_conv(_dct_projected(saved, geo), weight, bias, geo)

    @staticmethod
    @once_differentiable
    def backward(
        ctx: _Context, grad_y: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None, None]:
        saved, weight = ctx.saved_tensors
        _release(ctx)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        geo: _DctGeometry = ctx.geo  # type: ignore[assignment]
        band = geo.band
        # Only the weight gradient reads the projected input; the input gradient needs its shape.
        projected = (
            _dct_projected(saved, geo)
            if need_w
            else grad_y.new_empty(grad_y.shape[0], weight.shape[1] * geo.groups, band.n_h, band.n_w)
        )
        x, padding = geo.pad(projected)
        grad_in, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad_y,
            x,
            weight,
            [weight.shape[0]] if ctx.has_bias else None,
            list(geo.stride),
            list(padding),
            list(geo.dilation),
            False,
            [0, 0],
            geo.groups,
            [need_x, need_w, need_b and ctx.has_bias],
        )
        grad_x = None
        if need_x:
            left, _, top, _ = geo.padding
            if x is not projected:  # padded here: the gradient of the padding is dropped
                grad_in = grad_in[..., top : top + band.n_h, left : left + band.n_w]
            grad_x = grad_in if geo.saved == "input" else dct_low_pass(grad_in, band)  # P is self-adjoint
        return grad_x, grad_w, grad_b, None, None


def _autocast(t: torch.Tensor) -> torch.Tensor:
    """``t`` in the active autocast dtype of its device if it is float32 (float64 stays, as in autocast)."""
    return t.to(torch.get_autocast_dtype(t.device.type)) if t.dtype == torch.float32 else t


def _pair(values: Sequence[int], fill: int) -> tuple[int, int]:
    """Per-dimension values as 2D ones: a 1D layer is a 2D layer on one row, ``fill`` on the row axis."""
    return (fill, values[0]) if len(values) == 1 else (values[0], values[1])


def _fft_plan(
    x: torch.Tensor,
    w: torch.Tensor,
    param: torch.Tensor,
    pads: Sequence[tuple[int, int]],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
    rate: float,
    dtype: torch.dtype,
    filter_cache: FilterCache | None,
) -> tuple[type[_SpectralConv2d | _DirectConv2d], _Geometry, torch.Tensor | None]:
    """The FFT basis's Function, geometry and cached filter band for one call.

    ``x`` ``(B, Cin, H, W)`` and ``w`` are the lifted 4D tensors, ``param`` the caller's weight
    (a filter cache's key), ``pads`` the ``(before, after)`` padding per original dimension and
    ``dtype`` the caller's input dtype.
    """
    kernel = tuple(param.shape[2:])
    spatial = tuple(x.shape[-len(kernel) :])
    padded = tuple(n + before + after for n, (before, after) in zip(spatial, pads))
    out = tuple((n - d * (k - 1) - 1) // s + 1 for n, k, d, s in zip(padded, kernel, dilation, stride))
    band = band_for_size(padded, rate)
    training = torch.is_grad_enabled() and (x.requires_grad or w.requires_grad)
    path: Path
    if _forced.get() != "auto":
        path = "spectral" if _forced.get() == "spectral" else "direct"
    else:
        path = preferred_path(
            w.shape[1] * groups,
            w.shape[0],
            groups,
            kernel,
            band,
            padded,
            out,
            x.shape[0],
            padding=tuple(pads),
            stride=stride,
            training=training,
            cached_filter=filter_cache is not None,
        )
    low_hw, low_step = low_pass_grid(kernel, padded, out, stride)
    input_hw = _pair(spatial, 1)
    saved = saved_kind(band, input_hw, low_hw, path)
    if saved == "input" and dtype in _LOW_PRECISION:  # a float32 copy of the input would be new memory
        saved = "low" if path == "direct" and band.is_full else "band"  # a full band's low-pass is a copy
    geo = _Geometry(
        band=band,
        offset=_pair([before for before, _ in pads], 0),
        stride=_pair(stride, 1),
        dilation=_pair(dilation, 1),
        groups=int(groups),
        input_hw=input_hw,
        out_hw=_pair(out, 1),
        low_hw=low_hw,
        low_step=low_step,
        conv_stride=(1, 1) if all(k == 1 for k in kernel) else _pair(stride, 1),
        saved=saved,
        plain=band.is_full and all(before == after for before, after in pads),
    )
    filter_conj = None
    if path == "spectral" and filter_cache is not None:
        key = (band, geo.dilation, w.dtype, tuple(w.shape))
        filter_conj = filter_cache.get(param, key, lambda: _filter_band_conj(w, geo, complex_dtype(w.dtype)))
    return (_SpectralConv2d if path == "spectral" else _DirectConv2d), geo, filter_conj


def _dct_geometry(
    x: torch.Tensor,
    pads: Sequence[tuple[int, int]],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
    rate: float,
) -> _DctGeometry:
    """The DCT basis's geometry for one call on the lifted 4D input ``x`` ``(B, Cin, H, W)``."""
    ndim = len(pads)
    band = select_dct_band(x.shape[-2], x.shape[-1], rate, ndim)
    (top, bottom), (left, right) = ((0, 0), pads[0]) if ndim == 1 else (pads[0], pads[1])
    return _DctGeometry(
        band=band,
        padding=(left, right, top, bottom),
        stride=_pair(stride, 1),
        dilation=_pair(dilation, 1),
        groups=int(groups),
        saved="input" if band.is_full else "band",
    )


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
    basis = check_choice(basis, "basis", BASES)
    param = weight  # the caller's tensor, before any cast: what a filter cache is keyed on
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

    function: type[_SpectralConv2d | _DirectConv2d | _DctConv2d]
    geo: _Geometry | _DctGeometry
    filter_conj = None
    if basis == "dct":
        function, geo = _DctConv2d, _dct_geometry(x, pads, stride_t, dilation_t, groups, rate)
    else:
        function, geo, filter_conj = _fft_plan(
            x, w, param, pads, stride_t, dilation_t, groups, rate, dtype, filter_cache
        )
    tape = current_tape()
    if tape is not None and geo.saved == "input":
        tape.keep(x)  # saved as it is by the layer: other ops that save it share it, nothing replays it
    with torch.autocast(x.device.type, enabled=False), tape.pause() if tape else nullcontext():
        # torch leaves Function.apply unannotated; it returns forward's tensor.
        y: torch.Tensor = function.apply(x, w, bias, geo, filter_conj)  # type: ignore[no-untyped-call]
        node: Any = y.grad_fn  # the Function's context
        if tape is not None and node is not None:
            # A spectral checkpoint: the output is recomputable from what the layer saved and the weight.
            recipe = functools.partial(function.recompute, node.saved_tensors[0], w, bias, geo)  # type: ignore[arg-type]
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
