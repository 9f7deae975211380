""":func:`load_dataset`: a registered source's NumPy arrays, checked, subset and made tensors.

The sources return NumPy arrays and stay free of torch; everything they share (checking the
arrays, ``limit``, the conversion) happens here once.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ..checks import check_int
from .registry import find_loader
from .types import DatasetInfo, Splits

__all__ = ["load_dataset", "z_normalize"]


def _check_splits(splits: Splits) -> None:
    """Catch a source returning arrays that disagree with its own info (a bug, not bad data)."""
    info = splits.info
    for split, x, y in (("train", splits.x_train, splits.y_train), ("test", splits.x_test, splits.y_test)):
        expected = (info.in_channels, *info.input_shape)
        if x.ndim != 1 + len(expected) or tuple(x.shape[1:]) != expected or y.shape != (x.shape[0],):
            raise RuntimeError(f"{info.name} {split}: x {x.shape} / y {y.shape} do not match {info}")
        if y.size and (y.min() < 0 or y.max() >= info.num_classes):
            raise RuntimeError(f"{info.name} {split}: labels outside 0..{info.num_classes - 1}")


def _to_dataset(x: np.ndarray, y: np.ndarray, limit: int | None, rng: np.random.Generator) -> TensorDataset:
    """Turn ``x`` ``(N, C, *shape)`` and ``y`` ``(N,)`` into float32 / int64 tensors, at most ``limit`` of them."""
    if limit is not None and limit < len(y):
        # Subset before converting, so a quick run never materialises the whole float copy.
        keep = rng.permutation(len(y))[:limit]
        x, y = x[keep], y[keep]
    # "W": a read-only array (e.g. a cached one) is copied rather than shared with the tensor.
    x_t = torch.from_numpy(np.require(x, np.float32, ["C", "W"]))
    y_t = torch.from_numpy(np.require(y, np.int64, ["C", "W"]))
    return TensorDataset(x_t, y_t)


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
    limit: int | None = None,
    seed: int = 0,
) -> tuple[TensorDataset, TensorDataset, DatasetInfo]:
    """Load a data set as train and test ``TensorDataset`` objects.

    Args:
        name: A name from :func:`list_datasets` or ``ucr:<Name>``; case, ``-`` and ``_`` are
            forgiven for the built-in names (``"FashionMNIST"`` is ``"fashion-mnist"``).
        root: Folder that holds (or receives) the data files. ``None`` looks only where no
            folder is needed (system or Python packages, generated data) and caches nothing.
        download: Download missing files from the official source into ``root`` (Fashion-MNIST,
            CIFAR). Ignored by sources that need no download.
        limit: Keep at most this many samples per split: the first ones after a shuffle seeded
            with ``seed``. ``None`` keeps every sample in the source's order.
        seed: Seed of that shuffle, and of the synthetic generators. A non-negative int.

    Returns:
        ``(train, test, info)``. Each ``TensorDataset`` holds ``x`` float32 of shape
        ``(N, C, L)`` for 1D or ``(N, C, H, W)`` for 2D, and ``y`` int64 of shape ``(N,)``
        with values in ``0..info.num_classes-1``.

    Raises:
        ValueError: Unknown name (the message lists the known ones), or a bad ``limit``/``seed``.
        DatasetNotFoundError: The data set is known but its files are nowhere to be found.
    """
    canonical, loader = find_loader(name)
    if limit is not None:
        limit = check_int(limit, "limit", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    root_path = None if root is None else Path(root).expanduser()
    splits = loader(canonical, root_path, bool(download), seed)
    _check_splits(splits)
    # Streams (seed, purpose, split): purpose 1 is this shuffle (the synthetic generator uses 2),
    # so the subset is independent of the data it picks from and of the other split's size.
    train = _to_dataset(splits.x_train, splits.y_train, limit, np.random.default_rng([seed, 1, 0]))
    test = _to_dataset(splits.x_test, splits.y_test, limit, np.random.default_rng([seed, 1, 1]))
    return train, test, splits.info


def z_normalize(x: torch.Tensor) -> torch.Tensor:
    """Each sample's channels shifted and scaled to mean 0 and standard deviation 1 over their values.

    Args:
        x: ``(N, C, *spatial)``, e.g. ``(N, 1, L)`` series.

    Returns:
        A new tensor of the same shape and dtype. A constant channel becomes zeros: its
        standard deviation (below 1e-8 of its largest magnitude, which rounding leaves) is
        not scaled.
    """
    dims = tuple(range(2, x.dim()))
    centred = x - x.mean(dim=dims, keepdim=True)
    std = centred.square().mean(dim=dims, keepdim=True).sqrt()  # population std, as NumPy's default
    scale = x.abs().amax(dim=dims, keepdim=True)
    return centred / torch.where(std > 1e-8 * scale, std, torch.ones_like(std))
