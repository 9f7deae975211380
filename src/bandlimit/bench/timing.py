"""Interleaved timing in one process with ``torch.utils.benchmark`` (median and IQR)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
import torch.utils.benchmark as tb

__all__ = ["time_interleaved"]


def time_interleaved(
    fns: Mapping[str, Callable[[], object]], rounds: int = 5, min_run_time: float = 0.2, warmup: int = 2
) -> dict[str, dict[str, float]]:
    """Time each function in turn, ``rounds`` times, so slow drifts of a shared machine hit all
    alike, at the current ``torch.get_num_threads()``.

    Returns:
        Per name: ``median_s`` and ``iqr_s`` over all blocked measurements, and ``runs``.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            # Timer runs at 1 thread unless told otherwise: measure at the caller's thread count.
            timer = tb.Timer("fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
            m = timer.blocked_autorange(min_run_time=min_run_time)
            times[name].extend(m.times)
    out = {}
    for name, ts in times.items():
        q1, med, q3 = np.percentile(ts, [25, 50, 75])
        out[name] = {"median_s": float(med), "iqr_s": float(q3 - q1), "runs": len(ts)}
    return out
