"""Reading a config file: YAML or JSON settings for the command line's ``--config``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["load_config_file"]


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON mapping from ``path`` (by suffix; YAML is a superset of JSON)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not a text file (YAML or JSON)") from None
    kind = path.suffix.lstrip(".") or "YAML"
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"config file {path} is not valid {kind}: {err}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        # ValueError: a tagged or timestamp-like scalar that does not convert (`!!int abc`, 2001-13-01)
        except (yaml.YAMLError, ValueError) as err:
            raise ConfigError(f"config file {path} is not valid {kind}: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of field -> value, got {type(data).__name__}")
    return data
