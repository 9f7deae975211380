"""Verdicts and report sections of the time-series protocols (:mod:`.series`).

A verdict is ``reproduced``, ``not reproduced`` or ``not testable at this scale``, with the
statistic it rests on; the rules are stated beside each function, and the report repeats them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .stats import FriedmanResult, plot_critical_difference

__all__ = [
    "PAPER_TABLE3",
    "energy_verdicts",
    "heatmap",
    "inference_verdict",
    "scatter_verdict",
    "series_blocks",
]

REPRODUCED, NOT_REPRODUCED, NOT_TESTABLE = "reproduced", "not reproduced", "not testable at this scale"
Block = tuple[str, Any]

PAPER_TABLE3 = {1.0: (64.40, 118), 0.9: (63.52, 25), 0.5: (59.34, 21), 0.1: (40.00, 17)}
"""PAPER.md, Table 3 (FiftyWords, FCN): energy preserved -> (max test accuracy %, average GPU MB)."""


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


def scatter_verdict(results: dict[str, Any]) -> tuple[str, str]:
    """Figure 8 ("accuracy is preserved" at 50%): at least 80% of the sets within +-5 points, and
    no significant loss (one-sided Wilcoxon signed-rank, rate 0.5 below plain: p >= 0.05)."""
    test = results.get("wilcoxon")
    if test is None:
        return NOT_TESTABLE, "fewer than 2 data sets with both models finished"
    n = len(results["sets"])
    evidence = (
        f"{test['within_5']}/{n} sets within ±5 points, {test['within_10']}/{n} within ±10; median difference "
        f"(rate 0.5 - plain) {100 * test['median_difference']:+.1f} points; Wilcoxon W = {test['statistic']:.1f}, "
        f"p = {test['p_value']:.3g} (two-sided), {test['p_loss']:.3g} (one-sided, a loss)"
    )
    no_loss = test["p_loss"] >= 0.05
    return (REPRODUCED if test["within_5"] >= 0.8 * n and no_loss else NOT_REPRODUCED), evidence


def energy_verdicts(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Table 3's claims as ``(claim, verdict, evidence)``:
    - accuracy at 90% energy within 1 point of the full spectrum (the paper: 63.52 vs 64.40), or
      within the seeds' spread;
    - less memory at 90% energy than at 100% (the paper: 25 vs 118 MB, 4.7x less);
    - accuracy falls at 10% energy below 50% and below the full spectrum (59.34, 40.00)."""
    by = {row["energy"]: row for row in rows}
    out = []

    def mean(e: float) -> float:
        return float(np.mean(by[e]["best_test_acc"]))

    def spread(e: float) -> float:
        return float(np.std(by[e]["best_test_acc"], ddof=1)) if len(by[e]["best_test_acc"]) > 1 else 0.0

    if 1.0 in by and 0.9 in by:
        gap = mean(1.0) - mean(0.9)
        ok = gap <= max(0.01, spread(1.0) + spread(0.9))
        out.append(
            (
                "accuracy kept at 90% energy",
                REPRODUCED if ok else NOT_REPRODUCED,
                f"best test accuracy {100 * mean(1.0):.2f} ± {100 * spread(1.0):.2f} at 100%, {100 * mean(0.9):.2f} "
                f"± {100 * spread(0.9):.2f} at 90% ({by[0.9]['seeds']} seeds; paper 64.40 and 63.52)",
            )
        )
        ratio = by[0.9]["saved_bytes_mean"] / by[1.0]["saved_bytes_mean"]
        out.append(
            (
                "less memory at 90% energy",
                REPRODUCED if ratio < 1 else NOT_REPRODUCED,
                f"bytes saved for backward per step, mean over epochs: {ratio:.2f}x of the full spectrum's "
                "(paper: 25 / 118 MB of GPU memory = 0.21x; our count is the tensors kept for backward)",
            )
        )
    if {1.0, 0.5, 0.1} <= by.keys():
        ok = mean(0.1) < mean(0.5) - spread(0.5) and mean(0.1) < mean(1.0) - spread(1.0)
        out.append(
            (
                "accuracy falls at 10% energy",
                REPRODUCED if ok else NOT_REPRODUCED,
                f"best test accuracy {100 * mean(0.5):.2f} at 50%, {100 * mean(0.1):.2f} at 10% (paper 59.34, 40.00)",
            )
        )
    return out


