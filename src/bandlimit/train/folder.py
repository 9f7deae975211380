"""A run folder is a promise: what a folder holds, and whether a requested run may use it.

Every check here runs before anything is written, so a refused command leaves an existing run
folder byte-identical. A finished run is reused only by the same run: its saved ``config.json``
(the config as requested, before calibration) must equal the requested config field by field.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..compress import BandLimitConfig
from ..errors import ConfigError
from ..io import read_jsonl
from .checkpoint import CheckpointError, load_checkpoint
from .config import NO_COMPRESSION, TrainConfig

__all__ = [
    "CHECKPOINT",
    "CONFIG",
    "METRICS",
    "RESULT",
    "RunPlan",
    "check_out_dir",
    "check_out_file",
    "differences",
    "discard_run",
    "plan_run",
    "run_is_finished",
]

CHECKPOINT, METRICS, RESULT, CONFIG = "checkpoint.pt", "metrics.jsonl", "result.json", "config.json"
RUN_FILES = (RESULT, CHECKPOINT, METRICS, CONFIG)


def check_out_dir(path: str | Path, flag: str = "--out") -> Path:
    """``path`` as a folder that exists or can be created; nothing is created.

    Raises:
        ConfigError: ``path`` is empty, is a file, or its nearest existing parent is not a
            writable folder.
    """
    if not str(path).strip():
        raise ConfigError(f"{flag} must name a folder, got an empty path")
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{flag} {out} is a file, not a folder")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{flag} {out} cannot be written: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {out} cannot be written: no write permission in {parent}")
    return out


def check_out_file(path: str | Path, flag: str) -> Path:
    """``path`` as a file that can be written: its folder exists and it is not a folder."""
    if not str(path).strip():
        raise ConfigError(f"{flag} must name a file, got an empty path")
    file = Path(path)
    if file.is_dir():
        raise ConfigError(f"{flag} {file} is a folder, not a file")
    if not file.parent.is_dir():
        raise ConfigError(f"{flag} {file}: folder {file.parent} does not exist")
    if not os.access(file.parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {file} cannot be written: no write permission in {file.parent}")
    return file


def discard_run(out: Path) -> None:
    """Delete the run files of ``out`` (a run trained again from scratch must never resume the old state)."""
    try:
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    except OSError as err:
        raise ConfigError(f"run folder {out} cannot be written: {err.strerror}") from None


def differences(saved: TrainConfig, requested: TrainConfig, ignore: tuple[str, ...] = ()) -> list[str]:
    """The settings in which ``requested`` differs from ``saved``, as ``name saved -> requested``.

    Names are setting names (``lr``, ``method``, ``bandlimit.rate``), as the flags and grids use them.
    """
    ours, theirs = requested.to_dict(), saved.to_dict()
    diffs = [
        f"{key} {theirs.get(key)!r} -> {value!r}"
        for key, value in ours.items()
        if key not in (*ignore, "compression") and theirs.get(key) != value
    ]
    mine = {c["method"]: c for c in ours["compression"]}
    old = {c["method"]: c for c in theirs["compression"]}
    if list(mine) != list(old):
        diffs.append(f"method {list(old) or [NO_COMPRESSION]} -> {list(mine) or [NO_COMPRESSION]}")
    for method in mine.keys() & old.keys():
        diffs += [
            f"{method}.{field} {old[method].get(field)!r} -> {value!r}"
            for field, value in mine[method].items()
            if old[method].get(field) != value
        ]
    return diffs


@dataclass(frozen=True)
class RunPlan:
    """What :func:`bandlimit.train.train` will do with a run folder.

    Attributes:
        action: ``new`` (train from scratch; the folder's run files are replaced), ``resume``
            (continue from ``checkpoint``) or ``finished`` (the same run finished: ``result``).
    """

    action: Literal["new", "resume", "finished"]
    checkpoint: dict[str, Any] | None = None
    result: dict[str, Any] | None = None


def plan_run(config: TrainConfig, out: Path, *, resume: bool, force: bool, flag: str = "--out") -> RunPlan:
    """Decide what training ``config`` into ``out`` does, reading but never writing.

    Args:
        resume: continue the folder's run (the same config; more epochs extend it).
        force: discard whatever run the folder holds and train from scratch.

    Raises:
        ConfigError: the folder holds a run of other settings, more epochs than requested, or an
            unfinished run and neither ``resume`` nor ``force`` was given.
        CheckpointError: the checkpoint to resume from is unreadable or of another run.
    """
    if force:
        return RunPlan("new")
    saved = _saved_config(out)
    if saved is None:
        left = [name for name in (RESULT, CHECKPOINT, METRICS) if (out / name).exists()]
        if left:
            raise ConfigError(
                f"run folder {out} holds {', '.join(left)} but no {CONFIG}: it cannot be told whose run they are; "
                f"--force trains it again, or choose another {flag}"
            )
        return RunPlan("new")
    saved = _as_requested(saved, config)
    if differences(saved, config, ignore=("epochs",)):  # more epochs alone extend a run
        raise ConfigError(
            f"run folder {out} holds a run with other settings ({', '.join(differences(saved, config))}); "
            f"--force trains it again with the new settings, or choose another {flag}"
        )
    result = _finished_result(out)
    checkpoint = _checkpoint(out, config) if (out / CHECKPOINT).exists() else None
    done = int(checkpoint["epoch"]) if checkpoint else _epochs_recorded(out)
    if result is not None:
        done = int(result["epochs"])
    if config.epochs < done:
        raise ConfigError(
            f"run folder {out} has run {done} epochs already: --epochs must be at least {done} to continue it "
            f"(got {config.epochs}); --force trains it again, or choose another {flag}"
        )
    if result is not None and config.epochs == done:
        return RunPlan("finished", result=result)
    if config.schedule == "cosine" and saved.epochs != config.epochs:
        raise ConfigError(
            f"run folder {out} was trained with a cosine schedule over epochs={saved.epochs}: its length is part "
            f"of the schedule, so epochs={config.epochs} is another run; --force trains it again"
        )
    if not resume:
        what = f"a finished run of {done} epochs" if result is not None else f"an unfinished run ({done} epochs)"
        raise ConfigError(
            f"run folder {out} holds {what} of this config: --resume continues it to {config.epochs} epochs, "
            f"--force trains it again, or choose another {flag}"
        )
    if checkpoint is None and done > 0:
        raise ConfigError(
            f"run folder {out} has run {done} epochs but has no {CHECKPOINT} to continue from; "
            f"--force trains it again, or choose another {flag}"
        )
    return RunPlan("resume", checkpoint=checkpoint) if checkpoint else RunPlan("new")


def _as_requested(saved: TrainConfig, requested: TrainConfig) -> TrainConfig:
    """``saved`` with a calibrated band-limiting config written before ``config.json`` kept the
    request (its per-layer rates in ``overrides``) taken as the request that calibrates to it."""
    theirs, ours = saved.compression_config("bandlimit"), requested.compression_config("bandlimit")
    if not (isinstance(theirs, BandLimitConfig) and isinstance(ours, BandLimitConfig)):
        return saved
    if theirs.calibrated_energy is None or not ours.needs_calibration or ours.energy != theirs.calibrated_energy:
        return saved
    return saved.with_(compression=tuple(ours if c is theirs else c for c in saved.compression))


def _saved_config(out: Path) -> TrainConfig | None:
    path = out / CONFIG
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"run folder {out} has an unreadable {CONFIG} ({err}); --force trains it again") from None
    if not isinstance(data, dict) or "version" not in data:
        raise ConfigError(f"run folder {out} has a {CONFIG} that is not a run's config; --force trains it again")
    try:
        return TrainConfig.from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"run folder {out} has a {CONFIG} this bandlimit cannot read ({err})") from None


def _epochs_recorded(out: Path) -> int:
    try:
        return len(read_jsonl(out / METRICS))
    except (OSError, UnicodeDecodeError, ValueError):
        raise ConfigError(f"run folder {out} has an unreadable {METRICS}; --force trains it again") from None


def _finished_result(out: Path) -> dict[str, Any] | None:
    try:
        result = json.loads((out / RESULT).read_text())
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) and isinstance(result.get("epochs"), int) else None


def _checkpoint(out: Path, config: TrainConfig) -> dict[str, Any]:
    state = load_checkpoint(out / CHECKPOINT, expect={"model": config.model, "data": config.data})
    if not isinstance(state.get("epoch"), int) or not isinstance(state.get("config"), dict):
        raise CheckpointError(f"checkpoint {out / CHECKPOINT} lacks its epoch or config; --force trains it again")
    return state


def run_is_finished(out_dir: str | Path) -> bool:
    """The folder holds a finished run (its result file exists and parses); whose run it is,
    :func:`plan_run` tells."""
    return _finished_result(Path(out_dir)) is not None
