"""CIFAR-10 and CIFAR-100 (``cifar10``, ``cifar100``), from the official python-pickle release.

The batches are looked for in ``root/cifar-10-batches-py/`` (``root/cifar-100-python/``) or in
``root`` itself; with ``download=True`` the official tar.gz is fetched into ``root`` and
extracted there.
"""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .download import NETWORK_HINT, download_file
from .errors import DatasetNotFoundError
from .registry import register_dataset
from .types import DatasetInfo, Splits

__all__ = ["SPECS", "load"]

URL = "https://www.cs.toronto.edu/~kriz/"


class CifarSpec(NamedTuple):
    """Layout and statistics of one CIFAR release."""

    folder: str
    archive: str
    md5: str
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    label_key: bytes
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


# Means and stds: per channel over the training images scaled to [0, 1].
SPECS = {
    "cifar10": CifarSpec(
        folder="cifar-10-batches-py",
        archive="cifar-10-python.tar.gz",
        md5="c58f30108f718f92721af3b95e74349a",
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_files=("test_batch",),
        label_key=b"labels",
        num_classes=10,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
    ),
    "cifar100": CifarSpec(
        folder="cifar-100-python",
        archive="cifar-100-python.tar.gz",
        md5="eb9058c3a382ffc7106e4002c42a8d85",
        train_files=("train",),
        test_files=("test",),
        label_key=b"fine_labels",
        num_classes=100,
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
    ),
}


def _has_files(folder: Path, spec: CifarSpec) -> bool:
    return all((folder / name).is_file() for name in spec.train_files + spec.test_files)


def _read_batches(folder: Path, names: tuple[str, ...], spec: CifarSpec) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate pickled batches into ``(N, 3, 32, 32)`` uint8 images and ``(N,)`` labels."""
    images, labels = [], []
    for name in names:
        with open(folder / name, "rb") as f:
            # The batches were pickled by Python 2; bytes keeps their str keys as bytes.
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        images.append(data.reshape(len(data), 3, 32, 32))
        labels.append(np.asarray(batch[spec.label_key], dtype=np.int64))
    x, y = np.concatenate(images), np.concatenate(labels)
    if len(x) != len(y) or (y.size and (y.min() < 0 or y.max() >= spec.num_classes)):
        raise ValueError(f"{folder}: {len(x)} images, {len(y)} labels, labels must be in 0..{spec.num_classes - 1}")
    return x, y


def _normalise(images: np.ndarray, spec: CifarSpec) -> np.ndarray:
    mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
    return (images.astype(np.float32) / 255.0 - mean) / std


def extract_safely(archive: Path, dest: Path) -> None:
    """Extract a tar archive into ``dest``, refusing members that would land outside it."""
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, filter="data")
            return
        # Python < 3.10.12 has no extraction filters: check every member by hand instead.
        base = dest.resolve()
        for member in tar.getmembers():
            target = (dest / member.name).resolve()
            if not (member.isfile() or member.isdir()) or not target.is_relative_to(base):
                raise ValueError(f"{archive}: refusing to extract {member.name!r}")
        tar.extractall(dest)


def _download(root: Path, spec: CifarSpec) -> None:
    archive = root / spec.archive
    if not archive.is_file():
        download_file(URL + spec.archive, archive, spec.md5)
    extract_safely(archive, root)


@register_dataset("cifar10", "cifar100")
def load(name: str, root: Path | None, download: bool, seed: int) -> Splits:
    """Load ``cifar10`` or ``cifar100``.

    Args:
        name: ``"cifar10"`` or ``"cifar100"``.
        root: Folder holding ``cifar-10-batches-py/`` / ``cifar-100-python/`` (or the batch
            files themselves); ``None`` finds nothing.
        download: Fetch and extract the official archive into ``root`` if the files are missing.
        seed: Unused.

    Returns:
        Splits with ``x`` of shape ``(N, 3, 32, 32)``, scaled to [0, 1] and normalised per
        channel; 50000 train and 10000 test samples; 10 or 100 (fine) classes.

    Raises:
        DatasetNotFoundError: If the files are not found (and downloading was not asked for,
            was impossible without ``root``, or failed).
    """
    spec = SPECS[name]
    folders = [root / spec.folder, root] if root is not None else []
    folder = next((f for f in folders if _has_files(f, spec)), None)
    hint = f"{NETWORK_HINT}; the files are those of {URL}{spec.archive}, extracted"
    if folder is None and download:
        if root is None:
            hint = f"download=True needs a root to save into; {hint}"
        else:
            try:
                _download(root, spec)
                folder = root / spec.folder if _has_files(root / spec.folder, spec) else None
            except (OSError, tarfile.TarError) as exc:
                hint = f"download failed ({exc}); {hint}"
    if folder is None:
        looked = [str(f) for f in folders] or ["nowhere: no root given"]
        raise DatasetNotFoundError(name, looked, hint)

    x_train, y_train = _read_batches(folder, spec.train_files, spec)
    x_test, y_test = _read_batches(folder, spec.test_files, spec)
    info = DatasetInfo(name=name, in_channels=3, num_classes=spec.num_classes, input_shape=(32, 32))
    return Splits(_normalise(x_train, spec), y_train, _normalise(x_test, spec), y_test, info)
