"""Resources against the rate (PAPER.md: Figure 7, Table 2): time, bytes kept for backward and
peak memory of one whole training step per variant, normalised to the plain model (``nn.Conv``)
and, as the paper does, to the full-spectrum FFT model (band-limited layers at rate 0)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..bench.run import machine_info
from ..bench.steps import run_steps
from ..report.render import plt as _plt
from .plan import Scale
from .registry import Block, ExperimentResult, register_experiment
from .training import Log

__all__ = ["Resources"]


@dataclass
class Resources(ExperimentResult):
    """``steps`` (title -> variant -> the step's measurement, :func:`bandlimit.bench.steps.run_steps`),
    ``machine`` (:func:`bandlimit.bench.run.machine_info`) and ``threads``."""

    steps: dict[str, dict[str, Any]]
    machine: dict[str, Any]
    threads: int

    def blocks(self, plots: Path) -> list[Block]:
        return _resource_blocks(asdict(self), plots)


@register_experiment("resources", Resources, measured_once=True)
def resources(scale: Scale, out: Path, log: Log) -> Resources:
    """Time, bytes saved for backward and peak memory of one whole training step per variant, at
    1 thread, interleaved per model (ratios to the plain model)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads stall when anything else runs on these machines
    try:
        steps = run_steps(scale.steps, log=log)
    finally:
        torch.set_num_threads(threads)
    return Resources(steps=steps, machine=machine_info(), threads=1)


def _resource_blocks(results: dict[str, Any], plots: Path) -> list[Block]:
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
