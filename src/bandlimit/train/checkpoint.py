"""Atomic checkpoints and result files, and safe loading.

A file is written to a temporary file in the same folder, flushed to disk, then renamed over
the old one, so a crash never leaves a half-written file. Checkpoints are loaded with
``weights_only=True`` so that a checkpoint from an untrusted source cannot run code.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from ..errors import BandlimitError

__all__ = ["CheckpointError", "atomic_write_bytes", "atomic_write_text", "save_checkpoint", "load_checkpoint"]

FORMAT_VERSION = 1


class CheckpointError(BandlimitError, RuntimeError):
    """A checkpoint is missing, corrupted, truncated or belongs to another run."""


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> None:
    """Replace ``path`` atomically with one JSON object per line."""
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Records of a JSONL file; an absent file has none."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


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
    except Exception as err:  # noqa: BLE001 - every unreadable file gets the same clear message
        raise CheckpointError(f"checkpoint {path} is corrupted or truncated ({type(err).__name__})") from None
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a bandlimit checkpoint (format version {FORMAT_VERSION})")
    for key, value in (expect or {}).items():
        if state.get(key) != value:
            raise CheckpointError(f"checkpoint {path} was written for {key}={state.get(key)!r}, not {key}={value!r}")
    return state
