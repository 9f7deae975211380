"""What a compression method reports about one of its layers: the records that
:meth:`CompressionConfig.layer_cost` and :meth:`CompressionConfig.layer_count` return, and
that :func:`bandlimit.compress.summary` and :func:`bandlimit.compress.counting.count_operations`
put in their rows."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LayerCost", "LayerCount"]


@dataclass(frozen=True)
class LayerCost:
    """A convolution's cost in a training step and at inference, for one input size.

    Attributes:
        flops: FLOPs of the layer's training forward per sample (see :mod:`bandlimit.functional.cost`).
        grid: the transform grid of a band-limited layer, None for a plain convolution.
        rate: achieved compression rate (0 for a plain convolution).
        path: the path the layer takes in a training step (``"-"`` for a plain convolution).
        inference_path: likewise in eval mode.
        filter_cache_bytes: memory the layer keeps between inference calls.
        compute: the dtype the layer's transforms and contractions run in (``"-"`` for a plain
            convolution).
    """

    flops: float
    grid: tuple[int, ...] | None = None
    rate: float = 0.0
    path: str = "-"
    inference_path: str = "-"
    filter_cache_bytes: int = 0
    compute: str = "-"


@dataclass(frozen=True)
class LayerCount:
    """One layer's arithmetic per sample at inference and its storage (bytes)."""

    layer: str
    kind: str
    multiplications: int
    additions: int
    parameters: int
    bytes: int
