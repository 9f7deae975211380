"""Comparing methods over many data sets: the Friedman test, the Nemenyi post-hoc test and the
critical-difference diagram (Demšar, "Statistical Comparisons of Classifiers over Multiple Data
Sets", JMLR 2006), computed with SciPy and scikit-posthocs."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats

__all__ = ["FriedmanResult", "friedman_nemenyi"]


@dataclass(frozen=True)
class FriedmanResult:
    """The methods' comparison over ``datasets`` data sets.

    Attributes:
        methods: the methods' names, in the order of the other fields.
        mean_ranks: average rank per method over the data sets (1 = best; ties share ranks).
        statistic, p_value: Friedman's chi-square statistic and its p-value.
        nemenyi: ``(k, k)`` p-values of the Nemenyi test for each pair of methods.
        critical_difference: the difference of average ranks that is significant at ``alpha``.
    """

    methods: tuple[str, ...]
    datasets: int
    mean_ranks: tuple[float, ...]
    statistic: float
    p_value: float
    nemenyi: tuple[tuple[float, ...], ...]
    critical_difference: float
    alpha: float

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FriedmanResult:
        """Rebuild from ``dataclasses.asdict`` output read back from JSON (lists for tuples)."""
        return cls(
            methods=tuple(data["methods"]),
            datasets=int(data["datasets"]),
            mean_ranks=tuple(data["mean_ranks"]),
            statistic=float(data["statistic"]),
            p_value=float(data["p_value"]),
            nemenyi=tuple(tuple(row) for row in data["nemenyi"]),
            critical_difference=float(data["critical_difference"]),
            alpha=float(data["alpha"]),
        )


def friedman_nemenyi(scores: Mapping[str, Sequence[float]], alpha: float = 0.05) -> FriedmanResult:
    """Friedman's test and Nemenyi's post-hoc test of methods' scores (higher is better).

    Args:
        scores: per method, its score (e.g. test accuracy) on each data set, the data sets in
            the same order for every method; at least 3 methods and 2 data sets.
        alpha: the significance level of the critical difference.
    """
    import scikit_posthocs

    methods = tuple(scores)
    sizes = sorted({len(v) for v in scores.values()})
    if len(methods) < 3 or len(sizes) != 1 or sizes[0] < 2:
        raise ValueError(f"scores must hold >= 3 methods with the same >= 2 data sets each, got sizes {sizes}")
    table = np.array([list(map(float, scores[m])) for m in methods]).T  # (datasets, methods)
    n, k = table.shape
    ranks = scipy.stats.rankdata(-table, axis=1)  # rank 1: the best score of a data set
    if (table == table[:, :1]).all():  # every data set ties every method: no evidence of a difference
        statistic, p_value = 0.0, 1.0
    else:
        statistic, p_value = scipy.stats.friedmanchisquare(*table.T)
    nemenyi = scikit_posthocs.posthoc_nemenyi_friedman(table).to_numpy()
    # CD = q_alpha sqrt(k (k + 1) / (6 N)), q_alpha the studentized range quantile over sqrt(2).
    q_alpha = scipy.stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return FriedmanResult(
        methods=methods,
        datasets=n,
        mean_ranks=tuple(float(r) for r in ranks.mean(0)),
        statistic=float(statistic),
        p_value=float(p_value),
        nemenyi=tuple(tuple(float(p) for p in row) for row in nemenyi),
        critical_difference=float(q_alpha * math.sqrt(k * (k + 1) / (6 * n))),
        alpha=alpha,
    )
