"""Text tables of a benchmark report."""

from __future__ import annotations

from typing import Any

from ..report import format_table
from .run import FFT_CONV_TARGET

__all__ = ["format_bench"]


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
        if "resnet18" in section:
            base = section["resnet18"]["nn.Conv2d"]["median_s"]
            parts.append(
                "ResNet-18 (CIFAR) training step, batch 32: "
                + ", ".join(
                    f"{k} {v['median_s']:.3f} s ({v['median_s'] / base:.2f}x)" for k, v in section["resnet18"].items()
                )
            )
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
        if "resnet18" in mem:
            base = mem["resnet18"]["nn.Conv2d"]
            parts.append(
                "ResNet-18 peak step memory: "
                + ", ".join(f"{k} {v / 2**20:.0f} MiB ({v / max(1, base):.2f}x)" for k, v in mem["resnet18"].items())
            )
    return "\n\n".join(parts)
