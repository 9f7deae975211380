"""The project's error type for user mistakes.

Only a :class:`BandlimitError` becomes a one-line error on the command line; any other
exception is a bug in bandlimit (or in a library under it) and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["BandlimitError", "ConfigError", "as_config_error"]


class BandlimitError(Exception):
    """A mistake of the user's: a bad name, value, file or folder. The message is one line
    that says what was wrong and what is allowed."""


class ConfigError(BandlimitError, ValueError):
    """A configuration value is invalid; the message names the field and the allowed values."""


@contextmanager
def as_config_error(prefix: str = "") -> Iterator[None]:
    """Turn the ``TypeError`` / ``ValueError`` of an argument check into a :class:`ConfigError`."""
    try:
        yield
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(prefix + str(err)) from None
