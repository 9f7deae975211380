"""Training rate against inference rate on images (PAPER.md: Figure 5): the accuracy
experiment's seed-0 models of each of the scale's ``matrix_tasks``, trained at a rate of
``matrix_rates``, each tested at every rate of ``matrix_rates``. The paper's finding: a model is
best tested at the rate it was trained at, and degrades smoothly away from it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import cached_json
from ..report.plots import heatmap
from ..train import run_is_finished
from ..train.run import CHECKPOINT, RESULT, evaluate_checkpoint
from .paper_numbers import NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED
from .plan import Scale, plan
from .registry import Block, ExperimentResult, register_experiment
from .training import Log, train_all

__all__ = ["ImageMatrix", "matrix_verdict"]


@dataclass
class ImageMatrix(ExperimentResult):
    """Per task: training rate -> inference rate -> test accuracy (rates as text, the trained
    rates that have a finished seed-0 model), and the inference rates."""

    rates: list[str]
    tasks: dict[str, dict[str, dict[str, float]]]

    def blocks(self, plots: Path) -> list[Block]:
        blocks: list[Block] = [
            ("h2", "Training rate against inference rate on images (paper: Figure 5)"),
            (
                "p",
                "Each seed-0 model of the accuracy experiment trained at one of the rates is tested, with its last "
                f"epoch's weights, band-limited at every rate. {(matrix_verdict.__doc__ or '').strip()}",
            ),
        ]
        for task, matrix in self.tasks.items():
            if not matrix:
                blocks.append(("p", f"{task}: no finished models."))
                continue
            trained = list(matrix)
            values = np.array([[matrix[t][r] for r in self.rates] for t in trained])
            name = "image-matrix-" + "".join(c if c.isalnum() else "_" for c in task) + ".png"
            if len(trained) == len(self.rates):
                heatmap(values, [f"rate {r}" for r in self.rates], plots / name, f"{task}: test accuracy %", "rate")
                blocks.append(("img", (name, f"{task}: trained at one rate, tested at another")))
            header = ["trained at", *[f"tested at {r} %" for r in self.rates]]
            blocks.append(
                ("table", (header, [[t, *[f"{100 * v:.2f}" for v in row]] for t, row in zip(trained, values)]))
            )
            verdict, evidence = matrix_verdict(matrix)
            blocks.append(("p", f"**{verdict}**: {evidence}"))
        return blocks


def matrix_verdict(matrix: dict[str, dict[str, float]]) -> tuple[str, str]:
    """Reproduced if every model is most accurate at its own training rate, or within half a
    point of its best (a test set's sampling noise: one seed per model)."""
    if len(matrix) < 2:
        return NOT_TESTABLE, "fewer than 2 trained rates finished"
    notes, holds = [], True
    for trained, row in matrix.items():
        if trained not in row:
            return NOT_TESTABLE, f"the model trained at {trained} was not tested at its own rate"
        best = max(row, key=lambda rate: row[rate])
        holds = holds and row[best] - row[trained] <= 0.005
        notes.append(f"trained at {trained}: best at {best} ({100 * row[best]:.2f}), own {100 * row[trained]:.2f}")
    return (REPRODUCED if holds else NOT_REPRODUCED), "; ".join(notes)


@register_experiment("image_matrix", ImageMatrix)
def image_matrix(scale: Scale, out: Path, log: Log) -> ImageMatrix:
    """Test each trained model at every rate of ``scale.matrix_rates`` (cached beside its result)."""
    rates = list(scale.matrix_rates)
    wanted = {"plain" if r == 0 else f"rate {r:g}": f"{r:g}" for r in rates}
    runs = [
        r
        for r in plan(scale)
        if r.experiment == "accuracy" and r.seed == 0 and r.task in scale.matrix_tasks and r.variant in wanted
    ]
    train_all(runs, out, log)
    tasks: dict[str, dict[str, dict[str, float]]] = {task: {} for task in scale.matrix_tasks}
    for run in runs:
        folder = out / run.folder
        if not run_is_finished(folder):
            continue
        test = functools.partial(evaluate_checkpoint, folder / CHECKPOINT, rates)
        tested = cached_json(folder / "test_rates.json", folder / RESULT, rates, test)
        tasks[run.task][wanted[run.variant]] = {f"{row['rate']:g}": row["test_acc"] for row in tested}
    ordered = {task: dict(sorted(m.items(), key=lambda kv: float(kv[0]))) for task, m in tasks.items()}
    return ImageMatrix(rates=[f"{r:g}" for r in rates], tasks=ordered)
