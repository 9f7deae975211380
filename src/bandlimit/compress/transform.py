"""Apply compression configs to an existing model, in place (in the style of torchao's ``quantize_``).

One walk over the model serves every method: a method registers a handler for its config
type with :func:`register_transform`; the handler receives one eligible module at a time
(with that layer's config, overrides applied) and returns its replacement. Filtering, per-layer
overrides and the report of what was converted live here, once.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from torch import nn

from .config import CompressionConfig, unregister_config_type

__all__ = [
    "LayerFilter",
    "Transform",
    "compress_",
    "register_transform",
    "retype",
    "replace_modules",
    "unregister_method",
]

logger = logging.getLogger("bandlimit.compress")

LayerFilter = Callable[[nn.Module, str], bool]
"""``filter_fn(module, qualified_name) -> bool``: whether to convert an eligible layer."""

Transform = Callable[[Any, Any], "nn.Module | None"]
"""``handler(module, layer_config) -> replacement``: the module to put in its place (it may be
``module`` itself, changed in place), or None to leave the layer alone."""

C = TypeVar("C", bound=CompressionConfig)


Finalize = Callable[[nn.Module, Any], None]
"""``finalize(model, config)``: a step on the whole model after its layers are converted."""


@dataclass(frozen=True)
class _Handler:
    transform: Transform
    targets: tuple[type[nn.Module], ...]
    finalize: Finalize | None


_HANDLERS: dict[type[CompressionConfig], _Handler] = {}


def register_transform(
    config_type: type[C],
    targets: tuple[type[nn.Module], ...],
    finalize: Callable[[nn.Module, C], None] | None = None,
) -> Callable[[Callable[[Any, C], nn.Module | None]], Callable[[Any, C], nn.Module | None]]:
    """Register ``handler(module, config) -> nn.Module | None`` for ``config_type``.

    Args:
        config_type: the method's config class.
        targets: the module types the handler receives. Types match exactly: a subclass
            may compute differently, so it is left alone unless listed. Empty: the method
            acts on the whole model, in ``finalize`` (e.g. mixed precision).
        finalize: ``finalize(model, config)``, run on the whole model after the walk, for what
            a method sets up once per model (e.g. hooks on the root).
    """

    def decorator(fn: Callable[[Any, C], nn.Module | None]) -> Callable[[Any, C], nn.Module | None]:
        _HANDLERS[config_type] = _Handler(fn, tuple(targets), finalize)
        return fn

    return decorator


def unregister_method(config_type: type[CompressionConfig]) -> None:
    """Undo a method's registration: drop the transform registered for ``config_type`` and free
    its method name, so that the method leaves :func:`~bandlimit.compress.config_types`, the
    command line's flags and ``compress_``. For a method defined for a while only, such as a
    test's; nothing happens for what is not registered.
    """
    _HANDLERS.pop(config_type, None)
    unregister_config_type(config_type)


def compress_(
    model: nn.Module,
    config: CompressionConfig | Sequence[CompressionConfig],
    filter_fn: LayerFilter | None = None,
) -> nn.Module:
    """Apply ``config`` (or several configs, in order) to ``model`` in place and return it.

    Args:
        model: any module; its layers are replaced in place, keeping parameters (the same
            ``nn.Parameter`` objects, so an existing optimizer keeps working), buffers and hooks.
        config: e.g. ``BandLimitConfig(rate=0.5)``, or a sequence of configs applied one after
            the other.
        filter_fn: ``filter_fn(module, qualified_name)``, called on each eligible layer,
            selects the layers to convert; all by default.

    Returns:
        The model (a new object only when ``model`` itself is a single layer that is replaced).

    Warns:
        UserWarning: when an override pattern matches no converted layer, or a config
            converts no layer at all.
    """
    configs = [config] if isinstance(config, CompressionConfig) else config
    if not isinstance(configs, Sequence) or not all(isinstance(c, CompressionConfig) for c in configs):
        known = sorted(t.__name__ for t in _HANDLERS)
        raise TypeError(f"config must be one of {known} or a sequence of them, got {config!r}")
    for c in configs:
        model = _apply(model, c, filter_fn)
    return model


def _apply(model: nn.Module, config: CompressionConfig, filter_fn: LayerFilter | None) -> nn.Module:
    handler = _HANDLERS.get(type(config))
    if handler is None:
        raise TypeError(f"no transform is registered for {type(config).__name__} (register_transform)")
    converted: list[str] = []

    def convert(module: nn.Module, name: str) -> nn.Module | None:
        if type(module) not in handler.targets or (filter_fn is not None and not filter_fn(module, name)):
            return None
        new = handler.transform(module, config.for_layer(name))
        if new is not None:
            converted.append(name)
        return new

    model = replace_modules(model, convert)
    if handler.finalize is not None:
        handler.finalize(model, config)
    unused = [p for p in config.overrides if not any(p == n or re.fullmatch(p, n) for n in converted)]
    if unused:
        warnings.warn(f"{config.method} overrides {unused} match no converted layer", stacklevel=3)
    if not converted and handler.targets:
        warnings.warn(f"{config.method}: no layer of the model was converted", stacklevel=3)
    logger.info("%s: converted %d layers: %s", config.method, len(converted), ", ".join(converted) or "-")
    return model


def retype(module: nn.Module, cls: type[nn.Module]) -> nn.Module:
    """A module of type ``cls`` sharing ``module``'s parameters, buffers, hooks and attributes."""
    new = cls.__new__(cls)
    new.__dict__.update(module.__dict__)
    for key in ("_parameters", "_buffers", "_modules"):
        new.__dict__[key] = type(module.__dict__[key])(module.__dict__[key])
    return new


def replace_modules(model: nn.Module, convert: Callable[[nn.Module, str], nn.Module | None]) -> nn.Module:
    """Replace each module for which ``convert(module, qualified_name)`` returns a module.

    The root is offered first (name ``""``); a module registered under several names is
    converted once and stays one module.
    """
    root = convert(model, "")
    if root is not None:
        return root
    converted: dict[int, nn.Module | None] = {}
    for name, module in list(model.named_modules(remove_duplicate=False)):
        if not name:
            continue
        if id(module) not in converted:
            converted[id(module)] = convert(module, name)
        new = converted[id(module)]
        if new is not None and new is not module:
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, new)
    return model
