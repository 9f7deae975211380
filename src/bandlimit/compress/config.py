"""Compression configs: frozen dataclasses with a version, per-layer overrides and JSON round-trip.

A compression method is one config class (its fields declared with
:func:`bandlimit.settings.setting`) plus one transform registered for it
(:func:`bandlimit.compress.register_transform`). Subclassing :class:`CompressionConfig` with a
``method`` name registers the class, so a saved config names its method and is rebuilt by
:func:`config_from_dict`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypeVar

import torch
from torch import nn

from ..errors import ConfigError
from ..settings import setting, settings_from_mapping, validate_settings
from .costs import LayerCost, LayerCount

__all__ = [
    "CompressionConfig",
    "config_from_dict",
    "config_from_json",
    "config_types",
    "unregister_config_type",
]

_CONFIG_TYPES: dict[str, type[CompressionConfig]] = {}
C = TypeVar("C", bound="CompressionConfig")


def _check_overrides(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping of layer name or regex -> settings, got {value!r}")
    for pattern in value:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as err:
            raise ValueError(f"{name} key {pattern!r} is not a valid regular expression: {err}") from None
    return dict(value)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CompressionConfig:
    """Base class of the configs accepted by :func:`bandlimit.compress_`.

    Class attributes a method sets:
        method: the registered name (``"bandlimit"``), used in JSON, run files and CLI flags.
        VERSION: bumped when fields change meaning; :meth:`upgrade` converts older data.
        OVERRIDE_FIELD: the field that a bare override value sets (``{"layer1.0": 0.8}``);
            otherwise an override is a mapping of field -> value.
        ALIASES: short command-line names for fields (``{"rate": "rate"}`` gives ``--rate``
            beside ``--bandlimit-rate``).
        EXCLUSIVE: pairs of fields that one request may not both set: the second, when not
            None, makes the first unused (``("rate", "energy")``).

    Attributes:
        overrides: per-layer settings, keyed by a layer's qualified name (exact match first)
            or by a regular expression that must match the whole name; the first matching
            pattern in insertion order wins.
    """

    method: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    OVERRIDE_FIELD: ClassVar[str | None] = None
    ALIASES: ClassVar[Mapping[str, str]] = {}
    EXCLUSIVE: ClassVar[tuple[tuple[str, str], ...]] = ()

    overrides: dict[str, Any] = setting(
        default_factory=dict,
        help="per-layer settings by qualified layer name or regex: PATTERN=VALUE (repeatable)",
        check=_check_overrides,
        flag="override",
    )

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.method:
            return
        if not re.fullmatch(r"[a-z][a-z0-9_]*", cls.method):
            raise ValueError(f"method name must be lower-case letters, digits and '_', got {cls.method!r}")
        if cls.method in _CONFIG_TYPES and _CONFIG_TYPES[cls.method].__qualname__ != cls.__qualname__:
            raise ValueError(f"compression method {cls.method!r} is already registered")
        _CONFIG_TYPES[cls.method] = cls

    def __post_init__(self) -> None:
        validate_settings(self)
        for pattern in self.overrides:
            self._override(pattern)  # every override must give a valid config

    def _override(self: C, pattern: str) -> C:
        value = self.overrides[pattern]
        changes = {self.OVERRIDE_FIELD: value} if self.OVERRIDE_FIELD and not isinstance(value, Mapping) else value
        if not isinstance(changes, Mapping):
            raise ConfigError(f"overrides[{pattern!r}] must be a mapping of field -> value, got {value!r}")
        try:
            return settings_from_mapping(type(self), {**self.to_fields(), **changes, "overrides": {}}, self.method)
        except ConfigError as err:
            raise ConfigError(f"overrides[{pattern!r}]: {err}") from None

    def for_layer(self: C, name: str) -> C:
        """The config of the layer with qualified name ``name``: this one with its override applied."""
        if name in self.overrides:
            return self._override(name)
        for pattern in self.overrides:
            if re.fullmatch(pattern, name):
                return self._override(pattern)
        return self

    def to_fields(self) -> dict[str, Any]:
        """The field values, as given to the constructor."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data, with its ``method`` name and ``version``."""
        return {"method": self.method, "version": self.VERSION, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def begin_epoch(self, model: nn.Module, epoch: int, epochs: int) -> None:
        """Called by training before epoch ``epoch`` (0-based) of ``epochs``, on the model this
        config compressed: a method with a schedule (e.g. pruning) acts here. Nothing by default."""

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        """A term that training adds to each step's loss (e.g. a group-lasso regulariser), or
        None (the default)."""
        return None

    def prepare(
        self, model: nn.Module, batches: Iterable[torch.Tensor], trained: CompressionConfig | None = None
    ) -> CompressionConfig:
        """Called by training once before its first epoch, on the model this config compressed:
        a method that measures the data first (e.g. calibration) does so on ``batches`` (the
        training inputs, in order) and returns the config as trained. A resumed run passes
        ``trained``, what this returned before (from the checkpoint), to apply again instead.
        By default the config itself."""
        return self

    def epoch_metrics(self, model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, Any]:
        """Entries for the epoch's record, measured after the epoch's training batches (before
        evaluation) on the model this config compressed, for inputs of per-sample shape
        ``input_shape``. None by default."""
        return {}

    @classmethod
    def layer_cost(
        cls, module: nn.Module, in_spatial: tuple[int, ...], out_spatial: tuple[int, ...], batch: int
    ) -> LayerCost | None:
        """The cost of ``module``, a convolution of this method's making, for inputs of spatial
        size ``in_spatial`` (outputs ``out_spatial``) in batches of ``batch`` (for
        :func:`bandlimit.compress.summary`); None for a layer this method did not make (the
        default: such a layer is priced as a direct convolution)."""
        return None

    @classmethod
    def layer_count(cls, name: str, module: nn.Module, out_shape: torch.Size) -> LayerCount | None:
        """The inference arithmetic of ``module`` (qualified name ``name``), a layer of this
        method's making, for one sample whose output has shape ``out_shape`` ``(1, *shape)``
        (for :func:`bandlimit.compress.counting.count_operations`); None for a layer this method
        did not make (the default: such a layer is counted as a dense one)."""
        return None

    @classmethod
    def upgrade(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """Fields of a config saved at an older ``version``, as this version expects them."""
        return data


def config_types() -> dict[str, type[CompressionConfig]]:
    """Registered config classes by method name."""
    return dict(_CONFIG_TYPES)


def unregister_config_type(config_type: type[CompressionConfig]) -> None:
    """Free ``config_type``'s method name, if it holds it: the reverse of subclassing
    :class:`CompressionConfig` with a ``method``."""
    if _CONFIG_TYPES.get(config_type.method) is config_type:
        del _CONFIG_TYPES[config_type.method]


def config_from_dict(data: Mapping[str, Any]) -> CompressionConfig:
    """Rebuild a config from :meth:`CompressionConfig.to_dict` output (``version`` defaults to 1).

    Raises:
        ConfigError: unknown method, unknown or invalid fields, or a version newer than this
            bandlimit knows.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"a compression config must be a mapping with a 'method', got {data!r}")
    fields = dict(data)
    method = fields.pop("method", None)
    if method not in _CONFIG_TYPES:
        raise ConfigError(f"unknown compression method {method!r}; known: {sorted(_CONFIG_TYPES)}")
    cls = _CONFIG_TYPES[method]
    version = fields.pop("version", 1)
    if not isinstance(version, int) or not 1 <= version <= cls.VERSION:
        raise ConfigError(
            f"{method} config version {version!r} is not supported by this bandlimit (versions 1..{cls.VERSION})"
        )
    return settings_from_mapping(cls, cls.upgrade(fields, version), method)


def config_from_json(text: str) -> CompressionConfig:
    """Rebuild a config from :meth:`CompressionConfig.to_json` output."""
    return config_from_dict(json.loads(text))
