"""Command-line flags generated from the config dataclasses.

Every field of :class:`~bandlimit.train.TrainConfig` and of every registered compression
config becomes a flag with its type, choices, default and help taken from the field, so a new
field or method appears in ``train``, ``sweep``, ``summary`` and ``demo`` without a hand-written
flag. A method's field is ``--<method>-<field>``, plus the short names in its ``ALIASES``.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any

from ..compress import config_types
from ..train import TrainConfig, apply_settings, load_config_file
from ..train.config import NO_COMPRESSION

__all__ = ["GridAction", "add_config_flags", "config_from_args", "key_value", "yaml_value"]

_PREFIX = "setting:"  # argparse dest of a generated flag: the setting name after this prefix


def yaml_value(text: str) -> Any:
    """A flag's value parsed as YAML (``[0,0.5]``, ``{a: 1}``, ``true``, numbers, strings)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, ValueError):  # ValueError: a scalar that does not convert, e.g. `!!int abc`
        raise argparse.ArgumentTypeError(f"{text!r} is not valid YAML") from None


def key_value(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with a YAML value."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, yaml_value(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"the value of {text!r} is not valid YAML") from None


class GridAction(argparse.Action):
    """Repeatable ``SETTING=[V1,V2,...]`` (see :func:`key_value`) into a dict of setting -> list
    of values; one value is a list of one; a setting given twice is a usage error."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, value: Any, *_: Any) -> None:
        grid = dict(getattr(namespace, self.dest, None) or {})
        key, values = value
        if key in grid:
            parser.error(f"argument {self.option_strings[0]}: {key} given twice: give its values in one list")
        grid[key] = values if isinstance(values, list) else [values]
        setattr(namespace, self.dest, grid)


def _value_type(hint: Any) -> Any:
    """The type a flag converts its text to: the field's type with ``None`` removed."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    return typing.get_origin(hint) or hint


def _add_flag(group: Any, field: dataclasses.Field[Any], hint: Any, key: str, names: list[str], default: Any) -> None:
    kind = _value_type(hint)
    help_text = f"{field.metadata.get('help', '')} (default: {default})".replace("%", "%%")
    options: dict[str, Any] = {"dest": _PREFIX + key, "default": argparse.SUPPRESS, "help": help_text}
    if kind is bool:
        options["action"] = argparse.BooleanOptionalAction
    elif kind is dict:
        options.update(action="append", type=key_value, metavar="KEY=VALUE")
    elif kind in (int, float, str):
        options.update(type=kind, choices=field.metadata.get("choices"), metavar=field.name.upper())
        if options["choices"]:
            del options["metavar"]  # argparse shows the choices
    else:
        options.update(type=yaml_value, metavar="YAML")
    group.add_argument(*names, **options)


def add_config_flags(parser: argparse.ArgumentParser, base: TrainConfig) -> None:
    """Add ``--config``, ``--method`` and a flag for every run and method field; help shows ``base``'s values."""
    group = parser.add_argument_group("run configuration (flags override --config)")
    group.add_argument("--config", dest="config_file", help="YAML or JSON file of settings (or a run's config.json)")
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        if f.name != "compression":
            flag = "--" + (f.metadata.get("flag") or f.name).replace("_", "-")
            _add_flag(group, f, hints[f.name], f.name, [flag], getattr(base, f.name))
    methods = config_types()
    current = [c.method for c in base.compression] or [NO_COMPRESSION]
    group.add_argument(
        "--method",
        nargs="+",
        dest=_PREFIX + "method",
        default=argparse.SUPPRESS,
        choices=[NO_COMPRESSION, *sorted(methods)],
        help=f"compression methods, applied in order ('{NO_COMPRESSION}': plain layers) (default: {' '.join(current)})",
    )
    for method, cls in sorted(methods.items()):
        doc = (cls.__doc__ or "").strip().splitlines()[0].replace("``", "")
        method_group = parser.add_argument_group(f"method '{method}': {doc}")
        aliases: dict[str, list[str]] = {}
        for alias, name in cls.ALIASES.items():
            aliases.setdefault(name, []).append("--" + alias.replace("_", "-"))
        config = base.compression_config(method) or cls()
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            flag = f"--{method}-{f.metadata.get('flag') or f.name}".replace("_", "-")
            _add_flag(
                method_group,
                f,
                hints[f.name],
                f"{method}.{f.name}",
                [flag, *aliases.get(f.name, [])],
                getattr(config, f.name),
            )


def config_from_args(args: argparse.Namespace, base: TrainConfig) -> TrainConfig:
    """``base``, then the ``--config`` file, then the flags given on the command line."""
    config = base
    if args.config_file:
        data = load_config_file(args.config_file)
        # A run's own config.json is a whole config; a hand-written file is settings on the base.
        config = TrainConfig.from_dict(data) if "version" in data else apply_settings(base, data)
    settings = {}
    for dest, value in vars(args).items():
        if dest.startswith(_PREFIX):
            # Repeated KEY=VALUE flags arrive as a list of (key, value) tuples (YAML makes no tuples).
            pairs = isinstance(value, list) and all(isinstance(v, tuple) for v in value)
            settings[dest[len(_PREFIX) :]] = dict(value) if pairs else value
    return apply_settings(config, settings)
