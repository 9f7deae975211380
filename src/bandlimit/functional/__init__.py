"""Stateless band-limited operations and the rate arithmetic behind them."""

from .band import Band, fft_size, select_band, spectral_band
from .conv import FilterCache, conv1d, conv2d, forced_path

__all__ = ["Band", "FilterCache", "conv1d", "conv2d", "fft_size", "forced_path", "select_band", "spectral_band"]
