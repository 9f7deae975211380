"""The direct path's low-pass: the input projected onto the band and sampled back on the grid
where the kernel reads it, as two real matrix products per plane (separable), its adjoint for
the input gradient, and their FLOP counts (conventions as in :mod:`.spectral`)."""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from .band import Band
from .spectral import band_irfft2, band_irfft2_flops, band_rfft2, band_rfft2_flops, column_weights, uses_gemm

__all__ = ["band_low_pass", "band_low_pass_adjoint", "band_low_pass_adjoint_flops", "band_low_pass_flops", "separable"]


@lru_cache(maxsize=256)
def _low_pass_matrix(
    band: Band, axis: str, size_out: int, step: int, size_in: int, offset: int, dtype: torch.dtype, device: str
) -> torch.Tensor:
    """The band's low-pass along one axis as a real ``(size_out, size_in)`` matrix: from input
    samples at grid positions ``offset + j`` to output samples at ``step * i``.

    ``M[i, j] = sum_k alpha_k cos(2 pi k (step i - offset - j) / n) / n`` over the kept
    frequencies of the axis (``alpha``: rfft column weights; 1 for rows), which is real
    because the kept set is symmetric; built as ``C_out^T diag(alpha) C_in + S_out^T diag(alpha) S_in``.
    """
    if axis == "rows":
        freqs, n, weights = torch.tensor(band.rows, dtype=torch.int64), band.n_h, torch.ones(len(band.rows))
    else:
        freqs, n, weights = torch.arange(band.cols), band.n_w, column_weights(band)
    out_pos = torch.arange(size_out, dtype=torch.int64) * step
    in_pos = torch.arange(size_in, dtype=torch.int64) + offset
    parts = []
    for pos in (out_pos, in_pos):
        phase = torch.remainder(torch.outer(freqs, pos), n).to(torch.float64) * (2.0 * math.pi / n)
        parts.append((torch.cos(phase), torch.sin(phase)))
    (cos_out, sin_out), (cos_in, sin_in) = parts
    w = weights.to(torch.float64)[:, None] / n
    matrix = cos_out.t() @ (w * cos_in) + sin_out.t() @ (w * sin_in)
    return matrix.to(dtype=dtype, device=device)


def separable(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``rows @ plane @ cols.T`` for every ``(H, W)`` plane of ``x`` ``(B, C, H, W)``."""
    b, c, h, w = x.shape
    t = x.reshape(b * c * h, w) @ cols.t()  # (BCH, W')
    if rows.shape == (1, 1):  # one row (a 1D layer): a scale, not B C one-element matrix products
        return t.mul_(rows[0, 0]).view(b, c, 1, -1)
    return torch.matmul(rows, t.view(b * c, h, -1)).view(b, c, rows.shape[0], -1)


def band_low_pass(
    x: torch.Tensor, band: Band, out_h: int, out_w: int, top: int = 0, left: int = 0, step: tuple[int, int] = (1, 1)
) -> torch.Tensor:
    """``x`` ``(B, C, H, W)``, placed at ``(top, left)`` on the zero grid, restricted to the band
    and sampled at ``step`` apart from the grid's origin: ``(B, C, out_h, out_w)``.

    Equal to ``band_irfft2(band_rfft2(x, band, top, left), band, out_h, out_w, step=step)``: the
    band is a rectangle of row and column frequencies, so its low-pass is separable, two real
    matrix products per plane with no spectrum in between.
    """
    if not uses_gemm(band, x.dtype):  # large grids: FFTs cost fewer FLOPs than these dense products
        return band_irfft2(band_rfft2(x, band, top, left), band, out_h, out_w, step=step)
    device = str(x.device)
    rows = _low_pass_matrix(band, "rows", out_h, step[0], x.shape[2], top, x.dtype, device)
    cols = _low_pass_matrix(band, "cols", out_w, step[1], x.shape[3], left, x.dtype, device)
    return separable(x, rows, cols)


def band_low_pass_adjoint(
    g: torch.Tensor, band: Band, in_h: int, in_w: int, top: int = 0, left: int = 0, step: tuple[int, int] = (1, 1)
) -> torch.Tensor:
    """The adjoint of :func:`band_low_pass`: ``(B, C, out_h, out_w)`` -> ``(B, C, in_h, in_w)``."""
    if not uses_gemm(band, g.dtype):
        return band_irfft2(band_rfft2(g, band, step=step), band, in_h, in_w, top, left)
    device = str(g.device)
    rows = _low_pass_matrix(band, "rows", g.shape[2], step[0], in_h, top, g.dtype, device)
    cols = _low_pass_matrix(band, "cols", g.shape[3], step[1], in_w, left, g.dtype, device)
    return separable(g, rows.t(), cols.t())


def band_low_pass_flops(
    band: Band, planes: int, in_hw: tuple[int, int], out_hw: tuple[int, int], top: int = 0, step: int = 1
) -> float:
    """FLOPs of :func:`band_low_pass` from ``in_hw`` placed ``top`` rows down to ``out_hw``
    samples ``step`` rows apart: the column product then the row product, per plane (on the
    FFT path, the transform and its inverse)."""
    (h, w), (out_h, out_w) = in_hw, out_hw
    if not uses_gemm(band):
        return band_rfft2_flops(band, planes, h, w, top) + band_irfft2_flops(band, planes, out_h, out_w, step)
    return planes * (2.0 * h * w * out_w + (2.0 * out_h * h * out_w if (h, out_h) != (1, 1) else 0.0))


def band_low_pass_adjoint_flops(
    band: Band, planes: int, in_hw: tuple[int, int], out_hw: tuple[int, int], step: int = 1
) -> float:
    """FLOPs of :func:`band_low_pass_adjoint` from ``out_hw`` samples ``step`` rows apart back to ``in_hw``."""
    (h, w), (out_h, out_w) = in_hw, out_hw
    if not uses_gemm(band):
        return band_rfft2_flops(band, planes, out_h, out_w, step=step) + band_irfft2_flops(band, planes, h, w)
    return planes * (2.0 * out_h * out_w * w + (2.0 * h * out_h * w if (h, out_h) != (1, 1) else 0.0))
