"""Stateless band-limited operations and the rate arithmetic behind them."""

from .band import Band, fft_size, select_band, spectral_band
from .conv import BASES, FilterCache, conv1d, conv2d, forced_path
from .dct import DctBand, select_dct_band
from .precision import low_precision

__all__ = [
    "BASES",
    "Band",
    "DctBand",
    "FilterCache",
    "conv1d",
    "conv2d",
    "fft_size",
    "forced_path",
    "low_precision",
    "select_band",
    "select_dct_band",
    "spectral_band",
]
