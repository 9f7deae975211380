"""Apply compression methods to existing models in place, and describe the result.

A method is one module: a :class:`CompressionConfig` subclass and a transform registered for it
with :func:`register_transform` (see :mod:`.bandlimit`).
"""

from .bandlimit import BandLimitConfig, band_limited_layers, calibrate_, chosen_rates, restore_, set_rate
from .config import CompressionConfig, config_from_dict, config_from_json, config_types
from .precision import PrecisionConfig
from .summary import LayerSummary, format_summary, summary
from .transform import LayerFilter, compress_, register_transform

__all__ = [
    "BandLimitConfig",
    "CompressionConfig",
    "LayerFilter",
    "LayerSummary",
    "PrecisionConfig",
    "band_limited_layers",
    "calibrate_",
    "chosen_rates",
    "compress_",
    "config_from_dict",
    "config_from_json",
    "config_types",
    "format_summary",
    "register_transform",
    "restore_",
    "set_rate",
    "summary",
]
