"""Argument types, the parser class and the subcommand builder of the command line: a bad value
is one line, exit 2."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from ..errors import ConfigError
from ..train import TrainConfig
from .flags import add_config_flags

__all__ = ["Parser", "given", "positive_float", "positive_int", "refuse_unused", "shape", "subcommand"]


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (not the subcommand's whole usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    """An int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value:g}")
    return value


def shape(text: str) -> tuple[int, ...]:
    """Comma-separated positive ints, e.g. ``3,32,32``."""
    try:
        return tuple(positive_int(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be positive ints separated by commas, e.g. 3,32,32; got {text!r}"
        ) from None


def given(args: argparse.Namespace, names: Iterable[str]) -> list[str]:
    """The flags among ``names`` (dests without ``--``) that the command line set (their default is None)."""
    return ["--" + name.replace("_", "-") for name in names if getattr(args, name, None) not in (None, False)]


def refuse_unused(args: argparse.Namespace, names: Iterable[str], why: str) -> None:
    """Refuse flags that would be ignored: ``why`` says when (e.g. "with --checkpoint")."""
    unused = given(args, names)
    if unused:
        raise ConfigError(f"{', '.join(unused)} {'has' if len(unused) == 1 else 'have'} no effect {why}")


def subcommand(
    sub: Any, name: str, run: Callable[[argparse.Namespace], None], base: TrainConfig | None = None, **kwargs: Any
) -> argparse.ArgumentParser:
    """A subcommand running ``run`` with ``--threads`` and ``--no-progress``; the run flags if ``base`` is given."""
    p: argparse.ArgumentParser = sub.add_parser(name, **kwargs)  # a Parser, as its parent
    if base is not None:
        add_config_flags(p, base)
    p.add_argument("--threads", type=positive_int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=run)
    return p
