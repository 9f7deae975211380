"""The ``bandlimit`` command: train, eval, sweep, summary, demo and bench.

A user mistake (a :class:`~bandlimit.errors.BandlimitError`: unknown names, invalid values,
bad checkpoints, unwritable folders, missing data) prints one line and exits with status 2;
set ``BANDLIMIT_DEBUG=1`` for its traceback. Any other exception is a bug: it shows its
traceback, asks to be reported, and exits with status 1.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence

from ..errors import BandlimitError
from .commands import build_parser

__all__ = ["main"]

EXIT_BUG, EXIT_USER_ERROR, EXIT_INTERRUPTED = 1, 2, 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None) and args.command != "bench":
        import torch

        torch.set_num_threads(args.threads)
    try:
        args.run(args)
    except KeyboardInterrupt:
        print(
            "bandlimit: interrupted (the last finished epoch's checkpoint is intact; rerun to resume)", file=sys.stderr
        )
        return EXIT_INTERRUPTED
    except BandlimitError as err:
        if os.environ.get("BANDLIMIT_DEBUG"):
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"bandlimit: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception:  # noqa: BLE001 - a bug: show everything and ask for a report
        traceback.print_exc()
        print(
            "bandlimit: internal error: this is a bug in bandlimit, not a mistake in the command. "
            "Please report it to the bandlimit developers with the command line and the traceback above.",
            file=sys.stderr,
        )
        return EXIT_BUG
    return 0
