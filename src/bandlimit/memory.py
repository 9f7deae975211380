"""Memory measurement: the bytes a forward pass keeps for backward (exact), and peak memory.

One counter serves the training loop, the per-layer summary and the benchmarks, with one
rule: a storage is counted once, in full, however many tensors (views) of it are saved,
because that is what stays alive until backward.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import torch

__all__ = ["SavedBytes", "count_saved_bytes", "peak_memory_bytes"]


class SavedBytes:
    """Bytes of the distinct storages that autograd saves for backward while it is recording.

    Attributes:
        total: bytes counted so far.
        by_scope: bytes per scope name (see :meth:`enter`): what the layers of that scope
            save, each storage once, even if another scope saves it too.
    """

    def __init__(self, exclude: Iterable[torch.Tensor] = ()) -> None:
        """Args:
        exclude: tensors whose storages are not counted (e.g. parameters, which live anyway).
        """
        self._excluded = {_storage_key(t) for t in exclude}
        self._seen: set[tuple[int, int]] = set()
        self._seen_in_scope: dict[str, set[tuple[int, int]]] = {}
        self._scopes: list[str] = []
        self.total = 0
        self.by_scope: dict[str, int] = {}

    def enter(self, scope: str) -> None:
        """Attribute what is saved from now on to ``scope`` (scopes nest)."""
        self._scopes.append(scope)

    def leave(self) -> None:
        self._scopes.pop()

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        """The ``pack_hook`` of ``saved_tensors_hooks``: count, and keep the tensor unchanged."""
        key = _storage_key(tensor)
        if key in self._excluded:
            return tensor
        if key not in self._seen:
            self._seen.add(key)
            self.total += key[1]
        if self._scopes:
            scope = self._scopes[-1]
            seen = self._seen_in_scope.setdefault(scope, set())
            if key not in seen:
                seen.add(key)
                self.by_scope[scope] = self.by_scope.get(scope, 0) + key[1]
        return tensor


def _storage_key(tensor: torch.Tensor) -> tuple[int, int]:
    storage = tensor.untyped_storage()
    return storage.data_ptr(), storage.nbytes()


@contextmanager
def count_saved_bytes(exclude: Iterable[torch.Tensor] = ()) -> Iterator[SavedBytes]:
    """Count what the autograd graph saves inside the block.

    >>> with count_saved_bytes() as saved:
    ...     loss = model(x).sum()
    >>> saved.total  # bytes kept alive for loss.backward()
    """
    counter = SavedBytes(exclude)
    with torch.autograd.graph.saved_tensors_hooks(counter.pack, lambda t: t):
        yield counter


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
