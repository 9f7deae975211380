"""Friedman / Nemenyi against hand computation and Demšar's (2006) published critical difference."""

import dataclasses
import math

import matplotlib.image
import numpy as np
import pytest
import scipy.stats

from bandlimit.experiments.stats import friedman_nemenyi
from bandlimit.experiments.train_vs_inference import plot_inference_test


def test_friedman_statistic_and_ranks_computed_by_hand():
    # 4 data sets x 3 methods, no ties: method a is always best, c always worst but once.
    scores = {"a": [0.9, 0.8, 0.7, 0.95], "b": [0.8, 0.7, 0.6, 0.5], "c": [0.7, 0.6, 0.65, 0.6]}
    result = friedman_nemenyi(scores)
    # Ranks per data set: (1,2,3), (1,2,3), (1,3,2), (1,3,2) -> mean ranks 1, 2.5, 2.5.
    assert result.mean_ranks == (1.0, 2.5, 2.5)
    # chi2_F = 12 N / (k (k + 1)) * (sum R_j^2 - k (k + 1)^2 / 4) = 12*4/12 * (1 + 6.25 + 6.25 - 12) = 6.
    assert result.statistic == pytest.approx(6.0)
    assert result.p_value == pytest.approx(math.exp(-6.0 / 2))  # chi-square with 2 degrees of freedom
    # Nemenyi: z = |R_i - R_j| / sqrt(k (k + 1) / (6 N)); p = P(studentized range_k > z sqrt 2).
    se = math.sqrt(3 * 4 / (6 * 4))
    expected = scipy.stats.studentized_range.sf(1.5 / se * math.sqrt(2), 3, np.inf)
    assert result.nemenyi[0][1] == pytest.approx(expected, rel=1e-3)
    assert result.nemenyi[1][2] == pytest.approx(1.0)


def test_critical_difference_is_demsars():
    # Demšar (2006), section 3.2.4: k = 4 classifiers on N = 14 data sets, q_0.05 = 2.569, CD = 1.25.
    rng = np.random.default_rng(0)
    scores = {name: rng.random(14).tolist() for name in "abcd"}
    cd = friedman_nemenyi(scores).critical_difference
    assert cd == pytest.approx(2.569 * math.sqrt(4 * 5 / (6 * 14)), abs=1e-3) and round(cd, 2) == 1.25


def test_bad_scores_are_refused():
    with pytest.raises(ValueError, match=">= 3 methods"):
        friedman_nemenyi({"a": [1, 2], "b": [2, 1]})
    with pytest.raises(ValueError, match="same"):
        friedman_nemenyi({"a": [1, 2], "b": [2, 1], "c": [1]})


def test_critical_difference_diagram_is_drawn(tmp_path):
    scores = {"rate 0": [0.9, 0.8, 0.7, 0.6, 0.85], "rate 0.5": [0.88, 0.79, 0.72, 0.55, 0.8], "rate 0.9": [0.5] * 5}
    plot_inference_test(dataclasses.asdict(friedman_nemenyi(scores)), tmp_path / "cd.png", "average rank")
    image = matplotlib.image.imread(tmp_path / "cd.png")
    assert image.shape[0] > 50 and image.shape[1] > 500
