"""Train rate against test rate on UCR sets (PAPER.md: Figure 5; Friedman and Nemenyi as in
Figures 22-23), the quick and full scales' form: models trained at each of ``matrix_rates`` and
tested at each, per training rate the test rates as treatments and the sets as blocks."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io import cached_json
from ..report.plots import heatmap
from ..report.render import plt as _plt
from ..train import run_is_finished
from ..train.run import CHECKPOINT, RESULT, evaluate_checkpoint
from . import series
from .plan import Scale, plan
from .registry import Block, ExperimentResult, register_experiment
from .train_vs_inference import inference_verdict, plot_inference_test
from .training import Log, train_all

__all__ = ["RateMatrix"]


@dataclass
class RateMatrix(ExperimentResult):
    """``rates`` (as text), ``sets`` (set -> training rate -> test rate -> test accuracy, the
    complete sets), ``missing`` (data sets not on this machine) and ``tests`` (per training
    rate, :func:`.series.inference_tests`' result)."""

    rates: list[str]
    sets: dict[str, dict[str, dict[str, float]]]
    missing: list[str] = field(default_factory=list)
    tests: dict[str, Any] = field(default_factory=dict)

    def blocks(self, plots: Path) -> list[Block]:
        return _matrix_blocks(asdict(self), plots)


@register_experiment("rate_matrix", RateMatrix)
def rate_matrix(scale: Scale, out: Path, log: Log) -> RateMatrix:
    """Models trained at each of ``matrix_rates`` and tested at each, on every UCR set; the Friedman
    test over the sets of the models tested at their training rate."""
    runs = [r for r in plan(scale) if r.experiment == "rate_matrix"]
    missing = train_all(runs, out, log)
    sets: dict[str, Any] = {}
    for run in runs:
        folder = out / run.folder
        if not run_is_finished(folder):
            continue
        # Last-epoch weights tested at every rate of the matrix; cached with the result they test.
        test = functools.partial(evaluate_checkpoint, folder / CHECKPOINT, list(scale.matrix_rates))
        rows = cached_json(folder / "test_rates.json", folder / RESULT, list(scale.matrix_rates), test)
        tested = {f"{row['rate']:g}": row["test_acc"] for row in rows}
        sets.setdefault(run.task, {})[run.variant.split()[1]] = tested
    rates = [f"{r:g}" for r in scale.matrix_rates]
    complete = {name: m for name, m in sets.items() if all(r in m for r in rates)}
    # Figures 22-23: per training rate, the test rates are the treatments and the sets the blocks.
    tests = series.inference_tests(complete) if len(complete) >= 2 and len(rates) >= 3 else {}
    return RateMatrix(rates=rates, sets=complete, missing=sorted(set(missing.values())), tests=tests)


def _matrix_blocks(results: dict[str, Any], plots: Path) -> list[Block]:

    rates, sets = results["rates"], results["sets"]
    blocks: list[Block] = [("h2", "2. Train rate x test rate (paper: Figure 5; Friedman and Nemenyi: Figures 22-23)")]
    if results.get("missing"):
        blocks.append(("p", "Data sets not on this machine, left out: " + "; ".join(results["missing"])))
    if not sets:
        return [*blocks, ("p", "No finished runs.")]
    matrix = np.array([[[sets[s][train][test] for test in rates] for train in rates] for s in sorted(sets)])
    heatmap(matrix.mean(0), rates, plots / "rate-matrix.png", f"mean test accuracy % over {len(sets)} UCR sets", "rate")
    blocks.append(("img", ("rate-matrix.png", "test accuracy, trained at one rate and tested at another")))
    blocks.append(
        (
            "p",
            "Each model is tested with its last epoch's weights, band-limited at every test rate. Training at a "
            "rate and testing at a lower one is the diagonal's left side.",
        )
    )
    rows = []
    for trained, test in results.get("tests", {}).items():
        verdict, evidence = inference_verdict(test, trained)
        rows.append([f"rate {trained}", verdict, evidence])
        name = f"critical-difference-{trained}.png"
        plot_inference_test(test, plots / name, f"trained at rate {trained}")
        blocks.append(("img", (name, f"test rates of the model trained at rate {trained}")))
    if rows:
        blocks.append(
            (
                "p",
                "Per training rate, the test rates are the treatments and the data sets the blocks (Friedman, "
                "then Nemenyi). Reproduced if testing at the training rate ranks first and Friedman rejects equality "
                "(p < 0.05).",
            )
        )
        blocks.append(("table", (["trained at", "verdict", "evidence"], rows)))
    if "0" in rates and "0.5" in rates:
        blocks += _scatter_blocks(sets, plots)
    return blocks


def _scatter_blocks(sets: dict[str, Any], plots: Path) -> list[Block]:
    names = sorted(sets)
    full = np.array([sets[s]["0"]["0"] for s in names])
    half = np.array([sets[s]["0.5"]["0.5"] for s in names])
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 4.6))
    ax.scatter(full, half, s=18)
    ax.plot([0, 1], [0, 1], "k-", lw=1)
    for offset in (-0.05, 0.05):
        ax.plot([0, 1], [offset, 1 + offset], "k:", lw=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("test accuracy, trained and tested at rate 0")
    ax.set_ylabel("test accuracy, trained and tested at rate 0.5")
    ax.set_title(f"{len(names)} UCR sets")
    fig.tight_layout()
    fig.savefig(plots / "ucr-scatter.png", dpi=110)
    plt.close(fig)
    within = int((np.abs(half - full) <= 0.05).sum())
    better = int((half > full + 0.05).sum())
    return [
        ("h2", "3. UCR at 0% against 50% compression (paper: Figure 8)"),
        ("img", ("ucr-scatter.png", "each point a data set; the dotted lines are +-5%")),
        (
            "p",
            f"{within} of {len(names)} data sets lie within ±5 points of the diagonal, {better} above it and "
            f"{len(names) - within - better} below it (rate 0.5 worse by more than 5 points).",
        ),
    ]
