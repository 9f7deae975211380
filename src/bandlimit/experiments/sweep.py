"""A grid of training runs, resumable: each run's folder says whether it finished."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from ..train import TrainConfig, run_is_finished, train
from ..train.config import apply_settings, get_setting
from ..train.run import RESULT

__all__ = ["expand_grid", "run_name", "run_sweep"]


def expand_grid(base: TrainConfig, grid: Mapping[str, Iterable[Any]]) -> list[TrainConfig]:
    """Every combination of the ``grid`` values applied to ``base``, in a stable order.

    Keys are setting names (:func:`bandlimit.train.apply_settings`): a run field (``lr``),
    ``method``, a method field (``bandlimit.rate``) or its alias (``rate``).
    """
    keys = list(grid)
    combos = itertools.product(*(list(grid[k]) for k in keys))
    return [apply_settings(base, dict(zip(keys, values))) for values in combos]


def run_name(config: TrainConfig, keys: Iterable[str]) -> str:
    """A folder name from the swept settings' values, e.g. ``method=bandlimit,rate=0.5``."""
    parts = []
    for key in keys:
        value = get_setting(config, key)
        parts.append(f"{key}={'+'.join(value) if isinstance(value, list) else value}")
    return ",".join(parts).replace("/", "_").replace(":", "_") or "run"


def _prefixed(log: Callable[[str], None], name: str) -> Callable[[str], None]:
    return lambda line: log(f"  {name}: {line}")


def run_sweep(
    base: TrainConfig,
    grid: Mapping[str, Iterable[Any]],
    out_dir: str | Path,
    *,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> list[tuple[TrainConfig, Path]]:
    """Train every configuration of the grid into ``out_dir/<run_name>``.

    Finished runs (their result file exists) are skipped; unfinished ones resume from their
    last checkpoint. Returns ``(config, run folder)`` for every run of the grid.
    """
    runs = []
    for config in expand_grid(base, grid):
        folder = Path(out_dir) / run_name(config, grid)
        runs.append((config, folder))
        if run_is_finished(folder):
            log(f"{folder.name}: finished already ({folder / RESULT})")
            continue
        log(f"{folder.name}: training")
        train(config, folder, resume=True, progress=progress, log=_prefixed(log, folder.name))
    return runs
