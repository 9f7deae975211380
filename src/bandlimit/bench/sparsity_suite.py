"""What ``bandlimit sparsity-bench`` runs: CSR against dense AlexNet layers and its files, or the
sparsity table of a trained run (the measurements themselves are in :mod:`.sparsity`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..checks import check_int
from ..errors import ConfigError
from ..io import atomic_write_text
from ..train import check_out_file
from .run import machine_info
from .sparsity import (
    ALEXNET,
    SPARSITIES,
    SparseCase,
    format_sparsity,
    layer_sparsity,
    plot_sparsity,
    run_sparsity,
)

__all__ = ["QUICK_CASES", "checkpoint_sparsity", "format_sparsity_bench", "run_sparsity_bench"]

QUICK_CASES = (ALEXNET[0], ALEXNET[2])  # AlexNet conv2 and fc6
DEFAULT_BATCHES = (1, 32)


def run_sparsity_bench(
    *,
    quick: bool = False,
    cases: Sequence[SparseCase] | None = None,
    batches: Sequence[int] | None = None,
    sparsities: Sequence[float] = SPARSITIES,
    rounds: int = 3,
    min_run_time: float = 0.1,
    threads: int = 1,
    plot: str | Path | None = None,
    out: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Time and weight memory of CSR against dense AlexNet layers by weight sparsity
    (:func:`.sparsity.run_sparsity`), and the machine they ran on; returns the report (JSON-ready).

    ``out`` and ``plot`` are checked first: a missing folder or a folder given as the file is a
    :class:`~bandlimit.errors.ConfigError` naming ``--out``/``--plot`` before anything is measured.

    Args:
        quick: conv2 and fc6 (:data:`QUICK_CASES`) at batch 1 only; ``batches`` must then be None.
        cases: the layers (default :data:`.sparsity.ALEXNET`, or :data:`QUICK_CASES` with ``quick``).
        batches: batch sizes to measure (each >= 1; default 1 and 32).
        sparsities: fractions of zero weights, each timed interleaved (default 0 to 0.99).
        rounds, min_run_time: interleaved rounds, and seconds per blocked measurement.
        threads: torch intra-op threads while measuring (>= 1); the previous count is restored.
        plot: also draw time against sparsity to this PNG (:func:`.sparsity.plot_sparsity`).
        out: write the report here as indented JSON (atomically).
        log: receives one line per case, batch and sparsity.

    Returns:
        ``{"machine": ..., "threads": threads, "cases": {name: {"case": ..., "batches":
        {str(batch): [row per sparsity]}}}}``; a row holds ``sparsity``, ``dense_bytes`` and
        ``csr_bytes`` (bytes of the weight) and ``median_s`` (seconds per implementation).
    """
    for flag, path in (("--out", out), ("--plot", plot)):
        if path is not None:
            check_out_file(path, flag)
    if quick and batches is not None:
        raise ConfigError("--batches has no effect with --quick (batch 1 only)")
    batches = [1] if quick else [check_int(b, "batches", minimum=1) for b in batches or DEFAULT_BATCHES]
    threads = check_int(threads, "threads", minimum=1)
    if cases is None:
        cases = QUICK_CASES if quick else ALEXNET
    report: dict[str, Any] = {"machine": machine_info(), "threads": threads}
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        report |= run_sparsity(cases, sparsities, batches, rounds=rounds, min_run_time=min_run_time, log=log)
    finally:
        torch.set_num_threads(previous)
    if plot is not None:
        plot_sparsity(report, plot)
    if out is not None:
        atomic_write_text(out, json.dumps(report, indent=2))
    return report


def format_sparsity_bench(report: dict[str, Any]) -> str:
    """:func:`run_sparsity_bench`'s report as text: a line naming the machine (CPU, its vector
    extensions, torch's CPU capability, torch, threads), then :func:`.sparsity.format_sparsity`."""
    machine = report["machine"]
    header = (
        f"{machine['cpu']}, CPU capability {machine['cpu_capability']}, flags {' '.join(machine['cpu_flags'])}, "
        f"torch {machine['torch']}, {report['threads']} thread(s)"
    )
    return f"{header}\n\n{format_sparsity(report)}"


def checkpoint_sparsity(checkpoint: str | Path) -> list[dict[str, Any]]:
    """Per convolution and linear layer of a trained run's model (its ``checkpoint.pt``): the
    rows of :func:`.sparsity.layer_sparsity` (weights, fraction zero, dense and CSR bytes);
    :func:`.sparsity.format_layer_sparsity` renders them."""
    from ..train.run import load_trained

    return layer_sparsity(load_trained(checkpoint).model)
