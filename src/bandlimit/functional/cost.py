"""Arithmetic cost (FLOPs) of one forward pass of a convolution layer, per sample.

Conventions: a real multiply-add is 2 FLOPs, a complex multiply-add 8; a complex FFT of
length n costs ``5 n log2 n`` and a real FFT half of that (the usual radix-2 count, used
for every size so that sizes compare by the work the algorithm does).
"""

from __future__ import annotations

import math

from .band import Band

__all__ = ["direct_conv_flops", "band_limited_conv_flops", "band_limited_training_flops"]


def _fft(n: int) -> float:
    return 5.0 * n * math.log2(n) if n > 1 else 0.0


def direct_conv_flops(
    in_channels: int, out_channels: int, groups: int, kernel_size: tuple[int, ...], output_size: tuple[int, ...]
) -> float:
    """FLOPs of the direct (spatial) convolution for one sample: ``2 Cout Cin/g prod(k) prod(out)``."""
    return 2.0 * out_channels * (in_channels // groups) * math.prod(kernel_size) * math.prod(output_size)


def band_limited_conv_flops(
    in_channels: int,
    out_channels: int,
    groups: int,
    kernel_size: tuple[int, ...],
    band: Band,
    padded_size: tuple[int, ...],
    output_size: tuple[int, ...],
    batch: int = 1,
) -> float:
    """FLOPs the band-limited forward does for ``batch`` samples, for the transforms it uses.

    Small grids (up to ``GEMM_MAX_GRID``): the input transform is two DFT GEMMs restricted
    to the band, the inverse an FFT along rows on the kept columns and a GEMM along columns.
    Large grids: pruned FFTs (real FFT along W of every row, complex FFT along H of the kept
    columns, and the inverse). Plus the per-frequency channel contraction, and the filter's
    DFT-matrix product once per batch.
    """
    from .spectral import GEMM_MAX_GRID  # spectral imports band, not cost: no cycle

    rows, cols = band.shape
    in_h, in_w = padded_size if band.ndim == 2 else (1, padded_size[0])
    out_h, out_w = output_size if band.ndim == 2 else (1, output_size[0])
    kh, kw = (kernel_size[0], kernel_size[1]) if band.ndim == 2 else (1, kernel_size[0])
    cin_g = in_channels // groups
    if max(band.n_h, band.n_w) <= GEMM_MAX_GRID:
        forward_transform = in_channels * (4.0 * in_h * in_w * cols + 8.0 * in_h * rows * cols)
        inverse_transform = out_channels * (cols * _fft(band.n_h) + 4.0 * out_h * out_w * cols)
    else:
        forward_transform = in_channels * (in_h * _fft(band.n_w) / 2 + cols * _fft(band.n_h))
        inverse_transform = out_channels * (cols * _fft(band.n_h) + out_h * _fft(band.n_w) / 2)
    contraction = 8.0 * rows * cols * cin_g * out_channels
    filter_dft = 8.0 * out_channels * cin_g * rows * cols * kh * kw
    return batch * (forward_transform + contraction + inverse_transform) + filter_dft


def band_limited_training_flops(
    in_channels: int,
    out_channels: int,
    groups: int,
    kernel_size: tuple[int, ...],
    band: Band,
    padded_size: tuple[int, ...],
    output_size: tuple[int, ...],
    batch: int = 1,
) -> float:
    """FLOPs of the band-limited forward plus backward for ``batch`` samples.

    The backward transforms the output gradient (like the forward's output transform, run
    forwards), does two contractions (input and weight gradient), the inverse transform of
    the input gradient, and the filter DFT and its adjoint again.
    """
    forward = band_limited_conv_flops(
        in_channels, out_channels, groups, kernel_size, band, padded_size, output_size, batch
    )
    swapped = band_limited_conv_flops(  # grad_out -> spectrum ... -> grad_input: roles of Cin/Cout swap
        out_channels, in_channels, groups, kernel_size, band, output_size, padded_size, batch
    )
    rows, cols = band.shape
    weight_contraction = 8.0 * rows * cols * (in_channels // groups) * out_channels
    return forward + swapped + batch * weight_contraction
