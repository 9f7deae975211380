"""A validated band-limited convolution call, run eagerly: its plan, the 1D and unbatched calls
lifted to the 4D kernel, the filter band from a cache, the autograd Function, a spectral
checkpoint when a :mod:`bandlimit.recompute` tape records, and the lift undone."""

from __future__ import annotations

import functools
from contextlib import nullcontext
from typing import Any

import torch

from ..recompute import current_tape
from .cache import FilterCache
from .contraction import filter_band_conj
from .plan import plan_conv
from .precision import spectrum_dtype
from .shape import ConvShape

__all__ = ["run_conv"]


def run_conv(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    shape: ConvShape,
    rate: float,
    basis: str,
    filter_cache: FilterCache | None = None,
) -> torch.Tensor:
    """The call of :func:`.conv.conv2d` / :func:`.conv.conv1d` on checked arguments, of sizes
    ``shape`` (:meth:`ConvShape.of_call`). ``weight`` is the caller's tensor, in the input's
    dtype or, under autocast, in float32: the autograd Function casts it to the compute dtype."""
    ndim = shape.ndim
    unbatched = input.dim() == ndim + 1
    training = torch.is_grad_enabled() and (input.requires_grad or weight.requires_grad)
    plan = plan_conv(
        shape, rate, basis, training=training, cached_filter=filter_cache is not None, dtype=input.dtype,
        device_type=input.device.type,
    )  # fmt: skip

    x = input.unsqueeze(0) if unbatched else input
    w = weight
    if ndim == 1:  # a 1D layer is a 2D layer on one row
        x, w = x.unsqueeze(-2), w.unsqueeze(-2)
    dtype = x.dtype
    compute = plan.compute_dtype
    if dtype != compute:  # bfloat16/float16 where they do not compute natively (:mod:`.precision`)
        x = x.to(compute)
        bias = bias.to(compute) if bias is not None else None
    # The weight is cast to ``compute`` inside the Function, which saves the caller's tensor.

    geo = plan.geometry
    filter_conj = None
    if plan.path == "spectral" and filter_cache is not None:
        key = (plan.band, geo.dilation, compute, tuple(w.shape))
        filter_conj = filter_cache.get(
            weight,
            key,
            lambda: filter_band_conj(w.to(compute), geo.band, geo.dilation, spectrum_dtype(compute)),
        )
    function: Any = plan.function
    tape = current_tape()
    if tape is not None and geo.saved == "input":
        tape.keep(x)  # saved as it is by the layer: other ops that save it share it, nothing replays it
    with torch.autocast(x.device.type, enabled=False), tape.pause() if tape else nullcontext():
        # torch leaves Function.apply unannotated; it returns forward's tensor.
        y: torch.Tensor = function.apply(x, w, bias, geo, filter_conj)
        node: Any = y.grad_fn  # the Function's context
        if tape is not None and node is not None:
            # A spectral checkpoint: the output is recomputable from what the layer saved and the weight.
            recipe = functools.partial(_recompute, function, node.saved_tensors[0], w, bias, geo, compute)
            node.release = functools.partial(tape.release, tape.anchor(y, recipe))

    y = y.to(dtype)
    if ndim == 1:
        return y.squeeze(-2).squeeze(0) if unbatched else y.squeeze(-2)
    if unbatched:
        return y.squeeze(0)
    # As F.conv2d: a channels_last input or weight gives a channels_last output.
    return y.contiguous(memory_format=torch.channels_last) if _channels_last(input) or _channels_last(weight) else y


def _recompute(
    function: Any,
    saved: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    geo: Any,
    compute: torch.dtype,
) -> torch.Tensor:
    """A spectral checkpoint's recipe: the output again from what the layer saved. It holds the
    caller's weight (alive anyway) and casts it when it runs, rather than keeping a cast copy."""
    y: torch.Tensor = function.recompute(saved, weight.to(compute), bias, geo)
    return y


def _channels_last(t: torch.Tensor) -> bool:
    """A 4D tensor laid out channels_last (and not also plain contiguous, as size-1 axes allow)."""
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()
