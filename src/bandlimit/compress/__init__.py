"""Apply compression methods to existing models in place, and describe the result.

A method is one module: a :class:`CompressionConfig` subclass and a transform registered for it
with :func:`register_transform` (see :mod:`.bandlimit`); :func:`unregister_method` undoes both.
"""

from .bandlimit import BandLimitConfig, band_limited_layers, calibrate_, chosen_rates, restore_, set_rate
from .config import CompressionConfig, config_from_dict, config_from_json, config_types
from .precision import PrecisionConfig
from .prune import PruneConfig, pruned_layers, remove_pruning_, weight_sparsity
from .sparse import SparseConfig, sparse_layers
from .ssl import SSLConfig, zero_small_groups_
from .strassen import StrassenConfig, strassen_layers, strassen_phase
from .structure import remove_zero_channels_, remove_zero_shapes_, skip_zero_branches_
from .summary import LayerSummary, format_summary, summary
from .transform import LayerFilter, compress_, register_transform, unregister_method

__all__ = [
    "BandLimitConfig",
    "CompressionConfig",
    "LayerFilter",
    "LayerSummary",
    "PrecisionConfig",
    "PruneConfig",
    "SSLConfig",
    "SparseConfig",
    "StrassenConfig",
    "band_limited_layers",
    "calibrate_",
    "chosen_rates",
    "compress_",
    "config_from_dict",
    "config_from_json",
    "config_types",
    "format_summary",
    "pruned_layers",
    "remove_pruning_",
    "remove_zero_channels_",
    "remove_zero_shapes_",
    "skip_zero_branches_",
    "sparse_layers",
    "strassen_layers",
    "strassen_phase",
    "weight_sparsity",
    "zero_small_groups_",
    "register_transform",
    "restore_",
    "set_rate",
    "summary",
    "unregister_method",
]
