"""The benchmark suite: layer speed ratios, fraction of peak, memory, and a whole ResNet-18 step."""

from __future__ import annotations

import importlib.util
import os
import platform
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .cases import LayerCase, default_cases
from .layers import make_step, training_flops
from .memory import peak_step_bytes, saved_bytes
from .steps import default_step_cases, run_steps
from .timing import time_interleaved

__all__ = ["TARGETS", "machine_info", "measure_peak_gflops", "run_benchmarks"]

# Target ratio of time(bandlimit) / time(direct), per (kernel, rate) of the table.
TARGETS = {
    (3, 0.0): 2.0,
    (3, 0.5): 0.8,
    (3, 0.85): 0.5,
    (5, 0.0): 1.0,
    (7, 0.0): 1.0,
    (11, 0.0): 1 / 3,
    (65, 0.0): 1 / 3,
}
FFT_CONV_TARGET = 1 / 20  # bandlimit at rate 0 vs fft-conv-pytorch


def machine_info() -> dict[str, Any]:
    """CPU model and vector extensions, torch's CPU capability and libraries: oneDNN's speed differs between them."""
    cpu, flags = platform.processor(), []
    try:
        with open("/proc/cpuinfo") as f:
            info = {key.strip(): value for key, value in (line.split(":", 1) for line in f if ":" in line)}
        cpu = info.get("model name", cpu).strip()
        flags = sorted(flag for flag in info.get("flags", "").split() if flag.startswith(("avx", "fma", "amx")))
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_flags": flags,
        "logical_cpus": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "mkl": torch.backends.mkl.is_available(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def measure_peak_gflops() -> dict[str, float]:
    """GFLOP/s of two near-peak kernels at the current thread count: a large sgemm (MKL)
    and a 1x1 convolution over many channels (oneDNN). The larger is the machine's measured peak."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    x, w = torch.randn(8, 1024, 32, 32), torch.randn(1024, 1024, 1, 1)
    t = time_interleaved({"mm": lambda: a @ b, "conv1x1": lambda: F.conv2d(x, w)}, rounds=2, min_run_time=0.3)
    return {
        "matmul_mkl": 2 * 2048**3 / t["mm"]["median_s"] / 1e9,
        "conv1x1_onednn": 2 * 8 * 1024 * 1024 * 32 * 32 / t["conv1x1"]["median_s"] / 1e9,
    }


def _layer_results(case: LayerCase, impls: Sequence[str], rounds: int, min_run_time: float, peak: float):
    steps = {impl: make_step(case, impl) for impl in impls}
    times = time_interleaved(steps, rounds=rounds, min_run_time=min_run_time)
    direct = times["direct"]["median_s"]
    out = {}
    for impl, t in times.items():
        flops = training_flops(case, impl)
        gflops = flops / t["median_s"] / 1e9 if flops else None
        out[impl] = {
            **t,
            "ratio_vs_direct": t["median_s"] / direct,
            "gflop": flops / 1e9 if flops else None,
            "gflops": gflops,
            "fraction_of_peak": gflops / peak if gflops else None,
        }
    return out


def _build_layer_step(case: LayerCase, impl: str) -> Callable[[], None]:
    return make_step(case, impl)


def run_benchmarks(
    threads: Sequence[int] = (1, 2),
    cases: Sequence[LayerCase] | None = None,
    rounds: int = 5,
    min_run_time: float = 0.2,
    steps: bool = True,
    memory: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the suite and return a JSON-ready dict (see benchmarks/README.md for the method).

    ``steps`` adds whole training steps of models (:mod:`.steps`), measured at 1 thread.
    """
    cases = list(cases or default_cases())
    impls = ["direct", "bandlimit"]
    if importlib.util.find_spec("fft_conv_pytorch") is not None:
        impls.append("fft-conv-pytorch")
    else:
        log("fft-conv-pytorch is not installed (pip install 'bandlimit[bench]'): its column is skipped")
    report: dict[str, Any] = {
        "machine": machine_info(),
        "method": {"rounds": rounds, "min_run_time_s": min_run_time},
        "threads": {},
    }
    previous = torch.get_num_threads()
    try:
        for n in threads:
            torch.set_num_threads(n)
            peak = measure_peak_gflops()
            log(f"[{n} thread(s)] measured peak: " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peak.items()))
            section: dict[str, Any] = {"peak_gflops": peak, "layers": {}}
            for case in cases:
                use = impls if case.rate == 0 else ["direct", "bandlimit"]
                section["layers"][case.name] = {
                    "case": case.__dict__,
                    "target_ratio": TARGETS.get((case.kernel, case.rate)),
                    "results": _layer_results(case, use, rounds, min_run_time, max(peak.values())),
                }
                log(
                    f"  {case.name}: "
                    + ", ".join(
                        f"{k} {v['median_s'] * 1e3:.1f} ms" for k, v in section["layers"][case.name]["results"].items()
                    )
                )
            report["threads"][str(n)] = section
        if steps:
            torch.set_num_threads(1)
            log("[1 thread] whole training steps")
            report["steps"] = run_steps(default_step_cases(), rounds=max(2, rounds // 2), memory=memory, log=log)
    finally:
        torch.set_num_threads(previous)
    if memory:
        report["memory"] = _memory_section(cases, log)
    return report


def _memory_section(cases: Sequence[LayerCase], log: Callable[[str], None]) -> dict[str, Any]:
    mem: dict[str, Any] = {"layers": {}}
    for case in (c for c in cases if c.kernel == 3):
        entry = {}
        for impl in ("direct", "bandlimit"):
            from .layers import make_forward

            entry[impl] = {
                "saved_bytes": saved_bytes(make_forward(case, impl)),
                "peak_step_bytes": peak_step_bytes(_build_layer_step, case, impl),
            }
        mem["layers"][case.name] = entry
        log(
            f"  memory {case.name}: saved {entry['bandlimit']['saved_bytes'] / entry['direct']['saved_bytes']:.2f}x, "
            f"peak {entry['bandlimit']['peak_step_bytes'] / max(1, entry['direct']['peak_step_bytes']):.2f}x of direct"
        )
    return mem