def heatmap(matrix: np.ndarray, labels: list[str], path: Path, title: str, axis: str = "setting") -> None:
    """Accuracy (fractions, shown in %) of models trained at each row's ``axis`` and tested at each column's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    image = ax.imshow(matrix, cmap="viridis")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{100 * matrix[i, j]:.1f}", ha="center", va="center", color="w", fontsize=9)
    ax.set_xticks(range(len(labels)), labels, rotation=20)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel(f"inference {axis}")
    ax.set_ylabel(f"training {axis}")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def inference_blocks(results: dict[str, Any], plots: Path) -> list[Block]:
    """Section: training vs inference setting, with a verdict per training setting."""
    settings, sets = results["settings"], results["sets"]
    blocks: list[Block] = [
        ("h2", "Training vs inference setting (paper: Figure 5, Figures 22-23)"),
        (
            "p",
            f"UCR sets drawn at random with seed {results['sets_seed']} from those of the 2015 archive on this "
            f"machine: {', '.join(results['planned_sets'])}. Each model is tested with its last epoch's weights at "
            f"every setting; {len(sets)} sets have every model finished. Per training setting, the inference settings "
            "are the treatments and the data sets the blocks (Friedman, then Nemenyi). Verdict rule: reproduced if "
            "inference at the training setting ranks first and Friedman rejects equality (p < 0.05).",
        ),
    ]
    if not sets:
        return [*blocks, ("p", "No finished runs.")]
    matrix = np.array([[[sets[s][tr][te] for te in settings] for tr in settings] for s in sorted(sets)]).mean(0)
    heatmap(matrix, settings, plots / "series-train-vs-inference.png", f"mean test accuracy % over {len(sets)} sets")
    blocks.append(("img", ("series-train-vs-inference.png", "mean over the sets")))
    if "FiftyWords" in sets:
        fifty = np.array([[sets["FiftyWords"][tr][te] for te in settings] for tr in settings])
        heatmap(fifty, settings, plots / "series-fiftywords-matrix.png", "FiftyWords test accuracy %")
        blocks.append(("img", ("series-fiftywords-matrix.png", "FiftyWords")))
    rows = []
    for trained in settings:
        test = results["tests"].get(trained)
        verdict, evidence = inference_verdict(test, trained)
        rows.append([trained, verdict, evidence])
        if test is not None:
            name = f"series-cd-{trained.replace(' ', '_')}.png"
            plot_critical_difference(FriedmanResult.from_dict(test), plots / name, f"trained at {trained}")
            blocks.append(("img", (name, f"inference settings of the model trained at {trained}")))
    blocks.append(("table", (["trained at", "verdict", "evidence"], rows)))
    seconds = results.get("training_seconds", {})
    if seconds:
        total = sum(seconds.values())
        top = sorted(seconds, key=lambda name: -seconds[name])[:5]
        shares = ", ".join(f"{name} {seconds[name] / 3600:.2f} h ({100 * seconds[name] / total:.0f}%)" for name in top)
        blocks.append(
            (
                "p",
                f"Training time of these runs, summed over epochs at 1 thread each: {total / 3600:.1f} h; the "
                f"largest shares: {shares}.",
            )
        )
    return blocks


def scatter_blocks(results: dict[str, Any], plots: Path) -> list[Block]:
    """Section: Figure 8 with its Wilcoxon test and verdict."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks: list[Block] = [("h2", "Full spectrum against 50% compression per UCR set (paper: Figure 8)")]
    sets = results["sets"]
    verdict, evidence = scatter_verdict(results)
    if sets:
        full = np.array([p["energy 1"] for p in sets.values()])
        half = np.array([p["rate 0.5"] for p in sets.values()])
        fig, ax = plt.subplots(figsize=(4.6, 4.6))
        ax.scatter(full, half, s=18)
        for offset, style in ((0, "k-"), (0.05, "k:"), (-0.05, "k:"), (0.1, "k--"), (-0.1, "k--")):
            ax.plot([0, 1], [offset, 1 + offset], style, lw=1)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="plain (energy 100%)", ylabel="rate 0.5")
        ax.set_title(f"best test accuracy, {len(sets)} UCR sets; dotted ±5, dashed ±10", fontsize=9)
        fig.tight_layout()
        fig.savefig(plots / "series-scatter.png", dpi=110)
        plt.close(fig)
        blocks.append(("img", ("series-scatter.png", "each point a data set, the same metric on both axes")))
    rule = " ".join((scatter_verdict.__doc__ or "").split(":", 1)[1].split())
    blocks.append(("p", f"**{verdict}**: {evidence}. Rule: {rule}"))
    return blocks


def energy_blocks(results: dict[str, Any], plots: Path) -> list[Block]:
    """Section: Table 3 beside the paper's numbers, with verdicts."""
    rows = [
        [
            f"{100 * r['energy']:g}%",
            f"{r['seeds']}",
            f"{100 * np.mean(r['best_test_acc']):.2f}",
            f"{PAPER_TABLE3[r['energy']][0]:.2f}" if r["energy"] in PAPER_TABLE3 else "-",
            f"{r['achieved_rate']:.3f}",
            f"{r['saved_bytes_mean'] / 2**20:.1f} / {r['saved_bytes_max'] / 2**20:.1f}",
            f"{PAPER_TABLE3[r['energy']][1]}" if r["energy"] in PAPER_TABLE3 else "-",
        ]
        for r in results["rows"]
    ]
    header = ["energy", "seeds", "best test acc %", "paper", "achieved rate", "saved MiB mean / max", "paper MB"]
    blocks: list[Block] = [("h2", "Energy preserved on FiftyWords (paper: Table 3)")]
    if not rows:
        return [*blocks, ("p", "No finished FiftyWords runs yet.")]
    blocks.append(("table", (header, rows)))
    verdicts = energy_verdicts(results["rows"])
    blocks.append(("table", (["claim", "verdict", "evidence"], [list(v) for v in verdicts])))
    return blocks


def series_blocks() -> dict[str, Any]:
    """The sections by experiment name, for the report."""
    return {"train_vs_inference": inference_blocks, "ucr_scatter": scatter_blocks, "energy_table": energy_blocks}
