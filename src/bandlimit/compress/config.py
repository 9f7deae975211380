"""Compression configs: frozen dataclasses that serialise to and from JSON.

Every method (band-limiting now; mixed precision, pruning and StrassenNets later) has one
config class, registered under a ``method`` name so that a JSON file names its method.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from ..functional.arguments import check_rate

__all__ = ["BandLimitConfig", "CompressionConfig", "config_from_dict", "config_from_json"]

_CONFIG_TYPES: dict[str, type[CompressionConfig]] = {}


@dataclass(frozen=True)
class CompressionConfig:
    """Base class of the configs accepted by :func:`bandlimit.compress_`."""

    method: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.method:
            _CONFIG_TYPES[cls.method] = cls

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data, with its ``method`` name."""
        return {"method": self.method, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


@dataclass(frozen=True)
class BandLimitConfig(CompressionConfig):
    """Band-limit every ``nn.Conv1d`` / ``nn.Conv2d`` at ``rate``.

    Attributes:
        rate: compression rate in [0, 1) of every converted layer.
        overrides: per-layer rates, keyed by a layer's qualified name (exact match first)
            or by a regular expression that must match the whole name; the first matching
            pattern in insertion order wins.
    """

    method: ClassVar[str] = "bandlimit"
    rate: float = 0.5
    overrides: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", check_rate(self.rate))
        if not isinstance(self.overrides, dict):
            raise TypeError(f"overrides must be a dict of layer name or regex -> rate, got {self.overrides!r}")
        checked = {}
        for pattern, rate in self.overrides.items():
            try:
                re.compile(pattern)
            except (re.error, TypeError) as err:
                raise ValueError(f"overrides key {pattern!r} is not a valid regular expression: {err}") from None
            checked[pattern] = check_rate(rate, name=f"overrides[{pattern!r}]")
        object.__setattr__(self, "overrides", checked)

    def rate_for(self, name: str) -> float:
        """The rate of the layer with qualified name ``name``."""
        if name in self.overrides:
            return self.overrides[name]
        for pattern, rate in self.overrides.items():
            if re.fullmatch(pattern, name):
                return rate
        return self.rate


def config_from_dict(data: dict[str, Any]) -> CompressionConfig:
    """Rebuild a config from :meth:`CompressionConfig.to_dict` output."""
    data = dict(data)
    method = data.pop("method", None)
    if method not in _CONFIG_TYPES:
        raise ValueError(f"unknown compression method {method!r}; known: {sorted(_CONFIG_TYPES)}")
    cls = _CONFIG_TYPES[method]
    try:
        return cls(**data)
    except TypeError as err:
        raise ValueError(f"invalid fields for {cls.__name__}: {err}") from None


def config_from_json(text: str) -> CompressionConfig:
    """Rebuild a config from :meth:`CompressionConfig.to_json` output."""
    return config_from_dict(json.loads(text))
