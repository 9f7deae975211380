"""Model zoo: small-image CNNs and a time-series FCN, built from plain ``nn.Conv1d`` / ``nn.Conv2d``.

Convs are kept as ordinary modules so they can later be swapped in place for the
band-limited versions in :mod:`bandlimit.nn`.

Example:
    >>> from bandlimit.models import create_model
    >>> model = create_model("small_resnet", in_channels=1, num_classes=10)
"""

# Imported for their side effect: each module registers its models.
from . import densenet, fcn, lenet, resnet  # noqa: F401
from .registry import create_model, list_models, model_ndim, register_model

__all__ = ["create_model", "list_models", "model_ndim", "register_model"]
