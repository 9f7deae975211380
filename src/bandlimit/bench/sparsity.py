"""When does a pruned layer run faster as CSR? Time and memory against sparsity.

For AlexNet-sized layers (Krizhevsky et al. 2012; the layers Deep Compression and SSL report
speed-ups on) at batch 1 and 32, each sparsity is timed interleaved in one process:

- ``F.conv2d``: oneDNN's dense convolution (convolutions only);
- ``dense GEMM``: the same lowering as CSR with a dense weight (im2col + ``torch.mm``; for a
  linear layer ``F.linear``);
- ``CSR``: :mod:`bandlimit.functional.sparse`, the pruned weight as CSR x dense activations;
- ``CSR x CSR``: the activations as CSR too, ReLU-sparse (about half zeros); batch 1 only
  (``sparse_batches``): at batch 32 one call of AlexNet's conv2 takes minutes.

The break-even sparsity is the smallest measured sparsity at which CSR beats the fastest dense
implementation. Memory is the weight's: dense float32 against CSR's values, int32 column
indices and row pointers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..functional.sparse import csr_bytes, csr_conv2d, csr_linear, csr_weight
from .timing import time_interleaved

__all__ = [
    "ALEXNET",
    "SparseCase",
    "break_even",
    "format_layer_sparsity",
    "format_sparsity",
    "layer_sparsity",
    "plot_sparsity",
    "run_sparsity",
]

SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)


@dataclass(frozen=True)
class SparseCase:
    """One layer: a convolution (``kernel > 0``, ``size`` x ``size`` input) or a linear layer."""

    name: str
    in_features: int
    out_features: int
    kernel: int = 0
    size: int = 0
    padding: int = 0

    @property
    def is_conv(self) -> bool:
        return self.kernel > 0

    @property
    def weight_shape(self) -> tuple[int, ...]:
        if self.is_conv:
            return (self.out_features, self.in_features, self.kernel, self.kernel)
        return (self.out_features, self.in_features)

    def input_shape(self, batch: int) -> tuple[int, ...]:
        return (batch, self.in_features, self.size, self.size) if self.is_conv else (batch, self.in_features)

    def flops(self, batch: int) -> float:
        """Multiply-adds x 2 of the dense layer."""
        if not self.is_conv:
            return 2.0 * batch * self.in_features * self.out_features
        out = self.size + 2 * self.padding - self.kernel + 1
        return 2.0 * batch * self.out_features * self.in_features * self.kernel**2 * out**2


ALEXNET = (
    SparseCase("AlexNet conv2", 96, 256, kernel=5, size=27, padding=2),
    SparseCase("AlexNet conv3", 256, 384, kernel=3, size=13, padding=1),
    SparseCase("AlexNet fc6", 9216, 4096),
    SparseCase("AlexNet fc7", 4096, 4096),
)


def _pruned_weight(case: SparseCase, sparsity: float, generator: torch.Generator) -> torch.Tensor:
    """Random weights with the ``sparsity`` smallest magnitudes zeroed (as magnitude pruning leaves them)."""
    w = torch.randn(case.weight_shape, generator=generator)
    k = round(sparsity * w.numel())
    if k:
        w.view(-1)[w.abs().view(-1).argsort()[:k]] = 0
    return w


def _implementations(
    case: SparseCase, x: torch.Tensor, w: torch.Tensor, sparse_input: bool
) -> dict[str, Callable[[], object]]:
    matrix = csr_weight(w)
    if not case.is_conv:
        fns: dict[str, Callable[[], object]] = {
            "dense GEMM": lambda: F.linear(x, w),
            "CSR": lambda: csr_linear(x, matrix),
        }
        if sparse_input:
            fns["CSR x CSR"] = lambda: csr_linear(x, matrix, sparse_input=True)
        return fns
    k, p = (case.kernel,) * 2, (case.padding,) * 2
    rows = w.reshape(w.shape[0], -1)

    def gemm() -> torch.Tensor:
        columns = F.unfold(x, k, padding=p)  # (B, K, L)
        return rows @ columns

    fns = {
        "F.conv2d": lambda: F.conv2d(x, w, padding=case.padding),
        "dense GEMM": gemm,
        "CSR": lambda: csr_conv2d(x, matrix, None, k, padding=p),
    }
    if sparse_input:
        fns["CSR x CSR"] = lambda: csr_conv2d(x, matrix, None, k, padding=p, sparse_input=True)
    return fns


@torch.no_grad()
def run_sparsity(
    cases: Sequence[SparseCase] = ALEXNET,
    sparsities: Sequence[float] = SPARSITIES,
    batches: Sequence[int] = (1, 32),
    sparse_batches: Sequence[int] = (1,),
    rounds: int = 3,
    min_run_time: float = 0.1,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Time and weight memory of each case, batch and sparsity, at the current thread count.

    Args:
        sparse_batches: the batches at which ``CSR x CSR`` is timed too.

    Returns:
        ``{"cases": {name: {"case": ..., "batches": {batch: [row per sparsity]}}}}``; a row has
        ``sparsity``, ``dense_bytes``, ``csr_bytes``, and per implementation ``median_s``.
    """
    generator = torch.Generator().manual_seed(0)
    out: dict[str, Any] = {}
    for case in cases:
        entry: dict[str, Any] = {"case": asdict(case), "batches": {}}
        for batch in batches:
            x = F.relu(torch.randn(case.input_shape(batch), generator=generator))  # ReLU-sparse activations
            rows = []
            for sparsity in sparsities:
                w = _pruned_weight(case, sparsity, generator)
                fns = _implementations(case, x, w, batch in sparse_batches)
                times = time_interleaved(fns, rounds=rounds, min_run_time=min_run_time)
                medians = {name: t["median_s"] for name, t in times.items()}
                rows.append(
                    {
                        "sparsity": sparsity,
                        "dense_bytes": w.numel() * w.element_size(),
                        "csr_bytes": csr_bytes(csr_weight(w)),
                        "median_s": medians,
                    }
                )
                timing = "  ".join(f"{name} {1e3 * s:.2f} ms" for name, s in medians.items())
                log(f"{case.name} batch {batch} sparsity {sparsity:g}: {timing}")
            entry["batches"][str(batch)] = rows
        out[case.name] = entry
    return {"cases": out}


