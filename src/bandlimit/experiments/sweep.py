"""A grid of training runs, resumable: each run's folder says whether it finished."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..train import TrainConfig, run_is_finished, train
from ..train.run import RESULT

__all__ = ["expand_grid", "run_name", "run_sweep"]


def expand_grid(base: TrainConfig, grid: dict[str, Iterable[Any]]) -> list[TrainConfig]:
    """Every combination of the ``grid`` values applied to ``base``, in a stable order."""
    keys = list(grid)
    return [base.with_(**dict(zip(keys, values))) for values in itertools.product(*(list(grid[k]) for k in keys))]


def run_name(config: TrainConfig, keys: Iterable[str]) -> str:
    """A folder name from the swept fields, e.g. ``method=bandlimit,rate=0.5``."""
    parts = [f"{k}={getattr(config, k)}" for k in keys]
    return ",".join(parts).replace("/", "_").replace(":", "_") or "run"


def run_sweep(
    base: TrainConfig,
    grid: dict[str, Iterable[Any]],
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
        train(config, folder, resume=True, progress=progress, log=lambda line, n=folder.name: log(f"  {n}: {line}"))
    return runs
