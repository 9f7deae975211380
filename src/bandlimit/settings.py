"""Declared settings: the fields of the frozen-dataclass configs, with their help, checks and choices.

Every config of the package (:class:`bandlimit.compress.CompressionConfig` subclasses and
:class:`bandlimit.train.TrainConfig`) declares its fields with :func:`setting`. The same
metadata validates a config (:func:`validate_settings`), rebuilds one from a mapping
(:func:`settings_from_mapping`) and generates the command line's flags, so a new field is
declared once and appears everywhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from .errors import ConfigError, as_config_error

__all__ = ["Check", "setting", "settings_from_mapping", "validate_settings"]

Check = Callable[[Any, str], Any]
"""``check(value, name) -> normalised value``; raises ``TypeError`` / ``ValueError`` naming ``name``."""

T = TypeVar("T")


def setting(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    check: Check | None = None,
    choices: Collection[str] | None = None,
    default_factory: Callable[[], Any] | None = None,
    flag: str | None = None,
) -> Any:
    """A dataclass field with its documentation and validation.

    Args:
        default: the default value (or use ``default_factory`` for mutable ones).
        help: one line for ``--help`` and the docs.
        check: normalises and validates the value (see :data:`Check`).
        choices: the allowed values of a string setting.
        flag: the command-line flag's name without ``--``, when it differs from the field's.
    """
    metadata = {"help": help, "check": check, "choices": tuple(choices) if choices else None, "flag": flag}
    if default_factory is not None:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def validate_settings(config: object) -> None:
    """Run every field's check and choices on a frozen dataclass, storing normalised values.

    Raises:
        ConfigError: naming the field, the value and what is allowed.
    """
    for f in dataclasses.fields(config):  # type: ignore[arg-type]
        value = getattr(config, f.name)
        choices = f.metadata.get("choices")
        if choices is not None and value not in choices:
            raise ConfigError(f"{f.name} must be one of {list(choices)}, got {value!r}")
        check = f.metadata.get("check")
        if check is not None:
            with as_config_error():
                object.__setattr__(config, f.name, check(value, f.name))


def settings_from_mapping(cls: type[T], data: Mapping[str, Any], what: str) -> T:
    """Build ``cls(**data)``, refusing keys that are not fields (a typo must not be ignored)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what} must be a mapping of field -> value, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown {what} keys {unknown}; allowed: {sorted(known)}")
    return cls(**data)
