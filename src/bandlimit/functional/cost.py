"""Arithmetic cost (FLOPs) of a convolution layer, counted as the algorithm runs it.

Conventions: a real multiply-add is 2 FLOPs and a complex one 8, so a GEMM of
``(m, k) @ (k, n)`` is ``2 m n k`` real or ``8 m n k`` complex; a complex FFT of length n costs
``5 n log2 n`` and a real FFT half of that (the usual radix-2 count, used for every size so that
sizes compare by the work the algorithm does). Elementwise work (adds, bias, casts) is not
counted. The transform counts live beside the transforms in :mod:`.spectral`; this module
composes them with the two other kinds of work of a band-limited layer: the per-frequency
channel contraction and the filter DFT.

Sizes are per spatial dimension, ``(L,)`` or ``(H, W)``; a 1D layer is counted as the 2D layer
on one row that it runs as.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .band import Band
from .spectral import band_irfft2_flops, band_rfft2_flops

__all__ = [
    "band_limited_conv_flops",
    "band_limited_training_flops",
    "contraction_flops",
    "direct_conv_flops",
    "filter_dft_flops",
]


def direct_conv_flops(
    in_channels: int, out_channels: int, groups: int, kernel_size: tuple[int, ...], output_size: tuple[int, ...]
) -> float:
    """FLOPs of the direct (spatial) convolution for one sample: ``2 Cout Cin/g prod(k) prod(out)``."""
    return 2.0 * out_channels * (in_channels // groups) * math.prod(kernel_size) * math.prod(output_size)


def contraction_flops(band: Band, batch: int, in_channels: int, out_channels: int, groups: int) -> float:
    """One channel contraction over the band: per frequency and group a complex
    ``(B, Cin_g) @ (Cin_g, Cout_g)`` GEMM (or its transposes in the backward), ``8 F B Cout Cin_g``."""
    return 8.0 * band.kept * batch * out_channels * (in_channels // groups)


def filter_dft_flops(band: Band, in_channels: int, out_channels: int, groups: int, kernel_size: Sequence[int]) -> float:
    """The filter's DFT to the band, a complex ``(F, taps) @ (taps, Cout Cin_g)`` GEMM, once per call.

    The weight gradient's tap adjoint, ``(taps, F) @ (F, Cout Cin_g)``, costs the same.
    """
    return 8.0 * band.kept * math.prod(kernel_size) * out_channels * (in_channels // groups)


def _plane(size: Sequence[int]) -> tuple[int, int]:
    """``(H, W)`` of a spatial size; a 1D size ``(L,)`` is one row, ``(1, L)``."""
    return (1, size[0]) if len(size) == 1 else (size[0], size[1])


def _row_step(stride: Sequence[int] | None) -> int:
    """The stride along the grid's rows (a 1D layer has one row)."""
    return stride[0] if stride is not None and len(stride) == 2 else 1


def _low_pass_flops(band: Band, planes: int, placed: tuple[int, int, int], out_hw: tuple[int, int], step: int) -> float:
    """A 1x1 layer's low-pass: the input ``(h, w)`` placed ``top`` rows down to the band, back
    to ``out_hw`` samples ``step`` rows apart."""
    h, w, top = placed
    return band_rfft2_flops(band, planes, h, w, top) + band_irfft2_flops(band, planes, *out_hw, step)


def _placement(padded_size: Sequence[int], padding: Sequence[tuple[int, int]] | None) -> tuple[int, int, int, int]:
    """``(h, w, top, left)``: the unpadded input and its offset on the grid, as the layer transforms it."""
    pairs = [(0, 0)] * len(padded_size) if padding is None else list(padding)
    (top, bottom), (left, right) = [(0, 0), *pairs] if len(pairs) == 1 else pairs
    padded_h, padded_w = _plane(padded_size)
    return padded_h - top - bottom, padded_w - left - right, top, left


