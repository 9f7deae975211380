"""Stateless band-limited operations and the rate arithmetic behind them."""

from .band import Band, fft_size, select_band, spectral_band
from .conv import conv1d, conv2d

__all__ = ["Band", "conv1d", "conv2d", "fft_size", "select_band", "spectral_band"]
