"""The report's table of findings: one verdict per finding of the paper (PAPER.md), with the
statistic it rests on and the paper's number beside ours.

The time-series verdicts live with their experiments (:mod:`.train_vs_inference`,
:mod:`.ucr_scatter`, :mod:`.energy_table`); this module adds those of the accuracy sweep
(Table 1, Figure 3), robustness (Figure 6) and resources (Figure 7), and collects all of them.
Every rule is stated in the docstring of the function applying it; the report repeats it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.stats

from .accuracy import Accuracy
from .attacks import CONVERGED
from .energy_table import EnergyTable, energy_verdicts
from .image_matrix import ImageMatrix, matrix_verdict
from .paper_numbers import NOT_REPRODUCED, NOT_TESTABLE, REPRODUCED, Verdict
from .registry import ExperimentResult
from .resources import Resources, resource_verdicts
from .robustness import Robustness
from .train_vs_inference import TrainVsInference, inference_verdict
from .ucr_scatter import UcrScatter, scatter_verdict

__all__ = ["accuracy_verdicts", "attack_verdicts", "findings", "noise_verdict"]

GRACEFUL_POINTS = 5.0
"""Table 1's largest loss at 50% is 4.12 points (DenseNet-121, CIFAR-100): a loss within 5 points
at every rate up to 0.5 is a graceful degradation."""


def _mean(row: dict[str, Any]) -> float:
    return 100 * float(row["best_on_test"]["mean"])


def _std(row: dict[str, Any]) -> float:
    return 100 * float(row["best_on_test"]["std"])


def _fixed_curve(rows: Sequence[dict[str, Any]]) -> list[tuple[float, dict[str, Any]]]:
    """The plain model (rate 0) and the fixed-rate rows, by rate."""
    curve = [(0.0, r) for r in rows if r["baseline"]]
    curve += [(float(r["variant"].split()[1]), r) for r in rows if r["variant"].startswith("rate ")]
    return sorted(curve, key=lambda point: point[0])


def accuracy_verdicts(task: str, rows: Sequence[dict[str, Any]]) -> list[Verdict]:
    """Table 1 and Figure 3 on one task of the accuracy experiment (best test accuracy, as the
    paper reports it; mean and standard deviation over seeds):

    - graceful degradation: every fixed rate up to 0.5 within :data:`GRACEFUL_POINTS` of the plain model;
    - fixed beats energy: at the achieved rate of each energy row, the fixed-rate curve (linear
      between the swept rates) is more accurate than the energy row by more than the two
      neighbouring rows' and the energy row's standard deviations together (at least 1 point);
      not testable where the energy row compresses more than the sweep reaches.
    """
    curve = _fixed_curve(rows)
    if len(curve) < 2 or curve[0][0] != 0.0:
        return [
            (f"{task}: accuracy degrades gracefully with the fixed rate", NOT_TESTABLE, "the sweep is not finished")
        ]
    plain = curve[0][1]
    points = ", ".join(
        f"{rate:g}: {_mean(r):.2f}" + (f" ± {_std(r):.2f}" if r["seeds"] > 1 else "") for rate, r in curve
    )
    low = [(rate, r) for rate, r in curve[1:] if rate <= 0.5]
    worst = max((_mean(plain) - _mean(r) for _, r in low), default=0.0)
    graceful = bool(low) and worst <= GRACEFUL_POINTS
    out: list[Verdict] = [
        (
            f"{task}: accuracy degrades gracefully with the fixed rate (Table 1)",
            REPRODUCED if graceful else (NOT_REPRODUCED if low else NOT_TESTABLE),
            f"best test accuracy % by rate {points}; largest loss up to rate 0.5: {worst:.2f} points (rule: within "
            f"{GRACEFUL_POINTS:g}; paper at 50%: -1.37 ResNet-18, -4.12 DenseNet-121)",
        )
    ]
    rates = [rate for rate, _ in curve]
    for row in (r for r in rows if r["variant"].startswith("energy ")):
        achieved = float(row["achieved_rate"]["mean"])
        claim = f"{task}: fixed rates beat {row['variant']} at its compression (Figure 3)"
        if achieved > rates[-1]:
            out.append((claim, NOT_TESTABLE, f"achieved rate {achieved:.3f} beyond the sweep's {rates[-1]:g}"))
            continue
        fixed = float(np.interp(achieved, rates, [_mean(r) for _, r in curve]))
        upper = min(i for i, rate in enumerate(rates) if rate >= achieved)
        near = [curve[max(upper - 1, 0)][1], curve[upper][1]]
        margin = max(1.0, _std(row) + max(_std(r) for r in near))
        gap = fixed - _mean(row)
        out.append(
            (
                claim,
                REPRODUCED if gap > margin else NOT_REPRODUCED,
                f"{row['variant']}: {_mean(row):.2f} ± {_std(row):.2f} at achieved rate {achieved:.3f} "
                f"({row['seeds']} seeds); fixed rates there {fixed:.2f}; difference {gap:+.2f} points against a "
                f"noise margin of {margin:.2f} (paper: 92.32 fixed vs 83.37 energy at 90%)",
            )
        )
    return out


def _variant_rate(variant: str) -> float:
    return 0.0 if variant == "plain" else float(variant.split()[1])


def noise_verdict(task: str, models: dict[str, Any], sigmas: Sequence[float]) -> Verdict:
    """Figure 6 (Gaussian noise): the mean accuracy over the noise levels above 0 rises with the
    rate (plain < each band-limited model in order of rate), and the most compressed model keeps
    at least 2 points more than the plain one. One seed per model: differences of a point or two
    are within what another seed could change."""
    claim = f"{task}: band-limited models keep more accuracy under Gaussian noise (Figure 6)"
    ordered = sorted(models, key=_variant_rate)
    if len(ordered) < 2 or ordered[0] != "plain":
        return claim, NOT_TESTABLE, "the plain and band-limited models are not all tested"
    noisy = [i for i, s in enumerate(sigmas) if s > 0]
    kept = [100 * float(np.mean([models[v]["noise"]["gaussian"][i] for i in noisy])) for v in ordered]
    rising = all(b > a for a, b in zip(kept, kept[1:]))
    holds = rising and kept[-1] - kept[0] >= 2.0
    evidence = ", ".join(f"{v} {k:.1f}" for v, k in zip(ordered, kept))
    return (
        claim,
        REPRODUCED if holds else NOT_REPRODUCED,
        f"mean accuracy % over sigma {sigmas[noisy[0]]:g}-{sigmas[-1]:g}: {evidence} (one seed)",
    )


# foolbox attacks by the paper's kinds: decision-based and score-based against gradient-based.
_NON_GRADIENT = ("boundary (L2, decision-based)", "additive uniform noise (L2)")
_GRADIENT = ("Carlini-Wagner (L2)",)


def paired_sizes(plain: Sequence[float | None], limited: Sequence[float | None]) -> tuple[int, int, float]:
    """Sample by sample, on the samples both models classify correctly: how often the
    band-limited model needs the larger perturbation (``wins``) and the smaller (``losses``;
    ties left out), and the one-sided sign test's p-value of "larger more often" (SciPy)."""
    pairs = [(p, b) for p, b in zip(plain, limited) if p is not None and b is not None]
    wins, losses = sum(b > p for p, b in pairs), sum(b < p for p, b in pairs)
    p_value = (
        float(scipy.stats.binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue) if wins + losses else 1.0
    )
    return wins, losses, p_value


