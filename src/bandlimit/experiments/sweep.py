"""A grid of training runs, resumable: each run's folder says whether it finished, and with what."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import BandlimitError, ConfigError
from ..train import RunPlan, TrainConfig, check_out_dir, check_run, setting_names, train
from ..train.named_settings import apply_settings, get_setting
from ..train.run import RESULT
from .training import prefixed

__all__ = ["expand_grid", "run_name", "run_sweep"]


def expand_grid(base: TrainConfig, grid: Mapping[str, Iterable[Any]]) -> list[TrainConfig]:
    """Every combination of the ``grid`` values applied to ``base``, in a stable order.

    Keys are setting names (:func:`bandlimit.train.apply_settings`): a run field (``lr``),
    ``method``, a method field (``bandlimit.rate``) or its alias (``rate``).

    Raises:
        ConfigError: a setting without values, or one named twice (``rate`` and ``bandlimit.rate``).
    """
    keys = list(grid)
    names = setting_names()  # aliases name the same setting: rate is bandlimit.rate
    settings = [str(names.get(key, key)) for key in keys]
    repeated = sorted({key for key, setting in zip(keys, settings) if settings.count(setting) > 1})
    if repeated:
        raise ConfigError(f"the grid names the same setting twice ({', '.join(repeated)}): give its values in one list")
    empty = [k for k in keys if not list(grid[k])]
    if empty:
        raise ConfigError(f"the grid's setting {empty[0]} has no values: give it at least one, e.g. {empty[0]}=[V1,V2]")
    combos = itertools.product(*(list(grid[k]) for k in keys))
    return [apply_settings(base, dict(zip(keys, values))) for values in combos]


def run_name(config: TrainConfig, keys: Iterable[str]) -> str:
    """A folder name from the swept settings' values, e.g. ``method=bandlimit,rate=0.5``."""
    parts = []
    for key in keys:
        value = get_setting(config, key)
        parts.append(f"{key}={'+'.join(value) if isinstance(value, list) else value}")
    return ",".join(parts).replace("/", "_").replace(":", "_") or "run"


def run_sweep(
    base: TrainConfig,
    grid: Mapping[str, Iterable[Any]],
    out_dir: str | Path,
    *,
    more: Sequence[Mapping[str, Iterable[Any]]] = (),
    force: bool = False,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> list[tuple[TrainConfig, Path]]:
    """Train every configuration of the grid (and of the ``more`` grids) into ``out_dir/<run_name>``.

    Every run is checked before the first trains (:func:`bandlimit.train.check_run`), so a bad
    value or a folder holding another run stops the sweep with nothing written. A finished run
    of the same config is reused; an unfinished one resumes from its last checkpoint; a folder
    of other settings is refused, or with ``force`` trained again.

    Returns:
        ``(config, run folder)`` for every run of the grids.
    """
    out = check_out_dir(out_dir)
    runs = [(config, out / run_name(config, g)) for g in (grid, *more) for config in expand_grid(base, g)]
    plans = [_plan(config, folder, force) for config, folder in runs]
    for (config, folder), plan in zip(runs, plans):
        if plan.action == "finished":
            log(f"{folder.name}: finished already ({folder / RESULT})")
            continue
        log(f"{folder.name}: training")
        forced = force and plan.action == "new"
        train(config, folder, resume=True, force=forced, progress=progress, log=prefixed(log, folder.name))
    return runs


def _plan(config: TrainConfig, folder: Path, force: bool) -> RunPlan:
    """The run's plan; with ``force``, a folder that cannot be reused as it is is trained again."""
    try:
        return check_run(config, folder, resume=True)
    except BandlimitError:
        if not force:
            raise
        return check_run(config, folder, resume=True, force=True)
