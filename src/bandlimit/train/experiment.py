"""A model with its data, built from a run's config, and the figures that describe it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..compress import compress_, summary
from ..data import load_dataset, z_normalize
from ..errors import ConfigError
from ..models import create_model, model_ndim
from .config import TrainConfig

__all__ = ["Experiment", "build_experiment", "layer_stats", "split_validation"]


@dataclass
class Experiment:
    """A model with its data, ready to train or evaluate."""

    config: TrainConfig
    model: nn.Module
    train_data: tuple[torch.Tensor, torch.Tensor]
    test_data: tuple[torch.Tensor, torch.Tensor]
    val_data: tuple[torch.Tensor, torch.Tensor] | None  # held out of the training set (config.validation)
    input_shape: tuple[int, ...]  # (C, *spatial)
    achieved_rate: float  # mean achieved rate over the band-limited layers
    conv_saved_bytes_per_sample: float  # bytes the convolutions keep for backward, per sample


def build_experiment(config: TrainConfig, device: torch.device | str = "cpu") -> Experiment:
    """Load the data, create the model from ``config.seed`` and apply ``config.compression``."""
    train_set, test_set, info = load_dataset(config.data, root=config.data_root, limit=config.limit, seed=config.seed)
    if model_ndim(config.model) != info.ndim:
        raise ConfigError(
            f"model {config.model!r} takes {model_ndim(config.model)}D inputs but data {config.data!r} is {info.ndim}D"
        )
    torch.manual_seed(config.seed)
    model = create_model(config.model, info.in_channels, info.num_classes, **config.model_kwargs)
    compress_(model, config.compression)
    model.to(device)
    input_shape = (info.in_channels, *info.input_shape)
    rate, saved = layer_stats(model, input_shape)
    train_x, test_x = train_set.tensors[0], test_set.tensors[0]
    if config.normalize == "zscore":
        train_x, test_x = z_normalize(train_x), z_normalize(test_x)
    train_data, val_data = split_validation((train_x, train_set.tensors[1]), config.validation, config.seed)
    test_data = (test_x, test_set.tensors[1])
    return Experiment(config, model, train_data, test_data, val_data, input_shape, rate, saved)


def split_validation(
    data: tuple[torch.Tensor, ...], fraction: float, seed: int
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor] | None]:
    """``(train, validation)`` from the training set ``(x, y)``: ``round(fraction * N)`` samples
    (at least one if ``fraction > 0``, and at least one left to train on) held out in proportion
    to the classes.

    The samples are shuffled with ``seed`` and grouped by class; the validation set takes evenly
    spaced positions of that order, so each class gives its share (to within one sample) even
    where a class has fewer samples than ``1 / fraction`` (the small UCR training sets).
    """
    x, y = data[0], data[1]
    if fraction == 0:
        return (x, y), None
    n = len(y)
    if n < 2:
        raise ConfigError(f"validation={fraction}: a training set of {n} sample(s) cannot be split")
    count = min(n - 1, max(1, round(fraction * n)))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    order = order[torch.sort(y[order], stable=True).indices]  # by class, shuffled within each class
    picked = torch.zeros(n, dtype=torch.bool)
    picked[order[((torch.arange(count) + 0.5) * n / count).long()]] = True
    return (x[~picked], y[~picked]), (x[picked], y[picked])


def layer_stats(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[float, float]:
    """Achieved rate averaged over the band-limited layers (the paper's x-axis; 0 if none),
    and the bytes all convolutions keep for backward per sample."""
    rows = summary(model, (2, *input_shape))
    limited = [r.rate for r in rows if r.grid is not None]
    return (sum(limited) / len(limited) if limited else 0.0), sum(r.saved_bytes_per_sample for r in rows)
