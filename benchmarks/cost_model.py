"""How well the cost model (bandlimit.functional.cost) predicts which path of a layer is faster.

For ResNet/VGG-style 3x3 (and one 5x5) layers at batches 8 and 32 and rates 0.25, 0.5, 0.85, it
times forward + backward of the band-limited layer forced onto its spectral path and of the
plain nn.Conv2d, interleaved in one process at 1 thread, and prints the model's estimate of the
ratio spectral / plain (spectral-kernel FLOPs against direct FLOPs / DIRECT_SPEEDUP, as
band_limiting_pays prices a step) beside the measured one. A row is a MISS where the two fall
on different sides of 1: there the "where it pays" mode makes the slower choice.

Run: .venv/bin/python benchmarks/cost_model.py > benchmarks/results/cost-model.txt
(about 3 minutes).
"""

import torch
from torch import nn

from bandlimit.bench.run import machine_info
from bandlimit.bench.timing import time_interleaved
from bandlimit.functional.band import band_for_size
from bandlimit.functional.conv import forced_path
from bandlimit.functional.cost import DIRECT_SPEEDUP, _Layer, _seconds
from bandlimit.nn import BandLimitedConv2d

# (Cin, Cout, kernel, stride, padding, input size)
LAYERS = [
    (3, 64, 3, 1, 1, 32),
    (32, 32, 3, 1, 1, 32),
    (64, 64, 3, 1, 1, 32),
    (128, 128, 3, 1, 1, 32),
    (32, 64, 3, 1, 1, 16),
    (64, 64, 3, 1, 1, 16),
    (128, 128, 3, 1, 1, 16),
    (256, 256, 3, 1, 1, 16),
    (128, 128, 3, 1, 1, 8),
    (256, 256, 3, 1, 1, 8),
    (512, 512, 3, 1, 1, 8),
    (512, 512, 3, 1, 1, 4),
    (64, 64, 3, 2, 1, 16),
    (64, 128, 3, 2, 1, 32),
    (128, 256, 3, 2, 1, 16),
    (256, 512, 3, 2, 1, 8),
    (96, 96, 5, 1, 2, 16),
]


def predicted_ratio(layer: BandLimitedConv2d, size: int, batch: int) -> float:
    shape = layer.conv_shape((size, size), batch)
    priced = _Layer(shape, band_for_size(shape.padded, layer.rate))
    return _seconds(priced, "spectral", True, False) / (3 * priced.direct() / DIRECT_SPEEDUP)


def measured_ratio(cin: int, cout: int, k: int, s: int, p: int, size: int, batch: int, rate: float) -> float:
    x = torch.randn(batch, cin, size, size, requires_grad=True)
    plain = nn.Conv2d(cin, cout, k, s, p)
    limited = BandLimitedConv2d(cin, cout, k, s, p, rate=rate)

    def run_plain() -> None:
        plain(x).sum().backward()

    def run_spectral() -> None:
        with forced_path("spectral"):
            limited(x).sum().backward()

    t = time_interleaved({"plain": run_plain, "spectral": run_spectral}, rounds=3, min_run_time=0.08, warmup=1)
    return t["spectral"]["median_s"] / t["plain"]["median_s"]


if __name__ == "__main__":
    torch.set_num_threads(1)
    m = machine_info()
    print(f"machine: {m['cpu']}, torch CPU capability {m['cpu_capability']}, torch {m['torch']}, 1 thread")
    print("flags: " + " ".join(m["cpu_flags"]))
    print(f"forward + backward, spectral path / nn.Conv2d; DIRECT_SPEEDUP = {DIRECT_SPEEDUP}\n")
    print(f"{'layer (Cin, Cout, k, stride, pad, size)':<42} {'batch':>5} {'rate':>5} {'model':>6} {'measured':>9}")
    rows = agree = 0
    for batch in (32, 8):
        for rate in (0.25, 0.5, 0.85):
            for cin, cout, k, s, p, size in LAYERS:
                model = predicted_ratio(BandLimitedConv2d(cin, cout, k, s, p, rate=rate), size, batch)
                measured = measured_ratio(cin, cout, k, s, p, size, batch, rate)
                same = (model < 1) == (measured < 1)
                rows, agree = rows + 1, agree + same
                layer = str((cin, cout, k, s, p, size))
                print(
                    f"{layer:<42} {batch:>5} {rate:>5} {model:>6.2f} {measured:>9.2f}  {'' if same else 'MISS'}",
                    flush=True,
                )
    print(f"\nthe model and the measurement fall on the same side of 1 in {agree} of {rows} rows")
