"""Memory of one forward + backward: bytes saved for backward (exact) and peak memory.

Peak memory is measured in a fresh process per implementation: the peak resident set during
the step (``VmHWM``, reset just before it through ``/proc/self/clear_refs``) minus the
resident set just before it. On Linux, large tensors are mapped from and returned to the OS,
so this follows allocated bytes closely; it includes workspace that libraries (oneDNN, MKL)
allocate outside PyTorch's allocator. (``ru_maxrss`` would not do: Linux carries it over
from the parent through fork and exec.)
"""

from __future__ import annotations

import multiprocessing as mp
import os

import torch

from ..memory import count_saved_bytes

__all__ = ["cuda_peak_step_bytes", "saved_bytes", "peak_step_bytes"]

_MMAP_THRESHOLD = "MALLOC_MMAP_THRESHOLD_"


def saved_bytes(step) -> int:
    """Bytes of the distinct tensors saved for backward by ``step()`` (which runs a forward)."""
    with count_saved_bytes() as saved:
        step()
    return saved.total


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024  # reported in kB


def _child(builder, args, queue) -> None:
    torch.set_num_threads(1)
    step = builder(*args)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident set to the current one
    before = _status_bytes("VmRSS")
    step()
    queue.put(max(0, _status_bytes("VmHWM") - before))


def peak_step_bytes(builder, *args) -> int:
    """Peak memory added by one call of ``builder(*args)()`` in a fresh process (Linux).

    ``builder`` must be a module-level function returning the step (inputs created by it
    count as resident before the step).
    """
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(builder, args, queue))
    # glibc raises its mmap threshold as large blocks are freed, after which freed memory stays
    # resident and a second step's peak would hide in it: a fixed threshold returns every block
    # of 64 KiB or more to the OS when it is freed, so the resident set follows allocated bytes.
    saved_env = os.environ.get(_MMAP_THRESHOLD)
    os.environ[_MMAP_THRESHOLD] = "65536"
    try:
        proc.start()
    finally:
        if saved_env is None:
            del os.environ[_MMAP_THRESHOLD]
        else:
            os.environ[_MMAP_THRESHOLD] = saved_env
    proc.join(timeout=600)
    if proc.exitcode != 0:
        proc.kill()
        raise RuntimeError(f"the memory measurement process failed (exit code {proc.exitcode})")
    return int(queue.get(timeout=10))


def cuda_peak_step_bytes(builder, *args) -> int:
    """Peak CUDA memory added by one call of ``builder(*args)()``, in this process: PyTorch's
    allocator counts every CUDA tensor (library workspaces outside it are not counted)."""
    step = builder(*args)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    step()
    torch.cuda.synchronize()
    return max(0, torch.cuda.max_memory_allocated() - before)
