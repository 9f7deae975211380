"""Spectral checkpoints on a model: a fresh :class:`~.tape.Tape` records each training forward."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import torch

from .tape import Tape

__all__ = ["current_tape", "install", "recording", "uninstall"]

_local = threading.local()


def current_tape() -> Tape | None:
    """The tape recording the forward pass on this thread, if any (and not paused)."""
    tape: Tape | None = getattr(_local, "tape", None)
    return None if tape is None or tape.paused else tape


@contextmanager
def recording(tape: Tape) -> Iterator[Tape]:
    """Record the forward pass inside the block on ``tape`` and save recomputable tensors as handles."""
    previous = getattr(_local, "tape", None)
    _local.tape = tape
    try:
        with tape, torch.autograd.graph.saved_tensors_hooks(tape.pack, Tape.unpack):
            yield tape
    finally:
        _local.tape = previous


_HOOKS = "_bandlimit_checkpoint_hooks"


class _Recorder:
    """The forward pre- and post-hooks of a model with spectral checkpoints (no closures, so a
    whole model stays picklable)."""

    def __init__(self) -> None:
        self._stacks: list[ExitStack | None] = []  # one per forward running (nested calls)

    def __getstate__(self) -> dict[str, Any]:
        return {}  # stacks exist only while a forward runs

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._stacks = []

    def start(self, module: torch.nn.Module, args: Any) -> None:
        if not (module.training and torch.is_grad_enabled()) or getattr(_local, "tape", None) is not None:
            self._stacks.append(None)
            return
        stack = ExitStack()
        tape = stack.enter_context(recording(Tape()))
        names = {id(m): name for name, m in module.named_modules()}

        def enter(m: torch.nn.Module, a: Any) -> None:
            tape.module_path.append(names.get(id(m), type(m).__name__))

        def leave(m: torch.nn.Module, a: Any, o: Any) -> None:
            if tape.module_path:
                tape.module_path.pop()

        # Module names for warnings, kept only while this forward runs.
        stack.enter_context(torch.nn.modules.module.register_module_forward_pre_hook(enter))
        stack.enter_context(torch.nn.modules.module.register_module_forward_hook(leave, always_call=True))
        self._stacks.append(stack)

    def stop(self, module: torch.nn.Module, args: Any, output: Any) -> None:
        stack = self._stacks.pop()
        if stack is not None:
            stack.close()


def install(model: torch.nn.Module) -> None:
    """Record ``model``'s training forward passes on a fresh :class:`Tape` each (idempotent).

    Nothing is recorded in eval mode or without gradients, so inference costs nothing extra.
    """
    if hasattr(model, _HOOKS):
        return
    recorder = _Recorder()
    handles = (
        model.register_forward_pre_hook(recorder.start),
        model.register_forward_hook(recorder.stop, always_call=True),
    )
    object.__setattr__(model, _HOOKS, handles)


def uninstall(model: torch.nn.Module) -> None:
    """Undo :func:`install`."""
    for handle in getattr(model, _HOOKS, ()):
        handle.remove()
    if hasattr(model, _HOOKS):
        object.__delattr__(model, _HOOKS)
