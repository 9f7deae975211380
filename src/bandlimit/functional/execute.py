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
    param: torch.Tensor | None = None,
) -> torch.Tensor:
    """The call of :func:`.conv.conv2d` / :func:`.conv.conv1d` on checked arguments, of sizes
    ``shape`` (:meth:`ConvShape.of_call`); ``param`` is the caller's weight before any cast
    (what ``filter_cache`` is keyed on)."""
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
    if dtype != plan.compute_dtype:  # bfloat16/float16 where they do not compute natively (:mod:`.precision`)
        x, w = x.to(plan.compute_dtype), w.to(plan.compute_dtype)
        bias = bias.to(plan.compute_dtype) if bias is not None else None

    geo = plan.geometry
    filter_conj = None
    if plan.path == "spectral" and filter_cache is not None:
        key = (plan.band, geo.dilation, w.dtype, tuple(w.shape))
        filter_conj = filter_cache.get(
            weight if param is None else param,
            key,
            lambda: filter_band_conj(w, geo.band, geo.dilation, spectrum_dtype(w.dtype)),
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
            recipe = functools.partial(function.recompute, node.saved_tensors[0], w, bias, geo)
            node.release = functools.partial(tape.release, tape.anchor(y, recipe))

    y = y.to(dtype)
    if ndim == 1:
        return y.squeeze(-2).squeeze(0) if unbatched else y.squeeze(-2)
    if unbatched:
        return y.squeeze(0)
    # As F.conv2d: a channels_last input or weight gives a channels_last output.
    return y.contiguous(memory_format=torch.channels_last) if _channels_last(input) or _channels_last(weight) else y


def _channels_last(t: torch.Tensor) -> bool:
    """A 4D tensor laid out channels_last (and not also plain contiguous, as size-1 axes allow)."""
    return t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()
