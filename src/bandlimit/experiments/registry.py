"""The experiments of ``bandlimit reproduce``, each registered once with what it needs: how it
runs, how its results are drawn, and the entries its results file must hold.

    @register_experiment("energy_table", render=energy_blocks, required=("rows",))
    def energy_table(scale, out, log) -> dict: ...

``reproduce`` runs the registered experiments a scale names; the report draws them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ExperimentSpec", "experiments", "register_experiment"]

Run = Callable[[Any, Path, Callable[[str], None]], dict[str, Any]]  # (scale, out folder, log) -> results
Render = Callable[[dict[str, Any], Path], list[tuple[str, Any]]]  # (results, plot folder) -> report blocks


@dataclass(frozen=True)
class ExperimentSpec:
    """A registered experiment.

    Attributes:
        measured_once: it measures rather than trains: a finished one is reused while the
            scale's settings are unchanged.
        required: the top-level entries of its results: a file without them was not written by it.
    """

    name: str
    run: Run
    render: Render
    required: tuple[str, ...]
    measured_once: bool = False


_EXPERIMENTS: dict[str, ExperimentSpec] = {}


def register_experiment(
    name: str, *, render: Render, required: tuple[str, ...], measured_once: bool = False
) -> Callable[[Run], Run]:
    """Register the decorated function as experiment ``name`` (in the order of registration)."""

    def add(run: Run) -> Run:
        if name in _EXPERIMENTS:
            raise ValueError(f"experiment {name!r} is registered already")
        _EXPERIMENTS[name] = ExperimentSpec(name, run, render, required, measured_once)
        return run

    return add


def experiments() -> dict[str, ExperimentSpec]:
    """The registered experiments by name, in registration order."""
    from . import reproduce  # noqa: F401 - its import registers the experiments

    return dict(_EXPERIMENTS)