def _unsettled(result: Mapping[str, Any]) -> bool:
    """The attack's median moved by more than :data:`.attacks.CONVERGED` in its budget's second half."""
    half, whole = result.get("median_size_half_budget"), result["median_size"]
    return half is not None and not (math.isfinite(half) and abs(whole - half) <= CONVERGED * half)


def attack_verdicts(task: str, models: dict[str, Any]) -> list[Verdict]:
    """Section 4.4, sample by sample as the paper counts it (better than full spectra in about 70%
    of cases for additive uniform noise, 99% for pixel perturbations): each band-limited model
    needs a larger perturbation than the plain one on significantly more than half of the
    samples (one-sided sign test, p < 0.05) under every decision- and score-based attack, and
    on no significant majority under Carlini-Wagner. An attack whose median moved by more than
    10% in its budget's second half has not converged: *not testable at this scale*. Results
    without per-sample sizes (before 2026-12-03) compare the medians (Carlini-Wagner's with a
    25% margin)."""
    attacked = {v: m["attacks"] for v, m in models.items() if "attacks" in m}
    if "plain" not in attacked or len(attacked) < 2:
        return []
    limited = [v for v in attacked if v != "plain"]
    out = []
    for names, claim, more in (
        (_NON_GRADIENT, "more robust to decision- and score-based attacks", True),
        (_GRADIENT, "not more robust to gradient-based attacks (Carlini-Wagner)", False),
    ):
        for name in names:
            results = {v: attacked[v][name] for v in attacked}
            if any(r["median_size"] is None for r in results.values()):
                continue
            plain = results["plain"]
            parts, larger = [], []
            for v in limited:
                if "sizes" in plain and "sizes" in results[v]:
                    wins, losses, p = paired_sizes(plain["sizes"], results[v]["sizes"])
                    larger.append(wins > losses and p < 0.05)
                    parts.append(f"{v} larger on {wins} and smaller on {losses} samples (sign test p = {p:.2g})")
                else:
                    # as before per-sample sizes: medians, Carlini-Wagner's with a 25% margin
                    larger.append(results[v]["median_size"] > plain["median_size"] * (1.0 if more else 1.25))
            medians = ", ".join(f"{v} {r['median_size']:.3g}" for v, r in results.items())
            evidence = f"{name}: {'; '.join(parts) + '; ' if parts else ''}median size {medians}"
            unsettled = [v for v, r in results.items() if _unsettled(r)]
            if unsettled:
                verdict = NOT_TESTABLE
                moved = f"median moved > {CONVERGED:.0%} in the budget's second half"
                evidence += f"; not converged for {', '.join(unsettled)} ({moved})"
            else:
                verdict = REPRODUCED if (all(larger) if more else not any(larger)) else NOT_REPRODUCED
            out.append((f"{task}: band-limited models are {claim}", verdict, evidence))
    return out


