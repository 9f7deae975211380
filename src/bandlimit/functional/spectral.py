"""Band-restricted transforms: forward and inverse DFTs computed only where the band lives.

Spatial arrays are ``(..., H, W)``. A band is stored frequency-major, as ``(F, ...)`` with
``F = rows * cols`` in row-major order over (retained row, retained column): the channel
contraction is then one batched matrix product over frequencies with no layout copies.
"""

from __future__ import annotations

import math

import torch

from .band import Band

__all__ = ["band_rfft2", "band_irfft2", "filter_dft_matrix", "kernel_taps", "tap_adjoint_matrix"]


def band_rfft2(x: torch.Tensor, band: Band) -> torch.Tensor:
    """The band of ``rfft2(x, s=band.grid)``, pruned: rows are transformed only on kept columns.

    Args:
        x: real tensor ``(B, C, H, W)`` with ``H <= Nh`` and ``W <= Nw`` (zero-padded on the grid).

    Returns:
        Complex tensor ``(F, B, C)``, frequency-major.
    """
    z = torch.fft.rfft(x, n=band.n_w, dim=-1)[..., : band.cols]
    if band.n_h > 1:
        z = torch.fft.fft(z, n=band.n_h, dim=-2)
        if band.high:
            z = torch.cat((z[..., : band.low, :], z[..., band.n_h - band.high :, :]), dim=-2)
        else:
            z = z[..., : band.low, :]
    return z.flatten(-2).permute(2, 0, 1).contiguous()


def band_irfft2(z: torch.Tensor, band: Band, out_h: int, out_w: int) -> torch.Tensor:
    """Real ``irfft2`` on the grid of a spectrum that is zero outside the band, cropped.

    Args:
        z: complex tensor ``(F, B, C)``, frequency-major, Hermitian-consistent.
        out_h, out_w: size of the top-left crop of the grid to return.

    Returns:
        Real tensor ``(B, C, out_h, out_w)``.
    """
    rows, cols = band.shape
    z = z.permute(1, 2, 0).unflatten(-1, (rows, cols))  # (B, C, rows, cols)
    if band.n_h > 1:
        missing = band.n_h - rows
        if missing:
            zeros = z.new_zeros(*z.shape[:-2], missing, cols)
            z = torch.cat((z[..., : band.low, :], zeros, z[..., band.low :, :]), dim=-2)
        z = torch.fft.ifft(z, dim=-2)[..., :out_h, :]
    # irfft zero-fills the columns beyond the band up to Nw // 2 + 1.
    return torch.fft.irfft(z, n=band.n_w, dim=-1)[..., :out_w]


def _dft_matrix(freqs: list[int], n: int, taps: int, step: int, device: torch.device) -> torch.Tensor:
    """``E[f, k] = exp(-2 pi i freqs[f] * k * step / n)`` in complex128, shape ``(len(freqs), taps)``.

    The phase is reduced modulo ``n`` in integers, so the matrix is exact to rounding.
    """
    f = torch.tensor(freqs, dtype=torch.int64, device=device)
    k = torch.arange(taps, dtype=torch.int64, device=device) * step
    phase = torch.remainder(torch.outer(f, k), n).to(torch.float64) * (-2.0 * math.pi / n)
    return torch.polar(torch.ones_like(phase), phase)


def filter_dft_matrix(
    band: Band, kernel_size: tuple[int, int], dilation: tuple[int, int], like: torch.Tensor
) -> torch.Tensor:
    """The 2D DFT from the (dilated) kernel taps to the band: ``(F, kh * kw)``, complex.

    Entry ``[(r, c), (i, j)] = exp(-2 pi i (row_r * i * dh / Nh + c * j * dw / Nw))``.
    """
    rows = _dft_matrix(list(band.rows), band.n_h, kernel_size[0], dilation[0], like.device)
    cols = _dft_matrix(list(range(band.cols)), band.n_w, kernel_size[1], dilation[1], like.device)
    matrix = (rows[:, None, :, None] * cols[None, :, None, :]).reshape(rows.shape[0] * cols.shape[0], -1)
    return matrix.to(torch.complex128 if like.dtype == torch.float64 else torch.complex64)


def kernel_taps(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The kernel as a ``(kh * kw, Cout * Cin_g)`` matrix of ``dtype`` (complex), ready for a DFT GEMM.

    ``filter_dft_matrix(...) @ kernel_taps(w)`` is the band of ``rfft2`` of the dilated kernel
    zero-padded to the grid, ``(F, Cout * Cin_g)``: the kernel has only ``kh * kw`` nonzeros,
    so a small GEMM replaces a full-size FFT of a mostly-zero array.
    """
    return weight.flatten(2).flatten(0, 1).t().to(dtype)


def tap_adjoint_matrix(dft: torch.Tensor, band: Band) -> torch.Tensor:
    """``(kh * kw, F)`` matrix ``A`` such that ``Re(A @ Z)`` is ``irfft2`` of the band-limited
    Hermitian spectrum ``Z`` (``(F, N)``) at the kernel taps: the adjoint of the band
    projection composed with the filter DFT, as used for the weight gradient.
    """
    # Columns 1..Nw/2-1 stand for themselves and their conjugate mirror; DC and Nyquist once.
    weights = torch.full((band.cols,), 2.0, dtype=dft.real.dtype, device=dft.device)
    weights[0] = 1.0
    if band.n_w % 2 == 0 and band.cols == band.n_w // 2 + 1:
        weights[-1] = 1.0
    weights = weights.repeat(band.shape[0]) / (band.n_h * band.n_w)  # (F,)
    return (dft.conj() * weights[:, None]).t()
