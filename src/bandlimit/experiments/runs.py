"""A planned training run of a reproduction."""

from __future__ import annotations

from dataclasses import dataclass

from ..train import TrainConfig

__all__ = ["PlannedRun"]


@dataclass(frozen=True)
class PlannedRun:
    """One training run of an experiment: its folder under the output folder, and its config."""

    experiment: str
    folder: str
    config: TrainConfig
    task: str
    variant: str
    seed: int
