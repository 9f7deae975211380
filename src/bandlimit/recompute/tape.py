"""Spectral checkpoints: activations recomputed in backward from band-limited layers' spectra.

A band-limited convolution keeps its compressed input spectrum for backward, and its output is
exactly recomputable from that spectrum and the weight: it is a checkpoint. While a model runs
forward under a :class:`Tape`, every aten op whose inputs descend from such an output (an
*anchor*) is recorded, by value identity and never by holding the tensor. When autograd saves
a tensor for backward that the tape can recompute (a BatchNorm input, a ReLU output, a pooling
input, a residual sum...), it saves a small handle instead; the backward replays the recorded
ops from the nearest anchors when it needs the tensor, and drops the replayed values once the
anchor's own backward has run (every consumer of an anchor runs its backward before it).

A layer that saves its input rather than its band (:meth:`keep`) makes that input a
checkpoint too: handles for its value take it instead of replaying it.

What is not recomputable is saved as usual: tensors that do not descend from an anchor, and the
outputs of random ops (dropout's mask is kept, so the recomputed output uses the same mask).
Buffers that an op updates in place (BatchNorm running statistics) are not touched by a replay.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode, _pop_mode_temporarily
from torch.utils._pytree import tree_flatten, tree_unflatten
from torch.utils.weak import WeakIdKeyDictionary

from .ops import Op, Ref, written_positions

__all__ = ["MIN_RECOMPUTED_BYTES", "Tape"]

# Saved tensors smaller than this are kept: a handle and a replay would cost more than they save.
MIN_RECOMPUTED_BYTES = 16 << 10


class _Handle:
    """What autograd keeps instead of a recomputable tensor."""

    __slots__ = ("tape", "value")

    def __init__(self, tape: Tape, value: int) -> None:
        self.tape, self.value = tape, value


class Tape(TorchDispatchMode):
    """Records a forward pass and recomputes saved tensors from anchors in backward.

    Use :func:`recording` around a model's forward; band-limited convolutions register their
    outputs with :meth:`anchor` and call :meth:`release` from their backward.
    """

    def __init__(self, min_bytes: int = MIN_RECOMPUTED_BYTES) -> None:
        super().__init__()
        self.min_bytes = min_bytes
        self.paused = False
        self._ids: WeakIdKeyDictionary = WeakIdKeyDictionary()  # live tensor -> its current value id
        self._on_storage: dict[int, list[weakref.ref[torch.Tensor]]] = {}  # storage address -> tracked tensors
        self._tags: list[frozenset[int]] = []  # value id -> anchors it descends from
        self._producers: list[tuple[int, int]] = []  # value id -> (op index or -1 - anchor, output position)
        self._ops: list[Op] = []
        self._recipes: dict[int, Callable[[], torch.Tensor] | None] = {}
        self._anchor_values: list[int] = []  # anchor -> its value id
        self._cache: dict[int, torch.Tensor] = {}
        self._pending: dict[int, int] = {}  # value id -> handles not unpacked yet
        self._unreplayable: WeakIdKeyDictionary = WeakIdKeyDictionary()  # tensor -> (op, module) that made it
        self.module_path: list[str] = []
        self._warned: set[str] = set()
        # Saved-tensor hooks active outside the tape (a memory counter, offloading) see what it keeps.
        self._outer = torch._C._autograd._top_saved_tensors_default_hooks(False)

    # -- forward ---------------------------------------------------------------------------------

    def _new_value(self, tensor: torch.Tensor, tags: frozenset[int], producer: tuple[int, int]) -> int:
        value = len(self._tags)
        self._tags.append(tags)
        self._producers.append(producer)
        if tensor not in self._ids:
            self._on_storage.setdefault(tensor.untyped_storage().data_ptr(), []).append(weakref.ref(tensor))
        self._ids[tensor] = value
        return value

    def anchor(self, output: torch.Tensor, recipe: Callable[[], torch.Tensor]) -> int:
        """Register a band-limited layer's ``output``, exactly recomputable by ``recipe()``."""
        anchor = len(self._recipes)
        self._recipes[anchor] = recipe
        self._anchor_values.append(self._new_value(output, frozenset((anchor,)), (-1 - anchor, 0)))
        return anchor

    @contextmanager
    def pause(self) -> Iterator[None]:
        """Ops inside are not recorded (a band-limited layer's own transforms)."""
        previous, self.paused = self.paused, True
        try:
            if _get_current_dispatch_mode() is self:  # off the mode stack, they also skip Python dispatch
                with _pop_mode_temporarily():
                    yield
            else:
                yield
        finally:
            self.paused = previous

    def keep(self, tensor: torch.Tensor) -> None:
        """``tensor`` is saved for backward as it is (a band-limited layer's input): handles for its
        value take it instead of replaying, and further saves of it share it."""
        value = self._ids.get(tensor)
        if value is not None:
            self._cache[value] = tensor

    def _forget_aliases(self, tensor: torch.Tensor) -> None:
        """``tensor`` is written in place: other tensors on its storage no longer hold their recorded value.

        (A kept tensor written in place needs nothing here: the layer that saved it refuses its
        backward, as autograd does for any saved tensor modified in place, and that backward
        runs before any handle of the value is unpacked.)
        """
        for ref in self._on_storage.get(tensor.untyped_storage().data_ptr(), ()):
            other = ref()
            if other is not None and other is not tensor:
                self._ids.pop(other, None)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not self.paused:
            self._record(func, args, kwargs, out)
        return out

    def _record(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        flat_args, spec = tree_flatten((args, kwargs))
        inputs = [self._ids.get(a) if isinstance(a, torch.Tensor) else None for a in flat_args]
        derived = [v for v in inputs if v is not None]
        if not derived:
            return
        written = written_positions(func, args, kwargs)
        targets = [flat_args[i] for i in written if isinstance(flat_args[i], torch.Tensor)]
        for target in targets:
            self._forget_aliases(target)
        flat_out = tree_flatten(out)[0]
        if torch.Tag.nondeterministic_seeded in func.tags:
            # A random op cannot be replayed: its results are saved as usual where needed.
            for t in [*targets, *flat_out]:
                if isinstance(t, torch.Tensor):
                    self._ids.pop(t, None)
                    self._unreplayable[t] = (str(func), self._module())
            return
        tags = frozenset().union(*(self._tags[v] for v in derived))
        template = tree_unflatten([a if v is None else Ref(v) for a, v in zip(flat_args, inputs)], spec)
        op = Op(func, template, [], written)
        index = len(self._ops)
        self._ops.append(op)
        for position, t in enumerate(flat_out):
            op.outputs.append(self._new_value(t, tags, (index, position)) if isinstance(t, torch.Tensor) else None)

    def _module(self) -> str:
        return self.module_path[-1] if self.module_path else "<model>"

    # -- saving and backward ---------------------------------------------------------------------

    def pack(self, tensor: torch.Tensor) -> Any:
        """``saved_tensors_hooks`` pack: a handle for a large recomputable tensor, else the tensor."""
        value = self._ids.get(tensor)
        large = tensor.untyped_storage().nbytes() >= self.min_bytes
        if value is None or value in self._cache or not tensor.requires_grad or not large:
            if large and tensor.requires_grad and tensor in self._unreplayable:
                op, module = self._unreplayable[tensor]
                self._warn_kept(op, module, tensor)
            return tensor if self._outer is None else (self._outer[1], self._outer[0](tensor))
        self._pending[value] = self._pending.get(value, 0) + 1
        return _Handle(self, value)

    def _warn_kept(self, op: str, module: str, tensor: torch.Tensor) -> None:
        if module not in self._warned:
            self._warned.add(module)
            warnings.warn(
                f"spectral checkpoints: layer {module!r} saves a {tuple(tensor.shape)} result of {op}, which cannot "
                "be recomputed; it is kept for backward as without checkpoints",
                stacklevel=2,
            )

    @staticmethod
    def unpack(packed: Any) -> Any:
        """``saved_tensors_hooks`` unpack: recompute what a handle stands for."""
        if isinstance(packed, _Handle):
            return packed.tape.take(packed.value)
        if isinstance(packed, tuple):  # packed by the outer hooks: (their unpack, their packed value)
            return packed[0](packed[1])
        return packed

    def take(self, value: int) -> torch.Tensor:
        """The tensor a handle stands for; it leaves the cache when no other handle waits for it."""
        tensor = self.materialize(value)
        self._pending[value] -= 1
        if self._pending[value] == 0:
            self._cache.pop(value, None)
        return tensor

    def materialize(self, value: int) -> torch.Tensor:
        """The tensor of a recorded value, replayed from its anchors.

        A replay frees each value as soon as its last consumer in the replay has run, and
        writes an in-place op into its input when nothing else needs it. Of the values it
        computes, those that saved-tensor handles still wait for are cached.
        """
        if value in self._cache:
            return self._cache[value]
        order: list[int] = []
        uses: dict[int, int] = {value: 1}
        self._plan(value, order, uses, set())
        scratch: dict[int, torch.Tensor] = {}
        with torch.no_grad():
            for source in order:
                self._run(source, scratch, uses)
        for v, t in scratch.items():
            if self._pending.get(v, 0) > 0:
                self._cache[v] = t
        return scratch[value]

    def _plan(self, value: int, order: list[int], uses: dict[int, int], planned: set[int]) -> None:
        """Append the sources (op index, or ``-1 - anchor``) ``value`` needs to ``order``, inputs
        first, and count in ``uses`` how many planned ops read each value."""
        source = self._producers[value][0]
        if value in self._cache or source in planned:
            return
        planned.add(source)
        if source >= 0:
            for ref in tree_flatten(self._ops[source].template)[0]:
                if isinstance(ref, Ref):
                    uses[ref.value] = uses.get(ref.value, 0) + 1
                    self._plan(ref.value, order, uses, planned)
        order.append(source)

    def _needed(self, value: int, uses: dict[int, int]) -> bool:
        return uses.get(value, 0) > 0 or self._pending.get(value, 0) > 0

    def _run(self, source: int, scratch: dict[int, torch.Tensor], uses: dict[int, int]) -> None:
        if source < 0:
            recipe = self._recipes.get(-1 - source)
            if recipe is None:
                raise RuntimeError(
                    "spectral checkpoints: a tensor was needed after its band-limited layer's backward "
                    "(a second backward through the same graph?); turn spectral checkpoints off for it"
                )
            scratch[self._anchor_values[-1 - source]] = recipe()
            return
        op = self._ops[source]
        flat, spec = tree_flatten(op.template)
        done: list[int] = []
        for i, a in enumerate(flat):
            if isinstance(a, Ref):
                uses[a.value] -= 1
                last = not self._needed(a.value, uses) and a.value in scratch
                flat[i] = scratch[a.value] if a.value in scratch else self._cache[a.value]
                if last:
                    done.append(a.value)
                elif i in op.written:
                    flat[i] = flat[i].clone()  # another op or a handle still needs the value as it is
            elif i in op.written and isinstance(a, torch.Tensor):
                flat[i] = a.clone()  # a buffer the op would update (BatchNorm's running statistics)
        args, kwargs = tree_unflatten(flat, spec)
        outputs = tree_flatten(op.func(*args, **kwargs))[0]
        for finished in done:
            del scratch[finished]
        for out, t in zip(op.outputs, outputs):
            if out is not None and self._needed(out, uses):
                scratch[out] = t

    def release(self, anchor: int) -> None:
        """The anchor's layer ran its backward: drop its recipe and every replayed value that descends from it."""
        self._recipes[anchor] = None
        for value in [v for v in self._cache if anchor in self._tags[v]]:
            del self._cache[value]
