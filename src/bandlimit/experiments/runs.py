"""A planned training run of a reproduction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..train import TrainConfig

__all__ = ["PlannedRun", "missing_for", "unique_runs"]


@dataclass(frozen=True)
class PlannedRun:
    """One training run of an experiment: its folder under the output folder, and its config."""

    experiment: str
    folder: str
    config: TrainConfig
    task: str
    variant: str
    seed: int


def unique_runs(runs: Sequence[PlannedRun]) -> list[PlannedRun]:
    """``runs`` with one run per folder, the first planned there (shared runs train once)."""
    first: dict[str, PlannedRun] = {}
    for run in runs:
        first.setdefault(run.folder, run)
    return list(first.values())


def missing_for(task: str, runs: Sequence[PlannedRun], missing: dict[str, str]) -> str | None:
    """Why ``task``'s runs are absent (their data is not on this machine), or None."""
    return next((missing[r.folder] for r in runs if r.task == task and r.folder in missing), None)
