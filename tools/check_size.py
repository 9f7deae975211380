"""No source file over MAX_LINES lines (issue 25): a file that grows past it usually holds more
than one subject, and is split into modules that each hold one.

    python tools/check_size.py [--max N] [PATH ...]    (default: src, 300 lines)

Prints each longer file with its line count, longest first, and exits with status 1 if there is one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MAX_LINES = 300


def line_count(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def too_long(paths: list[Path], max_lines: int) -> list[tuple[Path, int]]:
    """The Python files under ``paths`` (files or folders) longer than ``max_lines``, longest first."""
    files = [f for p in paths for f in (sorted(p.rglob("*.py")) if p.is_dir() else [p])]
    counts = [(f, line_count(f)) for f in files]
    return sorted([(f, n) for f, n in counts if n > max_lines], key=lambda fn: (-fn[1], str(fn[0])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[Path("src")])
    parser.add_argument("--max", type=int, default=MAX_LINES, dest="max_lines")
    args = parser.parse_args(argv)
    missing = [p for p in args.paths if not p.exists()]
    if missing:
        parser.error(f"no such file or folder: {', '.join(map(str, missing))}")
    long = too_long(args.paths, args.max_lines)
    for path, n in long:
        print(f"{path}: {n} lines (> {args.max_lines})")
    return 1 if long else 0


if __name__ == "__main__":
    sys.exit(main())
