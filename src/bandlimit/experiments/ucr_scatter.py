"""Full spectrum against 50% compression per UCR set (PAPER.md: Figure 8): the plain and the
rate-0.5 FCN of the time-series protocols' runs, with a Wilcoxon signed-rank test."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..report.render import plt as _plt
from ..train import run_is_finished
from ..train.run import RESULT
from .paper_numbers import NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED
from .registry import Block, ExperimentResult, register_experiment
from .series import paired_statistics, runs_read, scale_series
from .training import Log, train_all

__all__ = ["UcrScatter", "scatter_verdict"]


@dataclass
class UcrScatter(ExperimentResult):
    """Per set, the best test accuracy of the plain (``energy 1``) and the ``rate 0.5`` model.

    Attributes:
        sets: set -> setting -> accuracy, the sets with both models finished.
        metric: what the accuracies are.
        wilcoxon: :func:`.series.paired_statistics` of rate 0.5 against plain (2 sets or more).
    """

    sets: dict[str, dict[str, float]]
    metric: str = "best test accuracy over the evaluated epochs"
    wilcoxon: dict[str, float] | None = None

    def blocks(self, plots: Path) -> list[Block]:
        blocks: list[Block] = [("h2", "Full spectrum against 50% compression per UCR set (paper: Figure 8)")]
        verdict, evidence = scatter_verdict(self)
        if self.sets:
            full = np.array([p["energy 1"] for p in self.sets.values()])
            half = np.array([p["rate 0.5"] for p in self.sets.values()])
            plt = _plt()
            fig, ax = plt.subplots(figsize=(4.6, 4.6))
            ax.scatter(full, half, s=18)
            for offset, style in ((0, "k-"), (0.05, "k:"), (-0.05, "k:"), (0.1, "k--"), (-0.1, "k--")):
                ax.plot([0, 1], [offset, 1 + offset], style, lw=1)
            ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="plain (energy 100%)", ylabel="rate 0.5")
            ax.set_title(f"best test accuracy, {len(self.sets)} UCR sets; dotted ±5, dashed ±10", fontsize=9)
            fig.tight_layout()
            fig.savefig(plots / "series-scatter.png", dpi=110)
            plt.close(fig)
            blocks.append(("img", ("series-scatter.png", "each point a data set, the same metric on both axes")))
        rule = " ".join((scatter_verdict.__doc__ or "").split(":", 1)[1].split())
        blocks.append(("p", f"**{verdict}**: {evidence}. Rule: {rule}"))
        return blocks


def scatter_verdict(result: UcrScatter) -> tuple[str, str]:
    """Figure 8 ("accuracy is preserved" at 50%): at least 80% of the sets within +-5 points, and
    no significant loss (one-sided Wilcoxon signed-rank, rate 0.5 below plain: p >= 0.05)."""
    test = result.wilcoxon
    if test is None:
        return NOT_TESTABLE, "fewer than 2 data sets with both models finished"
    n = len(result.sets)
    evidence = (
        f"{test['within_5']}/{n} sets within ±5 points, {test['within_10']}/{n} within ±10; median difference "
        f"(rate 0.5 - plain) {100 * test['median_difference']:+.1f} points; Wilcoxon W = {test['statistic']:.1f}, "
        f"p = {test['p_value']:.3g} (two-sided), {test['p_loss']:.3g} (one-sided, a loss)"
    )
    no_loss = test["p_loss"] >= 0.05
    return (REPRODUCED if test["within_5"] >= 0.8 * n and no_loss else NOT_REPRODUCED), evidence


@register_experiment("ucr_scatter", UcrScatter)
def ucr_scatter(scale: Any, out: Path, log: Log) -> UcrScatter:
    """Figure 8: per set, the best test accuracy of the plain and the rate-0.5 model; Wilcoxon."""
    runs = runs_read("ucr_scatter", scale_series(scale))
    train_all(runs, out, log)
    pairs: dict[str, dict[str, float]] = {}
    for run in runs:
        if run_is_finished(out / run.folder):
            result = json.loads((out / run.folder / RESULT).read_text())
            pairs.setdefault(run.task, {})[run.variant] = result["best_test_acc"]
    complete = {name: p for name, p in pairs.items() if len(p) == 2}
    if len(complete) < 2:
        return UcrScatter(sets=complete)
    plain = [p["energy 1"] for p in complete.values()]
    return UcrScatter(sets=complete, wilcoxon=paired_statistics([p["rate 0.5"] for p in complete.values()], plain))
