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
    header = [
        "variant", "step s", "time vs plain", "time vs FFT 0", "saved MiB", "saved vs plain", "saved vs FFT 0",
        "peak MiB", "peak vs plain",
    ]  # fmt: skip
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
        fft = _fft_at_zero(section)
        fft_saved = None if fft is None else fft.get("saved_bytes")
        for variant, e in sorted(order, key=lambda kv: not kv[0].startswith("nn.Conv")):  # the plain model first
            saved = e.get("saved_bytes")
            rows.append(
                [
                    variant,
                    f"{e['median_s']:.3f}",
                    f"{e.get('time_vs_plain', 1.0):.2f}x",
                    "-" if fft is None else f"{e['median_s'] / fft['median_s']:.2f}x",
                    "-" if saved is None else f"{saved / 2**20:.1f}",
                    "-" if saved is None else f"{e.get('saved_vs_plain', 1.0):.2f}x",
                    "-" if saved is None or not fft_saved else f"{saved / fft_saved:.2f}x",
                    f"{e['peak_bytes'] / 2**20:.1f}" if "peak_bytes" in e else "-",
                    f"{e['peak_vs_plain']:.2f}x" if "peak_vs_plain" in e else "-",
                ]
            )
        blocks.append(("table", (header, rows)))
    return blocks


def _fft_at_zero(section: dict[str, Any]) -> dict[str, Any] | None:
    """The full-spectrum FFT model (band-limited layers at rate 0, float32): Figure 7's reference."""
    return next(
        (
            e
            for e in section.values()
            if e["case"]["variant"] == "bandlimit" and e["case"]["rate"] == 0 and e["case"]["precision"] == "fp32"
        ),
        None,
    )


def _plot_resources(title: str, section: dict[str, Any], path: Path) -> None:
    """Time, bytes saved and peak memory against the rate: to the plain model (top row) and, as the
    paper's Figure 7, to the full-spectrum FFT model at rate 0 (bottom row)."""
    plt = _plt()
    fft = _fft_at_zero(section)
    fig, axes = plt.subplots(2, 3, figsize=(11, 6.4), squeeze=False)
    keys = (("median_s", "time_vs_plain"), ("saved_bytes", "saved_vs_plain"), ("peak_bytes", "peak_vs_plain"))
    for variant, marker in (("bandlimit", "o-"), ("bandlimit+checkpoint", "s--")):
        mine = sorted(
            (e for e in section.values() if e["case"]["variant"] == variant and e["case"]["precision"] == "fp32"),
            key=lambda e: e["case"]["rate"],
        )
        rates = [e["case"]["rate"] for e in mine]
        for column, (raw, to_plain) in enumerate(keys):
            values = [e.get(to_plain) for e in mine]
            if rates and all(v is not None for v in values):
                axes[0][column].plot(rates, values, marker, label=variant)
            if fft is not None and fft.get(raw) and all(e.get(raw) is not None for e in mine):
                axes[1][column].plot(rates, [e[raw] / fft[raw] for e in mine], marker, label=variant)
    for name, e in section.items():
        if e["case"]["precision"] == "bf16":
            for column, (_, to_plain) in enumerate(keys):
                if e.get(to_plain) is not None:
                    axes[0][column].plot([e["case"]["rate"]], [e[to_plain]], "*", markersize=10, label=name)
    for row, reference in enumerate(("the plain model's", "the FFT model's at rate 0")):
        for ax, label in zip(axes[row], ("step time", "bytes saved for backward", "peak memory")):
            ax.axhline(1.0, color="k", lw=1)
            ax.set_xlabel("rate")
            ax.set_ylabel(f"{label} /\n{reference}", fontsize=8)
            ax.grid(alpha=0.3)
        axes[row][0].legend(fontsize=7)
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
    if "attack_steps" in results:
        steps = results["attack_steps"]
        blocks.append(
            (
                "p",
                f"Attacks on {results['attack_samples']} test samples: PGD and Carlini-Wagner {steps} steps (Carlini-"
                f"Wagner with 5 binary-search steps of its constant), boundary {10 * steps} steps from the nearest "
                f"sample of another class, additive uniform noise {steps} repeats.",
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
