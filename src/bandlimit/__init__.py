"""bandlimit: band-limited training and inference of convolutional neural networks."""

from . import functional, nn
from .functional import Band, spectral_band

__all__ = ["Band", "functional", "nn", "spectral_band"]
__version__ = "0.1.0"
