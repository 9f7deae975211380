"""What a run records, typed: one :class:`EpochRecord` per line of ``metrics.jsonl`` and the
:class:`RunResult` of ``result.json``, both versioned on disk. Files written before versions
existed read as version 1."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ..errors import ConfigError
from ..io import read_jsonl

__all__ = ["EpochRecord", "RunResult", "load_metrics", "load_result"]

T = TypeVar("T", bound="_Versioned")


@dataclass
class _Versioned:
    VERSION: ClassVar[int] = 1
    OMITTED_IF_NONE: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        extra = data.pop("extra", {})
        kept = {k: v for k, v in data.items() if not (v is None and k in self.OMITTED_IF_NONE)}
        return {"version": self.VERSION, **kept, **extra}

    @classmethod
    def from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
        """Read back :meth:`to_dict`; entries the type does not name go to ``extra``."""
        version = data.get("version", 1)
        if version != cls.VERSION:
            raise ConfigError(f"{cls.__name__} of version {version} cannot be read by this bandlimit ({cls.VERSION})")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names and k != "version"}
        return cls(**known, extra=extra)  # type: ignore[call-arg]


@dataclass
class EpochRecord(_Versioned):
    """One epoch of a run.

    Attributes:
        epoch: 1-based.
        loss, train_acc: the training batches' mean loss and accuracy.
        epoch_time_s: wall time of the training batches, seconds.
        saved_bytes: bytes a training step kept for backward (the epoch's first step).
        lr: the learning rate after the epoch's schedule step.
        rate, achieved_rate: the compression's requested and achieved rate (0 for plain layers).
        peak_memory_bytes: the process's peak memory, or None where it is not measured.
        test_loss, test_acc, val_loss, val_acc: on the evaluated epochs only (``eval_every``).
        extra: what the compression methods' ``epoch_metrics`` added (e.g. ``layer_rates``).
    """

    # An epoch without evaluation has no test or validation entries (not nulls).
    OMITTED_IF_NONE: ClassVar[tuple[str, ...]] = ("test_loss", "test_acc", "val_loss", "val_acc")

    epoch: int
    loss: float
    train_acc: float
    epoch_time_s: float
    saved_bytes: int
    lr: float
    rate: float = 0.0
    achieved_rate: float = 0.0
    peak_memory_bytes: int | None = None
    test_loss: float | None = None
    test_acc: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult(_Versioned):
    """A finished run.

    Attributes:
        config: the config as trained (``TrainConfig.to_dict``, calibration included).
        epochs: epochs run.
        final_test_acc, best_test_acc: the last evaluation's and the best over evaluations.
        selected_epoch, selected_val_acc, selected_test_acc: the first epoch with the best
            validation accuracy and its accuracies (None without a validation split).
        final_train_loss: the last epoch's training loss.
        median_epoch_time_s: seconds.
        saved_bytes, peak_memory_bytes, conv_saved_bytes: the last epoch's (see :class:`EpochRecord`),
            and the convolutions' share of the bytes kept for backward per step.
        achieved_rate: the last epoch's.
    """

    config: dict[str, Any]
    epochs: int
    final_test_acc: float
    best_test_acc: float
    final_train_loss: float
    median_epoch_time_s: float
    saved_bytes: int
    achieved_rate: float
    peak_memory_bytes: int | None = None
    conv_saved_bytes: float | None = None
    selected_epoch: int | None = None
    selected_val_acc: float | None = None
    selected_test_acc: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load_metrics(out_dir: str | Path) -> list[EpochRecord]:
    """A run folder's ``metrics.jsonl``."""
    return [EpochRecord.from_dict(row) for row in read_jsonl(Path(out_dir) / "metrics.jsonl")]


def load_result(out_dir: str | Path) -> RunResult:
    """A finished run folder's ``result.json``."""
    import json

    return RunResult.from_dict(json.loads((Path(out_dir) / "result.json").read_text()))
