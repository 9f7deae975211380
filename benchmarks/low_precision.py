"""Whole-model steps under bf16 autocast: the band-limited model as it computes by default
(``low_precision("auto")``: bf16 where the CPU has avx512_bf16 or amx_bf16, except on the
spectral path of FFT grids), all in bf16 (``"always"``) and in float32 as before (``"never"``),
against the plain model under the same autocast, in NCHW and channels_last. Interleaved in one
process per model and batch, at 1 thread (or --threads). The issue "Band-limited layers at low
precision" states the targets. To measure a CPU without native bf16 on one that has it, run
with ``ONEDNN_MAX_CPU_ISA=AVX512_CORE`` (or ``AVX2``): oneDNN then emulates the bf16 GEMMs.

Run: .venv/bin/python benchmarks/low_precision.py [--threads N] [--quick] > benchmarks/results/low-precision.txt
"""

import argparse
import os
from collections.abc import Callable

import torch

from bandlimit.bench.run import machine_info
from bandlimit.bench.steps import StepCase, build_step, saved_activation_bytes
from bandlimit.bench.timing import time_interleaved
from bandlimit.functional import low_precision


def _in_mode(step: Callable[[], None], mode: str) -> Callable[[], None]:
    def run() -> None:
        with low_precision(mode):
            step()

    return run


def _variants(model: str, batch: int, rates: tuple[float, ...], inference: bool) -> dict[str, tuple[StepCase, str]]:
    """name -> (case, low-precision mode)."""
    plain = StepCase(model, batch, "nn.Conv", inference=inference)
    out = {
        "plain fp32": (plain, "auto"),
        "plain bf16": (StepCase(model, batch, "nn.Conv", inference=inference, precision="bf16"), "auto"),
    }
    if model == "resnet18":
        cl = StepCase(model, batch, "nn.Conv", inference=inference, precision="bf16", channels_last=True)
        out["plain bf16 channels_last"] = (cl, "auto")
    for rate in rates:
        case = StepCase(model, batch, "bandlimit", rate, inference=inference, precision="bf16")
        out[f"bandlimit {rate} bf16"] = (case, "auto")
        out[f"bandlimit {rate} bf16, bf16 compute"] = (case, "always")
        out[f"bandlimit {rate} bf16, float32 compute"] = (case, "never")
        pays = StepCase(model, batch, "bandlimit+pays", rate, inference=inference, precision="bf16")
        out[f"bandlimit+pays {rate} bf16"] = (pays, "auto")
        if not inference:
            ckpt = StepCase(model, batch, "bandlimit+checkpoint", rate, precision="bf16")
            out[f"bandlimit+checkpoint {rate} bf16"] = (ckpt, "auto")
    return out


def _table(title: str, variants: dict[str, tuple[StepCase, str]], rounds: int) -> str:
    steps = {name: _in_mode(build_step(case), mode) for name, (case, mode) in variants.items()}
    times = time_interleaved(steps, rounds=rounds, min_run_time=0.5)
    base = times["plain bf16"]["median_s"]
    fastest = min(t["median_s"] for n, t in times.items() if n.startswith("plain bf16"))
    with low_precision("auto"):
        saved_base = saved_activation_bytes(variants["plain bf16"][0])
    lines = [
        f"{title}",
        "| variant | step s | vs plain bf16 (NCHW) | vs fastest plain bf16 | saved MiB | saved vs plain bf16 |",
        "|---|---|---|---|---|---|",
    ]
    for name, (case, mode) in variants.items():
        with low_precision(mode):
            saved = saved_activation_bytes(case)
        t = times[name]["median_s"]
        saved_text = "-" if saved is None else f"{saved / 2**20:.1f}"
        saved_ratio = "-" if saved is None or not saved_base else f"{saved / saved_base:.2f}x"
        lines.append(f"| {name} | {t:.3f} | {t / base:.2f}x | {t / fastest:.2f}x | {saved_text} | {saved_ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="ResNet-18 training at rate 0.5 only")
    parser.add_argument("--models", nargs="+", choices=("resnet18", "fcn"), default=["resnet18", "fcn"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    m = machine_info()
    print(f"machine: {m['cpu']}, torch CPU capability {m['cpu_capability']}, torch {m['torch']}", end="")
    print(f", {args.threads} thread(s)")
    print("flags: " + " ".join(m["cpu_flags"]))
    print(f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '(unset)')}\n")
    rates = (0.5,) if args.quick else (0.5, 0.85)
    groups = [("ResNet-18 (CIFAR) training step, batch 32", "resnet18", 32, False)]
    if not args.quick:
        groups += [
            ("ResNet-18 (CIFAR) inference, batch 32", "resnet18", 32, True),
            ("FCN (FiftyWords) training step, batch 16", "fcn", 16, False),
        ]
    for title, model, batch, inference in groups:
        if model not in args.models:
            continue
        print(_table(title, _variants(model, batch, rates, inference), rounds=3) + "\n", flush=True)
