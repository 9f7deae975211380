"""``bandlimit report``: the report of a ``bandlimit reproduce`` folder, ``report.md`` with its
plots in ``report/`` and one self-contained ``report.html``. Each experiment draws its own section
(:mod:`.registry`); :mod:`bandlimit.report` renders the blocks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..io import atomic_write_text
from ..report.render import html_page, markdown
from .findings import findings
from .plan import LEGACY_EXPERIMENTS
from .registry import experiments

__all__ = ["write_report"]


def _read_mapping(path: Path, keys: Sequence[str]) -> dict[str, Any]:
    """The JSON object in ``path``, which must hold ``keys``; a user error if it does not."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        reason = type(err).__name__
        raise ConfigError(f"{path} is not valid JSON ({reason}): delete it and reproduce again") from None
    absent = [k for k in keys if k not in data] if isinstance(data, dict) else list(keys)
    if absent or not isinstance(data, dict):
        raise ConfigError(
            f"{path} is not a file `bandlimit reproduce` wrote (an object with {list(keys)}; {absent} missing): "
            "delete it and run `bandlimit reproduce` again"
        )
    return data


def _chosen(scale: dict[str, Any]) -> list[str]:
    """The experiments the folder's scale runs (``settings.experiments``: folders of 2026-12-02)."""
    settings = scale.get("settings")
    chosen = scale.get("experiments") or (settings.get("experiments") if isinstance(settings, dict) else None)
    return list(chosen) if isinstance(chosen, list) and chosen else list(LEGACY_EXPERIMENTS)


def write_report(folder: str | Path) -> tuple[Path, Path]:
    """Write ``report.md`` (plots in ``report/``) and ``report.html`` into a reproduce folder.

    Returns:
        The two files' paths.

    Raises:
        ConfigError: ``folder`` is not a reproduce folder, or a results file is not one it wrote.
    """
    from ..bench.run import machine_info

    out = Path(folder)
    if not (out / "scale.json").is_file():
        raise ConfigError(f"{out} is not a `bandlimit reproduce` folder (no scale.json)")
    scale = _read_mapping(out / "scale.json", ("name", "notes"))
    if not isinstance(scale["name"], str) or not all(isinstance(n, str) for n in scale["notes"]):
        raise ConfigError(f"{out / 'scale.json'} is not a file `bandlimit reproduce` wrote (name and notes not text)")
    specs = experiments()
    names = [name for name in _chosen(scale) if name in specs]
    results = {
        name: specs[name].result.from_dict(_read_mapping(path, ()), str(path))
        for name in names
        if (path := out / name / "results.json").exists()
    }
    plots = out / "report"
    plots.mkdir(exist_ok=True)
    machine = machine_info()
    blocks: list[tuple[str, Any]] = [
        ("h1", f"bandlimit: the paper's findings at {scale['name']} scale"),
        ("p", " ".join(scale["notes"])),
        (
            "p",
            f"Report written on: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, torch "
            f"{machine['torch']} (CPU capability {machine['cpu_capability']}). The runs' own timings are in their "
            "folders.",
        ),
    ]
    if "train_vs_inference" in names:  # the time-series protocols: a verdict per finding first
        blocks.append(("h2", "Findings of the paper (PAPER.md), one verdict each"))
        blocks.append(("table", (["finding", "verdict", "evidence"], findings(results, names))))
    for name in names:
        if name in results:
            blocks += results[name].blocks(plots)
        else:
            blocks.append(("h2", name))
            blocks.append(("p", f"Not run yet (`bandlimit reproduce --only {name}`)."))
    md, page = out / "report.md", out / "report.html"
    atomic_write_text(md, markdown(blocks))
    atomic_write_text(page, html_page(blocks, plots))
    return md, page
