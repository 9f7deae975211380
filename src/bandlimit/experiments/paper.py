"""The experiments of the quick and full scales (accuracy, rate matrix, resources, robustness,
methods), each registered with :func:`.registry.register_experiment`.

Model selection: every run holds out ``validation`` of its training set, and the accuracy
reported first is the test accuracy at the epoch with the best validation accuracy
(``selected``); the best test accuracy over epochs (``best_on_test``, as the paper reports it)
and the last epoch's stand beside it, named.
"""

from __future__ import annotations

import functools
import json
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..bench.steps import run_steps
from ..data import load_dataset
from ..io import cached_json
from ..nn import BandLimitedConv1d
from ..report import reproduce as renderers
from ..report.measured import resource_blocks, robustness_blocks
from ..report.methods import methods_blocks
from ..train import TrainConfig, run_is_finished
from ..train.run import CHECKPOINT, RESULT, evaluate_checkpoint, load_metrics, load_trained
from . import series
from .compare import measure_task
from .plan import Scale, plan, variants
from .registry import register_experiment
from .runs import PlannedRun
from .spectra import kept_energy
from .training import train_all

__all__: list[str] = []  # registered, not imported by name

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
                # None without a validation split (the paper's protocol: the best test accuracy)
                "selected": _spread(selected)
                if None not in (selected := [r["selected_test_acc"] for r in results])
                else None,
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
                "selected": row["selected"]["mean"] if row["selected"] else None,
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


@register_experiment("resources", render=resource_blocks, required=("steps", "machine"), measured_once=True)
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
    "robustness", render=robustness_blocks, required=("tasks", "sigmas", "epsilons"), measured_once=True
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
    return {
        "tasks": tasks,
        "sigmas": list(scale.sigmas),
        "epsilons": list(scale.epsilons),
        "attack_samples": scale.attack_samples,
        "attack_steps": scale.attack_steps,
    }


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
