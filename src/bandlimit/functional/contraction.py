"""The spectral path's channel contraction: per frequency (and group) a complex matrix product,
``X (F, B, Cin)``, ``W (F, Cout, Cin_g)``, ``G (F, B, Cout)``, with the filter's band built in
frequency chunks so that its spectrum never takes more than about ``CHUNK_BYTES``."""

from __future__ import annotations

import torch

from .band import Band
from .spectral import chunks, filter_dft_matrix, kernel_taps

__all__ = ["filter_band_conj", "frequency_chunks", "input_grad_band", "output_band", "weight_grad_band"]


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