def band_limited_conv_flops(
    in_channels: int,
    out_channels: int,
    groups: int,
    kernel_size: tuple[int, ...],
    band: Band,
    padded_size: tuple[int, ...],
    output_size: tuple[int, ...],
    batch: int = 1,
    *,
    padding: Sequence[tuple[int, int]] | None = None,
    stride: Sequence[int] | None = None,
) -> float:
    """FLOPs the band-limited forward does for ``batch`` samples, with the transforms it uses.

    Args:
        padded_size: spatial size of the input after padding.
        output_size: spatial size of the output, stride applied (the inverse transform
            computes only those samples).
        padding: ``(before, after)`` zero padding per spatial dimension that the layer folds
            into its input transform (the transform then runs on the unpadded input); None if
            the input is already padded (``padding=0`` or a ``padding_mode`` other than zeros).
        stride: the layer's stride per spatial dimension (1 if None).

    Returns:
        Input transform + channel contraction + inverse transform per sample, times ``batch``,
        plus the filter DFT, which is done once per call. A 1x1 kernel runs as a low-pass of
        the input (transform and inverse on ``in_channels`` planes) and the direct 1x1 product.
    """
    h, w, top, _ = _placement(padded_size, padding)
    out_h, out_w = _plane(output_size)
    if all(k == 1 for k in kernel_size):
        low_pass = _low_pass_flops(band, batch * in_channels, (h, w, top), (out_h, out_w), _row_step(stride))
        return low_pass + batch * direct_conv_flops(in_channels, out_channels, groups, kernel_size, output_size)
    forward_transform = band_rfft2_flops(band, batch * in_channels, h, w, top)
    contraction = contraction_flops(band, batch, in_channels, out_channels, groups)
    inverse_transform = band_irfft2_flops(band, batch * out_channels, out_h, out_w, _row_step(stride))
    filter_dft = filter_dft_flops(band, in_channels, out_channels, groups, kernel_size)
    return forward_transform + contraction + inverse_transform + filter_dft


def band_limited_training_flops(
    in_channels: int,
    out_channels: int,
    groups: int,
    kernel_size: tuple[int, ...],
    band: Band,
    padded_size: tuple[int, ...],
    output_size: tuple[int, ...],
    batch: int = 1,
    *,
    padding: Sequence[tuple[int, int]] | None = None,
    stride: Sequence[int] | None = None,
) -> float:
    """FLOPs of the band-limited forward plus a backward that needs input and weight gradients.

    Arguments as in :func:`band_limited_conv_flops`. The backward transforms the output
    gradient (its samples placed ``stride`` apart on the grid) and, if the layer saved its input
    rather than its band (:meth:`Band.outweighs`; float32/float64 inputs), the input again;
    recomputes the filter DFT, contracts for the input gradient and inverse-transforms it onto
    the input's ``(h, w)`` place on the grid, contracts for the weight gradient and maps that
    to the kernel taps with the tap adjoint.
    """
    forward = band_limited_conv_flops(
        in_channels,
        out_channels,
        groups,
        kernel_size,
        band,
        padded_size,
        output_size,
        batch,
        padding=padding,
        stride=stride,
    )
    h, w, top, _ = _placement(padded_size, padding)
    out_h, out_w = _plane(output_size)
    if all(k == 1 for k in kernel_size):
        # The low-pass again if the input was saved, the direct product's two gradients, the low-pass's adjoint.
        low_pass = _low_pass_flops(band, batch * in_channels, (h, w, top), (out_h, out_w), _row_step(stride))
        again = low_pass if band.outweighs((h, w)) else 0.0
        direct = batch * direct_conv_flops(in_channels, out_channels, groups, kernel_size, output_size)
        adjoint = band_rfft2_flops(band, batch * in_channels, out_h, out_w, step=_row_step(stride))
        return forward + again + 2 * direct + adjoint + band_irfft2_flops(band, batch * in_channels, h, w)
    input_transform = band_rfft2_flops(band, batch * in_channels, h, w, top) if band.outweighs((h, w)) else 0.0
    contraction = contraction_flops(band, batch, in_channels, out_channels, groups)
    filter_dft = filter_dft_flops(band, in_channels, out_channels, groups, kernel_size)
    grad_out_transform = band_rfft2_flops(band, batch * out_channels, out_h, out_w, step=_row_step(stride))
    grad_input_transform = band_irfft2_flops(band, batch * in_channels, h, w)
    tap_adjoint = filter_dft
    backward = input_transform + grad_out_transform + filter_dft + 2 * contraction + grad_input_transform + tap_adjoint
    return forward + backward
