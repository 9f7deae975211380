"""MNIST-1D (``mnist1d``), generated procedurally with the ``mnist1d`` PyPI package.

``mnist1d.data.make_dataset(get_dataset_args())`` builds the standard benchmark (5000 samples
of length 40, split 4000/1000, generator seed 42) from ten hand-made templates; nothing is
downloaded. The package's ``get_dataset`` is avoided on purpose: by default it downloads a
pickle and writes it to the working directory.
"""

from __future__ import annotations

import functools
import os
import random
from pathlib import Path

import numpy as np

from .errors import DatasetNotFoundError
from .registry import register_dataset
from .types import DatasetInfo, Splits

__all__ = ["load"]

CACHE_FILE = Path("mnist1d") / "mnist1d.npz"
HINT = "pip install mnist1d (the data are generated offline from its templates)"


@functools.lru_cache(maxsize=1)
def _generate() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Generate the standard splits: ``x`` float64 ``(N, 40)``, ``y`` int64 ``(N,)``."""
    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset reseeds the global `random` and NumPy generators; keep the caller's streams.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    arrays = (data["x"], np.asarray(data["y"], np.int64), data["x_test"], np.asarray(data["y_test"], np.int64))
    for array in arrays:
        array.flags.writeable = False  # shared by every later call through the cache
    return arrays


def _read_cache(path: Path) -> tuple[np.ndarray, ...] | None:
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as cached:
        return tuple(cached[key] for key in ("x", "y", "x_test", "y_test"))


def _write_cache(path: Path, arrays: tuple[np.ndarray, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".part.npz")
    x, y, x_test, y_test = arrays
    # Keywords spelt out: NumPy's stubs cannot tell a **dict apart from savez's allow_pickle flag.
    np.savez(partial, x=x, y=y, x_test=x_test, y_test=y_test)
    os.replace(partial, path)  # a reader never sees a half-written cache


@register_dataset("mnist1d")
def load(name: str, root: Path | None, download: bool, seed: int) -> Splits:
    """Load ``mnist1d``.

    Args:
        name: ``"mnist1d"``.
        root: If given, the generated data are cached in ``root/mnist1d/mnist1d.npz`` and read
            from there next time; ``None`` writes nothing to disk.
        download: Unused: nothing is downloaded.
        seed: Unused: the generator seed is the benchmark's own (42), so every run sees the
            same data set; ``seed`` of :func:`load_dataset` still drives ``limit``.

    Returns:
        Splits with ``x`` of shape ``(N, 1, 40)`` (standardised by the generator over the whole
        set), 4000 train and 1000 test samples, 10 classes.

    Raises:
        DatasetNotFoundError: If there is no cache and the ``mnist1d`` package is missing.
    """
    cache = root / CACHE_FILE if root is not None else None
    arrays = _read_cache(cache) if cache is not None else None
    if arrays is None:
        try:
            arrays = _generate()
        except ImportError as exc:
            looked = ([str(cache)] if cache is not None else []) + [f"the mnist1d package ({exc})"]
            raise DatasetNotFoundError(name, looked, HINT) from exc
        if cache is not None:
            _write_cache(cache, arrays)
    x_train, y_train, x_test, y_test = arrays
    info = DatasetInfo(name=name, in_channels=1, num_classes=10, input_shape=(x_train.shape[1],))
    return Splits(x_train[:, None, :], y_train, x_test[:, None, :], y_test, info)
