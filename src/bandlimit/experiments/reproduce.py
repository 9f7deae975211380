"""The paper's findings in one command: ``bandlimit reproduce --scale quick|standard|full``.

Each experiment is a list of training runs (:func:`.plan.plan`, with the scales) and a function that turns the
finished runs into ``<out>/<experiment>/results.json`` (each registered, :mod:`.registry`). Runs live in
their own folders and resume where they stopped; finished runs are skipped, so a killed
``reproduce`` continues when started again; the measuring experiments (resources, robustness,
methods) run once, until their ``results.json`` is deleted. A folder is reused only by the same
settings: every run's saved config, and the scale's settings in ``scale.json``, are compared
before anything runs (``force`` trains and measures again what differs). ``bandlimit report``
draws the results. One module per experiment: :mod:`.accuracy`, :mod:`.rate_matrix`,
:mod:`.image_matrix`, :mod:`.resources`, :mod:`.robustness` and :mod:`.methods`, and the
time-series protocols :mod:`.train_vs_inference`, :mod:`.ucr_scatter` and :mod:`.energy_table`;
each scale names those it runs (:mod:`.scales`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..io import atomic_write_text
from ..train import check_out_dir
from . import (  # noqa: F401 - each registers its experiment
    accuracy,
    energy_table,
    image_matrix,
    methods,
    rate_matrix,
    resources,
    robustness,
    series,
    train_vs_inference,
    ucr_scatter,
)
from .plan import Scale, estimate_seconds, plan, resource_cases, unique_runs
from .registry import experiments
from .runs import PlannedRun
from .scales import SCALES
from .training import Log, check_folders, train_parallel

__all__ = [
    "SCALES",
    "PlannedRun",
    "Scale",
    "estimate_seconds",
    "plan",
    "reproduce",
    "resource_cases",
    "select_experiments",
    "unique_runs",
]


def reproduce(
    scale: Scale,
    out: str | Path,
    only: Sequence[str] | None = None,
    *,
    force: bool = False,
    workers: int = 1,
    log: Log = print,
) -> Path:
    """Run the experiments (all, or ``only`` these) into ``out`` and write their results files.

    Args:
        force: train again the run folders that hold runs of other settings, and measure again
            when the scale's settings differ from those ``out`` was measured with; without it
            both are refused before anything runs.
        workers: train this many runs at a time, each in its own process at 1 thread (runs
            that distil from a teacher train afterwards, in order).

    Returns:
        ``out``.
    """
    out = check_out_dir(out)
    selected = select_experiments(scale, only)
    settings = json.loads(json.dumps(dataclasses.asdict(scale), default=str))
    saved = _read_json(out / "scale.json")
    if saved.get("name", scale.name) != scale.name and not force:
        raise ConfigError(
            f"{out} holds a reproduction at scale {saved.get('name')!r}, not {scale.name!r}: choose another --out"
        )
    # A measurement is reused only if it was made with these settings (written beside it).
    specs = experiments()
    measured = [name for name in selected if specs[name].measured_once and (out / name / "results.json").exists()]
    stale = {name: _changed(_read_json(out / name / "settings.json"), settings) for name in measured}
    stale = {name: keys for name, keys in stale.items() if keys}
    if stale and not force:
        name, keys = next(iter(stale.items()))
        raise ConfigError(
            f"{out / name} was measured with other settings of the scale ({', '.join(keys)}): --force measures "
            f"{', '.join(stale)} again, or choose another --out"
        )
    # The selected experiments' runs, with those they read that another experiment plans.
    runs = unique_runs(plan(dataclasses.replace(scale, experiments=tuple(selected))))
    check_folders(runs, out, force, log)
    out.mkdir(parents=True, exist_ok=True)
    record = {"name": scale.name, "notes": list(scale.notes), "experiments": list(scale.chosen_experiments())}
    atomic_write_text(out / "scale.json", json.dumps(record, indent=1))
    if workers > 1:
        train_parallel([r for r in runs if r.config.teacher is None], out, workers, log, after=_test_series)
    for name in selected:
        if name in measured and name not in stale:
            log(f"== {name}: measured already (delete {out / name / 'results.json'} to measure again)")
            continue
        log(f"== {name}")
        torch.manual_seed(0)
        result = specs[name].run(scale, out, log)
        (out / name).mkdir(exist_ok=True)
        atomic_write_text(out / name / "results.json", json.dumps(result.to_dict(), indent=1, sort_keys=True))
        atomic_write_text(out / name / "settings.json", json.dumps(settings, indent=1, sort_keys=True))
    return out


def select_experiments(scale: Scale, only: Sequence[str] | None = None) -> list[str]:
    """The experiments of ``scale`` to run, in its order: all it names, or those in ``only``.

    Raises:
        ConfigError: ``only`` names an experiment the scale does not run.
    """
    unknown = sorted(set(only or ()) - set(scale.chosen_experiments()))
    if unknown:
        known = list(scale.chosen_experiments())
        raise ConfigError(f"scale {scale.name} has no experiments {unknown}; its experiments: {known}")
    return [name for name in scale.chosen_experiments() if not only or name in only]


def _test_series(run: PlannedRun, folder: Path) -> None:
    """A matrix run tested at every setting as soon as it is trained (its cache is committed)."""
    if run.experiment == "train_vs_inference":
        series.tested(folder)


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; empty if the file is absent or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _changed(saved: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """The scale settings that differ from ``saved`` (none if nothing was saved: older folders)."""
    return [key for key in settings if saved and saved.get(key) != settings[key]]
