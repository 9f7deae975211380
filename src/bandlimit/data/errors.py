"""The error raised when a known data set's files are nowhere to be found."""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..errors import BandlimitError

__all__ = ["DatasetNotFoundError"]


class DatasetNotFoundError(BandlimitError, FileNotFoundError):
    """A known data set whose files are nowhere to be found.

    A :class:`~bandlimit.errors.BandlimitError` (the user has to fetch the data, so the command
    line shows one line) and a ``FileNotFoundError`` (so ``except OSError`` keeps catching it).
    ``str(err)`` is a single line naming the data set, every place that was looked at and how
    to get the data, so that it reads well in a log or a CLI error.

    Attributes:
        dataset: Canonical name of the data set.
        looked: The places looked at, in order (paths or short descriptions).
        hint: How to get the data.
    """

    def __init__(self, dataset: str, looked: Sequence[str | os.PathLike[str]], hint: str) -> None:
        self.dataset = dataset
        self.looked = tuple(str(place) for place in looked)
        self.hint = hint
        where = "; ".join(self.looked) if self.looked else "nowhere"
        message = f"dataset {dataset!r} not found; looked in: {where}; to get it: {hint}"
        # Paths or wrapped exception texts may carry newlines; the contract is one line.
        super().__init__(" ".join(message.splitlines()))

    def __reduce__(self) -> tuple[type[DatasetNotFoundError], tuple[str, tuple[str, ...], str]]:
        # The default would call __init__ with the message alone.
        return type(self), (self.dataset, self.looked, self.hint)
