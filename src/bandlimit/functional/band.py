"""Rate arithmetic: the FFT grid of a layer and the low-frequency band it keeps.

A band is a centred low-pass set of the ``rfft2`` array of shape ``(Nh, Nw // 2 + 1)``:
rows ``0..low-1`` and ``Nh-high..Nh-1`` (row frequencies ``|k_r| <= Kr``) and columns
``0..cols-1`` (column frequencies ``0..Kc``). The set is symmetric under ``k -> -k``, so the
band-limited spectrum of a real signal stays Hermitian and ``irfft2`` stays exact.
1D layers use the same arithmetic on a grid with a single row (``Nh = 1``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from ..checks import check_rate
from .arguments import as_tuple, check_kernel_fits

__all__ = ["Band", "band_for_size", "fft_size", "select_band", "spectral_band"]


@cache
def fft_size(n: int) -> int:
    """The smallest 7-smooth integer (only prime factors 2, 3, 5, 7) that is ``>= n``.

    FFT libraries are fast at such sizes (MKL here: 36 is 2.4x faster than 34); 7 is
    admitted because it keeps the grid tight (35 instead of 36 for a 34-point input),
    which is what the memory saved for backward depends on.
    """
    if n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    m = n
    while True:
        r = m
        for p in (2, 3, 5, 7):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


@dataclass(frozen=True)
class Band:
    """The retained set of rfft coefficients of one layer.

    Attributes:
        n_h: FFT grid rows (1 for 1D layers).
        n_w: FFT grid columns.
        low: rows ``0..low-1`` are kept.
        high: rows ``n_h-high..n_h-1`` are kept.
        cols: rfft columns ``0..cols-1`` are kept.
        ndim: number of spatial dimensions of the layer (1 or 2).
    """

    n_h: int
    n_w: int
    low: int
    high: int
    cols: int
    ndim: int = 2

    @property
    def grid(self) -> tuple[int, ...]:
        """FFT grid size per spatial dimension: ``(Nw,)`` in 1D, ``(Nh, Nw)`` in 2D."""
        return (self.n_w,) if self.ndim == 1 else (self.n_h, self.n_w)

    @property
    def rfft_shape(self) -> tuple[int, int]:
        """Shape ``(Nh, Nw // 2 + 1)`` of the full rfft2 array of one channel."""
        return (self.n_h, self.n_w // 2 + 1)

    @property
    def shape(self) -> tuple[int, int]:
        """Shape ``(rows, cols)`` of the retained band of one channel."""
        return (self.low + self.high, self.cols)

    @property
    def rows(self) -> tuple[int, ...]:
        """Row indices of the rfft2 array that are kept, in storage order: ascending signed
        frequency, ``-Kr..-1`` (stored as ``Nh-Kr..Nh-1``) then ``0..Kr``."""
        return tuple(range(self.n_h - self.high, self.n_h)) + tuple(range(self.low))

    @property
    def kept(self) -> int:
        """Number of rfft coefficients kept per channel."""
        return (self.low + self.high) * self.cols

    def outweighs(self, input_hw: tuple[int, int]) -> bool:
        """Whether one channel's band (``kept`` complex numbers) holds at least as many reals as
        an unpadded ``(h, w)`` input plane: then a layer saves its input for backward, not its band."""
        return 2 * self.kept >= input_hw[0] * input_hw[1]

    @property
    def total(self) -> int:
        """Number of rfft coefficients per channel."""
        return self.n_h * (self.n_w // 2 + 1)

    @property
    def achieved_rate(self) -> float:
        """Exact fraction of the rfft coefficients that are discarded."""
        return 1.0 - self.kept / self.total

    @property
    def is_full(self) -> bool:
        """True when every coefficient is kept (then the layer equals ``conv``)."""
        return self.kept == self.total


def select_band(n_h: int, n_w: int, rate: float, ndim: int = 2) -> Band:
    """Choose the band that discards at least a fraction ``rate`` of an ``(n_h, n_w)`` grid.

    About ``(1 - rate) ** (1 / ndim)`` of each axis is kept; the column count is then grown
    to use the budget ``floor((1 - rate) * total)`` as fully as possible, so the achieved rate
    is never below the requested one (except when the DC coefficient alone exceeds the
    budget: DC is always kept). The Nyquist row/column is dropped unless everything is kept.
    """
    rate = check_rate(rate)
    n_cols = n_w // 2 + 1
    if rate == 0:
        return Band(n_h, n_w, n_h, 0, n_cols, ndim)
    total = n_h * n_cols
    # The 1e-9 absorbs rounding (rate 0.5 of 2 coefficients keeps 1); any rate > 0 drops at least
    # one coefficient, so that a tiny rate is not rounded up to keeping everything.
    budget = max(1, min(total - 1, math.floor((1.0 - rate) * total + 1e-9)))
    max_kr = (n_h - 1) // 2  # excludes the Nyquist row of an even grid
    max_kc = (n_w - 1) // 2  # excludes the Nyquist column of an even grid
    keep = (1.0 - rate) ** (1.0 / ndim)
    kr = min(max_kr, max(0, math.floor((keep * n_h - 1) / 2)))
    while kr > 0 and budget // (2 * kr + 1) < 1:
        kr -= 1
    kc = min(max_kc, budget // (2 * kr + 1) - 1)
    # Give rows any budget the column choice left unused.
    kr = min(max_kr, max(kr, (budget // (kc + 1) - 1) // 2))
    return Band(n_h, n_w, kr + 1, kr, kc + 1, ndim)


def band_for_size(padded_size: Sequence[int], rate: float) -> Band:
    """The band of a layer whose padded input has spatial size ``(L,)`` or ``(H, W)``.

    The grid is the padded size rounded up per dimension to a fast FFT size (no smaller
    grid avoids wrap-around in the forward and both backward products).
    """
    grid = [fft_size(n) for n in padded_size]
    if len(grid) == 1:
        return select_band(1, grid[0], rate, ndim=1)
    return select_band(grid[0], grid[1], rate, ndim=2)


def spectral_band(
    input_size: Sequence[int],
    kernel_size: Sequence[int],
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    rate: float = 0.0,
) -> Band:
    """The FFT grid and retained band of a convolution layer for one input size.

    Args:
        input_size: spatial size of the input, ``(L,)`` or ``(H, W)``.
        kernel_size: spatial kernel size, same length.
        padding: zero padding on each side, an int or one per dimension.
        dilation: kernel dilation, an int or one per dimension.
        rate: requested compression rate in ``[0, 1)``.

    Returns:
        The :class:`Band` the layer uses; ``band.achieved_rate`` is the exact rate.
    """
    ndim = len(input_size)
    if ndim not in (1, 2) or len(kernel_size) != ndim:
        raise ValueError(
            f"input_size and kernel_size must both have 1 or 2 entries, got {input_size} and {kernel_size}"
        )
    rate = check_rate(rate)
    pad = as_tuple("padding", padding, ndim, minimum=0)
    dil = as_tuple("dilation", dilation, ndim, minimum=1)
    padded = [n + 2 * p for n, p in zip(input_size, pad)]
    check_kernel_fits(padded, kernel_size, dil)
    return band_for_size(padded, rate)
