"""Apply compression methods to existing models in place, and describe the result."""

from . import config as _config  # noqa: F401  (registers the config types)
from .api import band_limited_layers, compress_, register_transform, restore_, set_rate
from .config import BandLimitConfig, CompressionConfig, config_from_dict, config_from_json
from .summary import LayerSummary, format_summary, summary

__all__ = [
    "BandLimitConfig",
    "CompressionConfig",
    "LayerSummary",
    "band_limited_layers",
    "compress_",
    "config_from_dict",
    "config_from_json",
    "format_summary",
    "register_transform",
    "restore_",
    "set_rate",
    "summary",
]
