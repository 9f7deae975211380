"""Band-limiting in a DCT-II basis (the paper's future work), as an alternative to the FFT's.

The FFT method restricts the spectrum of the zero-padded input on a periodic grid: the
periodic extension jumps where the signal's two ends meet, and that jump spreads energy to
high frequencies, which the band then cuts (ringing at the borders). The orthonormal DCT-II
of an ``(H, W)`` input is the spectrum of its even (mirrored) extension, which has no jump,
so more of a natural signal's energy sits in its low coefficients.

A band here is the ``rows x cols`` corner of the DCT-II coefficients next to DC. The layer
projects its input onto it and runs the ordinary convolution on the projection::

    y = conv(P x, w),   P x = C_h^T (C_h x C_w^T) C_w   per (H, W) plane,

with ``C_h`` ``(rows, H)`` and ``C_w`` ``(cols, W)`` the first rows of the orthonormal DCT-II
matrices. ``P`` is an orthogonal projection (``P = P^T = P^2``), so the input gradient is
``P conv^T(g)``: the backward is the adjoint of the band-limited forward, as in the FFT basis.
What the layer keeps for backward is the band's ``rows x cols`` real coefficients per plane;
at rate 0 ``P`` is the identity and the layer is the plain convolution.

Unlike the DFT, the DCT does not turn a convolution with an arbitrary filter into a product
of spectra, so the filter is not transformed: the convolution itself runs on oneDNN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch

from ..checks import check_rate
from .low_pass import separable

__all__ = [
    "DctBand",
    "dct_analysis",
    "dct_low_pass",
    "dct_low_pass_flops",
    "dct_matrix",
    "dct_synthesis",
    "select_dct_band",
]


@dataclass(frozen=True)
class DctBand:
    """The retained DCT-II coefficients of one layer: rows ``0..rows-1`` and columns ``0..cols-1``
    of the ``(n_h, n_w)`` coefficient array of one input plane (``n_h = 1`` in 1D)."""

    n_h: int
    n_w: int
    rows: int
    cols: int
    ndim: int = 2

    @property
    def grid(self) -> tuple[int, ...]:
        """Size of the transform per spatial dimension: the layer's input size."""
        return (self.n_w,) if self.ndim == 1 else (self.n_h, self.n_w)

    @property
    def shape(self) -> tuple[int, int]:
        """Shape ``(rows, cols)`` of the retained coefficients of one plane."""
        return (self.rows, self.cols)

    @property
    def kept(self) -> int:
        """Number of (real) coefficients kept per plane."""
        return self.rows * self.cols

    @property
    def total(self) -> int:
        """Number of coefficients per plane."""
        return self.n_h * self.n_w

    @property
    def achieved_rate(self) -> float:
        """Exact fraction of the coefficients that are discarded."""
        return 1.0 - self.kept / self.total

    @property
    def is_full(self) -> bool:
        """True when every coefficient is kept (then the layer equals ``conv``)."""
        return self.kept == self.total


def select_dct_band(n_h: int, n_w: int, rate: float, ndim: int = 2) -> DctBand:
    """The band that discards at least a fraction ``rate`` of an ``(n_h, n_w)`` coefficient array.

    As :func:`~bandlimit.functional.band.select_band` does for the FFT: about
    ``(1 - rate) ** (1 / ndim)`` of each axis is kept, then the columns and rows are grown to
    use the budget ``floor((1 - rate) * total)`` as fully as possible. DC is always kept.
    """
    rate = check_rate(rate)
    if rate == 0:
        return DctBand(n_h, n_w, n_h, n_w, ndim)
    total = n_h * n_w
    budget = max(1, min(total - 1, math.floor((1.0 - rate) * total + 1e-9)))
    rows = min(n_h, max(1, round((1.0 - rate) ** (1.0 / ndim) * n_h)))
    cols = min(n_w, budget // rows)
    rows = min(n_h, budget // cols)  # rows take any budget the columns left
    return DctBand(n_h, n_w, rows, cols, ndim)


@lru_cache(maxsize=256)
def dct_matrix(n: int, k: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    """The first ``k`` rows of the orthonormal DCT-II matrix of length ``n``, ``(k, n)``:
    ``C[f, j] = s_f cos(pi f (2 j + 1) / (2 n))`` with ``s_0 = sqrt(1 / n)``, ``s_f = sqrt(2 / n)``.

    Built in float64 from integer phases (reduced mod ``4 n``, the cosine's period) and cached.
    """
    f = torch.arange(k, dtype=torch.int64)[:, None]
    j = torch.arange(n, dtype=torch.int64)[None, :]
    phase = torch.remainder(f * (2 * j + 1), 4 * n).to(torch.float64) * (math.pi / (2 * n))
    matrix = torch.cos(phase) * math.sqrt(2.0 / n)
    matrix[0] /= math.sqrt(2.0)
    return matrix.to(dtype=dtype, device=device)


def _matrices(band: DctBand, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    device = str(like.device)
    return dct_matrix(band.n_h, band.rows, like.dtype, device), dct_matrix(band.n_w, band.cols, like.dtype, device)


def _transform(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    if x.shape[-2] == 1:  # one row (1D): its DCT is itself, and a batched 1x1 product is slow
        return (x.reshape(-1, x.shape[-1]) @ cols.t()).view(*x.shape[:-1], cols.shape[0])
    return separable(x, rows, cols)


def dct_analysis(x: torch.Tensor, band: DctBand) -> torch.Tensor:
    """The band's DCT-II coefficients of every plane: ``(B, C, n_h, n_w)`` -> ``(B, C, rows, cols)``."""
    rows, cols = _matrices(band, x)
    return _transform(x, rows, cols)


def dct_synthesis(coefficients: torch.Tensor, band: DctBand) -> torch.Tensor:
    """The planes whose DCT-II is ``coefficients`` in the band and zero outside it (the adjoint of
    :func:`dct_analysis`): ``(B, C, rows, cols)`` -> ``(B, C, n_h, n_w)``."""
    rows, cols = _matrices(band, coefficients)
    return _transform(coefficients, rows.t(), cols.t())


def dct_low_pass(x: torch.Tensor, band: DctBand) -> torch.Tensor:
    """``x`` ``(B, C, n_h, n_w)`` projected onto the band: an orthogonal projection (self-adjoint)."""
    return dct_synthesis(dct_analysis(x, band), band)


def dct_low_pass_flops(band: DctBand, planes: int) -> float:
    """FLOPs of :func:`dct_low_pass` on ``planes = B * C`` planes: analysis then synthesis, each a
    column product then a row product."""
    h, w, r, c = band.n_h, band.n_w, band.rows, band.cols
    analysis = 2.0 * (h * w * c + r * h * c)
    synthesis = 2.0 * (r * c * w + h * r * w)
    return planes * (analysis + synthesis)
