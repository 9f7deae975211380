"""The main job on its embedded default: the FCN on UCR FiftyWords at rates 0.5 and 0.85,
plus the same model with plain convolutions as the baseline; a table and a plot."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..io import atomic_write_text
from ..memory import count_saved_bytes
from ..report import format_table, plot_rate_tradeoff
from ..train import TrainConfig
from ..train.config import NO_COMPRESSION
from ..train.experiment import build_experiment
from ..train.named_settings import apply_settings, get_setting
from ..train.results import load_metrics
from ..train.run import RESULT
from .sweep import run_sweep

__all__ = ["DEMO", "DEMO_RATES", "run_demo"]

DEMO = TrainConfig(model="fcn", data="ucr:FiftyWords", epochs=100, batch_size=16, lr=3e-3, schedule="plateau", seed=0)
"""The demo's run: long enough for the plain FCN to pass 0.58 test accuracy (0.62 best, first
0.58 at epoch 75, in the run the README reports; the paper's FCN reached 64.40%, PAPER.md
Table 3, after thousands of epochs); about 10 minutes for the three runs on 2 CPU cores."""
DEMO_RATES = (0.5, 0.85)
"""Rate 0 equals the baseline mathematically (a full band is the plain convolution), so the
demo leaves it out; ``bandlimit demo --rates 0 0.5 0.85`` adds it."""


def _checkpointed_saved_bytes(config: TrainConfig) -> int:
    """Bytes one training step of ``config``'s model keeps for backward with spectral
    checkpoints, counted as the training loop counts them (model and loss, parameters
    included), on one batch of random inputs of the data's shape."""
    exp = build_experiment(apply_settings(config, {"bandlimit.checkpoint": True}))
    exp.model.train()
    x = torch.randn(config.batch_size, *exp.input_shape)
    with count_saved_bytes() as saved:
        F.cross_entropy(exp.model(x), torch.zeros(config.batch_size, dtype=torch.long))
    return saved.total


def _label(config: TrainConfig) -> str:
    """``band-limited`` or ``nn.Conv (direct)``, with the run's other methods: ``nn.Conv + prune``."""
    names = ["band-limited" if c.method == "bandlimit" else c.method for c in config.compression]
    if "band-limited" not in names:
        names.insert(0, "nn.Conv")
    return "nn.Conv (direct)" if names == ["nn.Conv"] else " + ".join(names)


def _row(config: TrainConfig, folder: Path) -> dict[str, Any]:
    result = json.loads((folder / RESULT).read_text())
    baseline = config.compression_config("bandlimit") is None
    return {
        "label": _label(config),
        "baseline": baseline,
        "rate": get_setting(config, "rate") or 0.0,
        "achieved_rate": result["achieved_rate"],
        "test_acc": result["final_test_acc"],
        "best_test_acc": result["best_test_acc"],
        "epoch_time_s": result["median_epoch_time_s"],
        "saved_mib": result["saved_bytes"] / 2**20,
        "ckpt_saved_mib": None if baseline else _checkpointed_saved_bytes(config) / 2**20,
        "conv_saved_mib": result["conv_saved_bytes"] / 2**20,
        "curve": [m.test_acc for m in load_metrics(folder) if m.test_acc is not None],
    }


def run_demo(
    out_dir: str | Path,
    base: TrainConfig = DEMO,
    rates: Sequence[float] = DEMO_RATES,
    *,
    baseline: bool = True,
    force: bool = False,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[list[dict[str, Any]], str]:
    """Train ``base`` band-limited at each of ``rates`` and, with ``baseline``, without
    band-limiting (its other compression methods stay); resume or skip finished runs; write
    ``results.json``, ``tradeoff.png`` and ``table.txt`` into ``out_dir``.

    Returns:
        The rows and the table.
    """
    out = Path(out_dir)
    methods = [c.method for c in base.compression]
    others = [m for m in methods if m != "bandlimit"]
    band_base = base if "bandlimit" in methods else apply_settings(base, {"method": [*methods, "bandlimit"]})
    plain = [{"method": [others or NO_COMPRESSION]}] if baseline else []  # checked before anything trains
    runs = run_sweep(band_base, {"rate": list(rates)}, out, more=plain, force=force, progress=progress, log=log)
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
            "vs ref",
            "with spectral ckpt",
            "vs ref",
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
                r["saved_mib"] / reference["saved_mib"],
                "-" if r["ckpt_saved_mib"] is None else r["ckpt_saved_mib"],
                "-" if r["ckpt_saved_mib"] is None else r["ckpt_saved_mib"] / reference["saved_mib"],
                r["conv_saved_mib"],
                r["conv_saved_mib"] / reference["conv_saved_mib"],
            ]
            for r in rows
        ],
    )
    pays = get_setting(band_base, "bandlimit.where_it_pays")
    mode = "only where it pays" if pays else "every convolution (the paper)"
    header = (
        f"{base.model} on {base.data}, {base.epochs} epochs, batch {base.batch_size}, "
        f"{base.optimizer} lr {base.lr}, seed {base.seed}; band-limited {mode}\n"
        f"saved MiB: bytes one training step keeps for backward (whole model and loss, counted with\n"
        f"saved_tensors_hooks); with spectral ckpt: the same model with spectral checkpoints (one step, not trained);\n"
        f"conv saved MiB: the convolutions' share; 'vs ref' is relative to {reference['label']}\n"
    )
    atomic_write_text(out / "results.json", json.dumps(rows, indent=2))
    atomic_write_text(out / "table.txt", header + table + "\n")
    plot_rate_tradeoff(rows, out / "tradeoff.png", title=f"{base.model} on {base.data} ({base.epochs} epochs)")
    return rows, header + table
