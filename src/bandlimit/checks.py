"""Argument checks shared by every layer of the package.

They raise :class:`~bandlimit.errors.ArgumentTypeError` (wrong type, a ``TypeError``) or
:class:`~bandlimit.errors.ArgumentError` (wrong value, a ``ValueError``), as PyTorch raises
``TypeError`` and ``ValueError``, with a message that names the argument, the value received and
what is allowed. Both are project errors, so the command line shows them as one line; configs
turn them into :class:`bandlimit.errors.ConfigError`.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Collection
from typing import Any

from .errors import ArgumentError, ArgumentTypeError

__all__ = ["check_bool", "check_choice", "check_float", "check_fraction", "check_int", "check_rate", "optional"]


def check_int(value: object, name: str, minimum: int | None = None) -> int:
    """Return ``value`` as an ``int`` if it is an integer (not a bool) ``>= minimum``."""
    # bool is an int subclass, but `epochs=True` is always a bug
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ArgumentError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_rate(rate: object, name: str = "rate") -> float:
    """Return ``rate`` as a float, or raise if it is not a real number in ``[0, 1)``."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a real number in [0, 1), got {type(rate).__name__} {rate!r}")
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ArgumentError(f"{name} must be in [0, 1) (the fraction of spectral coefficients discarded), got {rate}")
    return rate


def check_fraction(value: object, name: str) -> float:
    """Return ``value`` as a float, or raise if it is not a real number in ``(0, 1]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a real number in (0, 1], got {type(value).__name__} {value!r}")
    value = float(value)
    if not 0.0 < value <= 1.0:
        raise ArgumentError(f"{name} must be in (0, 1] (the fraction of spectral energy kept), got {value}")
    return value


def check_unit(value: object, name: str, *, below_one: bool = False, meaning: str = "") -> float:
    """Return ``value`` as a float if it is a real number in ``[0, 1]`` (``[0, 1)`` with ``below_one``).

    Args:
        meaning: what the number is, for the error message (e.g. "the fraction of weights set to zero").
    """
    number = check_float(value, name)
    if not (0.0 <= number < 1.0 if below_one else 0.0 <= number <= 1.0):
        interval = "[0, 1)" if below_one else "[0, 1]"
        raise ArgumentError(f"{name} must be in {interval}{f' ({meaning})' if meaning else ''}, got {number}")
    return number


def check_choice(value: object, name: str, allowed: Collection[str]) -> str:
    """Return ``value`` if it is one of ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise ArgumentError(f"{name} must be one of {sorted(allowed)}, got {value!r}")
    return value


def check_float(value: object, name: str, minimum: float | None = None, *, above: float | None = None) -> float:
    """Return ``value`` as a float if it is a finite real number (not a bool) ``>= minimum`` and ``> above``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ArgumentError(f"{name} must be a finite number, got {value}")
    if minimum is not None and value < minimum:
        raise ArgumentError(f"{name} must be >= {minimum}, got {value}")
    if above is not None and value <= above:
        raise ArgumentError(f"{name} must be > {above}, got {value}")
    return float(value)


def check_bool(value: object, name: str) -> bool:
    """Return ``value`` if it is a bool (``1`` or ``"yes"`` are refused: they hide typos)."""
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"{name} must be true or false, got {type(value).__name__} {value!r}")
    return value


def optional(check: Callable[[Any, str], Any]) -> Callable[[Any, str], Any]:
    """A check that lets ``None`` through and applies ``check`` to anything else."""
    return lambda value, name: None if value is None else check(value, name)
