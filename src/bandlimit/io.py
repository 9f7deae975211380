"""Files written atomically, and JSON-lines files: the bottom layer every other module may use.

A file is written to a temporary file in the same folder, flushed to disk, then renamed over
the old one, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_bytes", "atomic_write_text", "cached_json", "read_jsonl", "write_jsonl"]


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


def cached_json(path: Path, source: Path, what: object, compute: Callable[[], Any]) -> Any:
    """``compute()``, cached as JSON in ``path`` and computed again when the bytes of ``source``
    (e.g. a run's result file) or ``what`` was computed (JSON-serialisable) have changed."""
    key = hashlib.sha256(source.read_bytes() + json.dumps(what, sort_keys=True).encode()).hexdigest()
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        cached = None
    if not isinstance(cached, dict) or cached.get("key") != key:
        cached = {"key": key, "value": compute()}
        atomic_write_text(path, json.dumps(cached))
    return cached["value"]
