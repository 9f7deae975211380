"""The spectral path's channel contraction, and the filter's DFT it contracts with: per frequency
(and group) a complex matrix product,
``X (F, B, Cin)``, ``W (F, Cout, Cin_g)``, ``G (F, B, Cout)``, with the filter's band built in
frequency chunks so that its spectrum never takes more than about ``CHUNK_BYTES``.

In bfloat16/float16 the bands are real, ``(F, B, 2 C)`` with each channel's (re, im) side by
side (:mod:`.spectral`), and a filter band is its real block form ``(F, 2 Cout, 2 Cin_g)``: the
``2 x 2`` block of entry ``(o, i)`` maps ``(re, im)`` of the output-gradient channel ``o`` to
that of the input channel ``i``, ``[[a, b], [-b, a]]`` for ``W = a + ib``. A complex product
``G W`` is then the real product of the interleaved ``G`` with the block, and ``X conj(W)^T``
the product of ``X`` with the block's transpose: the same GEMM shapes as the complex
contraction, with one real GEMM of twice the sizes instead of a complex one."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .band import Band
from .spectral import chunks, column_weights, complex_dtype

__all__ = [
    "block_dft",
    "block_form",
    "block_tap_adjoint",
    "filter_band",
    "filter_band_conj",
    "filter_dft_matrix",
    "frequency_chunks",
    "input_grad_band",
    "kernel_taps",
    "output_band",
    "tap_adjoint_matrix",
    "weight_grad_band",
    "weight_grad_parts",
]


def _grouped(t: torch.Tensor, groups: int) -> torch.Tensor:
    """(F, N, C) -> (F, groups, N, C / groups)."""
    return torch.unflatten(t, 2, (groups, -1)).transpose(1, 2) if groups > 1 else t.unsqueeze(1)


def _ungrouped(t: torch.Tensor) -> torch.Tensor:
    """(F, groups, N, C_g) -> (F, N, groups * C_g)."""
    return t.transpose(1, 2).flatten(2)


def output_band(x_band: torch.Tensor, w_conj: torch.Tensor, groups: int) -> torch.Tensor:
    """``Y[f, b, o] = sum_i X[f, b, i] * Wc[f, o, i]`` with ``Wc = conj(W)`` -> (F, B, Cout).

    Real bands: ``w_conj`` is the block form of ``W`` (:func:`filter_band_conj`), whose
    transpose is that of ``Wc``."""
    w = torch.unflatten(w_conj, 1, (groups, -1))  # (F, g, Cout_g, Cin_g)
    return _ungrouped(_grouped(x_band, groups) @ w.transpose(-1, -2))


def input_grad_band(g_band: torch.Tensor, w_band: torch.Tensor, groups: int) -> torch.Tensor:
    """``Xbar[f, b, i] = sum_o G[f, b, o] * W[f, o, i]`` -> (F, B, Cin) (real bands: ``w_band``
    in block form)."""
    w = torch.unflatten(w_band, 1, (groups, -1))
    return _ungrouped(_grouped(g_band, groups) @ w)


def weight_grad_band(x_band: torch.Tensor, g_band: torch.Tensor, groups: int) -> torch.Tensor:
    """``Wbar[f, o, i] = sum_b conj(G[f, b, o]) * X[f, b, i]`` -> (F, Cout, Cin_g), complex."""
    return (_grouped(g_band, groups).conj().transpose(-1, -2) @ _grouped(x_band, groups)).flatten(1, 2)


def weight_grad_parts(x_band: torch.Tensor, g_band: torch.Tensor, groups: int) -> torch.Tensor:
    """:func:`weight_grad_band` of real bands, unsummed: the products of the parts
    ``P[f, q, p, o, i] = sum_b G_q[f, b, o] X_p[f, b, i]`` (``q, p``: re, im) as float32
    ``(4 F, Cout * Cin_g)``, so that ``Wbar = (P_rr + P_ii) + i (P_ri - P_ir)`` and any linear
    map of it (the tap adjoint, :func:`block_tap_adjoint`) is one real GEMM."""
    p = _grouped(g_band, groups).mT @ _grouped(x_band, groups)  # (F, g, 2 Cout_g, 2 Cin_g), (o, q) x (i, p)
    n = p.shape[0]
    p = p.reshape(n, -1, 2, p.shape[-1] // 2, 2).permute(0, 2, 4, 1, 3)  # (F, q, p, Cout, Cin_g)
    return p.to(torch.float32, memory_format=torch.contiguous_format).view(4 * n, -1)


def block_dft(dft: torch.Tensor) -> torch.Tensor:
    """The filter DFT ``E = Er + i Ei`` ``(F, taps)`` as the real ``(4 F, taps)`` matrix whose
    rows ``(f, q, p)`` are ``[[Er, Ei], [-Ei, Er]][q][p]``: times the kernel taps, the block
    form of the filter band (:func:`block_form`)."""
    er, ei = dft.real, dft.imag
    return torch.stack((er, ei, -ei, er), dim=1).reshape(4 * dft.shape[0], -1)


def block_form(parts: torch.Tensor, cout: int) -> torch.Tensor:
    """The block form ``(F, 2 Cout, 2 Cin_g)`` of a filter band from ``block_dft(E) @ taps``,
    ``(4 F, Cout * Cin_g)``: the ``2 x 2`` block of ``(o, i)`` is ``[[a, b], [-b, a]]`` for
    ``W[o, i] = a + ib``, so a row vector ``(re, im)`` of ``G[o]`` times it is ``(re, im)`` of
    ``G[o] W[o, i]``."""
    n = parts.shape[0] // 4
    blocks = parts.view(n, 2, 2, cout, -1).permute(0, 3, 1, 4, 2)  # (F, Cout, q, Cin_g, p)
    return blocks.reshape(n, 2 * cout, -1)


def block_tap_adjoint(adjoint: torch.Tensor) -> torch.Tensor:
    """:func:`tap_adjoint_matrix` ``A`` ``(taps, F)`` for :func:`weight_grad_parts`: the real
    ``(taps, 4 F)`` matrix with ``Re(A Wbar) = block_tap_adjoint(A) @ P``."""
    ar, ai = adjoint.real, adjoint.imag
    return torch.stack((ar, -ai, ai, ar), dim=2).reshape(adjoint.shape[0], -1)


def frequency_chunks(n_freq: int, weight: torch.Tensor, dtype: torch.dtype) -> list[slice]:
    """Frequencies in chunks whose filter spectrum (f x Cout x Cin_g, of ``dtype``, or its block
    form, 4 reals an entry) is about ``CHUNK_BYTES``."""
    entry = torch.empty((), dtype=dtype).element_size() * (1 if dtype.is_complex else 4)
    return chunks(n_freq, weight.shape[0] * weight.shape[1] * entry)


def filter_band_conj(
    weight: torch.Tensor, band: Band, dilation: tuple[int, int], dtype: torch.dtype, f: slice = slice(None)
) -> torch.Tensor:
    """``conj`` of the filter's band at frequencies ``f``: ``(f, Cout, Cin_g)`` of complex
    ``dtype``; for a real ``dtype`` (bfloat16/float16), the band itself in block form
    (:func:`block_form`), one real GEMM in ``dtype`` (:func:`block_dft`)."""
    if not dtype.is_complex:
        dft = block_dft(filter_dft_matrix(band, weight.shape[-2:], dilation, weight)[f]).to(dtype)
        return block_form(dft @ kernel_taps(weight, dtype), weight.shape[0])
    dft_conj = filter_dft_matrix(band, weight.shape[-2:], dilation, weight)[f].conj().resolve_conj()
    return torch.unflatten(dft_conj @ kernel_taps(weight, dtype), 1, weight.shape[:2])


def filter_band(
    cached: torch.Tensor | None,
    dft: torch.Tensor,
    blocks: torch.Tensor | None,
    taps: torch.Tensor,
    weight: torch.Tensor,
    f: slice,
) -> torch.Tensor:
    """The filter's band ``W`` at frequencies ``f``, as the input gradient contracts it:
    ``(f, Cout, Cin_g)`` complex, or in block form (``blocks``: :func:`block_dft`
    of ``dft``, for half-type bands); from the cache (which holds ``conj(W)``, or the block
    form) if there is one."""
    if cached is not None:
        return cached[f].conj() if cached.is_complex() else cached[f]
    if blocks is not None:
        return block_form(blocks[4 * f.start : 4 * f.stop] @ taps, weight.shape[0])
    return torch.unflatten(dft[f] @ taps, 1, weight.shape[:2])


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
