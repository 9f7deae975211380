"""Apply a compression method to an existing model, in place (in the style of torchao's ``quantize_``).

One entry point, :func:`compress_`, dispatches on the config's type through a registry, so
other methods plug in with :func:`register_transform`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

from torch import nn

from ..functional.arguments import check_rate
from ..nn import BandLimitedConv1d, BandLimitedConv2d
from .config import BandLimitConfig, CompressionConfig

__all__ = ["compress_", "register_transform", "set_rate", "restore_", "band_limited_layers"]

LayerFilter = Callable[[nn.Module, str], bool]
Transform = Callable[[nn.Module, CompressionConfig, LayerFilter | None], nn.Module]

_TRANSFORMS: dict[type[CompressionConfig], Transform] = {}

# Plain convolution type -> band-limited type, and back.
_TO_BAND_LIMITED = {nn.Conv1d: BandLimitedConv1d, nn.Conv2d: BandLimitedConv2d}
_TO_PLAIN = {v: k for k, v in _TO_BAND_LIMITED.items()}


def register_transform(config_type: type[CompressionConfig]) -> Callable[[Transform], Transform]:
    """Register ``fn(model, config, filter_fn) -> model`` as the transform for ``config_type``."""

    def decorator(fn: Transform) -> Transform:
        _TRANSFORMS[config_type] = fn
        return fn

    return decorator


def compress_(model: nn.Module, config: CompressionConfig, filter_fn: LayerFilter | None = None) -> nn.Module:
    """Apply ``config`` to ``model`` in place and return it.

    Args:
        model: any module; its layers are replaced in place, keeping parameters (the same
            ``nn.Parameter`` objects, so an existing optimizer keeps working), buffers and hooks.
        config: e.g. ``BandLimitConfig(rate=0.5)``.
        filter_fn: ``filter_fn(module, qualified_name)``, called on each eligible layer
            (``nn.Conv1d`` / ``nn.Conv2d``), selects the layers to convert; all by default.

    Returns:
        The model (a new object only when ``model`` itself is a single layer that is replaced).
    """
    transform = _TRANSFORMS.get(type(config))
    if transform is None:
        known = sorted(t.__name__ for t in _TRANSFORMS)
        raise TypeError(f"config must be one of {known}, got {type(config).__name__}")
    return transform(model, config, filter_fn)


def _retype(module: nn.Module, cls: type[nn.Module]) -> nn.Module:
    """A module of type ``cls`` sharing ``module``'s parameters, buffers, hooks and attributes."""
    new = cls.__new__(cls)
    new.__dict__.update(module.__dict__)
    for key in ("_parameters", "_buffers", "_modules"):
        new.__dict__[key] = type(module.__dict__[key])(module.__dict__[key])
    return new


def _replace(model: nn.Module, convert: Callable[[nn.Module, str], nn.Module | None]) -> nn.Module:
    """Replace each submodule for which ``convert(module, name)`` returns a new module."""
    root = convert(model, "")
    if root is not None:
        return root
    converted: dict[int, nn.Module | None] = {}  # a module registered under several names stays one module
    for name, module in list(model.named_modules(remove_duplicate=False)):
        if not name:
            continue
        if id(module) not in converted:
            converted[id(module)] = convert(module, name)
        new = converted[id(module)]
        if new is not None:
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, new)
    return model


@register_transform(BandLimitConfig)
def _band_limit(model: nn.Module, config: BandLimitConfig, filter_fn: LayerFilter | None) -> nn.Module:
    names: list[str] = []

    def convert(module: nn.Module, name: str) -> nn.Module | None:
        # Exact types only: subclasses of nn.Conv*d may compute differently and are left alone.
        if type(module) not in _TO_BAND_LIMITED and type(module) not in _TO_PLAIN:
            return None
        if filter_fn is not None and not filter_fn(module, name):
            return None
        names.append(name)
        if type(module) in _TO_PLAIN:  # already band-limited: only the rate changes
            module.rate = config.rate_for(name)
            return None
        new = _retype(module, _TO_BAND_LIMITED[type(module)])
        new.rate = config.rate_for(name)
        return new

    model = _replace(model, convert)
    unused = [p for p in config.overrides if not any(p == n or re.fullmatch(p, n) for n in names)]
    if unused:
        warnings.warn(f"rate overrides {unused} match no converted layer", stacklevel=3)
    return model


def band_limited_layers(model: nn.Module) -> dict[str, BandLimitedConv1d | BandLimitedConv2d]:
    """The band-limited layers of ``model`` by qualified name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, (BandLimitedConv1d, BandLimitedConv2d))}


def set_rate(model: nn.Module, rate: float) -> nn.Module:
    """Set the compression rate of every band-limited layer (e.g. between training and inference)."""
    rate = check_rate(rate)
    for layer in band_limited_layers(model).values():
        layer.rate = rate
    return model


def restore_(model: nn.Module) -> nn.Module:
    """Turn every band-limited layer back into a plain ``nn.Conv1d`` / ``nn.Conv2d``, in place."""

    def convert(module: nn.Module, name: str) -> nn.Module | None:
        if type(module) not in _TO_PLAIN:
            return None
        new = _retype(module, _TO_PLAIN[type(module)])
        del new.__dict__["_rate"]
        return new

    return _replace(model, convert)
