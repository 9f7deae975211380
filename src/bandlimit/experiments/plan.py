"""What ``bandlimit reproduce`` runs: the scales (quick, full), and each experiment's training
runs as a plan with a time estimate (``--dry-run``). The experiments themselves are in
:mod:`.reproduce`."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..bench.steps import StepCase
from ..compress import BandLimitConfig, CompressionConfig, summary
from ..data import DatasetNotFoundError, list_datasets, load_dataset
from ..models import create_model
from ..train import TrainConfig
from ..train.run import CHECKPOINT
from .compare import method_variants
from .runs import PlannedRun, unique_runs
from .series import SERIES_EXPERIMENTS, SeriesScale, runs_read, series_runs

__all__ = [
    "PlannedRun",
    "Scale",
    "estimate_seconds",
    "plan",
    "resource_cases",
    "slug",
    "unique_runs",
    "variants",
]


@dataclass(frozen=True)
class Scale:
    """How large the reproduction is.

    Attributes:
        name: ``quick``, ``full`` or a custom name (tests use a tiny one).
        seeds: seeds per configuration of the accuracy experiment (mean and spread over them).
        seeds_for: variants (e.g. ``rate 0.5``) that get this many seeds instead of ``seeds``.
        rates: fixed compression rates of the accuracy experiment (besides the plain model).
        energies: energies of the energy-based rows, each run per batch (dynamic) and calibrated.
        calibrate: batches a calibrated run measures its bands on.
        tasks: the accuracy experiment's base runs by name (their ``compression`` is replaced).
        task_variants: tasks that run only these variants (by name, e.g. ``plain``); the others
            run every variant.
        ucr: the base run of the train-rate x test-rate experiment (its ``data`` is replaced).
        ucr_sets: the UCR data sets of that experiment; empty: every one found.
        matrix_rates: train and test rates of that experiment, and of ``image_matrix``.
        matrix_tasks: the tasks whose accuracy-experiment models ``image_matrix`` tests at every
            rate of ``matrix_rates`` (the rates they are trained at must be among ``rates``).
        steps: the resources experiment's whole training steps (model, batch, rates).
        robust_tasks: the tasks whose seed-0 models (plain and each rate of ``robust_rates``)
            the robustness experiment tests; attacks run on 2D tasks only.
        robust_rates: the fixed rates of those models (a subset of ``rates``); empty: all of them.
        compare_tasks: the tasks on which band-limiting is compared with pruning, SSL and bf16
            (:mod:`.compare`), with ``compare_seeds`` seeds, pruning at ``prune_amounts``, SSL's
            group lasso at ``ssl_strength`` and its groups zeroed below ``ssl_threshold`` times
            their layer's median (RMS).
        sigmas: noise levels (in the standardized data's standard deviations).
        epsilons: the fixed-epsilon attacks' budgets (Linf, or L2 for the uniform noise).
        attack_samples, attack_steps: test samples attacked, and the attacks' iterations.
        gflops: effective training throughput assumed by the time estimate, GFLOP/s.
        series: the time-series protocols' runs (:mod:`.series`), or None.
        experiments: the experiments this scale runs (empty: those before the series protocols).
    """

    name: str
    seeds: int
    rates: tuple[float, ...]
    energies: tuple[float, ...]
    calibrate: int
    tasks: dict[str, TrainConfig]
    ucr: TrainConfig
    ucr_sets: tuple[str, ...]
    matrix_rates: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)
    matrix_tasks: tuple[str, ...] = ()
    seeds_for: dict[str, int] = field(default_factory=dict)
    task_variants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    steps: tuple[StepCase, ...] = ()
    robust_tasks: tuple[str, ...] = ()
    robust_rates: tuple[float, ...] = ()
    compare_tasks: tuple[str, ...] = ()
    compare_seeds: int = 1
    prune_amounts: tuple[float, ...] = (0.5, 0.8, 0.95)
    ssl_strength: float = 1e-4
    ssl_threshold: float = 0.1
    sigmas: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)
    epsilons: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)
    attack_samples: int = 64
    attack_steps: int = 10
    gflops: float = 20.0
    notes: tuple[str, ...] = field(default=())
    series: SeriesScale | None = None
    experiments: tuple[str, ...] = ()

    def chosen_experiments(self) -> tuple[str, ...]:
        return self.experiments or LEGACY_EXPERIMENTS


LEGACY_EXPERIMENTS = ("accuracy", "rate_matrix", "resources", "robustness", "methods")
"""The experiments of a scale that names none (those written before the time-series protocols)."""


def resource_cases(
    model: str, batch: int, rates: Sequence[float], model_kwargs: tuple[tuple[str, Any], ...] = ()
) -> tuple[StepCase, ...]:
    """The resources experiment's steps of one model: plain and bf16, band-limited at each rate
    with and without spectral checkpoints, bf16 combined with rate 0.5, and the paper's
    reference, the full-spectrum FFT model (rate 0 on the spectral path)."""

    def case(variant: str, rate: float = 0.0, precision: str = "fp32", path: str = "auto") -> StepCase:
        return StepCase(model, batch, variant, rate, precision=precision, model_kwargs=model_kwargs, path=path)

    cases = [case("nn.Conv"), case("nn.Conv", precision="bf16"), case("bandlimit", 0.0, path="spectral")]
    cases += [case(v, r) for r in rates for v in ("bandlimit", "bandlimit+checkpoint")]
    return (*cases, case("bandlimit", 0.5, "bf16"))


def variants(scale: Scale) -> list[tuple[str, tuple[CompressionConfig, ...]]]:
    out: list[tuple[str, tuple[CompressionConfig, ...]]] = [("plain", ())]
    out += [(f"rate {r:g}", (BandLimitConfig(rate=r),)) for r in scale.rates]
    for e in scale.energies:  # rate 0: the energy alone chooses the bands
        out.append((f"energy {e:g} dynamic", (BandLimitConfig(rate=0.0, energy=e),)))
        out.append((f"energy {e:g} calibrated", (BandLimitConfig(rate=0.0, energy=e, calibrate=scale.calibrate),)))
    return out


def slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in text)


def _ucr_sets(scale: Scale) -> list[str]:
    if scale.ucr_sets:
        return [f"ucr:{name}" for name in scale.ucr_sets]
    return [name for name in list_datasets() if name.startswith("ucr:")]


def plan(scale: Scale) -> list[PlannedRun]:
    """Every training run of every experiment, in the order :func:`reproduce` trains them.

    A run whose config equals one planned before it shares that run's folder (the accuracy
    experiment's FiftyWords runs at the standard scale are the time-series protocols' runs)."""
    runs = series_runs(scale.series) if scale.series is not None else []
    for task, base in scale.tasks.items():
        for variant, compression in variants(scale):
            if variant not in scale.task_variants.get(task, (variant,)):
                continue
            for seed in range(scale.seeds_for.get(variant, scale.seeds)):
                folder = f"accuracy/{slug(task)}/{slug(variant)}-s{seed}"
                config = base.with_(compression=compression, seed=seed)
                runs.append(PlannedRun("accuracy", folder, config, task, variant, seed))
    for task in scale.compare_tasks:
        for variant, compression, distilled in method_variants(scale.prune_amounts, scale.ssl_strength):
            for seed in range(scale.compare_seeds):
                folder = f"methods/{slug(task)}/{slug(variant)}-s{seed}"
                config = scale.tasks[task].with_(compression=compression, seed=seed)
                if distilled:  # from the accuracy experiment's plain model, relative to the output folder
                    config = config.with_(teacher=f"accuracy/{slug(task)}/plain-s{seed}/{CHECKPOINT}")
                runs.append(PlannedRun("methods", folder, config, task, variant, seed))
    for data in _ucr_sets(scale):
        for rate in scale.matrix_rates:
            folder = f"rate_matrix/{slug(data)}/rate{rate:g}"
            config = scale.ucr.with_(data=data, compression=(BandLimitConfig(rate=rate),))
            runs.append(PlannedRun("rate_matrix", folder, config, data, f"rate {rate:g}", scale.ucr.seed))
    chosen = set(scale.chosen_experiments())
    # A time-series protocol also reads runs that another one plans (ucr_scatter: the matrix's).
    series = scale.series
    read = {r.folder for name in chosen & set(SERIES_EXPERIMENTS) if series for r in runs_read(name, series)}
    return _shared([r for r in runs if r.experiment in chosen or r.folder in read])


def _shared(runs: Sequence[PlannedRun]) -> list[PlannedRun]:
    """``runs`` with each run whose config equals an earlier one's moved to that run's folder."""
    first: dict[str, str] = {}
    out = []
    for run in runs:
        key = json.dumps(run.config.to_dict(), sort_keys=True, default=str)
        out.append(dataclasses.replace(run, folder=first.setdefault(key, run.folder)))
    return out


# Shapes and training-set sizes for the estimate, where the data may be absent (CIFAR).
_KNOWN_DATA: dict[str, tuple[tuple[int, ...], int, int]] = {
    "cifar10": ((3, 32, 32), 10, 50000),
    "cifar100": ((3, 32, 32), 100, 50000),
}


def estimate_seconds(run: PlannedRun, gflops: float) -> float | None:
    """A rough time of ``run``: 3x the forward FLOPs of its convolutions per sample (forward and
    two gradients), times samples and epochs, at ``gflops``; None if its data cannot be sized."""
    config = run.config
    kwargs = json.dumps(config.model_kwargs)
    sized = _flops_and_samples(config.model, config.data, config.data_root, config.limit, kwargs)
    if sized is None:
        return None
    flops, samples = sized
    return 3 * flops * samples * (1 - config.validation) * config.epochs / (gflops * 1e9)


@functools.cache
def _flops_and_samples(
    model: str, data: str, root: str | None, limit: int | None, model_kwargs: str
) -> tuple[float, int] | None:
    """Forward FLOPs per sample of the model's convolutions, and the training-set size."""
    if data in _KNOWN_DATA:
        shape, classes, samples = _KNOWN_DATA[data]
    else:
        try:
            train_set, _, info = load_dataset(data, root=root, limit=limit)
        except DatasetNotFoundError:
            return None
        shape, classes, samples = (info.in_channels, *info.input_shape), info.num_classes, len(train_set)
    network = create_model(model, shape[0], classes, **json.loads(model_kwargs))
    return sum(row.flops for row in summary(network, (2, *shape))), samples
