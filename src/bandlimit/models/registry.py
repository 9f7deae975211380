"""Name -> factory registry for the model zoo.

Each architecture module decorates its factory functions with :func:`register_model`;
callers only ever go through :func:`create_model`, so adding a model never touches them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

from torch import nn

from ..checks import check_int
from ..errors import ConfigError

__all__ = ["ModelFactory", "create_model", "list_models", "model_ndim", "register_model"]

ModelFactory = Callable[..., nn.Module]
"""A factory ``fn(in_channels, num_classes, **kwargs) -> nn.Module``."""


class _Entry(NamedTuple):
    factory: ModelFactory
    ndim: int


_REGISTRY: dict[str, _Entry] = {}


def register_model(name: str, ndim: int) -> Callable[[ModelFactory], ModelFactory]:
    """Decorator registering a model factory under ``name``.

    Args:
        name: Unique model name used by :func:`create_model`.
        ndim: Number of spatial dimensions of the model's input: 1 (time series,
            input ``(B, C, L)``) or 2 (images, input ``(B, C, H, W)``).

    Returns:
        A decorator that registers the factory and returns it unchanged.

    Raises:
        ValueError: If ``name`` is empty or already registered, or ``ndim`` is not 1 or 2.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    if ndim not in (1, 2):
        raise ValueError(f"ndim must be 1 or 2, got {ndim!r}")

    def decorator(factory: ModelFactory) -> ModelFactory:
        # Silently replacing a model would make results depend on import order.
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = _Entry(factory, ndim)
        return factory

    return decorator


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):  # TypeError: unhashable name
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(list_models())}") from None


def model_ndim(name: str) -> int:
    """Number of spatial input dimensions of a registered model.

    Args:
        name: A registered model name.

    Returns:
        1 for time-series models (input ``(B, C, L)``), 2 for image models (input ``(B, C, H, W)``).

    Raises:
        ValueError: If ``name`` is not registered; the message lists the known models.
    """
    return _entry(name).ndim


def create_model(name: str, in_channels: int, num_classes: int, **kwargs: Any) -> nn.Module:
    """Build a registered model.

    Args:
        name: A registered model name (see :func:`list_models`).
        in_channels: Number of input channels ``C``, >= 1.
        num_classes: Number of output logits, >= 1.
        **kwargs: Model-specific options (e.g. ``width`` for ResNets).

    Returns:
        A freshly initialised ``nn.Module`` mapping ``(B, in_channels, *spatial)`` to
        logits ``(B, num_classes)``, where ``len(spatial) == model_ndim(name)``.

    Raises:
        ConfigError: If ``name`` is unknown (the message lists the known models), or ``kwargs``
            names an argument the model does not take or leaves out one it needs (the message
            lists those it takes).
        ValueError: If ``in_channels`` / ``num_classes`` is < 1, or the model refuses a value
            (an :class:`~bandlimit.errors.ArgumentError` from its argument checks).
        TypeError: If ``in_channels`` / ``num_classes`` is not an int, or the model refuses a
            value's type (an :class:`~bandlimit.errors.ArgumentTypeError`).
    """
    entry = _entry(name)
    in_channels = check_int(in_channels, "in_channels", minimum=1)
    num_classes = check_int(num_classes, "num_classes", minimum=1)
    _check_kwargs(name, entry.factory, kwargs)
    # Only the names are checked here: the factory checks the values with the argument checks,
    # whose errors are the user's; anything else it raises is a bug and keeps its traceback.
    return entry.factory(in_channels, num_classes, **kwargs)


def _check_kwargs(name: str, factory: ModelFactory, kwargs: dict[str, Any]) -> None:
    """Refuse ``kwargs`` that ``factory(in_channels, num_classes, **kwargs)`` cannot take."""
    signature = inspect.signature(factory)
    try:
        signature.bind(None, None, **kwargs)
    except TypeError as err:  # raised by bind itself, before anything runs: the names are the user's
        options = list(signature.parameters.values())[2:]  # after in_channels and num_classes
        accepted = [p.name for p in options if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        takes = f"its arguments: {', '.join(accepted)}" if accepted else "it takes no model arguments"
        raise ConfigError(f"model {name!r}: {err}; {takes}") from None
