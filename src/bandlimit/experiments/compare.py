"""Band-limiting beside the other compression methods, on the same models and data.

The variants (:func:`method_variants`) are trained by ``bandlimit reproduce`` like any run;
:func:`measure_task` then loads each trained model and measures what each method saves:

- weights: the bytes of the parameters stored densely (float32), and as the method stores
  them: pruned convolution and linear weights as CSR (values, int32 indices, row pointers)
  where that is smaller, an SSL model after its zero filters and channels are removed;
- activations: the bytes a training step keeps for backward (the run's own count);
- time: the run's median epoch, and inference on a test batch, all variants of a task timed
  interleaved at 1 thread in one process (pruned models also with their CSR layers);
- accuracy: the run's selected, best-on-test and last-epoch accuracy, and for SSL the accuracy
  after its small groups are zeroed and removed.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..bench.timing import time_interleaved
from ..compress import (
    BandLimitConfig,
    CompressionConfig,
    PrecisionConfig,
    PruneConfig,
    SparseConfig,
    SSLConfig,
    StrassenConfig,
    band_limited_layers,
    compress_,
    pruned_layers,
    remove_pruning_,
    remove_zero_channels_,
    remove_zero_shapes_,
    skip_zero_branches_,
    zero_small_groups_,
)
from ..compress.counting import count_operations
from ..functional.sparse import csr_bytes, csr_weight
from ..nn.strassen import StrassenConv1d, StrassenConv2d, StrassenLinear
from ..train.loop import evaluate

__all__ = ["measure_task", "method_variants", "weight_bytes"]

Variant = tuple[str, tuple[CompressionConfig, ...], bool]
"""A name, its configs, and whether it is distilled from the plain model."""
_STRASSEN = (StrassenConv1d, StrassenConv2d, StrassenLinear)


def method_variants(prune_amounts: Sequence[float], ssl_strength: float, rate: float = 0.5) -> list[Variant]:
    """The compared variants besides the plain model and band-limiting at ``rate`` (which the
    accuracy experiment trains): pruning at each amount, SSL, bf16, combinations at ``rate``
    and the middle pruning amount, and StrassenNets with ``r`` = 1 and 0.5 of the output
    channels (three phases), and with ``r`` = 1 distilled from the plain model."""
    middle = prune_amounts[len(prune_amounts) // 2]
    band = BandLimitConfig(rate=rate)
    variants: list[tuple[str, tuple[CompressionConfig, ...]]] = [
        (f"prune {a:g}", (PruneConfig(amount=a),)) for a in prune_amounts
    ]
    variants += [
        ("ssl", (SSLConfig(filters=ssl_strength, channels=ssl_strength, depth=ssl_strength),)),
        ("bf16", (PrecisionConfig(dtype="bf16"),)),
        (f"rate {rate:g} + bf16", (band, PrecisionConfig(dtype="bf16"))),
        (f"rate {rate:g} + prune {middle:g}", (band, PruneConfig(amount=middle))),
        (f"prune {middle:g} + bf16", (PruneConfig(amount=middle), PrecisionConfig(dtype="bf16"))),
        ("strassen 1", (StrassenConfig(hidden=1.0),)),
        ("strassen 0.5", (StrassenConfig(hidden=0.5),)),
    ]
    # StrassenNets as the paper trains it: distilled from the full-precision model.
    return [(n, c, False) for n, c in variants] + [("strassen 1 + distilled", (StrassenConfig(hidden=1.0),), True)]


def weight_bytes(model: nn.Module) -> dict[str, int]:
    """``dense``: the parameters' bytes as float32; ``stored``: with each convolution and linear
    weight that has zeros counted as CSR where that is smaller (pruning masks count as the
    weights they mask), and a sum-product layer's ternary weights at 2 bits each."""
    dense = stored = 0
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            weight = getattr(module, "weight", None) if name == "weight_orig" else p
            assert isinstance(weight, torch.Tensor)
            size = weight.numel() * 4
            dense += size
            if isinstance(module, _STRASSEN) and name in ("weight_b", "weight_c") and module.phase != "full":
                size = -(-weight.numel() * 2 // 8)
            elif name in ("weight", "weight_orig") and weight.dim() >= 2 and bool((weight == 0).any()):
                groups = getattr(module, "groups", 1)
                size = min(size, csr_bytes(csr_weight(weight.float(), groups)))
            stored += size
    return {"dense": dense, "stored": stored}


def _structured(model: nn.Module, example: torch.Tensor, threshold: float) -> dict[str, Any]:
    """Zero the SSL model's small groups, then remove its zero channels, branches and filter
    shapes, in place."""
    counts = zero_small_groups_(model, threshold)
    return {
        "zero_groups": counts,
        "removed_channels": remove_zero_channels_(model, example),
        "skipped_branches": skip_zero_branches_(model),
        "removed_columns": remove_zero_shapes_(model),
    }


def measure_task(
    runs: dict[str, list[tuple[Path, dict[str, Any]]]],
    load: Any,
    ssl_threshold: float,
    inference_batch: int = 256,
) -> list[dict[str, Any]]:
    """Rows of the side-by-side table of one task.

    Args:
        runs: per variant, its finished runs' checkpoint paths and result records (seeds).
        load: ``load(checkpoint) -> Experiment`` (the trained model in eval mode and its data).
        ssl_threshold: an SSL group is zeroed before removal when its root-mean-square is below
            this times its layer's median (:func:`bandlimit.compress.zero_small_groups_`).
        inference_batch: test samples per timed inference call.
    """
    rows = []
    timed: dict[str, Any] = {}
    for variant, seeds in runs.items():
        path, first = seeds[0]
        exp = load(path)
        model = exp.model
        x_test, _ = exp.test_data
        batch = x_test[:inference_batch]
        row: dict[str, Any] = {
            "variant": variant,
            "seeds": len(seeds),
            "selected": _mean([r["selected_test_acc"] for _, r in seeds]),
            "best_on_test": _mean([r["best_test_acc"] for _, r in seeds]),
            "last_epoch": _mean([r["final_test_acc"] for _, r in seeds]),
            "saved_bytes": first["saved_bytes"],
            "epoch_time_s": _mean([r["median_epoch_time_s"] for _, r in seeds]),
            "weights": weight_bytes(model),
            **_arithmetic(model, batch[:1]),
        }
        timed[variant] = _call(model, batch)
        if pruned_layers(model):
            csr = compress_(remove_pruning_(copy.deepcopy(model)), SparseConfig())
            timed[f"{variant} (CSR)"] = _call(csr, batch)
        if variant == "ssl":
            small = copy.deepcopy(model)
            row["ssl"] = _structured(small, batch, ssl_threshold)
            row["ssl"]["test_acc"] = evaluate(small, exp.test_data, batch_size=256, device=torch.device("cpu"))[
                "test_acc"
            ]
            row["weights"] = {"dense": row["weights"]["dense"], "stored": weight_bytes(small)["dense"]}
            timed[f"{variant} (removed)"] = _call(small, batch)
        rows.append(row)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        times = time_interleaved(timed, rounds=5, min_run_time=0.25)
    finally:
        torch.set_num_threads(threads)
    for row in rows:
        row["inference_ms"] = {
            name.removeprefix(row["variant"]).strip(" ()") or "as trained": 1e3 * t["median_s"]
            for name, t in times.items()
            if name == row["variant"] or name.startswith(row["variant"] + " (")
        }
    return rows


def _arithmetic(model: nn.Module, example: torch.Tensor) -> dict[str, int | None]:
    """Multiplications and additions per sample (:func:`count_operations`); None for a
    band-limited model, whose spectral arithmetic is not a dense layer's (its FLOPs are in
    ``bandlimit summary``)."""
    if band_limited_layers(model):
        return {"multiplications": None, "additions": None}
    rows = count_operations(model, example)
    return {"multiplications": sum(r.multiplications for r in rows), "additions": sum(r.additions for r in rows)}


def _call(model: nn.Module, x: torch.Tensor) -> Any:
    @torch.no_grad()
    def run() -> None:
        model(x)

    return run


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)
