"""The experiments of ``bandlimit reproduce``, each registered once, like timm's models: how it
runs, and the typed result it returns, which knows how to draw itself in the report.

    @dataclass
    class EnergyTable(ExperimentResult):
        VERSION = 1
        rows: list[dict[str, Any]]

        def blocks(self, plots: Path) -> list[Block]: ...

    @register_experiment("energy_table", EnergyTable)
    def energy_table(scale, out, log) -> EnergyTable: ...

One experiment, one module: its runs, its measurement, its result and its report sections.
``reproduce`` runs the registered experiments a scale names and writes each result as
``<experiment>/results.json`` (with its version); the report reads them back and draws them.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ..errors import ConfigError

__all__ = ["ExperimentResult", "ExperimentSpec", "experiments", "register_experiment"]

Block = tuple[str, Any]  # a report block (:mod:`bandlimit.report.render`)
R = TypeVar("R", bound="ExperimentResult")


@dataclass
class ExperimentResult(abc.ABC):
    """The result of one experiment: a dataclass of JSON values, versioned on disk.

    Subclasses set ``VERSION`` (raised when a field's meaning changes) and draw themselves
    with :meth:`blocks`.
    """

    VERSION: ClassVar[int] = 1

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.VERSION, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any], source: str = "results") -> R:
        """Read back :meth:`to_dict`'s output.

        Raises:
            ConfigError: ``data`` was written by another version, or is not such a result
                (a field without a default is missing). Files written before results were
                versioned count as version 1.
        """
        version = data.get("version", 1)
        if version != cls.VERSION:
            raise ConfigError(
                f"{source} holds version {version} of {cls.__name__}; this bandlimit reads version {cls.VERSION}: "
                "run the experiment again"
            )
        fields = {f.name: f for f in dataclasses.fields(cls)}
        needed = [
            n
            for n, f in fields.items()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [n for n in needed if n not in data]
        if missing:
            raise ConfigError(
                f"{source} is not a {cls.__name__} that `bandlimit reproduce` wrote (no {', '.join(missing)})"
            )
        return cls(**{name: data[name] for name in fields if name in data})

    @abc.abstractmethod
    def blocks(self, plots: Path) -> list[Block]:
        """The report's sections for this result; plots are written into ``plots``."""


Run = Callable[[Any, Path, Callable[[str], None]], ExperimentResult]  # (scale, out folder, log) -> result


@dataclass(frozen=True)
class ExperimentSpec:
    """A registered experiment.

    Attributes:
        result: the type of its result (read back from ``results.json`` for the report).
        measured_once: it measures rather than trains: a finished one is reused while the
            scale's settings are unchanged.
    """

    name: str
    run: Run
    result: type[ExperimentResult]
    measured_once: bool = False


_EXPERIMENTS: dict[str, ExperimentSpec] = {}


def register_experiment(
    name: str, result: type[ExperimentResult], *, measured_once: bool = False
) -> Callable[[Run], Run]:
    """Register the decorated function as experiment ``name`` (in the order of registration)."""

    def add(run: Run) -> Run:
        if name in _EXPERIMENTS:
            raise ValueError(f"experiment {name!r} is registered already")
        _EXPERIMENTS[name] = ExperimentSpec(name, run, result, measured_once)
        return run

    return add


def experiments() -> dict[str, ExperimentSpec]:
    """The registered experiments by name, in registration order."""
    from . import reproduce  # noqa: F401 - its import registers the experiments

    return dict(_EXPERIMENTS)
