"""Text tables of a benchmark report."""

from __future__ import annotations

from typing import Any

from ..report import format_table
from .run import FFT_CONV_TARGET

__all__ = ["STEP_TARGETS", "format_bench", "format_steps"]


def _met(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "NO")


def format_bench(report: dict[str, Any]) -> str:
    """Ratios to the direct convolution, GFLOP/s and fraction of peak, per thread count."""
    parts = []
    for threads, section in report["threads"].items():
        peak = max(section["peak_gflops"].values())
        rows = []
        for name, layer in section["layers"].items():
            res = layer["results"]
            bl = res["bandlimit"]
            target = layer["target_ratio"]
            fcp = res.get("fft-conv-pytorch")
            rows.append(
                [
                    name,
                    res["direct"]["median_s"] * 1e3,
                    bl["median_s"] * 1e3,
                    bl["iqr_s"] * 1e3,
                    bl["ratio_vs_direct"],
                    f"<= {target:.2f}" if target else "-",
                    _met(bl["ratio_vs_direct"] <= target if target else None),
                    f"{fcp['median_s'] / bl['median_s']:.1f}x" if fcp else "-",
                    _met(bl["median_s"] / fcp["median_s"] <= FFT_CONV_TARGET if fcp else None),
                    f"{res['direct']['gflops']:.0f} ({res['direct']['fraction_of_peak']:.0%})",
                    f"{bl['gflops']:.0f} ({bl['fraction_of_peak']:.0%})",
                ]
            )
        parts.append(
            f"{threads} thread(s); measured peak {peak:.0f} GFLOP/s; forward+backward, batch 32\n"
            + format_table(
                [
                    "case",
                    "direct ms",
                    "bandlimit ms",
                    "IQR ms",
                    "ratio",
                    "target",
                    "met",
                    "vs fft-conv",
                    ">=20x",
                    "direct GFLOP/s (peak)",
                    "bandlimit GFLOP/s (peak)",
                ],
                rows,
            )
        )
        rates = {
            layer["case"]["rate"]: layer["results"]["bandlimit"]["median_s"]
            for layer in section["layers"].values()
            if layer["case"]["kernel"] == 3
        }
        if 0.0 in rates and 0.85 in rates:
            ratio = rates[0.85] / rates[0.0]
            parts.append(f"3x3: time(rate 0.85) / time(rate 0) = {ratio:.2f} (target <= 0.40: {_met(ratio <= 0.4)})")
    mem = report.get("memory")
    if mem:
        rows = []
        for name, entry in mem["layers"].items():
            d, b = entry["direct"], entry["bandlimit"]
            rows.append(
                [
                    name,
                    d["saved_bytes"] / 2**20,
                    b["saved_bytes"] / 2**20,
                    b["saved_bytes"] / d["saved_bytes"],
                    d["peak_step_bytes"] / 2**20,
                    b["peak_step_bytes"] / 2**20,
                    b["peak_step_bytes"] / max(1, d["peak_step_bytes"]),
                ]
            )
        parts.append(
            "memory (saved: saved_tensors_hooks; peak: VmHWM during one step minus RSS before it, fresh process)\n"
            + format_table(
                [
                    "case",
                    "direct saved MiB",
                    "bandlimit saved MiB",
                    "ratio",
                    "direct peak MiB",
                    "bandlimit peak MiB",
                    "ratio",
                ],
                rows,
            )
        )
    if "steps" in report:
        parts.append(format_steps(report["steps"]))
    return "\n\n".join(parts)


# Targets of the memory issue for spectral checkpoints: (model, batch, rate) -> ratio limits.
STEP_TARGETS = {
    ("resnet18", 32, 0.0): {"saved_vs_plain": 0.7, "peak_vs_plain": 1.0},
    ("resnet18", 32, 0.5): {"saved_vs_plain": 0.4, "peak_vs_plain": 0.7, "time_vs_bandlimit": 1.1},
    ("resnet18", 32, 0.85): {"saved_vs_plain": 0.2, "peak_vs_plain": 0.5},
    ("resnet18", 128, 0.5): {"peak_vs_plain": 0.5},
    ("fcn", 16, 0.5): {"saved_vs_plain": 0.5},
}


def _ratio(entry: dict[str, Any], key: str, targets: dict[str, float]) -> str:
    value = entry.get(key)
    if value is None:
        return "-"
    limit = targets.get(key)
    return f"{value:.2f}x" + ("" if limit is None else f" (<= {limit}: {_met(value <= limit)})")


def format_steps(steps: dict[str, Any]) -> str:
    """Whole training steps per model and batch: time, bytes saved for backward, peak memory, ratios."""
    parts = []
    for title, section in steps.items():
        rows = []
        for name, e in section.items():
            case = e["case"]
            targets = STEP_TARGETS.get((case["model"], case["batch"], case["rate"]), {})
            targets = targets if case["variant"] == "bandlimit+checkpoint" and not case.get("inference") else {}
            saved = e.get("saved_bytes")
            rows.append(
                [
                    name,
                    e["median_s"],
                    _ratio(e, "time_vs_plain", {}),
                    _ratio(e, "time_vs_bandlimit", targets),
                    "-" if saved is None else saved / 2**20,
                    _ratio(e, "saved_vs_plain", targets),
                    e["peak_bytes"] / 2**20 if "peak_bytes" in e else "-",
                    _ratio(e, "peak_vs_plain", targets),
                ]
            )
        header = ["variant", "step s", "time vs plain", "vs same rate, no ckpt", "saved MiB", "saved vs plain"]
        parts.append(
            f"{title}: "
            + ("one forward in eval mode under no_grad" if title.endswith("inference") else "one SGD training step")
            + f", {next(iter(section.values())).get('threads', 1)} thread(s)\n"
            + format_table([*header, "peak MiB", "peak vs plain"], rows)
        )
    return "\n\n".join(parts)
