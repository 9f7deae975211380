"""The spectral path's channel contraction, and the filter's DFT it contracts with: per frequency
(and group) a complex matrix product,
``X (F, B, Cin)``, ``W (F, Cout, Cin_g)``, ``G (F, B, Cout)``, with the filter's band built in
frequency chunks so that its spectrum never takes more than about ``CHUNK_BYTES``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .band import Band
from .spectral import chunks, column_weights, complex_dtype

__all__ = [
    "filter_band_conj",
    "filter_dft_matrix",
    "frequency_chunks",
    "input_grad_band",
    "kernel_taps",
    "output_band",
    "tap_adjoint_matrix",
    "weight_grad_band",
]


def _grouped(t: torch.Tensor, groups: int) -> torch.Tensor:
    """(F, N, C) -> (F, groups, N, C / groups)."""
    return torch.unflatten(t, 2, (groups, -1)).transpose(1, 2) if groups > 1 else t.unsqueeze(1)


def _ungrouped(t: torch.Tensor) -> torch.Tensor:
    """(F, groups, N, C_g) -> (F, N, groups * C_g)."""
    return t.transpose(1, 2).flatten(2)


def output_band(x_band: torch.Tensor, w_conj: torch.Tensor, groups: int) -> torch.Tensor:
    """``Y[f, b, o] = sum_i X[f, b, i] * Wc[f, o, i]`` with ``Wc = conj(W)`` -> (F, B, Cout)."""
    w = torch.unflatten(w_conj, 1, (groups, -1))  # (F, g, Cout_g, Cin_g)
    return _ungrouped(_grouped(x_band, groups) @ w.transpose(-1, -2))


def input_grad_band(g_band: torch.Tensor, w_band: torch.Tensor, groups: int) -> torch.Tensor:
    """``Xbar[f, b, i] = sum_o G[f, b, o] * W[f, o, i]`` -> (F, B, Cin)."""
    w = torch.unflatten(w_band, 1, (groups, -1))
    return _ungrouped(_grouped(g_band, groups) @ w)


def weight_grad_band(x_band: torch.Tensor, g_band: torch.Tensor, groups: int) -> torch.Tensor:
    """``Wbar[f, o, i] = sum_b conj(G[f, b, o]) * X[f, b, i]`` -> (F, Cout, Cin_g)."""
    wbar = _grouped(g_band, groups).conj().transpose(-1, -2) @ _grouped(x_band, groups)  # (F, g, Cout_g, Cin_g)
    return wbar.flatten(1, 2)


def frequency_chunks(n_freq: int, weight: torch.Tensor, dtype: torch.dtype) -> list[slice]:
    """Frequencies in chunks whose filter spectrum (f x Cout x Cin_g) is about ``CHUNK_BYTES``."""
    return chunks(n_freq, weight.shape[0] * weight.shape[1] * torch.empty((), dtype=dtype).element_size())


def filter_band_conj(
    weight: torch.Tensor, band: Band, dilation: tuple[int, int], dtype: torch.dtype, f: slice = slice(None)
) -> torch.Tensor:
    """``conj`` of the filter's band at frequencies ``f``: ``(f, Cout, Cin_g)``."""
    dft_conj = filter_dft_matrix(band, weight.shape[-2:], dilation, weight)[f].conj().resolve_conj()
    return torch.unflatten(dft_conj @ kernel_taps(weight, dtype), 1, weight.shape[:2])


def filter_dft_matrix(
    band: Band, kernel_size: Sequence[int], dilation: tuple[int, int], like: torch.Tensor
) -> torch.Tensor:
    """The 2D DFT from the (dilated) kernel taps to the band: ``(F, kh * kw)``, complex.

    Entry ``[(c, r), (i, j)] = exp(-2 pi i (row_r * i * dh / Nh + c * j * dw / Nw))``.
    """
    rows = _dft_matrix(band.rows, band.n_h, kernel_size[0], dilation[0], like.device)  # (R, kh)
    cols = _dft_matrix(tuple(range(band.cols)), band.n_w, kernel_size[1], dilation[1], like.device)  # (cols, kw)
    matrix = (cols[:, None, None, :] * rows[None, :, :, None]).reshape(cols.shape[0] * rows.shape[0], -1)
    return matrix.to(complex_dtype(like.dtype))


def _dft_matrix(freqs: tuple[int, ...], n: int, taps: int, step: int, device: torch.device) -> torch.Tensor:
    """``E[f, k] = exp(-2 pi i freqs[f] * k * step / n)`` in complex128, from integer phases."""
    f = torch.tensor(freqs, dtype=torch.int64, device=device)
    k = torch.arange(taps, dtype=torch.int64, device=device) * step
    phase = torch.remainder(torch.outer(f, k), n).to(torch.float64) * (-2.0 * math.pi / n)
    return torch.polar(torch.ones_like(phase), phase)


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
    weights = (column_weights(band) / (band.n_h * band.n_w)).repeat_interleave(band.shape[0])  # (F,)
    return (dft.conj() * weights.to(dft.real.dtype).to(dft.device)[:, None]).t()