def break_even(rows: Sequence[dict[str, Any]], sparse: str = "CSR") -> float | None:
    """The smallest sparsity at which ``sparse`` is faster than every dense implementation, or None."""
    for row in rows:
        times = row["median_s"]
        dense = min(t for name, t in times.items() if not name.startswith("CSR"))
        if times[sparse] < dense:
            return float(row["sparsity"])
    return None


def format_sparsity(report: dict[str, Any]) -> str:
    """The tables: per case and batch, time of each implementation relative to the fastest dense
    one, memory of CSR relative to dense, and the break-even sparsities."""
    lines = []
    for name, entry in report["cases"].items():
        for batch, rows in entry["batches"].items():
            impls = list(rows[0]["median_s"])
            lines.append(f"\n{name}, batch {batch}: time / fastest dense (ms of the fastest dense)")
            lines.append("| sparsity | " + " | ".join(impls) + " | dense ms | CSR bytes / dense |")
            lines.append("|---" * (len(impls) + 3) + "|")
            for row in rows:
                times = row["median_s"]
                dense = min(t for n, t in times.items() if not n.startswith("CSR"))
                ratios = " | ".join(f"{times[n] / dense:.2f}x" for n in impls)
                memory = row["csr_bytes"] / row["dense_bytes"]
                lines.append(f"| {row['sparsity']:g} | {ratios} | {1e3 * dense:.2f} | {memory:.2f}x |")
            for sparse in [name for name in impls if name.startswith("CSR")]:
                even = break_even(rows, sparse)
                lines.append(f"break-even of {sparse}: " + (f"{even:g}" if even is not None else "none measured"))
    return "\n".join(lines).lstrip("\n")


def layer_sparsity(model: nn.Module) -> list[dict[str, Any]]:
    """Per convolution and linear layer of ``model``: its weights, the fraction that is zero, and
    the bytes of the weight dense (its dtype) and as CSR (int32 indices)."""
    rows = []
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if not isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)) or not isinstance(weight, torch.Tensor):
            continue
        groups = module.groups if isinstance(module, (nn.Conv1d, nn.Conv2d)) else 1
        rows.append(
            {
                "layer": name,
                "shape": list(weight.shape),
                "weights": weight.numel(),
                "sparsity": float((weight == 0).sum()) / weight.numel(),
                "dense_bytes": weight.numel() * weight.element_size(),
                "csr_bytes": csr_bytes(csr_weight(weight, groups)),
            }
        )
    return rows


def format_layer_sparsity(rows: Sequence[dict[str, Any]]) -> str:
    """:func:`layer_sparsity` as a table, with the model's total."""
    lines = ["| layer | shape | weights | sparsity | dense KiB | CSR KiB |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['layer']} | {'x'.join(map(str, r['shape']))} | {r['weights']} | {r['sparsity']:.3f} | "
            f"{r['dense_bytes'] / 1024:.1f} | {r['csr_bytes'] / 1024:.1f} |"
        )
    weights = sum(r["weights"] for r in rows)
    zeros = sum(r["sparsity"] * r["weights"] for r in rows)
    dense, csr = sum(r["dense_bytes"] for r in rows), sum(r["csr_bytes"] for r in rows)
    lines.append(f"| total | | {weights} | {zeros / max(1, weights):.3f} | {dense / 1024:.1f} | {csr / 1024:.1f} |")
    return "\n".join(lines)


def plot_sparsity(report: dict[str, Any], path: str | Path) -> None:
    """Time against sparsity, one panel per case and batch, the break-even marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(name, batch, rows) for name, e in report["cases"].items() for batch, rows in e["batches"].items()]
    columns = 2
    fig, axes = plt.subplots(
        (len(panels) + columns - 1) // columns, columns, figsize=(10, 3.2 * ((len(panels) + 1) // 2)), squeeze=False
    )
    for ax, (name, batch, rows) in zip(axes.flat, panels):
        sparsity = [r["sparsity"] for r in rows]
        for impl in rows[0]["median_s"]:
            ax.plot(sparsity, [1e3 * r["median_s"][impl] for r in rows], marker="o", label=impl)
        even = break_even(rows)
        if even is not None:
            ax.axvline(even, color="grey", linestyle=":", label=f"CSR break-even {even:g}")
        ax.set_yscale("log")
        ax.set_title(f"{name}, batch {batch}", fontsize=10)
        ax.set_xlabel("weight sparsity")
        ax.set_ylabel("ms")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
