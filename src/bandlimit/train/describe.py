"""A run's model described without training it: its convolutions' summary, and its arithmetic
against the same model uncompressed (``bandlimit summary`` and ``bandlimit count``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..checks import check_int
from ..compress import LayerSummary, compress_, summary
from ..compress.counting import LayerCount, count_operations
from ..errors import ConfigError
from ..models import create_model, model_ndim
from .config import TrainConfig
from .experiment import build_experiment

__all__ = ["OperationCounts", "operation_counts", "summarize"]

# Enough samples to build the data set's experiment: only its shapes are used.
_FEW_SAMPLES = 2

_TOTALS = ("multiplications", "additions", "bytes")


def summarize(
    config: TrainConfig, input_shape: Sequence[int] | None = None, num_classes: int | None = None
) -> list[LayerSummary]:
    """The per-layer summary (:func:`bandlimit.compress.summary`) of ``config``'s compressed model
    for one sample.

    Args:
        config: the run; its model, model arguments and compression are used.
        input_shape: ``(C, L)`` or ``(C, H, W)`` of one sample: the model is built for it without
            loading the data. By default the data set gives the shape and the classes.
        num_classes: the model's outputs, with ``input_shape`` only (default 10).

    Raises:
        ConfigError: ``num_classes`` without ``input_shape``, or an ``input_shape`` that does not
            have the model's number of dimensions.
    """
    if input_shape is None:
        if num_classes is not None:
            raise ConfigError("num_classes goes with input_shape (without it, the data set gives both)")
        exp = build_experiment(config.with_(limit=_FEW_SAMPLES))
        return summary(exp.model, (1, *exp.input_shape))
    shape = _check_shape(input_shape, model_ndim(config.model), config.model)
    model = create_model(config.model, shape[0], 10 if num_classes is None else num_classes, **config.model_kwargs)
    compress_(model, config.compression)
    return summary(model, (1, *shape))


def _check_shape(input_shape: Sequence[int], ndim: int, model: str) -> tuple[int, ...]:
    """``input_shape`` as a tuple of positive ints ``(C, *spatial)`` with ``ndim`` spatial sizes."""
    if isinstance(input_shape, str) or not isinstance(input_shape, Sequence):
        raise ConfigError(f"input_shape must be a sequence of ints, got {input_shape!r}")
    shape = tuple(check_int(n, "input_shape entry", minimum=1) for n in input_shape)
    if len(shape) != ndim + 1:
        axes = "L" if ndim == 1 else "H,W"
        raise ConfigError(f"input_shape must be C,{axes} for model {model!r}, got {','.join(map(str, shape))}")
    return shape


@dataclass(frozen=True)
class OperationCounts:
    """The arithmetic per sample of a run's model, uncompressed and compressed, layer by layer
    (:func:`bandlimit.compress.counting.count_operations`)."""

    original: list[LayerCount]
    compressed: list[LayerCount]

    def ratios(self) -> dict[str, float]:
        """Compressed / original totals of multiplications, additions and bytes (NaN where the
        original has none)."""
        ratios = {}
        for key in _TOTALS:
            before = sum(getattr(row, key) for row in self.original)
            after = sum(getattr(row, key) for row in self.compressed)
            ratios[key] = after / before if before else float("nan")
        return ratios


def operation_counts(config: TrainConfig) -> OperationCounts:
    """Count ``config``'s model on one sample of its data, without and with its compression."""
    compressed = build_experiment(config.with_(limit=_FEW_SAMPLES))
    original = build_experiment(config.with_(limit=_FEW_SAMPLES, compression=()))
    example = torch.zeros(1, *compressed.input_shape)
    return OperationCounts(count_operations(original.model, example), count_operations(compressed.model, example))
