"""What a reproduction would train, and about how long it would take, without training
(``bandlimit reproduce --dry-run``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..checks import check_float
from ..train import check_out_dir
from .plan import Scale, estimate_seconds, plan
from .reproduce import select_experiments
from .runs import PlannedRun, unique_runs

__all__ = ["DryRun", "EstimatedRun", "dry_run"]


@dataclass(frozen=True)
class EstimatedRun:
    """A planned run and its estimated training time."""

    run: PlannedRun
    seconds: float | None  # None: its data is not on this machine, so it cannot be sized


@dataclass(frozen=True)
class DryRun:
    """The runs a reproduction would train (one per folder), each with its time at ``gflops``."""

    runs: tuple[EstimatedRun, ...]
    gflops: float  # the training throughput the estimates assume (GFLOP/s)

    @property
    def total_seconds(self) -> float:
        """The estimated time of every run that could be sized."""
        return sum(r.seconds or 0.0 for r in self.runs)


def dry_run(scale: Scale, out: str | Path, only: Sequence[str] | None = None, *, gflops: float | None = None) -> DryRun:
    """The runs that :func:`.reproduce.reproduce` would train with these arguments, and their
    estimated times (:func:`.plan.estimate_seconds`); nothing is trained or written.

    Args:
        out: the output folder the reproduction would use (checked, not created).
        only: run only these experiments of the scale.
        gflops: the training throughput to assume, in GFLOP/s (default: the scale's).

    Raises:
        ConfigError: ``out`` cannot be a folder, or ``only`` names an experiment the scale does not run.
        ValueError: ``gflops`` is not a finite number > 0.
    """
    check_out_dir(out)
    selected = select_experiments(scale, only)
    throughput = scale.gflops if gflops is None else check_float(gflops, "gflops", above=0)
    runs = unique_runs([r for r in plan(scale) if r.experiment in selected])
    return DryRun(tuple(EstimatedRun(run, estimate_seconds(run, throughput)) for run in runs), throughput)
