"""Memory of one forward + backward: bytes saved for backward (exact) and peak memory.

Peak memory is measured in a fresh process per implementation: the rise of the process's
peak resident set over its resident set just before the step. On Linux, large tensors are
mapped from and returned to the OS, so this follows allocated bytes closely; it includes
workspace that libraries (oneDNN, MKL) allocate outside PyTorch's allocator.
"""

from __future__ import annotations

import multiprocessing as mp
import resource

import torch

__all__ = ["saved_bytes", "peak_step_bytes"]


def saved_bytes(step) -> int:
    """Bytes of the distinct tensors saved for backward by ``step()`` (which runs a forward)."""
    from ..train.memory import count_saved_bytes

    with count_saved_bytes() as total:
        step()
    return total[0]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _child(builder, args, queue) -> None:
    torch.set_num_threads(1)
    step = builder(*args)
    before = _rss_bytes()
    step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put(max(0, peak - before))


def peak_step_bytes(builder, *args) -> int:
    """Peak memory added by one call of ``builder(*args)()`` in a fresh process (Linux).

    ``builder`` must be a module-level function returning the step (inputs created by it
    count as resident before the step).
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(builder, args, queue))
    proc.start()
    proc.join(timeout=600)
    if proc.exitcode != 0:
        proc.kill()
        raise RuntimeError(f"the memory measurement process failed (exit code {proc.exitcode})")
    return int(queue.get(timeout=10))