_ABSENT = "not among this scale's experiments"
PENDING = "pending"
"""The verdict of a finding whose experiment the scale runs but has not finished (an interim report)."""


def findings(results: Mapping[str, ExperimentResult], planned: Sequence[str] = ()) -> list[list[str]]:
    """``[finding, verdict, evidence]`` for every finding of PAPER.md this report can speak to;
    ``planned``: the scale's experiments (those without results are not run yet)."""
    rows = []
    matrix = results.get("train_vs_inference")
    tests = matrix.tests if isinstance(matrix, TrainVsInference) else {}
    for trained, figure in (("energy 0.9", "Figure 22"), ("energy 1", "Figure 23")):
        verdict, evidence = inference_verdict(tests.get(trained), trained)
        rows.append([f"{figure}: a model trained at {trained} is best tested at {trained}", verdict, evidence])
    for trained in ("rate 0.5", "rate 0.85"):
        verdict, evidence = inference_verdict(tests.get(trained), trained)
        rows.append([f"Figure 5: a model trained at {trained} is best tested at {trained}", verdict, evidence])
    scatter = results.get("ucr_scatter")
    if isinstance(scatter, UcrScatter):
        rows.append(["Figure 8: accuracy is preserved at 50% compression", *scatter_verdict(scatter)])
    table = results.get("energy_table")
    for claim, verdict, evidence in energy_verdicts(table.rows if isinstance(table, EnergyTable) else []):
        rows.append([f"Table 3: {claim}", verdict, evidence])
    verdicts: list[Verdict] = []
    accuracy = results.get("accuracy")
    if isinstance(accuracy, Accuracy):
        for task, entry in accuracy.tasks.items():
            verdicts += accuracy_verdicts(task, entry.get("rows", []))
    robustness = results.get("robustness")
    if isinstance(robustness, Robustness):
        for task, entry in robustness.tasks.items():
            if "models" in entry:
                verdicts.append(noise_verdict(task, entry["models"], robustness.sigmas))
                verdicts += attack_verdicts(task, entry["models"])
    images = results.get("image_matrix")
    if isinstance(images, ImageMatrix):
        for task, by_rate in images.tasks.items():
            claim = f"{task}: a model is best tested at its training rate (Figure 5)"
            verdicts.append((claim, *matrix_verdict(by_rate)))
    resources = results.get("resources")
    if isinstance(resources, Resources):
        verdicts += resource_verdicts(resources.steps)
    rows += [list(v) for v in verdicts]
    absent = {
        "accuracy": "Table 1 / Figure 3: accuracy against the fixed rate, fixed against energy",
        "image_matrix": "Figure 5 (images): a model is best tested at its training rate",
        "robustness": "Figure 6: band-limited models keep more accuracy under noise",
        "resources": "Table 2 / Figure 7: memory and time fall with the rate",
    }
    for name, finding in absent.items():
        if name in planned and name not in results:  # an interim report
            rows.append([finding, PENDING, f"`{name}` has not run yet"])
        elif name not in planned and name != "image_matrix":
            rows.append([finding, NOT_TESTABLE, _ABSENT])
    return rows
