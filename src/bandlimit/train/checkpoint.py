"""Checkpoints: written atomically, loaded safely.

Checkpoints are written atomically (:mod:`bandlimit.io`). They are loaded with
``weights_only=True`` so that a checkpoint from an untrusted source cannot run code.
"""

from __future__ import annotations

import io
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..errors import BandlimitError
from ..io import atomic_write_bytes

__all__ = ["CheckpointError", "load_checkpoint", "save_checkpoint"]

FORMAT_VERSION = 1

# What torch.load (2.x, weights_only) raises on a file that is not a whole checkpoint, found by
# loading every truncation of a checkpoint, the empty file, random bytes, text, zip archives
# without data.pkl or a tensor record, and other pickle and torch formats: RuntimeError and
# OSError (truncated or foreign zip archives), EOFError (empty or truncated), UnicodeDecodeError,
# IndexError, KeyError and struct.error (random bytes, truncated legacy-format files), and
# pickle.UnpicklingError (handled first, to tell pickled objects apart).
_UNREADABLE = (RuntimeError, OSError, EOFError, UnicodeDecodeError, IndexError, KeyError, struct.error)

# Bytes changed inside an archive's pickle can also make torch's rebuild functions raise these;
# they are the file's fault only if the archive fails its checksums (torch.load checks none).
_DAMAGE_ONLY = (TypeError, AttributeError, AssertionError, ValueError)


class CheckpointError(BandlimitError, RuntimeError):
    """A checkpoint is missing, corrupted, truncated or belongs to another run."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, numbers, strings, lists and dicts of them) atomically."""
    buffer = io.BytesIO()
    torch.save({"format_version": FORMAT_VERSION, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | Path, expect: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Args:
        path: the checkpoint file, or a run folder holding its ``checkpoint.pt``.
        expect: entries that must match (e.g. ``{"model": "fcn", "data": "ucr:FiftyWords"}``).

    Raises:
        CheckpointError: the file is missing, unreadable (corrupted or truncated), not a
            bandlimit checkpoint, or an expected entry differs.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / "checkpoint.pt").is_file():
            raise CheckpointError(f"{path} is a folder without a checkpoint.pt: give a run folder or a checkpoint file")
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "Unsupported global" not in str(err):
            raise CheckpointError(f"checkpoint {path} is corrupted or truncated, or not a PyTorch file") from None
        # weights_only refuses pickled objects other than tensors and plain data: not a checkpoint of ours.
        raise CheckpointError(
            f"{path} holds Python objects: not a bandlimit checkpoint (loaded with weights_only=True, so that no "
            "file can run code)"
        ) from None
    except _UNREADABLE as err:
        raise CheckpointError(f"checkpoint {path} is corrupted or truncated ({_reason(err)})") from None
    except _DAMAGE_ONLY as err:
        if not _damaged(path):
            raise  # a whole archive: a bug, not the file
        raise CheckpointError(f"checkpoint {path} is corrupted ({_reason(err)})") from None
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a bandlimit checkpoint (format version {FORMAT_VERSION})")
    for key, value in (expect or {}).items():
        if state.get(key) != value:
            raise CheckpointError(f"checkpoint {path} was written for {key}={state.get(key)!r}, not {key}={value!r}")
    return state


def _reason(err: BaseException) -> str:
    """The error's first words on one line, or its type's name."""
    return " ".join(str(err).split()[:12]) or type(err).__name__


def _damaged(path: Path) -> bool:
    """Whether ``path`` is not a zip archive (every checkpoint :func:`save_checkpoint` writes is
    one), or one whose records fail their CRC checks."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is not None
    except (zipfile.BadZipFile, OSError, EOFError):
        return True
