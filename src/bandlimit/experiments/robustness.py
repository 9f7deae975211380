"""Robustness (PAPER.md: Figure 6, Section 4.4): accuracy under Gaussian and uniform noise, and
adversarial attacks by kind (gradient-, score- and decision-based), on the seed-0 models of the
accuracy experiment; the measurements are in :mod:`.attacks`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..report.render import plt as _plt
from ..train import run_is_finished
from ..train.run import CHECKPOINT, load_trained
from . import attacks
from .plan import Scale, plan
from .registry import Block, ExperimentResult, register_experiment
from .training import Log

__all__ = ["Robustness"]


@dataclass
class Robustness(ExperimentResult):
    """``tasks`` (task -> ``models`` (variant -> ``achieved_rate``, ``noise``, ``attacks``) and
    ``recovery``, or ``missing``), the noise levels ``sigmas``, the fixed-budget attacks'
    ``epsilons``, and the attacks' samples and steps (None in results of before 2026-12-02)."""

    tasks: dict[str, dict[str, Any]]
    sigmas: list[float]
    epsilons: list[float]
    attack_samples: int | None = None
    attack_steps: int | None = None

    def blocks(self, plots: Path) -> list[Block]:
        return _robustness_blocks(asdict(self), plots)


@register_experiment("robustness", Robustness, measured_once=True)
def robustness(scale: Scale, out: Path, log: Log) -> Robustness:
    """Noise, attacks and recovery for each robust task's seed-0 models of the accuracy experiment."""
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
                "noise": attacks.noise_accuracy(exp.model, x, y, scale.sigmas),
            }
            if x.dim() == 4:  # images: attacks on a seeded subset of the test set
                pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[: scale.attack_samples]
                xs, ys = x[pick], y[pick]
                bounds = (float(x.min()), float(x.max()))
                entry["attacks"] = {
                    name: attacks.attack(exp.model, xs, ys, name, scale.epsilons, bounds, scale.attack_steps)
                    for name in attacks.ATTACKS
                }
                if run.variant == "plain":
                    epsilon = scale.epsilons[len(scale.epsilons) // 2]
                    recovered = attacks.recovery(
                        exp.model, xs, ys, epsilon, bounds, scale.attack_steps, (0.0, *scale.rates)
                    )
            models[run.variant] = entry
        tasks[task] = {"models": models, "recovery": recovered}
    return Robustness(
        tasks=tasks,
        sigmas=list(scale.sigmas),
        epsilons=list(scale.epsilons),
        attack_samples=scale.attack_samples,
        attack_steps=scale.attack_steps,
    )


def _robustness_blocks(results: dict[str, Any], plots: Path) -> list[Block]:
    sigmas, epsilons = results["sigmas"], results["epsilons"]
    blocks: list[Block] = [
        ("h2", "5. Robustness (paper: Figures 6 and 28)"),
        (
            "p",
            "Models of the accuracy experiment (seed 0, last epoch). Noise levels and attack budgets are in units of "
            "the standardized data's standard deviation (the L2 noise attack's budget is epsilon times the square root "
            "of the values per sample); attacks (foolbox) run on a seeded subset of the test set, "
            "bounded by the test set's range. Median size: the median perturbation needed over the correctly "
            "classified samples (L2 norm for the minimizing attacks, the smallest successful epsilon for the "
            "fixed-budget ones; inf when the attack fooled fewer than half).",
        ),
    ]
    if results.get("attack_steps"):
        blocks.append(
            (
                "p",
                f"Attacks on {results['attack_samples']} test samples: {_budgets(results)}",
            )
        )
    for task, entry in results["tasks"].items():
        blocks.append(("h3", f"{task}: robustness"))
        if "missing" in entry:
            blocks.append(("p", f"Not run: {entry['missing']}."))
            continue
        models = entry["models"]
        name = "noise-" + "".join(c if c.isalnum() else "_" for c in task) + ".png"
        plt = _plt()
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for variant, model in models.items():
            line = ax.plot(sigmas, model["noise"]["gaussian"], "o-", label=f"{variant}, Gaussian")[0]
            ax.plot(sigmas, model["noise"]["uniform"], "s--", color=line.get_color(), label=f"{variant}, uniform")
        ax.set_xlabel("noise standard deviation (data standard deviations)")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{task}: accuracy under noise")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(plots / name, dpi=110)
        plt.close(fig)
        blocks.append(("img", (name, f"{task}: test accuracy under Gaussian (solid) and uniform (dashed) noise")))
        header = ["model", "achieved rate", *[f"Gaussian σ={s:g}" for s in sigmas]]
        rows = [
            [v, f"{m['achieved_rate']:.3f}", *[f"{100 * a:.1f}" for a in m["noise"]["gaussian"]]]
            for v, m in models.items()
        ]
        blocks.append(("table", (header, rows)))
        attacked = {v: m["attacks"] for v, m in models.items() if "attacks" in m}
        if attacked:
            attacks = list(next(iter(attacked.values())))
            header = ["model", "achieved rate", *[f"{a} median size" for a in attacks]]
            rows = [
                [v, f"{models[v]['achieved_rate']:.3f}", *[_size(attacked[v][a]["median_size"]) for a in attacks]]
                for v in attacked
            ]
            blocks.append(("table", (header, rows)))
            halved = [a for a in attacks if "median_size_half_budget" in attacked[next(iter(attacked))][a]]
            header = ["model", *[f"{a}: half budget -> whole" for a in halved]]
            rows = [[v, *[_settling(attacked[v][a]) for a in halved]] for v in attacked]
            if halved:
                blocks.append(("table", (header, rows)))
            fixed = [a for a in attacks if attacked[next(iter(attacked))][a].get("accuracy") is not None]
            fixed = [a for a in fixed if isinstance(attacked[next(iter(attacked))][a]["accuracy"], list)]
            header = ["model", "attack", *[f"acc @ {e:g}" for e in epsilons]]
            rows = [
                [v, a, *[f"{100 * acc:.1f}" for acc in attacked[v][a]["accuracy"]]] for v in attacked for a in fixed
            ]
            blocks.append(("table", (header, rows)))
        recovery = entry.get("recovery")
        if recovery:
            blocks.append(
                (
                    "p",
                    f"Recovery: PGD adversarial examples at epsilon {recovery['epsilon']:g} against the plain model, "
                    "then the plain model's accuracy after band-limiting its input at each rate (the adversarial "
                    "perturbation is mostly high-frequency), beside its accuracy on band-limited clean inputs.",
                )
            )
            header = ["input rate", "adversarial acc %", "clean acc %"]
            rows = [
                [f"{r:g}", f"{100 * a:.1f}", f"{100 * c:.1f}"]
                for r, a, c in zip(recovery["rates"], recovery["adversarial"], recovery["clean"])
            ]
            blocks.append(("table", (header, rows)))
    return blocks


def _budgets(results: dict[str, Any]) -> str:
    """The attacks' budgets in words. Results without per-sample sizes are from before
    2026-12-03, which ran Carlini-Wagner at the scale's steps and the boundary attack at 10x."""
    steps = results["attack_steps"]
    attacked = [
        a
        for t in results["tasks"].values()
        for m in t.get("models", {}).values()
        for a in m.get("attacks", {}).values()
    ]
    halved = any("sizes" in a for a in attacked)
    cw, boundary = (
        (attacks.ATTACKS[name][1](steps)["steps"] for name in ("Carlini-Wagner (L2)", "boundary (L2, decision-based)"))
        if halved
        else (steps, 10 * steps)
    )
    text = (
        f"PGD {steps} steps, Carlini-Wagner {cw} steps with 5 binary-search steps of its constant, boundary "
        f"{boundary} steps from the nearest sample of another class, additive uniform noise {steps} repeats."
    )
    if halved:
        text += (
            " Carlini-Wagner and the boundary attack also report their median at half the budget: an attack "
            f"whose median moved by more than {attacks.CONVERGED:.0%} in the second half has not converged, and "
            "the report gives no verdict on it."
        )
    return text


def _settling(result: dict[str, Any]) -> str:
    half, whole = result.get("median_size_half_budget"), result.get("median_size")
    if half is None or whole is None:
        return "-"
    change = f" ({100 * (whole / half - 1):+.0f}%)" if half and math.isfinite(half) and math.isfinite(whole) else ""
    return f"{half:.3g} -> {whole:.3g}{change}"


def _size(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
