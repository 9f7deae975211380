"""Band-limiting beside pruning, structured sparsity (SSL) and bf16 on the same models and data
(:mod:`.compare` measures them); the plain and rate-0.5 models are the accuracy experiment's."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..train import run_is_finished
from ..train.run import CHECKPOINT, RESULT, load_trained
from .compare import measure_task
from .plan import Scale, plan
from .registry import Block, ExperimentResult, register_experiment
from .runs import missing_for
from .training import Log, train_all

__all__ = ["Methods"]


@dataclass
class Methods(ExperimentResult):
    """``tasks`` (task -> ``rows`` of :func:`.compare.measure_task`, or ``missing``), the ``seeds``
    per variant, and the ``ssl`` strength and threshold."""

    tasks: dict[str, dict[str, Any]]
    seeds: int
    ssl: dict[str, float]

    def blocks(self, plots: Path) -> list[Block]:
        return _methods_blocks(asdict(self), plots)


@register_experiment("methods", Methods, measured_once=True)
def methods(scale: Scale, out: Path, log: Log) -> Methods:
    """Band-limiting beside pruning, SSL and bf16 (:mod:`.compare`): the plain and rate-0.5
    models are the accuracy experiment's (same configs), the others trained here."""
    runs = [r for r in plan(scale) if r.experiment == "methods"]
    missing = train_all(runs, out, log)
    shared = [
        r
        for r in plan(scale)
        if r.experiment == "accuracy" and r.variant in ("plain", "rate 0.5") and r.seed < scale.compare_seeds
    ]
    tasks: dict[str, Any] = {}
    for task in scale.compare_tasks:
        found: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
        for run in [*shared, *runs]:
            folder = out / run.folder
            if run.task == task and run_is_finished(folder):
                result = json.loads((folder / RESULT).read_text())
                found.setdefault(run.variant, []).append((folder / CHECKPOINT, result))
        if not found:
            tasks[task] = {"missing": missing_for(task, runs, missing) or "no finished runs"}
            continue
        log(f"methods: measuring {task}")
        tasks[task] = {"rows": measure_task(found, load_trained, scale.ssl_threshold)}
    return Methods(
        tasks=tasks,
        seeds=scale.compare_seeds,
        ssl={"strength": scale.ssl_strength, "threshold": scale.ssl_threshold},
    )


def _methods_blocks(results: dict[str, Any], plots: Path) -> list[Block]:
    """Per task: the table, a plot of accuracy against weight and activation memory, and which
    method wins on each measure, with its number."""
    blocks: list[Block] = [
        ("h2", "6. Band-limiting beside pruning, structured sparsity and bf16"),
        (
            "p",
            f"Seeds per variant: {results['seeds']}. Accuracy: `selected` at the best validation epoch. Weights: "
            "the parameters as float32, and as the method stores them (pruned weights as CSR with int32 indices "
            "where smaller; SSL, trained with the group lasso on filters, channels and residual branches at strength "
            f"{results['ssl']['strength']:g}, after its groups with an RMS below {results['ssl']['threshold']:g} "
            "times their layer's median are zeroed and its zero filters and channels removed). Saved: bytes a "
            "training step keeps for backward. Epoch: the run's median "
            "epoch. Inference: a test batch of up to 256 samples, all variants of a task timed interleaved at "
            "1 thread in one process; pruned models also with their layers as CSR. Plain and rate 0.5 are the "
            "accuracy experiment's runs. Multiplications and additions per sample at inference count "
            "convolution and linear layers (a sum-product layer's ternary weights cost additions only); "
            "band-limited models show '-', their spectral arithmetic is in section 4."
            + (
                " With one seed, accuracy differences of a few points are within the spread between seeds (section 1)."
                if results["seeds"] == 1
                else ""
            ),
        ),
    ]
    for task, entry in results["tasks"].items():
        blocks.append(("h3", task))
        if "missing" in entry:
            blocks.append(("p", f"Not measured: {entry['missing']}."))
            continue
        rows = entry["rows"]
        name = "methods-" + "".join(c if c.isalnum() else "_" for c in task) + ".png"
        _plot(task, rows, plots / name)
        blocks.append(("img", (name, f"{task}: accuracy against memory")))
        blocks.append(("table", _table(rows)))
        blocks.append(("p", _winners(rows)))
        ssl = next((r for r in rows if "ssl" in r), None)
        if ssl is not None:
            removed = ssl["ssl"]
            blocks.append(
                (
                    "p",
                    f"SSL: {sum(removed['removed_channels'].values())} channels, "
                    f"{len(removed['skipped_branches'])} residual branches and "
                    f"{sum(removed['removed_columns'].values())} filter-shape columns removed; test accuracy "
                    f"{100 * removed['test_acc']:.1f}% after zeroing and removal (last epoch "
                    f"{100 * ssl['last_epoch']:.1f}% before).",
                )
            )
    return blocks


