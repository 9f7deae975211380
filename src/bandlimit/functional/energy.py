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
from .band import Band, band_for_size, select_band
from .spectral import column_weights

__all__ = ["band_energy", "energy_map", "energy_rate", "rate_for_energy"]


def energy_map(x: torch.Tensor, grid: Sequence[int]) -> torch.Tensor:
    """Weighted spectral energy of ``x`` per ``rfft`` coefficient, summed over batch and channels.

    Args:
        x: real ``(..., L)`` (1D, ``grid = (Nw,)``) or ``(..., H, W)`` (2D, ``grid = (Nh, Nw)``),
            no larger than the grid.

    Returns:
        float64 ``(Nh, Nw // 2 + 1)`` (``Nh = 1`` in 1D): ``alpha_c |X[r, c]|^2`` summed over all
        leading dimensions, where ``alpha_c`` is the column's Parseval weight. Its total is
        ``Nh * Nw * sum(x ** 2)``.
    """
    dims = tuple(range(-len(grid), 0))
    spectrum = torch.fft.rfftn(x.detach().to(torch.float64), s=tuple(grid), dim=dims)
    power = spectrum.abs().square().reshape(-1, *spectrum.shape[-len(grid) :]).sum(0)
    if len(grid) == 1:
        power = power[None]
    full = select_band(power.shape[0], grid[-1], 0.0, len(grid))
    weighted: torch.Tensor = power * column_weights(full)
    return weighted


@cache
def _candidates(n_h: int, n_w: int, ndim: int) -> tuple[list[float], torch.Tensor]:
    """Every band the rate mode can choose on this grid, fewest coefficients first: the rates that
    select them, and their ``(low, high, cols)`` as an int64 ``(3, n)`` tensor."""
    total = n_h * (n_w // 2 + 1)
    bands: dict[Band, float] = {select_band(n_h, n_w, 0.0, ndim): 0.0}
    for budget in range(total - 1, 0, -1):  # the rate that leaves exactly this budget
        rate = 1.0 - budget / total
        bands.setdefault(select_band(n_h, n_w, rate, ndim), rate)
    ordered = sorted(bands, key=lambda b: (b.kept, -bands[b]))
    return [bands[b] for b in ordered], torch.tensor([(b.low, b.high, b.cols) for b in ordered]).T


def band_energy(power: torch.Tensor, band: Band) -> float:
    """The part of an :func:`energy_map` that ``band`` keeps."""
    return float(power[list(band.rows), : band.cols].sum())


def rate_for_energy(power: torch.Tensor, grid: Sequence[int], energy: float) -> float:
    """The rate whose band (:func:`~bandlimit.functional.band.band_for_size`) is the smallest that
    keeps at least the fraction ``energy`` of ``power``'s total.

    Args:
        power: an :func:`energy_map` on ``grid``.
        grid: the layer's FFT grid, ``(Nw,)`` or ``(Nh, Nw)``.
        energy: in ``(0, 1]``; 1 keeps every coefficient that holds energy.

    Returns:
        A rate in ``[0, 1)``; a higher ``energy`` never gives a higher rate (the bands are tried
        in one order, smallest first). An all-zero input keeps DC alone.
    """
    energy = check_fraction(energy, "energy")
    n_h, n_w = (1, grid[0]) if len(grid) == 1 else (grid[0], grid[1])
    rates, (low, high, cols) = _candidates(n_h, n_w, len(grid))
    # Prefix sums over rows from DC down (low rows) and from the last row up (the negative
    # frequencies), and over columns: a band's energy is then two lookups.
    zero_row = power.new_zeros(1, power.shape[1])
    from_top = torch.cat((zero_row, power.cumsum(0)))
    from_bottom = torch.cat((zero_row, power.flip(0).cumsum(0)))
    pad_col = (1, 0)
    from_top = torch.nn.functional.pad(from_top.cumsum(1), pad_col)
    from_bottom = torch.nn.functional.pad(from_bottom.cumsum(1), pad_col)
    kept = from_top[low, cols] + from_bottom[high, cols]
    # Relative slack for rounding: the full band's sum can differ from the total in the last bits.
    enough = kept >= energy * float(power.sum()) * (1.0 - 1e-12)
    return rates[int(enough.to(torch.int8).argmax())] if bool(enough.any()) else 0.0


def energy_rate(x: torch.Tensor, padded_size: Sequence[int], energy: float) -> float:
    """The rate a layer whose padded input has spatial size ``padded_size`` runs at on input ``x``
    in energy mode (the band chosen from this batch's spectrum, as in the paper)."""
    grid = band_for_size(padded_size, 0.0).grid
    return rate_for_energy(energy_map(x, grid), grid, energy)
