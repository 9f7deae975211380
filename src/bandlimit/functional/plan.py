"""One plan per convolution call: computed once per layer, input size and mode, and read by
everything that needs to know how the call runs (the op itself, the FLOP counts, ``summary``,
the benchmarks)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from ..checks import check_choice, check_rate
from .basis import AnyBand, Basis, basis
from .precision import LOW_PRECISION, compute_dtype, precision_mode
from .shape import ConvShape

__all__ = ["ConvPlan", "forced_path", "plan_conv"]

_PATHS = ("auto", "spectral", "direct")
_forced: ContextVar[str] = ContextVar("bandlimit_forced_path", default="auto")


@contextmanager
def forced_path(path: str) -> Iterator[None]:
    """Run the band-limited convolutions inside the block on one path of the FFT basis:
    ``"spectral"``, ``"direct"`` or ``"auto"`` (each call's cheaper one, the default). Both give
    the same result up to rounding; this is for tests and benchmarks."""
    token = _forced.set(check_choice(path, "path", _PATHS))
    try:
        yield
    finally:
        _forced.reset(token)


@dataclass(frozen=True)
class ConvPlan:
    """How one band-limited convolution call runs.

    Attributes:
        shape: the call's sizes (:class:`~.shape.ConvShape`).
        basis: the transform basis (:mod:`.basis`).
        band: the band kept at the call's rate.
        path: ``"spectral"`` or ``"direct"`` (FFT basis), ``"dct"``.
        geometry: what the path's autograd Function needs (its ``saved`` says what the call
            keeps for backward: ``"input"``, ``"band"`` or ``"low"``).
        compute_dtype: the dtype the transforms and contractions run in (:mod:`.precision`).
        training: a backward with input and weight gradients was planned for.
        cached_filter: the filter band is kept between calls.
    """

    shape: ConvShape
    basis: Basis
    band: AnyBand
    path: str
    geometry: Any
    compute_dtype: torch.dtype
    training: bool
    cached_filter: bool

    @property
    def saved(self) -> str:
        saved: str = self.geometry.saved
        return saved

    @property
    def function(self) -> type[torch.autograd.Function]:
        return self.basis.function(self.path)

    def flops(self) -> float | None:
        """FLOPs of the call for ``shape.batch`` samples as planned: the forward, and the backward
        too if ``training`` (None where the basis does not count them)."""
        return self.basis.flops(
            self.shape, self.band, self.path, training=self.training, cached_filter=self.cached_filter
        )


@lru_cache(maxsize=4096)
def _plan(
    shape: ConvShape,
    rate: float,
    name: str,
    training: bool,
    cached_filter: bool,
    dtype: torch.dtype,
    device_type: str,
    forced: tuple[str, str],
) -> ConvPlan:
    strategy = basis(name)
    band = strategy.band(shape, rate)
    compute = compute_dtype(dtype, device_type, forced[1])
    path, geometry = strategy.plan(
        shape, band, training=training, cached_filter=cached_filter, dtype=dtype, compute=compute, forced=forced[0]
    )
    if compute not in LOW_PRECISION or forced[1] == "always" or strategy.low_precision_pays(band, path):
        return ConvPlan(shape, strategy, band, path, geometry, compute, training, cached_filter)
    compute = torch.float32  # the low precision would be slower on this path: as before it, in float32
    path, geometry = strategy.plan(
        shape, band, training=training, cached_filter=cached_filter, dtype=dtype, compute=compute, forced=forced[0]
    )
    return ConvPlan(shape, strategy, band, path, geometry, compute, training, cached_filter)


def plan_conv(
    shape: ConvShape,
    rate: float,
    basis: str = "fft",
    *,
    training: bool,
    cached_filter: bool = False,
    dtype: torch.dtype = torch.float32,
    device_type: str = "cpu",
) -> ConvPlan:
    """The plan of a call of ``shape`` at ``rate`` in ``basis`` (cached: one per layer and size).

    Args:
        training: a backward with input and weight gradients follows (it changes the cheaper path).
        cached_filter: the filter band is kept between calls (inference with a module's cache).
        dtype: the input's dtype.
        device_type: where it runs (``"cpu"``, ``"cuda"``): whether bfloat16/float16 compute
            in their own dtype (:mod:`.precision`).
    """
    forced = (_forced.get(), precision_mode())
    return _plan(shape, check_rate(rate), basis, bool(training), bool(cached_filter), dtype, device_type, forced)
