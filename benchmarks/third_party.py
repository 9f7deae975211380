"""Training steps of third-party CIFAR model definitions, plain against band-limited at a rate
(every layer, and only where it pays), interleaved in one process per model at 1 thread.

The models are kuangliu/pytorch-cifar's (VGG, ResNet, pre-activation ResNet, DenseNet,
GoogLeNet, MobileNet(V2), ShuffleNet(V2), RegNet, DLA, DPN, EfficientNet), written in ordinary
PyTorch style by someone outside the project; they are imported from a checkout, not copied:

    git clone https://github.com/kuangliu/pytorch-cifar /tmp/pytorch-cifar
    .venv/bin/python benchmarks/third_party.py /tmp/pytorch-cifar [--batch 32] [--rate 0.5] \
        > benchmarks/results/third-party.txt
"""

import argparse
import sys
import time

import torch
import torch.nn.functional as F

from bandlimit.bench.run import machine_info
from bandlimit.bench.timing import time_interleaved
from bandlimit.compress import BandLimitConfig, compress_

# One constructor per family, as the repository's models/__init__.py exports them.
FAMILIES = {  # family -> (constructor, its arguments)
    "VGG-11": ("VGG", ("VGG11",)),
    "ResNet-18": ("ResNet18", ()),
    "PreActResNet-18": ("PreActResNet18", ()),
    "DenseNet-CIFAR": ("densenet_cifar", ()),
    "GoogLeNet": ("GoogLeNet", ()),
    "MobileNet": ("MobileNet", ()),
    "MobileNetV2": ("MobileNetV2", ()),
    "ShuffleNet-G2": ("ShuffleNetG2", ()),
    "ShuffleNetV2": ("ShuffleNetV2", (1,)),
    "RegNetX-200MF": ("RegNetX_200MF", ()),
    "SimpleDLA": ("SimpleDLA", ()),
    "DPN-26": ("DPN26", ()),
    "EfficientNet-B0": ("EfficientNetB0", ()),
}


def step(family: str, batch: int, config: BandLimitConfig | None, models: object):
    torch.manual_seed(0)
    constructor, arguments = FAMILIES[family]
    model = getattr(models, constructor)(*arguments)
    if config is not None:
        compress_(model, config)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))

    def run() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    return run


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", help="a checkout of kuangliu/pytorch-cifar")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rate", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=list(FAMILIES), help="families to run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, args.checkout)
    import models  # noqa: E402  (the checkout's package)

    m = machine_info()
    print(f"machine: {m['cpu']}, torch CPU capability {m['cpu_capability']}, torch {m['torch']}", end="")
    print(f", {args.threads} thread(s)")
    print("flags: " + " ".join(m["cpu_flags"]))
    print(f"training step (forward, backward, SGD), batch {args.batch}, rate {args.rate}", end="")
    print("; median of 3 interleaved rounds\n")
    print(f"{'family':<18} {'nn.Conv s':>10} {'band-limited':>13} {'where it pays':>14}")
    for family in args.only:
        began = time.perf_counter()
        try:
            step(family, 1, None, models)
        except Exception as err:  # the checkout's own bug (ShuffleNetG2 divides channels with / in Python 3)
            print(f"{family:<18} does not build in this checkout: {type(err).__name__}: {err}")
            continue
        fns = {
            "plain": step(family, args.batch, None, models),
            "all": step(family, args.batch, BandLimitConfig(rate=args.rate), models),
            "pays": step(family, args.batch, BandLimitConfig(rate=args.rate, where_it_pays=True), models),
        }
        t = {k: v["median_s"] for k, v in time_interleaved(fns, rounds=3, min_run_time=0.1, warmup=1).items()}
        print(
            f"{family:<18} {t['plain']:>10.3f} {t['all'] / t['plain']:>12.2f}x {t['pays'] / t['plain']:>13.2f}x"
            f"   ({time.perf_counter() - began:.0f} s)",
            flush=True,
        )
