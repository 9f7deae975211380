"""The configuration of one training run: a frozen dataclass, validated, JSON/YAML serialisable.

Its compression is a sequence of compression configs (:mod:`bandlimit.compress`), applied in
order. :func:`apply_settings` changes a config by setting names — the names of the command
line's flags and of a sweep's grid — so every field, of the run or of a method, can be set
and swept the same way.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..checks import check_bool, check_float, check_int, check_unit, optional
from ..compress import BandLimitConfig, CompressionConfig, config_from_dict
from ..errors import ConfigError
from ..settings import setting, settings_from_mapping, validate_settings

__all__ = ["NO_COMPRESSION", "VERSION", "ConfigError", "TrainConfig"]

VERSION = 4
"""Version 1 (before compression configs) had ``method``, ``rate`` and ``rate_overrides`` fields;
versions 1 and 2 had ``precision``, now a compression config (:class:`PrecisionConfig`); until version 4
the default compression was band-limiting at rate 0 (now none)."""
NO_COMPRESSION = "none"
"""The ``method`` setting that means plain layers (the baseline)."""

_positive_int = functools.partial(check_int, minimum=1)


def _check_validation(value: object, name: str) -> float:
    fraction = check_float(value, name, minimum=0.0)
    if fraction >= 1:
        raise ValueError(f"{name} must be in [0, 1), got {fraction}")
    return fraction


def _check_str(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _check_compression(value: object, name: str) -> tuple[CompressionConfig, ...]:
    items = [value] if isinstance(value, (CompressionConfig, Mapping)) else value
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise TypeError(f"{name} must be a list of compression configs, got {value!r}")
    configs = tuple(c if isinstance(c, CompressionConfig) else config_from_dict(c) for c in items)
    methods = [c.method for c in configs]
    if len(set(methods)) != len(methods):
        raise ValueError(f"{name} names a method twice: {methods}")
    return configs


def _check_mapping(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"{name} must be a mapping of name -> value, got {value!r}")
    return dict(value)


def _check_model_kwargs(value: object, name: str) -> dict[str, Any]:
    kwargs = _check_mapping(value, name)
    taken = sorted({"in_channels", "num_classes"} & kwargs.keys())
    if taken:  # the data set gives them
        raise ValueError(f"{name} may not set {', '.join(taken)}: the data set gives it")
    return kwargs


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (and so its results). Fields are documented
    by their ``help`` metadata (``bandlimit train --help`` prints them)."""

    model: str = setting("fcn", help="registered model name (`bandlimit summary --list`)", check=_check_str)
    data: str = setting(
        "ucr:FiftyWords",
        help="data set, e.g. ucr:FiftyWords, fashion-mnist, cifar10, mnist1d, synthetic1d",
        check=_check_str,
    )
    compression: tuple[CompressionConfig, ...] = setting(
        (),
        help="compression configs applied in order; none (the default) is the plain-layer baseline",
        check=_check_compression,
    )
    epochs: int = setting(10, help="number of epochs", check=_positive_int)
    batch_size: int = setting(32, help="samples per step (per process under DDP)", check=_positive_int)
    optimizer: str = setting("adam", help="optimizer (sgd: with momentum)", choices=("sgd", "adam"))
    lr: float = setting(1e-3, help="learning rate", check=functools.partial(check_float, above=0.0))
    momentum: float = setting(0.9, help="SGD momentum", check=functools.partial(check_float, minimum=0.0))
    weight_decay: float = setting(0.0, help="L2 weight decay", check=functools.partial(check_float, minimum=0.0))
    schedule: str = setting(
        "none", help="learning-rate schedule (plateau: on the train loss)", choices=("none", "plateau", "cosine")
    )
    # ReduceLROnPlateau's defaults (factor 0.1, patience 10) are tuned for long runs; these
    # halve the rate after 5 flat epochs, which suits the tens of epochs of CPU-scale runs.
    plateau_factor: float = setting(
        0.5,
        help="plateau schedule: factor the learning rate is multiplied by",
        check=functools.partial(check_float, above=0.0),
    )
    plateau_patience: int = setting(
        5,
        help="plateau schedule: epochs without improvement before it acts",
        check=functools.partial(check_int, minimum=0),
    )
    plateau_min_lr: float = setting(
        0.0,
        help="plateau schedule: the learning rate is never lowered below this",
        check=functools.partial(check_float, minimum=0.0),
    )
    augment: bool = setting(False, help="random crop + horizontal flip (image data only)", check=check_bool)
    normalize: str = setting(
        "none",
        help="per-sample input normalisation: zscore gives every series (or image channel) mean 0 and standard "
        "deviation 1 over its values, the UCR archive's convention",
        choices=("none", "zscore"),
    )
    eval_every: int = setting(
        1,
        help="evaluate on the test (and validation) set every this many epochs, and after the last one",
        check=_positive_int,
    )
    seed: int = setting(
        0, help="seeds model init, data order and augmentation", check=functools.partial(check_int, minimum=0)
    )
    deterministic: bool = setting(False, help="torch.use_deterministic_algorithms(True)", check=check_bool)
    limit: int | None = setting(None, help="keep at most this many samples per split", check=optional(_positive_int))
    validation: float = setting(
        0.0,
        help="fraction of the training set held out (per class, seeded) to choose the epoch on; the test accuracy "
        "is reported at that epoch, so the test set never selects (0: no validation split)",
        check=_check_validation,
    )
    teacher: str | None = setting(
        None,
        help="knowledge distillation: a trained run's checkpoint.pt (same data) whose softened outputs the model "
        "also learns, (1 - distill_weight) CE + distill_weight T^2 KL",
        check=optional(_check_str),
    )
    distill_weight: float = setting(
        0.5, help="with teacher: lambda, the distillation term's weight in [0, 1]", check=check_unit
    )
    distill_temperature: float = setting(
        4.0, help="with teacher: T, the softmax temperature", check=functools.partial(check_float, above=0.0)
    )
    data_root: str | None = setting(None, help="folder to look for data sets in", check=optional(_check_str))
    model_kwargs: dict[str, Any] = setting(
        default_factory=dict,
        help="extra model factory argument KEY=VALUE (repeatable)",
        check=_check_model_kwargs,
        flag="model-arg",
    )

    def __post_init__(self) -> None:
        validate_settings(self)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["compression"] = [c.to_dict() for c in self.compression]
        return {"version": VERSION, **json.loads(json.dumps(data))}

    def with_(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def compression_config(self, method: str) -> CompressionConfig | None:
        """This run's config of ``method``, or None."""
        return next((c for c in self.compression if c.method == method), None)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build from :meth:`to_dict` output or a run file, refusing unknown keys.

        Older configs are converted: version 1's ``method``/``rate``/``rate_overrides`` (run
        folders written before compression configs) and the ``precision`` field of versions 1-2.
        """
        fields = dict(data)
        version = fields.pop("version", 1)
        if version not in range(1, VERSION + 1):
            raise ConfigError(f"run config version {version!r} is not supported by this bandlimit (1..{VERSION})")
        if version == 1 and not {"method", "rate", "rate_overrides"}.isdisjoint(fields):
            method = fields.pop("method", "bandlimit")
            rate, overrides = fields.pop("rate", 0.0), fields.pop("rate_overrides", {})
            fields["compression"] = (
                [] if method == NO_COMPRESSION else [{"method": method, "rate": rate, "overrides": overrides}]
            )
        if version < 4:  # the default compression was band-limiting at rate 0 until version 4
            fields.setdefault("compression", [BandLimitConfig(rate=0.0)])
        if version < 3 and "precision" in fields:
            precision = fields.pop("precision")
            if precision != "fp32":
                fields["compression"] = [*fields["compression"], {"method": "precision", "dtype": precision}]
        return settings_from_mapping(cls, fields, "config")
