"""The configuration of one training run: a frozen dataclass, validated, JSON/YAML serialisable."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..functional.arguments import check_rate

__all__ = ["TrainConfig", "ConfigError", "load_config_file"]

METHODS = ("bandlimit", "none")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("none", "plateau", "cosine")
PRECISIONS = ("fp32", "bf16", "fp16")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field and the allowed values."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (and so its results).

    Attributes:
        model: registered model name (``bandlimit.models.list_models()``).
        data: registered data set name (``bandlimit.data.list_datasets()``).
        method: 'bandlimit' (FFT convolutions at ``rate``) or 'none' (plain ``nn.Conv*d``,
            the baseline; ``rate`` must then be 0).
        rate: compression rate of every convolution, in [0, 1).
        rate_overrides: per-layer rates by qualified name or regex (see ``BandLimitConfig``).
        epochs: number of epochs.
        batch_size: samples per step (per process under DDP).
        optimizer: 'sgd' (with momentum) or 'adam'.
        lr, momentum, weight_decay: optimizer settings.
        schedule: 'none', 'plateau' (ReduceLROnPlateau on train loss) or 'cosine'.
        augment: random crop + horizontal flip (image data only).
        precision: 'fp32', or mixed 'bf16' (CPU) / 'fp16' (CUDA) autocast.
        seed: seeds model init, data order and augmentation.
        deterministic: ``torch.use_deterministic_algorithms(True)``.
        limit: keep at most this many samples per split (quick runs), or None.
        data_root: folder to look for data sets in, or None for the defaults.
        model_kwargs: extra arguments of the model factory (e.g. ``{"width": 16}``).
    """

    model: str = "fcn"
    data: str = "ucr:FiftyWords"
    method: str = "bandlimit"
    rate: float = 0.0
    rate_overrides: dict[str, float] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "none"
    augment: bool = False
    precision: str = "fp32"
    seed: int = 0
    deterministic: bool = False
    limit: int | None = None
    data_root: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "rate", check_rate(self.rate))
        except (TypeError, ValueError) as err:
            raise ConfigError(str(err)) from None
        _choice("method", self.method, METHODS)
        if self.method == "none" and (self.rate or self.rate_overrides):
            raise ConfigError("rate and rate_overrides need method='bandlimit' (method='none' is plain convolution)")
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("precision", self.precision, PRECISIONS)
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        if self.limit is not None:
            _positive_int("limit", self.limit)
        if not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an int, got {self.seed!r}")
        for name in ("lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"{name} must be a non-negative number, got {value!r}")
        if self.lr == 0:
            raise ConfigError("lr must be > 0, got 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict, refusing unknown keys (a typo must not be silently ignored)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config keys {unknown}; allowed: {sorted(known)}")
        return cls(**data)


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {list(allowed)}, got {value!r}")


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive int, got {value!r}")


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON mapping from ``path`` (by suffix; YAML is a superset of JSON)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from None
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as err:  # noqa: BLE001 - any parse error becomes one message
        raise ConfigError(f"config file {path} is not valid {path.suffix.lstrip('.') or 'YAML'}: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of field -> value, got {type(data).__name__}")
    return data
