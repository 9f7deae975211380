"""Band-restricted transforms: forward and inverse DFTs computed only where the band lives.

All arrays follow the ``rfft2`` convention: the last dimension holds the non-negative column
frequencies, the one before it the row frequencies, and a band is stored as its retained
rows (low then high) by its retained columns.
"""

from __future__ import annotations

import math

import torch

from .band import Band

__all__ = ["band_rfft2", "band_irfft2", "filter_spectrum", "filter_spectrum_adjoint"]


def band_rfft2(x: torch.Tensor, band: Band) -> torch.Tensor:
    """The band of ``rfft2(x, s=band.grid)``, pruned: rows are transformed only on kept columns.

    Args:
        x: real tensor ``(..., H, W)`` with ``H <= Nh`` and ``W <= Nw`` (zero-padded on the grid).

    Returns:
        Complex tensor ``(..., rows, cols)`` of the retained coefficients.
    """
    z = torch.fft.rfft(x, n=band.n_w, dim=-1)[..., : band.cols]
    z = torch.fft.fft(z, n=band.n_h, dim=-2)
    if band.high == 0:
        return z[..., : band.low, :]
    return torch.cat((z[..., : band.low, :], z[..., band.n_h - band.high :, :]), dim=-2)


def band_irfft2(z: torch.Tensor, band: Band, out_h: int, out_w: int) -> torch.Tensor:
    """Real ``irfft2`` on the grid of a spectrum that is zero outside the band, cropped.

    Args:
        z: complex tensor ``(..., rows, cols)`` holding the band (Hermitian-consistent).
        out_h, out_w: size of the top-left crop of the grid to return.

    Returns:
        Real tensor ``(..., out_h, out_w)``.
    """
    missing = band.n_h - band.low - band.high
    if missing:
        zeros = z.new_zeros(*z.shape[:-2], missing, z.shape[-1])
        z = torch.cat((z[..., : band.low, :], zeros, z[..., band.low :, :]), dim=-2)
    z = torch.fft.ifft(z, dim=-2)[..., :out_h, :]
    # irfft zero-fills the columns beyond the band up to Nw // 2 + 1.
    return torch.fft.irfft(z, n=band.n_w, dim=-1)[..., :out_w]


def _dft_matrix(freqs: list[int], n: int, taps: int, step: int, like: torch.Tensor) -> torch.Tensor:
    """``E[f, k] = exp(-2 pi i freqs[f] * k * step / n)``, shape ``(len(freqs), taps)``.

    The phase is reduced modulo ``n`` in integers and evaluated in float64, so the matrix is
    exact to the rounding of its complex dtype.
    """
    f = torch.tensor(freqs, dtype=torch.int64, device=like.device)
    k = torch.arange(taps, dtype=torch.int64, device=like.device) * step
    phase = torch.remainder(torch.outer(f, k), n).to(torch.float64) * (-2.0 * math.pi / n)
    matrix = torch.polar(torch.ones_like(phase), phase)
    return matrix.to(torch.complex128 if like.dtype == torch.float64 else torch.complex64)


def _filter_dft(band: Band, kernel_size: tuple[int, int], dilation: tuple[int, int], like: torch.Tensor):
    rows = _dft_matrix(list(band.rows), band.n_h, kernel_size[0], dilation[0], like)
    cols = _dft_matrix(list(range(band.cols)), band.n_w, kernel_size[1], dilation[1], like)
    return rows, cols


def filter_spectrum(weight: torch.Tensor, band: Band, dilation: tuple[int, int]) -> torch.Tensor:
    """The band of ``rfft2`` of the dilated kernel zero-padded to the grid, by DFT matrices.

    The kernel has only ``kh * kw`` nonzeros, so two small matrix products replace a
    full-size FFT of a mostly-zero array.

    Args:
        weight: real tensor ``(Cout, Cin_g, kh, kw)``.

    Returns:
        Complex tensor ``(Cout, Cin_g, rows, cols)``.
    """
    rows, cols = _filter_dft(band, weight.shape[-2:], dilation, weight)
    return rows @ weight.to(rows.dtype) @ cols.transpose(0, 1)


def filter_spectrum_adjoint(
    z: torch.Tensor, band: Band, kernel_size: tuple[int, int], dilation: tuple[int, int]
) -> torch.Tensor:
    """Kernel taps of ``irfft2`` of a band-limited Hermitian spectrum: the adjoint of the
    band projection composed with :func:`filter_spectrum`, as used for the weight gradient.

    Args:
        z: complex tensor ``(..., rows, cols)``, the band of the spectrum of a real signal.

    Returns:
        Real tensor ``(..., kh, kw)``: the signal at the dilated kernel taps.
    """
    rows, cols = _filter_dft(band, kernel_size, dilation, z.real)
    # Columns 1..Nw/2-1 stand for themselves and their conjugate mirror; DC and Nyquist once.
    weights = torch.full((band.cols,), 2.0, dtype=z.real.dtype, device=z.device)
    weights[0] = 1.0
    if band.n_w % 2 == 0 and band.cols == band.n_w // 2 + 1:
        weights[-1] = 1.0
    taps = rows.conj().transpose(0, 1) @ (z * weights) @ cols.conj()
    return taps.real / (band.n_h * band.n_w)
