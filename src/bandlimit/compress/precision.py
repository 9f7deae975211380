"""Reduced precision as a compression method: the model's forward under autocast.

``compress_(model, PrecisionConfig(dtype="bf16"))`` makes every call of ``model`` run under
``torch.autocast`` of the input's device type: matrix products and convolutions in bf16 (or
fp16), reductions and the band-limited layer's transforms in float32. It composes with the other
methods (``[BandLimitConfig(rate=0.5), PrecisionConfig()]``). The weights stay float32 (they are
the master copy the optimizer updates); activations saved for backward are what halves.
fp16 needs a gradient scaler against underflow; the training loop makes one
(:func:`needs_grad_scaler`). It acts on the whole model, so it has no per-layer overrides.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import ConfigError
from ..settings import setting
from .config import CompressionConfig
from .transform import register_transform

__all__ = ["PrecisionConfig", "autocast_dtype", "needs_grad_scaler"]

DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
_HOOKS = "_bandlimit_autocast"  # the model attribute holding (dtype, the installed hooks' handles)


@dataclasses.dataclass(frozen=True)
class PrecisionConfig(CompressionConfig):
    """Run the model's forward under autocast in ``dtype`` (fp32: no autocast)."""

    method: ClassVar[str] = "precision"
    ALIASES: ClassVar[Mapping[str, str]] = {"precision": "dtype"}

    dtype: str = setting(
        "bf16",
        help="mixed precision of the forward: bf16 autocast (CPU or CUDA), fp16 autocast with a gradient scaler "
        "(CUDA), or fp32 (none)",
        choices=tuple(DTYPES),
    )

    def __post_init__(self) -> None:
        if self.overrides:
            raise ConfigError(f"precision acts on the whole model and takes no overrides, got {self.overrides}")
        super().__post_init__()


class _Autocast:
    """Forward pre-hook and hook that enter and leave ``torch.autocast`` around a module's call.

    A class rather than closures, so that a model with the hooks still pickles and deep-copies.
    The stack holds one context per active call (a model may call itself re-entrantly).
    """

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype
        self.stack: list[torch.autocast] = []

    def enter(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        tensor = next((a for a in args if isinstance(a, torch.Tensor)), None)
        if tensor is None:
            tensor = next(module.parameters(), None)
        device = tensor.device.type if tensor is not None else "cpu"
        context = torch.autocast(device, dtype=self.dtype)
        context.__enter__()  # type: ignore[no-untyped-call]
        self.stack.append(context)

    def leave(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if self.stack:  # the pre-hook ran (it did unless an earlier pre-hook raised)
            self.stack.pop().__exit__(None, None, None)


def _install(model: nn.Module, config: PrecisionConfig) -> None:
    for handle in getattr(model, _HOOKS, (None, ()))[1]:
        handle.remove()
    dtype = DTYPES[config.dtype]
    if dtype is None:
        setattr(model, _HOOKS, (None, ()))
        return
    hooks = _Autocast(dtype)
    # prepend: the context is entered before any other pre-hook (e.g. pruning's mask) runs
    handles = (
        model.register_forward_pre_hook(hooks.enter, prepend=True),
        model.register_forward_hook(hooks.leave, always_call=True),
    )
    setattr(model, _HOOKS, (dtype, handles))


@register_transform(PrecisionConfig, targets=(), finalize=_install)
def _no_layer(module: nn.Module, config: PrecisionConfig) -> None:
    return None  # the whole model is the unit: see _install


def autocast_dtype(model: nn.Module) -> torch.dtype | None:
    """The autocast dtype installed on ``model`` by a :class:`PrecisionConfig`, or None."""
    return getattr(model, _HOOKS, (None, ()))[0]


def needs_grad_scaler(configs: tuple[CompressionConfig, ...]) -> bool:
    """Whether training with ``configs`` needs a gradient scaler (fp16 autocast)."""
    return any(isinstance(c, PrecisionConfig) and c.dtype == "fp16" for c in configs)
