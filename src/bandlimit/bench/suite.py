"""What ``bandlimit bench`` runs: the layer suite, the memory-against-time trade-off and their files.

:func:`run_bench` checks where it will write before it measures (a bad path must not lose
minutes of measurements), runs :func:`.run.run_benchmarks`, optionally
:func:`measure_tradeoff`, writes the JSON report and returns it; :func:`.report.format_bench`
renders it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..checks import check_float, check_int
from ..errors import ConfigError
from ..io import atomic_write_text
from ..train import check_out_file
from .cases import LayerCase, default_cases
from .run import run_benchmarks
from .steps import StepCase, run_steps, tradeoff_cases

__all__ = ["QUICK_ROUNDS", "TRADEOFF_TITLE", "bench_cases", "measure_tradeoff", "run_bench"]

QUICK_ROUNDS = 2  # interleaved rounds per case of a quick run
TRADEOFF_TITLE = "ResNet-18 (CIFAR), batch 32: memory against time"


def bench_cases(quick: bool = False) -> list[LayerCase]:
    """The layer cases of the suite: :func:`.cases.default_cases` (batch 32), or with ``quick``
    only its 3x3 ones (rates 0, 0.5 and 0.85)."""
    cases = default_cases()
    return [c for c in cases if c.kernel == 3] if quick else cases


def measure_tradeoff(
    plot: str | Path | None = None,
    *,
    cases: Sequence[StepCase] | None = None,
    rounds: int = 3,
    min_run_time: float = 0.5,
    title: str = TRADEOFF_TITLE,
    log: Callable[[str], None] = print,
) -> dict[str, dict[str, Any]]:
    """Peak memory against training step time at 1 thread, by default of ResNet-18 (CIFAR
    shapes) at batch 32: :func:`.steps.tradeoff_cases` (the plain model, spectral checkpoints at
    rates 0 to 0.9, plain band-limiting and ``torch.utils.checkpoint`` granularities).

    Args:
        plot: if given, the PNG to draw peak MiB against step seconds to, titled ``title``
            (:func:`bandlimit.report.plot_memory_time`).
        cases: training steps of one model and batch (default :func:`.steps.tradeoff_cases`).
        rounds, min_run_time: interleaved rounds, and seconds per blocked measurement.
        log: receives one progress line.

    Returns:
        :func:`.steps.run_steps`'s one section: per variant name, its ``median_s``/``iqr_s``
        (seconds per step), ``saved_bytes`` and ``peak_bytes`` (bytes), and ratios to the plain
        model if it is among ``cases`` (``time_vs_plain``, ``peak_vs_plain``, ...).
    """
    from ..report import plot_memory_time

    cases = list(tradeoff_cases() if cases is None else cases)
    if not cases or any(c.inference or (c.model, c.batch) != (cases[0].model, cases[0].batch) for c in cases):
        raise ConfigError("cases must be training steps of one model at one batch size")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        report = run_steps(cases, rounds=check_int(rounds, "rounds", minimum=1), min_run_time=min_run_time, log=log)
    finally:
        torch.set_num_threads(previous)
    section: dict[str, dict[str, Any]] = report[f"{cases[0].model} batch {cases[0].batch}"]
    if plot is not None:
        plot_memory_time(section, plot, title=title)
    return section


def run_bench(
    *,
    threads: Sequence[int] = (1, 2),
    cases: Sequence[LayerCase] | None = None,
    rounds: int = 5,
    min_run_time: float = 0.2,
    quick: bool = False,
    steps: bool = True,
    memory: bool = True,
    plot: str | Path | None = None,
    out: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the benchmark suite of ``bandlimit bench`` and return its report (JSON-ready).

    ``out`` and ``plot`` are checked first: a missing folder or a folder given as the file is a
    :class:`~bandlimit.errors.ConfigError` naming ``--out``/``--plot`` before anything is measured.

    Args:
        threads: thread counts at which the layers are timed (each >= 1).
        cases: the layers to time (default :func:`bench_cases` of ``quick``).
        rounds: interleaved rounds per layer case (>= 1); ``quick`` uses :data:`QUICK_ROUNDS`.
        min_run_time: seconds per blocked measurement (> 0).
        quick: the 3x3 cases only (:func:`bench_cases`), 2 rounds, no whole steps or memory.
        steps: add whole training steps of models, at 1 thread (:mod:`.steps`).
        memory: add saved and peak bytes of the 3x3 layers (and of the whole steps).
        plot: also run :func:`measure_tradeoff`, stored as the report's ``"tradeoff"``, and
            draw it to this PNG.
        out: write the report here as indented JSON (atomically).
        log: receives progress lines.

    Returns:
        :func:`.run.run_benchmarks`'s report: ``machine``, ``method``, ``threads`` (per thread
        count as a string: ``peak_gflops`` and ``layers``), optionally ``steps``, ``memory`` and
        ``tradeoff``. Times are in seconds, memory in bytes.
    """
    for flag, path in (("--out", out), ("--plot", plot)):
        if path is not None:
            check_out_file(path, flag)
    threads = [check_int(n, "threads", minimum=1) for n in threads]
    if not threads:
        raise ConfigError("threads must name at least one thread count")
    rounds = QUICK_ROUNDS if quick else check_int(rounds, "rounds", minimum=1)
    report = run_benchmarks(
        threads=threads,
        cases=bench_cases(quick) if cases is None else cases,
        rounds=rounds,
        min_run_time=check_float(min_run_time, "min_run_time", above=0),
        steps=steps and not quick,
        memory=memory and not quick,
        log=log,
    )
    if plot is not None:
        report["tradeoff"] = measure_tradeoff(plot, log=log)
    if out is not None:
        atomic_write_text(out, json.dumps(report, indent=2))
    return report
