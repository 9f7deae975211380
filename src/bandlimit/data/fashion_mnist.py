"""Fashion-MNIST (``fashion-mnist``), from the four IDX files of the official release.

The files (gzipped or not) are looked for in ``root``, ``root/fashion-mnist``,
``root/FashionMNIST/raw`` (torchvision's layout) and ``/usr/share/datasets/fashion-mnist``
(Debian's ``dataset-fashion-mnist`` package), in that order; with ``download=True`` they are
fetched from the official mirror into ``root/fashion-mnist``.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from .download import NETWORK_HINT, download_file
from .errors import DatasetNotFoundError
from .registry import register_dataset
from .types import DatasetInfo, Splits

__all__ = ["load", "read_idx"]

URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
SUBFOLDER = "fashion-mnist"
# MD5 of the official .gz files (Debian recompresses them, so its copies differ and are not checked).
FILES = {
    "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
}
MEAN, STD = 0.2860, 0.3530
HINT = f"apt-get install dataset-fashion-mnist, or {NETWORK_HINT}"

# IDX type codes (third byte of the magic number); all multi-byte values are big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzipped if its name ends in ``.gz``).

    Args:
        path: The file.

    Returns:
        The array, shaped as the header says, e.g. ``(N, 28, 28)`` uint8 for images.

    Raises:
        ValueError: If the header is malformed or the size does not match it.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    if len(data) - header != int(np.prod(shape)) * dtype.itemsize:
        raise ValueError(f"{path}: {len(data) - header} data bytes do not match the header's shape {shape}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def _find_files(folder: Path) -> dict[str, Path] | None:
    """The four files in ``folder`` (each ``.gz`` or plain), or ``None`` if any is missing."""
    found = {}
    for stem in FILES:
        path = next((p for p in (folder / f"{stem}.gz", folder / stem) if p.is_file()), None)
        if path is None:
            return None
        found[stem] = path
    return found


def _download(folder: Path) -> None:
    for stem, md5 in FILES.items():
        if not (folder / f"{stem}.gz").is_file():
            download_file(URL + f"{stem}.gz", folder / f"{stem}.gz", md5)


def _split(files: dict[str, Path], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    images = read_idx(files[f"{prefix}-images-idx3-ubyte"])
    labels = read_idx(files[f"{prefix}-labels-idx1-ubyte"])
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (len(images),):
        raise ValueError(f"{prefix} files: images {images.shape} and labels {labels.shape} do not fit together")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{prefix} labels: found {labels.max()}, expected 0..9")
    x = (images.astype(np.float32) / 255.0 - MEAN) / STD
    return x[:, None], labels.astype(np.int64)


@register_dataset("fashion-mnist")
def load(name: str, root: Path | None, download: bool, seed: int) -> Splits:
    """Load ``fashion-mnist``.

    Args:
        name: ``"fashion-mnist"``.
        root: Folder with the IDX files, or ``None`` for the system folder only.
        download: Fetch missing files into ``root/fashion-mnist`` if no folder has all four.
        seed: Unused.

    Returns:
        Splits with ``x`` of shape ``(N, 1, 28, 28)``, scaled to [0, 1] and then normalised
        with mean 0.2860 and std 0.3530; 60000 train and 10000 test samples, 10 classes.

    Raises:
        DatasetNotFoundError: If no folder has the files (and downloading was not asked for,
            was impossible without ``root``, or failed).
    """
    folders = [root, root / SUBFOLDER, root / "FashionMNIST" / "raw"] if root is not None else []
    folders.append(SYSTEM_DIR)
    files = next((f for f in map(_find_files, folders) if f is not None), None)
    hint = HINT
    if files is None and download:
        if root is None:
            hint = f"download=True needs a root to save into; {HINT}"
        else:
            try:
                _download(root / SUBFOLDER)
                files = _find_files(root / SUBFOLDER)
            except OSError as exc:
                hint = f"download from {URL} failed ({exc}); {HINT}"
    if files is None:
        raise DatasetNotFoundError(name, [str(folder) for folder in folders], hint)

    x_train, y_train = _split(files, "train")
    x_test, y_test = _split(files, "t10k")
    info = DatasetInfo(name=name, in_channels=1, num_classes=10, input_shape=(28, 28))
    return Splits(x_train, y_train, x_test, y_test, info)
