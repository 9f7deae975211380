"""DPN-26's 1x1 stride-2 shortcut (1096 -> 1152 channels, 8x8, batch 4): forward + backward of
the band-limited layer (rate 0.5) against F.conv2d, interleaved in one process at 1 thread.

Run: .venv/bin/python benchmarks/pointwise_1x1.py > benchmarks/results/pointwise-1x1.txt
"""

import torch
import torch.nn.functional as F

import bandlimit.functional as BF
from bandlimit.bench.run import machine_info
from bandlimit.bench.timing import time_interleaved

torch.set_num_threads(1)
x = torch.randn(4, 1096, 8, 8, requires_grad=True)
w = torch.randn(1152, 1096, 1, 1, requires_grad=True)


def step(conv):
    def run() -> None:
        conv(x, w, stride=2).sum().backward()

    return run


times = time_interleaved(
    {"F.conv2d": step(F.conv2d), "bandlimit rate 0.5": step(lambda *a, **k: BF.conv2d(*a, **k, rate=0.5))},
    rounds=3,
    min_run_time=0.3,
)
m = machine_info()
print(f"machine: {m['cpu']}, torch CPU capability {m['cpu_capability']}, torch {m['torch']}")
base = times["F.conv2d"]["median_s"]
for name, t in times.items():
    print(f"{name:20s} {t['median_s'] * 1e3:7.2f} ms  {t['median_s'] / base:.2f}x")
