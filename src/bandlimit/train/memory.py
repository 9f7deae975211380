"""Memory measurement: bytes kept for backward (exact) and peak memory (allocator or process)."""

from __future__ import annotations

import resource
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["count_saved_bytes", "peak_memory_bytes"]


@contextmanager
def count_saved_bytes() -> Iterator[list[int]]:
    """Count the bytes of distinct tensors the autograd graph saves for backward inside the block.

    Yields a one-element list whose value is final when the block exits. Tensors saved twice
    (same storage pointer and size) are counted once.
    """
    seen: dict[tuple[int, int, torch.dtype], int] = {}
    total = [0]

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[(t.data_ptr(), t.numel(), t.dtype)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield total
    total[0] = sum(seen.values())


def peak_memory_bytes(device: torch.device) -> int:
    """Peak memory so far: the CUDA allocator's peak on a GPU, the process's peak RSS on CPU.

    The CPU figure covers the whole process (interpreter, data, libraries) and never
    decreases, so it bounds rather than measures one configuration; compare saved bytes
    for a per-configuration figure.
    """
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB
