"""Settings by name: a run field (``lr``), a method's field (``bandlimit.rate``) or an alias
(``rate``), read and changed on a :class:`~.config.TrainConfig` (the flags, config files, sweep
grids and the demo all name settings so)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ..compress import config_types
from ..errors import ConfigError
from ..settings import settings_from_mapping
from .config import NO_COMPRESSION, TrainConfig

__all__ = ["apply_settings", "get_setting", "setting_names"]


def setting_names() -> dict[str, tuple[str | None, str]]:
    """Every name :func:`apply_settings` accepts -> ``(method or None, field)``.

    ``<field>`` is a run field, ``<method>.<field>`` a field of a method's config, and a
    method's ``ALIASES`` give short names (``rate`` is ``bandlimit.rate``).
    """
    names: dict[str, tuple[str | None, str]] = {
        f.name: (None, f.name) for f in dataclasses.fields(TrainConfig) if f.name != "compression"
    }
    for method, cls in sorted(config_types().items()):
        for f in dataclasses.fields(cls):
            names[f"{method}.{f.name}"] = (method, f.name)
        for alias, field_name in cls.ALIASES.items():
            if alias in names:
                raise RuntimeError(f"setting name {alias!r} of method {method!r} is taken by {names[alias]}")
            names[alias] = (method, field_name)
    return names


def get_setting(config: TrainConfig, key: str) -> Any:
    """The value of a named setting (see :func:`apply_settings`); ``method`` gives the method list."""
    if key == "method":
        return [c.method for c in config.compression] or [NO_COMPRESSION]
    names = setting_names()
    if key not in names:
        raise ConfigError(f"unknown setting {key!r}; known: method, {', '.join(sorted(names))}")
    method, field = names[key]
    owner = config if method is None else config.compression_config(method)
    return None if owner is None else getattr(owner, field)


def apply_settings(config: TrainConfig, settings: Mapping[str, Any]) -> TrainConfig:
    """``config`` with named settings changed.

    Args:
        settings: ``method`` (a method name or a list of them, in order; ``"none"`` for plain
            layers) keeps the configs of methods already present and adds the others with
            their defaults; ``compression`` replaces the whole list; any name of
            :func:`setting_names` sets that field. A method field adds its method (last, with
            defaults) when it is absent, unless ``method`` is given too and leaves it out.
            Dict fields (``overrides``, ``model_kwargs``) are merged into the
            current value.

    Raises:
        ConfigError: an unknown name, a method left out by ``method`` but given a field, or an
            invalid value.
    """
    settings = dict(settings)
    chosen = "method" in settings
    if chosen:
        config = _with_methods(config, settings.pop("method"))
    names = setting_names()
    unknown = sorted(set(settings) - set(names) - {"compression"})
    if unknown:
        raise ConfigError(f"unknown config keys {unknown}; allowed: {['method', 'compression', *sorted(names)]}")
    run_changes: dict[str, Any] = {}
    method_changes: dict[str, dict[str, Any]] = {}
    for key, value in settings.items():
        method, field = names.get(key, (None, key))
        if method is None:
            run_changes[field] = _merged(getattr(config, field), value)
        else:
            method_changes.setdefault(method, {})[field] = value
    if "compression" in run_changes:
        config = config.with_(compression=run_changes.pop("compression"))
    compression = list(config.compression)
    for method, changes in method_changes.items():
        index = next((i for i, c in enumerate(compression) if c.method == method), None)
        if index is None:
            if chosen:
                present = [c.method for c in compression] or [NO_COMPRESSION]
                raise ConfigError(
                    f"{', '.join(changes)} of method {method!r} need it in the compression, got {present}"
                )
            compression.append(config_types()[method]())
            index = len(compression) - 1
        fields = compression[index].to_fields()
        fields.update({field: _merged(fields[field], value) for field, value in changes.items()})
        compression[index] = settings_from_mapping(type(compression[index]), fields, method)
        for first, second in compression[index].EXCLUSIVE:  # the second, set, leaves the first unused
            if first in changes and getattr(compression[index], second) is not None:
                raise ConfigError(
                    f"{method}.{first} and {method}.{second} exclude each other ({second} chooses what {first} "
                    f"would set), got {first}={changes[first]!r} with {second}={getattr(compression[index], second)!r}"
                )
    return dataclasses.replace(config, **run_changes, compression=tuple(compression))


def _merged(current: object, value: object) -> object:
    """A dict setting is merged into its current value (``--override`` adds a layer); others replace it."""
    return {**current, **value} if isinstance(current, dict) and isinstance(value, Mapping) else value


def _with_methods(config: TrainConfig, methods: object) -> TrainConfig:
    names = [methods] if isinstance(methods, str) else methods
    if not isinstance(names, list) or not all(isinstance(m, str) for m in names):
        raise ConfigError(f"method must be a method name or a list of them, got {methods!r}")
    if names == [NO_COMPRESSION]:
        return config.with_(compression=())
    if NO_COMPRESSION in names:
        raise ConfigError(f"method {NO_COMPRESSION!r} (plain layers) cannot go with other methods, got {names}")
    types = config_types()
    unknown = [m for m in names if m not in types]
    if unknown:
        raise ConfigError(f"unknown method {unknown[0]!r}; known: {[NO_COMPRESSION, *sorted(types)]}")
    kept = {c.method: c for c in config.compression}
    return config.with_(compression=tuple(kept.get(m) or types[m]() for m in names))
