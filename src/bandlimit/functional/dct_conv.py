"""The band-limited convolution in the DCT-II basis (:mod:`.dct`): ``conv(P x, w)``, with ``P``
the projection onto the band of the input's DCT-II coefficients."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from .autograd import Context, saved_for_backward
from .cost import Saved
from .dct import DctBand, dct_analysis, dct_low_pass, dct_synthesis

__all__ = ["DctConv2d", "DctGeometry"]


@dataclass(frozen=True)
class DctGeometry:
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


def _dct_projected(saved: torch.Tensor, geo: DctGeometry) -> torch.Tensor:
    """The projected input ``P x`` from what the DCT-basis layer saved."""
    return saved if geo.saved == "input" else dct_synthesis(saved, geo.band)


def _dct_conv(
    projected: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: DctGeometry
) -> torch.Tensor:
    x, padding = geo.pad(projected)
    return F.conv2d(x, weight, bias, geo.stride, padding, geo.dilation, geo.groups)


class DctConv2d(torch.autograd.Function):
    """Band-limited 2D cross-correlation in the DCT-II basis (:mod:`.dct`): ``conv(P x, w)``.

    Saves the band's coefficients (``rows x cols`` reals per plane) and the weight.
    """

    @staticmethod
    def forward(
        ctx: Context, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: DctGeometry, _: None
    ) -> torch.Tensor:
        """``x`` ``(B, Cin, H, W)``, ``weight`` ``(Cout, Cin_g, kh, kw)`` -> ``(B, Cout, Ho, Wo)``."""
        saved = x if geo.saved == "input" else dct_analysis(x, geo.band)  # (B, Cin, rows, cols)
        ctx.save_for_backward(saved, weight)  # the caller's weight
        ctx.geo = geo
        ctx.has_bias = bias is not None
        return _dct_conv(_dct_projected(saved, geo), weight.to(x.dtype), bias, geo)

    @staticmethod
    def recompute(
        saved: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, geo: DctGeometry
    ) -> torch.Tensor:
        """The output again from what forward saved (a spectral checkpoint's recipe)."""
        return _dct_conv(_dct_projected(saved, geo), weight, bias, geo)

    @staticmethod
    @once_differentiable
    def backward(
        ctx: Context, grad_y: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None, None]:
        saved, weight, weight_dtype = saved_for_backward(ctx, grad_y.dtype)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        geo: DctGeometry = ctx.geo
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
        return grad_x, grad_w.to(weight_dtype) if need_w else None, grad_b, None, None
