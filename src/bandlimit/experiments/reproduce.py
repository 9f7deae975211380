"""The paper's findings at CPU scale in one command: ``bandlimit reproduce --scale quick|full``.

Each experiment is a list of training runs (:func:`.plan.plan`, with the scales) and a function that turns the
finished runs into ``<out>/<experiment>/results.json`` (each registered, :mod:`.registry`). Runs live in
their own folders and resume where they stopped; finished runs are skipped, so a killed
``reproduce`` continues when started again; the measuring experiments (resources, robustness,
methods) run once, until their ``results.json`` is deleted. A folder is reused only by the same
settings: every run's saved config, and the scale's settings in ``scale.json``, are compared
before anything runs (``force`` trains and measures again what differs). ``bandlimit report``
draws the results.

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
from pathlib import Path
from typing import Any

import torch

from ..bench.steps import run_steps
from ..data import load_dataset
from ..errors import ConfigError
from ..io import atomic_write_text, cached_json
from ..nn import BandLimitedConv1d
from ..report import reproduce as renderers
from ..report.methods import methods_blocks
from ..train import TrainConfig, check_out_dir, run_is_finished
from ..train.run import CHECKPOINT, RESULT, evaluate_checkpoint, load_metrics, load_trained
from . import series
from .compare import measure_task
from .plan import PlannedRun, Scale, estimate_seconds, plan, resource_cases, variants
from .registry import experiments, register_experiment
from .scales import SCALES
from .series import SeriesScale
from .series_report import series_blocks
from .spectra import kept_energy
from .training import check_folders, train_all, train_parallel

__all__ = [
    "SCALES",
    "PlannedRun",
    "Scale",
    "estimate_seconds",
    "plan",
    "reproduce",
    "resource_cases",
]

Log = Callable[[str], None]


def _spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "mean": statistics.mean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


@register_experiment("accuracy", render=renderers.accuracy_blocks, required=("tasks",))
def _accuracy(scale: Scale, out: Path, log: Log) -> dict[str, Any]:
    """Accuracy against the achieved rate, fixed rates and energy-based bands, over seeds."""
    runs = [r for r in plan(scale) if r.experiment == "accuracy"]
    missing = train_all(runs, out, log)
    tasks: dict[str, Any] = {}
    for task in scale.tasks:
        rows = []
        for variant, _ in variants(scale):
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


@register_experiment("rate_matrix", render=renderers.matrix_blocks, required=("rates", "sets"))
def _rate_matrix(scale: Scale, out: Path, log: Log) -> dict[str, Any]:
    """Models trained at each of ``matrix_rates`` and tested at each, on every UCR set; the Friedman
    test over the sets of the models tested at their training rate."""
    runs = [r for r in plan(scale) if r.experiment == "rate_matrix"]
    missing = train_all(runs, out, log)
    sets: dict[str, Any] = {}
    for run in runs:
        folder = out / run.folder
        if not run_is_finished(folder):
            continue
        # Last-epoch weights tested at every rate of the matrix; cached with the result they test.
        test = functools.partial(evaluate_checkpoint, folder / CHECKPOINT, list(scale.matrix_rates))
        rows = cached_json(folder / "test_rates.json", folder / RESULT, list(scale.matrix_rates), test)
        tested = {f"{row['rate']:g}": row["test_acc"] for row in rows}
        sets.setdefault(run.task, {})[run.variant.split()[1]] = tested
    rates = [f"{r:g}" for r in scale.matrix_rates]
    complete = {name: m for name, m in sets.items() if all(r in m for r in rates)}
    result: dict[str, Any] = {"rates": rates, "sets": complete, "missing": sorted(set(missing.values()))}
    if len(complete) >= 2 and len(rates) >= 3:
        # Figures 22-23: per training rate, the test rates are the treatments and the sets the blocks.
        result["tests"] = series.inference_tests(complete)
    return result


@register_experiment(
    "resources", render=renderers.resource_blocks, required=("steps", "machine"), measured_once=True
)
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


@register_experiment(
    "robustness", render=renderers.robustness_blocks, required=("tasks", "sigmas", "epsilons"), measured_once=True
)
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


@register_experiment("methods", render=methods_blocks, required=("tasks", "seeds"), measured_once=True)
def _methods(scale: Scale, out: Path, log: Log) -> dict[str, Any]:
    """Band-limiting beside pruning, SSL and bf16 (:mod:`.compare`): the plain and rate-0.5
    models are the accuracy experiment's (same configs), the others trained here."""
    runs = [r for r in plan(scale) if r.experiment == "methods"]
    missing = train_all(runs, out, log)
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


