"""The project's error types for user mistakes.

Only a :class:`BandlimitError` becomes a one-line error on the command line; any other
exception is a bug in bandlimit (or in a library under it) and keeps its traceback.

The argument checks (:mod:`bandlimit.checks`) raise :class:`ArgumentError` and
:class:`ArgumentTypeError`: they are ``ValueError`` / ``TypeError`` as PyTorch's checks are, so
callers that catch those keep working, and project errors, so that a bad value a user passes on
(a model's width, a rate) is one line without wrapping whole calls in a conversion that would
turn a real bug's ``ValueError`` into a user error too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ArgumentError", "ArgumentTypeError", "BandlimitError", "ConfigError", "as_config_error"]


class BandlimitError(Exception):
    """A mistake of the user's: a bad name, value, file or folder. The message is one line
    that says what was wrong and what is allowed."""


class ConfigError(BandlimitError, ValueError):
    """A configuration value is invalid; the message names the field and the allowed values."""


class ArgumentError(BandlimitError, ValueError):
    """An argument has a value outside what is allowed; the message names the argument."""


class ArgumentTypeError(BandlimitError, TypeError):
    """An argument has the wrong type; the message names the argument and the type expected."""


@contextmanager
def as_config_error(prefix: str = "") -> Iterator[None]:
    """Turn the ``TypeError`` / ``ValueError`` of an argument check into a :class:`ConfigError`.

    Wrap only the check itself (a config field's check function), never a call that does more:
    a bug's ``ValueError`` inside it would become a user error.
    """
    try:
        yield
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(prefix + str(err)) from None
