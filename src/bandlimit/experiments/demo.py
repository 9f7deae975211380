"""The main job on its embedded default: the FCN on UCR FiftyWords at rates 0, 0.5 and 0.85,
plus the same model with plain convolutions as the baseline; a table and a plot."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..report import format_table, plot_rate_tradeoff
from ..train import TrainConfig
from ..train.checkpoint import atomic_write_text
from ..train.run import RESULT, load_metrics
from .sweep import run_sweep

__all__ = ["DemoSpec", "run_demo"]


@dataclass(frozen=True)
class DemoSpec:
    """What the demo trains. The defaults fit in a few minutes on 2 CPU cores; the paper
    trained the FCN for thousands of epochs (raise ``epochs`` to approach its accuracy)."""

    model: str = "fcn"
    data: str = "ucr:FiftyWords"
    rates: Sequence[float] = (0.0, 0.5, 0.85)
    epochs: int = 15
    batch_size: int = 16
    lr: float = 3e-3
    baseline: bool = True
    limit: int | None = None
    data_root: str | None = None
    seed: int = 0
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def base_config(self) -> TrainConfig:
        return TrainConfig(
            model=self.model,
            data=self.data,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            limit=self.limit,
            data_root=self.data_root,
            seed=self.seed,
            model_kwargs=dict(self.model_kwargs),
        )


def _row(config: TrainConfig, folder: Path) -> dict[str, Any]:
    result = json.loads((folder / RESULT).read_text())
    baseline = config.method == "none"
    return {
        "label": "nn.Conv (direct)" if baseline else "band-limited",
        "baseline": baseline,
        "rate": config.rate,
        "achieved_rate": result["achieved_rate"],
        "test_acc": result["final_test_acc"],
        "best_test_acc": result["best_test_acc"],
        "epoch_time_s": result["median_epoch_time_s"],
        "saved_mib": result["saved_bytes"] / 2**20,
        "conv_saved_mib": result["conv_saved_bytes"] / 2**20,
        "curve": [m["test_acc"] for m in load_metrics(folder)],
    }


def run_demo(
    spec: DemoSpec, out_dir: str | Path, *, progress: bool = False, log: Callable[[str], None] = print
) -> tuple[list[dict[str, Any]], str]:
    """Train the demo's runs (resuming or skipping finished ones), write ``results.json``,
    ``tradeoff.png`` and ``table.txt`` into ``out_dir``; return the rows and the table."""
    out = Path(out_dir)
    base = spec.base_config()
    runs = run_sweep(base, {"method": ["bandlimit"], "rate": list(spec.rates)}, out, progress=progress, log=log)
    if spec.baseline:
        runs += run_sweep(base.with_(method="none"), {"method": ["none"]}, out, progress=progress, log=log)
    rows = [_row(config, folder) for config, folder in runs]
    reference = next((r for r in rows if r["baseline"]), rows[0])
    table = format_table(
        [
            "method",
            "rate",
            "achieved",
            "test acc",
            "best acc",
            "epoch s",
            "time vs ref",
            "saved MiB",
            "conv saved MiB",
            "conv mem vs ref",
        ],
        [
            [
                r["label"],
                r["rate"],
                r["achieved_rate"],
                r["test_acc"],
                r["best_test_acc"],
                r["epoch_time_s"],
                r["epoch_time_s"] / reference["epoch_time_s"],
                r["saved_mib"],
                r["conv_saved_mib"],
                r["conv_saved_mib"] / reference["conv_saved_mib"],
            ]
            for r in rows
        ],
    )
    header = (
        f"{spec.model} on {spec.data}, {spec.epochs} epochs, batch {spec.batch_size}, "
        f"Adam lr {spec.lr}, seed {spec.seed}\n"
        f"saved MiB: bytes one training step keeps for backward (whole model, counted with saved_tensors_hooks);\n"
        f"conv saved MiB: the convolutions' share; 'vs ref' is relative to {reference['label']}\n"
    )
    atomic_write_text(out / "results.json", json.dumps(rows, indent=2))
    atomic_write_text(out / "table.txt", header + table + "\n")
    plot_rate_tradeoff(rows, out / "tradeoff.png", title=f"{spec.model} on {spec.data} ({spec.epochs} epochs)")
    return rows, header + table