def _series(
    measure: Callable[[SeriesScale, Path, Log], dict[str, Any]],
) -> Callable[[Scale, Path, Log], dict[str, Any]]:
    """A time-series protocol of :mod:`.series` as an experiment: train its runs, then measure."""

    def experiment(scale: Scale, out: Path, log: Log) -> dict[str, Any]:
        if scale.series is None:
            return {"missing": f"scale {scale.name} has no time-series runs"}
        train_all([PlannedRun(*run) for run in series.runs_read(measure.__name__, scale.series)], out, log)
        return measure(scale.series, out, log)

    return experiment


_SERIES_REQUIRED = {
    "train_vs_inference": ("settings", "sets", "tests", "sets_seed", "planned_sets"),
    "energy_table": ("rows",),
    "ucr_scatter": ("sets",),
}
for _name, _render in series_blocks().items():
    register_experiment(_name, render=_render, required=_SERIES_REQUIRED[_name])(_series(getattr(series, _name)))


def reproduce(
    scale: Scale,
    out: str | Path,
    only: Sequence[str] | None = None,
    *,
    force: bool = False,
    workers: int = 1,
    log: Log = print,
) -> Path:
    """Run the experiments (all, or ``only`` these) into ``out`` and write their results files.

    Args:
        force: train again the run folders that hold runs of other settings, and measure again
            when the scale's settings differ from those ``out`` was measured with; without it
            both are refused before anything runs.
        workers: train this many runs at a time, each in its own process at 1 thread (runs
            that distil from a teacher train afterwards, in order).

    Returns:
        ``out``.
    """
    out = check_out_dir(out)
    unknown = sorted(set(only or ()) - set(scale.chosen_experiments()))
    if unknown:
        known = list(scale.chosen_experiments())
        raise ConfigError(f"scale {scale.name} has no experiments {unknown}; its experiments: {known}")
    selected = [name for name in scale.chosen_experiments() if not only or name in only]
    settings = json.loads(json.dumps(dataclasses.asdict(scale), default=str))
    saved = _read_json(out / "scale.json")
    if saved.get("name", scale.name) != scale.name and not force:
        raise ConfigError(
            f"{out} holds a reproduction at scale {saved.get('name')!r}, not {scale.name!r}: choose another --out"
        )
    # A measurement is reused only if it was made with these settings (written beside it).
    specs = experiments()
    measured = [name for name in selected if specs[name].measured_once and (out / name / "results.json").exists()]
    stale = {name: _changed(_read_json(out / name / "settings.json"), settings) for name in measured}
    stale = {name: keys for name, keys in stale.items() if keys}
    if stale and not force:
        name, keys = next(iter(stale.items()))
        raise ConfigError(
            f"{out / name} was measured with other settings of the scale ({', '.join(keys)}): --force measures "
            f"{', '.join(stale)} again, or choose another --out"
        )
    runs = [r for r in plan(scale) if r.experiment in selected]
    check_folders(runs, out, force, log)
    out.mkdir(parents=True, exist_ok=True)
    record = {"name": scale.name, "notes": list(scale.notes), "experiments": list(scale.chosen_experiments())}
    atomic_write_text(out / "scale.json", json.dumps(record, indent=1))
    if workers > 1:
        train_parallel([r for r in runs if r.config.teacher is None], out, workers, log, after=_test_series)
    for name in selected:
        if name in measured and name not in stale:
            log(f"== {name}: measured already (delete {out / name / 'results.json'} to measure again)")
            continue
        log(f"== {name}")
        torch.manual_seed(0)
        results = specs[name].run(scale, out, log)
        (out / name).mkdir(exist_ok=True)
        atomic_write_text(out / name / "results.json", json.dumps(results, indent=1, sort_keys=True))
        atomic_write_text(out / name / "settings.json", json.dumps(settings, indent=1, sort_keys=True))
    return out


def _test_series(run: PlannedRun, folder: Path) -> None:
    """A matrix run tested at every setting as soon as it is trained (its cache is committed)."""
    if run.experiment == "train_vs_inference":
        series.tested(folder)


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; empty if the file is absent or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _changed(saved: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """The scale settings that differ from ``saved`` (none if nothing was saved: older folders)."""
    return [key for key in settings if saved and saved.get(key) != settings[key]]
