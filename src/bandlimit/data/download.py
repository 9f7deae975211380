"""Downloading a data file, for the sources that can fetch their data (Fashion-MNIST, CIFAR)."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

__all__ = ["NETWORK_HINT", "download_file"]

NETWORK_HINT = "pass --data-root DIR (root=...) or download=True where a network exists"
"""The usual way out for data sets that can be downloaded, quoted in error messages."""


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
