"""What the band-limited layers' autograd Functions share, whatever their basis."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

__all__ = ["Context", "pair", "release_recipe", "saved_for_backward"]


class Context(Protocol):
    """What the autograd context of the layers' Functions holds (torch types ``ctx`` as Any)."""

    saved_tensors: tuple[torch.Tensor, ...]
    needs_input_grad: tuple[bool, ...]
    geo: Any  # the Function's geometry (FFT or DCT basis)
    has_bias: bool
    filter_conj: torch.Tensor | None  # the spectral path's cached filter band, if any
    release: Callable[[], None] | None  # set when a spectral checkpoint recomputes from this layer

    def save_for_backward(self, *tensors: torch.Tensor | None) -> None: ...


def release_recipe(ctx: Context) -> None:
    """A spectral checkpoint's recipe is dropped in the layer's backward: every consumer of the
    layer's output has run its backward by then."""
    release = getattr(ctx, "release", None)
    if release is not None:
        release()


def saved_for_backward(ctx: Context, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor, torch.dtype]:
    """What a layer's forward saved, its weight cast to the compute ``dtype``, and the caller's
    weight dtype (the weight gradient's); a spectral checkpoint's recipe is dropped.

    The layers cast the weight themselves and save the caller's tensor, not the cast: a
    parameter is alive anyway, while autocast's bfloat16 copy would be kept for backward only
    (as large as the weight: a fifth of what ResNet-18 saves in bf16 with spectral checkpoints).
    """
    saved, weight = ctx.saved_tensors
    release_recipe(ctx)
    return saved, weight.to(dtype), weight.dtype


def pair(values: Sequence[int], fill: int) -> tuple[int, int]:
    """Per-dimension values as 2D ones: a 1D layer is a 2D layer on one row, ``fill`` on the row axis."""
    return (fill, values[0]) if len(values) == 1 else (values[0], values[1])
