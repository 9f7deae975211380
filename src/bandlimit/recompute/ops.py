"""A recorded op: the function, its arguments with recorded tensors replaced by references to
their values, and which of those arguments it writes in place (a replay must not write into a
value that something else still needs).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._pytree import tree_flatten

__all__ = ["Op", "Ref", "written_positions"]

aten = torch.ops.aten

# Ops that update buffers in place although their schema does not say so: a replay gets copies.
_UNMARKED_WRITES: dict[Any, tuple[int, ...]] = {
    aten.native_batch_norm.default: (3, 4),
    aten._native_batch_norm_legit.default: (3, 4),
    aten._batch_norm_with_update.default: (3, 4),
}


@dataclass(frozen=True)
class Ref:
    """A recorded value in an op's argument template."""

    value: int


@dataclass
class Op:
    """An op of the recorded forward pass."""

    func: Any
    template: Any  # (args, kwargs) with recorded tensors replaced by Ref
    outputs: list[int | None]  # value id of each flat output (None: not recorded)
    written: tuple[int, ...]  # flat positions of the arguments the op writes


@functools.cache
def _written_arguments(func: Any) -> frozenset[int | str]:
    """Positions and names of the arguments ``func`` writes (most ops write none)."""
    written: set[int | str] = set(_UNMARKED_WRITES.get(func, ()))
    for i, arg in enumerate(func._schema.arguments):
        if arg.alias_info is not None and arg.alias_info.is_write:
            written.update((i, arg.name))
    return frozenset(written)


def written_positions(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[int, ...]:
    """Flat positions (in ``tree_flatten((args, kwargs))``) of the tensor arguments ``func`` writes."""
    written = _written_arguments(func)
    if not written:
        return ()
    flat: list[int] = []
    position = 0
    for key, value in [*enumerate(args), *kwargs.items()]:
        n = len(tree_flatten(value)[0])
        if key in written:
            flat.extend(range(position, position + n))
        position += n
    return tuple(flat)
