"""Whole-model steps against the same model with nn.Conv*d, interleaved in one process per
model and batch, at 1 thread (or --threads): ResNet-18 (CIFAR) training at batch 32 and 4 and
inference at batch 32 and 1, and the FCN (FiftyWords shapes) training at batch 16, with and
without spectral checkpoints, and band-limited only where it pays. The issue "Band-limited
models must run faster" states targets for these.

Run: .venv/bin/python benchmarks/whole_models.py [--threads N] [--quick] [--device cuda] [--precision bf16]
> benchmarks/results/whole-models.txt (with --device cuda: the GPU table; peak memory is then
PyTorch's CUDA allocator's).
"""

import argparse
import dataclasses

import torch

from bandlimit.bench.report import format_steps
from bandlimit.bench.run import machine_info
from bandlimit.bench.steps import StepCase, run_steps


def cases(quick: bool, device: str = "cpu", precision: str = "fp32") -> list[StepCase]:
    rates = (0.5,) if quick else (0.0, 0.5, 0.85)
    training = ("bandlimit", "bandlimit+checkpoint", "bandlimit+pays")
    inference = ("bandlimit", "bandlimit+pays")  # checkpoints record nothing without gradients
    out = []
    for batch in (32,) if quick else (32, 4):
        out.append(StepCase("resnet18", batch, "nn.Conv"))
        out += [StepCase("resnet18", batch, v, r) for r in rates for v in training]
    for batch in (32,) if quick else (32, 1):
        out.append(StepCase("resnet18", batch, "nn.Conv", inference=True))
        out += [StepCase("resnet18", batch, v, r, inference=True) for r in rates for v in inference]
    out.append(StepCase("fcn", 16, "nn.Conv"))
    out += [StepCase("fcn", 16, v, r) for r in (0.0, 0.5, 0.85) for v in ("bandlimit", "bandlimit+checkpoint")]
    out += [StepCase("fcn", 16, "bandlimit+pays", r) for r in (0.5, 0.85)]
    return [dataclasses.replace(c, device=device, precision=precision) for c in out]


if __name__ == "__main__":  # the peak-memory children import this module
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="rate 0.5 and batch 32 only")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32", help="autocast dtype")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: this machine has no CUDA device")
    torch.set_num_threads(args.threads)
    m = machine_info()
    print(f"machine: {m['cpu']}, torch CPU capability {m['cpu_capability']}, torch {m['torch']}", end="")
    print(f", {args.threads} thread(s)")
    print("flags: " + " ".join(m["cpu_flags"]))
    if args.device == "cuda":
        print(f"GPU: {torch.cuda.get_device_name()}, CUDA {torch.version.cuda}")
    print(f"device {args.device}, precision {args.precision}\n")
    report = run_steps(cases(args.quick, args.device, args.precision), rounds=3, log=lambda s: None)
    print(format_steps(report))
