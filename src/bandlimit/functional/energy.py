"""Energy mode: the smallest band that keeps a given fraction of the input spectrum's energy.

The paper's second way to choose a layer's band: instead of a fixed compression rate, keep the
smallest low-pass band (grown from DC, of the same centred shape as the rate mode's, see
:func:`~bandlimit.functional.band.select_band`) whose coefficients hold at least a fraction
``energy`` of the input's spectral energy.

Energy is counted with Parseval's weights over the ``rfft`` grid: a column other than DC and
Nyquist stands for itself and its conjugate mirror, so it counts twice; then the weighted sum
of ``|X|^2`` over the whole grid equals ``Nh * Nw * sum(x ** 2)``. A translation of the input on
the grid only changes phases, so the layer's padding does not change the energy map.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import torch

from ..checks import check_fraction
from .band import Band
from .basis import basis as basis_of
from .dct import DctBand

__all__ = ["band_energy", "energy_map", "energy_rate", "rate_for_energy"]


def energy_map(x: torch.Tensor, grid: Sequence[int], basis: str = "fft") -> torch.Tensor:
    """Weighted spectral energy of ``x`` per coefficient, summed over batch and channels.

    Args:
        x: real ``(..., L)`` (1D, ``grid = (Nw,)``) or ``(..., H, W)`` (2D, ``grid = (Nh, Nw)``),
            no larger than the grid (in the DCT basis, exactly the grid's size).
        basis: ``"fft"`` or ``"dct"``.

    Returns:
        float64 ``(Nh, Nw // 2 + 1)`` (``Nh = 1`` in 1D): ``alpha_c |X[r, c]|^2`` summed over all
        leading dimensions, where ``alpha_c`` is the column's Parseval weight; its total is
        ``Nh * Nw * sum(x ** 2)``. In the DCT basis, ``(Nh, Nw)`` squared coefficients, total
        ``sum(x ** 2)``.
    """
    return basis_of(basis).energy_map(x.detach().to(torch.float64), tuple(grid))


@cache
def _candidates(n_h: int, n_w: int, ndim: int, basis: str) -> tuple[list[float], torch.Tensor]:
    """Every band the rate mode can choose on this grid, fewest coefficients first: the rates that
    select them, and their ``(low, high, cols)`` (FFT) or ``(rows, cols)`` (DCT) as an int64
    ``(3, n)`` or ``(2, n)`` tensor."""
    strategy = basis_of(basis)
    select, total = strategy.select, strategy.coefficients(n_h, n_w)
    bands: dict[Band | DctBand, float] = {select(n_h, n_w, 0.0, ndim): 0.0}
    for budget in range(total - 1, 0, -1):  # the rate that leaves exactly this budget
        rate = 1.0 - budget / total
        bands.setdefault(select(n_h, n_w, rate, ndim), rate)
    ordered = sorted(bands, key=lambda b: (b.kept, -bands[b]))
    sizes = [(b.low, b.high, b.cols) if isinstance(b, Band) else (b.rows, b.cols) for b in ordered]
    return [bands[b] for b in ordered], torch.tensor(sizes).T


def _prefix_sums(power: torch.Tensor) -> torch.Tensor:
    """``S[r, c] = power[:r, :c].sum()``, ``(R + 1, C + 1)``."""
    return torch.nn.functional.pad(power.cumsum(0).cumsum(1), (1, 0, 1, 0))


def _kept_energies(power: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """The energy each of :func:`_candidates`' bands keeps, with one (DCT) or two (FFT) lookups."""
    if len(sizes) == 2:
        rows, cols = sizes
        return _prefix_sums(power)[rows, cols]
    # The FFT band's rows are 0..low-1 from the top and the last ``high`` rows (negative frequencies).
    low, high, cols = sizes
    return _prefix_sums(power)[low, cols] + _prefix_sums(power.flip(0))[high, cols]


def band_energy(power: torch.Tensor, band: Band | DctBand) -> float:
    """The part of an :func:`energy_map` (in the band's basis) that ``band`` keeps."""
    rows = list(band.rows) if isinstance(band, Band) else slice(band.rows)
    return float(power[rows, : band.cols].sum())


def rate_for_energy(power: torch.Tensor, grid: Sequence[int], energy: float, basis: str = "fft") -> float:
    """The rate whose band is the smallest that keeps at least the fraction ``energy`` of
    ``power``'s total.

    Args:
        power: an :func:`energy_map` on ``grid`` in ``basis``.
        grid: the layer's FFT grid, ``(Nw,)`` or ``(Nh, Nw)`` (in the DCT basis, its input size).
        energy: in ``(0, 1]``; 1 keeps every coefficient that holds energy.

    Returns:
        A rate in ``[0, 1)``; a higher ``energy`` never gives a higher rate (the bands are tried
        in one order, smallest first). An all-zero input keeps DC alone.
    """
    energy = check_fraction(energy, "energy")
    n_h, n_w = (1, grid[0]) if len(grid) == 1 else (grid[0], grid[1])
    rates, sizes = _candidates(n_h, n_w, len(grid), basis)
    kept = _kept_energies(power, sizes)
    # Relative slack for rounding: the full band's sum can differ from the total in the last bits.
    enough = kept >= energy * float(power.sum()) * (1.0 - 1e-12)
    return rates[int(enough.to(torch.int8).argmax())] if bool(enough.any()) else 0.0


def energy_rate(x: torch.Tensor, grid: Sequence[int], energy: float, basis: str = "fft") -> float:
    """The rate a layer runs at on input ``x`` in energy mode (the band chosen from this batch's
    spectrum, as in the paper); ``grid`` is the layer's transform size (:meth:`energy_grid` of
    the band-limited modules)."""
    return rate_for_energy(energy_map(x, grid, basis), grid, energy, basis)