def _table(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = [
        "variant",
        "selected %",
        "best %",
        "weights KiB dense",
        "weights KiB stored",
        "saved MiB",
        "mults / sample",
        "adds / sample",
        "epoch s",
        "inference ms",
    ]
    table = []
    for r in rows:
        inference = ", ".join(f"{ms:.2f} ({how})" for how, ms in r["inference_ms"].items())
        table.append(
            [
                r["variant"],
                f"{100 * r['selected']:.1f}",
                f"{100 * r['best_on_test']:.1f}",
                f"{r['weights']['dense'] / 1024:.1f}",
                f"{r['weights']['stored'] / 1024:.1f}",
                f"{r['saved_bytes'] / 2**20:.2f}",
                _count(r.get("multiplications")),
                _count(r.get("additions")),
                f"{r['epoch_time_s']:.2f}",
                inference,
            ]
        )
    return header, table


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:.2f} M"


ACCURACY_NOISE = 0.04


def _winners(rows: Sequence[dict[str, Any]]) -> str:
    """One sentence per measure: the best variant and its number, against the plain model's.
    Times count as a win only beyond their noise: epoch times come from separate processes
    (20-30% apart on these machines); inference times, interleaved in one process, still
    differ by up to 15% between identical models. Accuracy counts only beyond 4 points: one seed
    per variant, and the seeds of one variant spread by 2-4 points at the quick scale."""
    plain = next((r for r in rows if r["variant"] == "plain"), rows[0])
    accurate = max(rows, key=lambda r: r["selected"])
    if accurate["selected"] - plain["selected"] > ACCURACY_NOISE:
        accuracy = f"{accurate['variant']} ({100 * accurate['selected']:.1f}%; plain {100 * plain['selected']:.1f}%)"
    else:
        accuracy = f"none by more than {100 * ACCURACY_NOISE:.0f} points (the seeds' spread), plain "
        accuracy += f"{100 * plain['selected']:.1f}%"
    parts = [f"highest selected accuracy: {accuracy}"]
    measures = [  # (what, the value to minimise, its unit's scale, its format, the noise it must beat)
        ("smallest stored weights", lambda r: r["weights"]["stored"], 1 / 1024, "{:.1f} KiB", 0.0),
        ("least memory kept for backward", lambda r: r["saved_bytes"], 2**-20, "{:.2f} MiB", 0.0),
        ("fastest epoch", lambda r: r["epoch_time_s"], 1, "{:.2f} s", 0.25),
        ("fastest inference", lambda r: min(r["inference_ms"].values()), 1, "{:.2f} ms", 0.2),
    ]
    for label, key, unit, form, noise in measures:
        best = min(rows, key=key)
        shown, base = form.format(unit * key(best)), form.format(unit * key(plain))
        if noise and key(best) > (1 - noise) * key(plain):
            parts.append(f"{label}: none by more than {100 * noise:.0f}% (the noise), plain {base}")
        else:
            parts.append(f"{label}: {best['variant']} ({shown}; plain {base})")
    return "Winners, " + "; ".join(parts) + "."


def _plot(task: str, rows: Sequence[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (label, value) in zip(
        axes,
        [
            ("stored weights (KiB)", lambda r: r["weights"]["stored"] / 1024),
            ("kept for backward (MiB)", lambda r: r["saved_bytes"] / 2**20),
        ],
    ):
        for r in rows:
            ax.scatter(value(r), 100 * r["selected"], color="black" if r["variant"] == "plain" else None)
            ax.annotate(
                r["variant"], (value(r), 100 * r["selected"]), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy, selected (%)")
        ax.set_xscale("log")
    fig.suptitle(f"{task}: accuracy against memory, by method")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
