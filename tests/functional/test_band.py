"""Rate arithmetic: FFT grid sizes and the retained band, against brute force."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bandlimit.functional import fft_size, select_band, spectral_band


def _is_7_smooth(n: int) -> bool:
    for p in (2, 3, 5, 7):
        while n % p == 0:
            n //= p
    return n == 1


@pytest.mark.parametrize("n", list(range(1, 300)) + [1025, 1031])
def test_fft_size_is_smallest_smooth_size(n):
    m = fft_size(n)
    assert m >= n and _is_7_smooth(m)
    assert not any(_is_7_smooth(k) for k in range(n, m))


def test_fft_size_known_values():
    assert [fft_size(n) for n in (34, 36, 38, 1031)] == [35, 36, 40, 1050]


def _mask(band) -> np.ndarray:
    """The kept set as a boolean rfft array, built from the index lists."""
    mask = np.zeros(band.rfft_shape, dtype=bool)
    mask[np.ix_(list(band.rows), list(range(band.cols)))] = True
    return mask


@given(st.integers(1, 70), st.integers(1, 70), st.floats(0.0, 0.999))
def test_band_never_compresses_less_than_requested(n_h, n_w, rate):
    band = select_band(n_h, n_w, rate)
    mask = _mask(band)
    assert band.kept == mask.sum()
    assert band.achieved_rate == pytest.approx(1 - mask.sum() / mask.size)
    assert band.achieved_rate >= rate - 1e-12 or band.kept == 1  # DC alone is always kept
    # Symmetric under k -> -k (rows), so the band of a real signal stays Hermitian.
    rows = set(band.rows)
    assert rows == {(-r) % n_h for r in rows}
    assert 0 in rows and band.cols >= 1


@given(st.integers(2, 70), st.integers(2, 70), st.floats(0.01, 0.99))
def test_nyquist_dropped_unless_everything_kept(n_h, n_w, rate):
    band = select_band(n_h, n_w, rate)
    if n_h % 2 == 0:
        assert n_h // 2 not in band.rows
    if n_w % 2 == 0:
        assert band.cols <= n_w // 2


def test_rate_zero_keeps_everything():
    band = select_band(36, 35, 0.0)
    assert band.is_full and band.achieved_rate == 0.0 and band.shape == (36, 18)


def test_about_sqrt_of_each_axis_is_kept():
    band = select_band(64, 64, 0.75)  # sqrt(0.25) = 0.5 of each axis
    assert band.low + band.high == pytest.approx(32, abs=2)
    assert band.cols == pytest.approx(16.5, abs=2)
    assert 0.75 <= band.achieved_rate < 0.78


def test_formula_of_the_design_notes():
    band = select_band(35, 35, 0.5)
    kr = max(min(r, 35 - r) for r in band.rows)  # largest |row frequency| kept, from the index list
    kc = band.cols - 1
    assert len(band.rows) == 2 * kr + 1  # every row frequency -Kr..Kr, each once
    assert band.achieved_rate == pytest.approx(1 - (2 * kr + 1) * (kc + 1) / (35 * 18))


def test_spectral_band_of_a_layer():
    band = spectral_band((32, 32), (3, 3), padding=1, rate=0.5)
    assert band.grid == (35, 35)  # 34 rounded up to a 7-smooth size
    assert 0.5 <= band.achieved_rate < 0.55
    band_1d = spectral_band((1024,), (65,), padding=32, rate=0.5)
    assert band_1d.grid == (fft_size(1088),)
    assert band_1d.rows == (0,) and band_1d.cols <= (band_1d.grid[0] // 2 + 1) // 2


def test_spectral_band_rejects_bad_arguments():
    with pytest.raises(ValueError, match="rate"):
        spectral_band((8, 8), (3, 3), rate=1.0)
    with pytest.raises(ValueError, match="larger than the padded input"):
        spectral_band((4, 4), (7, 7))
    with pytest.raises(ValueError, match="1 or 2 entries"):
        spectral_band((4, 4, 4), (3, 3, 3))


def test_a_tiny_rate_is_not_rounded_up_to_keeping_everything():
    band = select_band(1, 3, 1.8e-12)  # found by hypothesis: the rounding slack kept both columns
    assert band.achieved_rate >= 1.8e-12
