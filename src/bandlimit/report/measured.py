"""Report sections of the measuring experiments: resources (whole-step time and memory) and
robustness (noise and attacks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .render import Block
from .render import plt as _plt

__all__ = ["resource_blocks", "robustness_blocks"]


def resource_blocks(results: dict[str, Any], plots: Path) -> list[Block]:
    machine = results["machine"]
    blocks: list[Block] = [
        ("h2", "4. Resources against the rate (paper: Figure 7, Table 2)"),
        (
            "p",
            f"One whole training step (forward, backward, SGD step) on random data, {results['threads']} thread, "
            "timed interleaved in one process; bytes saved for backward counted with saved_tensors_hooks; peak "
            f"memory in a fresh process. Machine: {machine['cpu']}, CPU capability {machine['cpu_capability']}, "
            f"flags {' '.join(machine['cpu_flags'])}, torch {machine['torch']}. bf16 is CPU autocast; the "
            "band-limited layer computes its transforms in float32 under it. Epoch times of the trained runs "
            "are in section 1's tables.",
        ),
    ]
    header = ["variant", "step s", "time vs plain", "saved MiB", "saved vs plain", "peak MiB", "peak vs plain"]
    for title, section in results["steps"].items():
        name = "resources-" + "".join(c if c.isalnum() else "_" for c in title) + ".png"
        _plot_resources(title, section, plots / name)
        blocks.append(("h3", title))
        blocks.append(("img", (name, f"{title}: time and memory of a training step against the rate")))
        rows = []
        order = sorted(
            section.items(),
            key=lambda kv: (kv[1]["case"]["variant"], kv[1]["case"]["precision"] != "fp32", kv[1]["case"]["rate"]),
        )
        for variant, e in sorted(order, key=lambda kv: not kv[0].startswith("nn.Conv")):  # the plain model first
            saved = e.get("saved_bytes")
            rows.append(
                [
                    variant,
                    f"{e['median_s']:.3f}",
                    f"{e.get('time_vs_plain', 1.0):.2f}x",
                    "-" if saved is None else f"{saved / 2**20:.1f}",
                    "-" if saved is None else f"{e.get('saved_vs_plain', 1.0):.2f}x",
                    f"{e['peak_bytes'] / 2**20:.1f}" if "peak_bytes" in e else "-",
                    f"{e['peak_vs_plain']:.2f}x" if "peak_vs_plain" in e else "-",
                ]
            )
        blocks.append(("table", (header, rows)))
    return blocks


def _plot_resources(title: str, section: dict[str, Any], path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for variant, marker in (("bandlimit", "o-"), ("bandlimit+checkpoint", "s--")):
        mine = sorted(
            (e for e in section.values() if e["case"]["variant"] == variant and e["case"]["precision"] == "fp32"),
            key=lambda e: e["case"]["rate"],
        )
        rates = [e["case"]["rate"] for e in mine]
        for ax, key in zip(axes, ("time_vs_plain", "saved_vs_plain", "peak_vs_plain")):
            values = [e.get(key) for e in mine]
            if rates and all(v is not None for v in values):
                ax.plot(rates, values, marker, label=variant)
    for name, e in section.items():
        if e["case"]["precision"] == "bf16":
            for ax, key in zip(axes, ("time_vs_plain", "saved_vs_plain", "peak_vs_plain")):
                if e.get(key) is not None:
                    ax.plot([e["case"]["rate"]], [e[key]], "*", markersize=10, label=name)
    for ax, label in zip(axes, ("step time", "bytes saved for backward", "peak memory")):
        ax.axhline(1.0, color="k", lw=1)
        ax.set_xlabel("rate")
        ax.set_ylabel(f"{label} / plain model's")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def robustness_blocks(results: dict[str, Any], plots: Path) -> list[Block]:
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
        attacked = {v: m["attacks"] for v, m in models.items() if "attacks" in m}
        if attacked:
            attacks = list(next(iter(attacked.values())))
            header = ["model", "achieved rate", *[f"{a} median size" for a in attacks]]
            rows = [
                [v, f"{models[v]['achieved_rate']:.3f}", *[_size(attacked[v][a]["median_size"]) for a in attacks]]
                for v in attacked
            ]
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


def _size(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"
