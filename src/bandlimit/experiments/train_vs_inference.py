"""Training against inference setting (PAPER.md: Figure 5, supplement Figures 22-23).

The FCN trained at each training setting (energy 100% = plain, energy 90%, rates 0.5 and 0.85)
on the scale's UCR sets, each model tested at every setting. Per training setting, Friedman's
test over the *inference* settings (the treatments) with the data sets as blocks, then Nemenyi:
does inference at the training setting rank first, and significantly?
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..report.plots import critical_difference, heatmap
from ..train import run_is_finished
from ..train.results import load_metrics
from .paper_numbers import NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED
from .registry import Block, ExperimentResult, register_experiment
from .series import SETTINGS, inference_tests, runs_read, scale_series, tested
from .training import Log, train_all

__all__ = ["TrainVsInference", "inference_verdict", "plot_inference_test"]


def inference_verdict(test: dict[str, Any] | None, trained: str) -> tuple[str, str]:
    """Figures 22-23: the model trained at ``trained`` is best tested at ``trained``, and Friedman
    rejects equal inference settings (p < alpha). Nemenyi's stricter reading is stated too."""
    if test is None:
        return NOT_TESTABLE, "fewer than 2 data sets with every setting finished"
    ranks = ", ".join(f"{m} {r:.2f}" for m, r in zip(test["methods"], test["mean_ranks"]))
    evidence = (
        f"Friedman chi-square {test['statistic']:.2f}, p = {test['p_value']:.3g} over {test['datasets']} sets; mean "
        f"ranks {ranks}; first: {test['first']}; Nemenyi CD {test['critical_difference']:.2f}, training setting "
        f"{'' if test['trained_significantly_first'] else 'not '}significantly ahead of every other"
    )
    holds = test["trained_first"] and test["p_value"] < test["alpha"]
    return (REPRODUCED if holds else NOT_REPRODUCED), evidence


def plot_inference_test(test: dict[str, Any], path: Path, title: str) -> None:
    """The critical-difference diagram of one training setting's inference settings."""
    ranks = dict(zip(test["methods"], test["mean_ranks"]))
    critical_difference(ranks, test["nemenyi"], test["critical_difference"], test["alpha"], path, title)


@dataclass
class TrainVsInference(ExperimentResult):
    """Every model tested at every setting, and the tests per training setting.

    Attributes:
        settings: the training and inference settings, in order.
        sets_seed, planned_sets: the seed the UCR sets were drawn with, and the sets.
        sets: set -> training setting -> inference setting -> test accuracy (the sets with
            every model finished).
        tests: per training setting, :func:`.series.inference_tests`' result (2 sets or more).
        training_seconds: per set, the training time of its runs, summed over epochs.
    """

    settings: list[str]
    sets_seed: int
    planned_sets: list[str]
    sets: dict[str, dict[str, dict[str, float]]]
    tests: dict[str, Any]
    training_seconds: dict[str, float] = field(default_factory=dict)

    def blocks(self, plots: Path) -> list[Block]:
        settings, sets = self.settings, self.sets
        blocks: list[Block] = [
            ("h2", "Training vs inference setting (paper: Figure 5, Figures 22-23)"),
            (
                "p",
                f"UCR sets drawn at random with seed {self.sets_seed} from those of the 2015 archive on this "
                f"machine: {', '.join(self.planned_sets)}. Each model is tested with its last epoch's weights at "
                f"every setting; {len(sets)} sets have every model finished. Per training setting, the inference "
                "settings are the treatments and the data sets the blocks (Friedman, then Nemenyi). Verdict rule: "
                "reproduced if inference at the training setting ranks first and Friedman rejects equality (p < 0.05).",
            ),
        ]
        if not sets:
            return [*blocks, ("p", "No finished runs.")]
        matrix = np.array([[[sets[s][tr][te] for te in settings] for tr in settings] for s in sorted(sets)]).mean(0)
        heatmap(
            matrix, settings, plots / "series-train-vs-inference.png", f"mean test accuracy % over {len(sets)} sets"
        )
        blocks.append(("img", ("series-train-vs-inference.png", "mean over the sets")))
        if "FiftyWords" in sets:
            fifty = np.array([[sets["FiftyWords"][tr][te] for te in settings] for tr in settings])
            heatmap(fifty, settings, plots / "series-fiftywords-matrix.png", "FiftyWords test accuracy %")
            blocks.append(("img", ("series-fiftywords-matrix.png", "FiftyWords")))
        rows = []
        for trained in settings:
            test = self.tests.get(trained)
            verdict, evidence = inference_verdict(test, trained)
            rows.append([trained, verdict, evidence])
            if test is not None:
                name = f"series-cd-{trained.replace(' ', '_')}.png"
                plot_inference_test(test, plots / name, f"trained at {trained}")
                blocks.append(("img", (name, f"inference settings of the model trained at {trained}")))
        blocks.append(("table", (["trained at", "verdict", "evidence"], rows)))
        if self.training_seconds:
            seconds = self.training_seconds
            total = sum(seconds.values())
            top = sorted(seconds, key=lambda name: -seconds[name])[:5]
            shares = ", ".join(f"{n} {seconds[n] / 3600:.2f} h ({100 * seconds[n] / total:.0f}%)" for n in top)
            blocks.append(
                (
                    "p",
                    f"Training time of these runs, summed over epochs at 1 thread each: {total / 3600:.1f} h; the "
                    f"largest shares: {shares}.",
                )
            )
        return blocks


@register_experiment("train_vs_inference", TrainVsInference)
def train_vs_inference(scale: Any, out: Path, log: Log) -> TrainVsInference:
    """Per training setting and set: accuracy at every inference setting; Friedman and Nemenyi
    per training setting over the inference settings, the sets as blocks."""
    series = scale_series(scale)
    runs = runs_read("train_vs_inference", series)
    train_all(runs, out, log)
    matrix: dict[str, dict[str, dict[str, float]]] = {}
    seconds: dict[str, float] = {}  # training time per set, all settings: where the scale's time goes
    for run in runs:
        folder = out / run.folder
        if run_is_finished(folder):
            matrix.setdefault(run.task, {})[run.variant] = tested(folder)
            seconds[run.task] = seconds.get(run.task, 0.0) + sum(m.epoch_time_s for m in load_metrics(folder))
    complete = {name: rows for name, rows in matrix.items() if set(rows) == set(SETTINGS)}
    return TrainVsInference(
        settings=list(SETTINGS),
        sets_seed=series.sets_seed,
        planned_sets=list(series.sets),
        sets=complete,
        tests=inference_tests(complete) if len(complete) >= 2 else {},
        training_seconds=seconds,
    )
