"""Types shared by the registry, :func:`~bandlimit.data.load_dataset` and every data source."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["DatasetInfo", "Loader", "Splits"]


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


class Splits(NamedTuple):
    """What a source's ``load`` returns; :func:`~bandlimit.data.load_dataset` converts it to tensors.

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


# A runtime expression, not an annotation: `from __future__ import annotations` does not cover it,
# which is fine from Python 3.10 on (`Path | None` is a types.UnionType).
Loader = Callable[[str, Path | None, bool, int], Splits]
"""``load(canonical_name, root, download, seed) -> Splits``, registered with ``register_dataset``."""
