"""bandlimit: band-limited training and inference of convolutional neural networks."""

from . import functional, nn
from .compress import (
    BandLimitConfig,
    PrecisionConfig,
    PruneConfig,
    SparseConfig,
    SSLConfig,
    StrassenConfig,
    band_limited_layers,
    calibrate_,
    compress_,
    config_from_json,
    format_summary,
    restore_,
    set_rate,
    summary,
)
from .functional import Band, spectral_band

__all__ = [
    "Band",
    "BandLimitConfig",
    "PrecisionConfig",
    "PruneConfig",
    "SSLConfig",
    "SparseConfig",
    "StrassenConfig",
    "band_limited_layers",
    "calibrate_",
    "compress_",
    "config_from_json",
    "format_summary",
    "functional",
    "nn",
    "restore_",
    "set_rate",
    "spectral_band",
    "summary",
]
__version__ = "0.1.0"
