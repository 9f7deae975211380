"""Multiplications, additions, parameters and bytes of a model's layers at inference.

Counted per sample, for the layers that carry the arithmetic: convolutions, linear layers and
the sum-product (Strassen) layers. A dense layer's output element costs ``K`` multiplications
and ``K - 1`` additions (plus one for the bias), ``K`` being its fan-in. A sum-product layer
multiplies only by its ``r`` factors ``a`` (batch norm folded into them, and its shift one
addition each; stored as a factor and a shift per channel); its ternary ``W_b`` and ``W_c``
cost one addition per non-zero beyond the first of each output they sum (``W_c`` only for the
output pixels kept after cropping to the output size), and they are stored at 2 bits a weight. Multiplications alone
flatter the method: the additions, and the measured time, belong beside them.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import config_types
from .costs import LayerCount

__all__ = ["LayerCount", "count_operations", "format_counts"]


def _dense(name: str, module: nn.Module, positions: int) -> LayerCount:
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    fan_in = weight[0].numel()
    outputs = weight.shape[0] * positions
    bias = module.bias is not None
    parameters = weight.numel() + (weight.shape[0] if bias else 0)
    kind = type(module).__name__
    return LayerCount(name, kind, outputs * fan_in, outputs * (fan_in - 1 + bias), parameters, 4 * parameters)


def _count(name: str, module: nn.Module, out: torch.Size) -> LayerCount | None:
    """The row of a leaf module: as the method that made it counts it; a convolution or linear
    layer as a dense one; None for any other module."""
    for config_type in config_types().values():
        row = config_type.layer_count(name, module, out)
        if row is not None:
            return row
    if isinstance(module, nn.Linear):
        return _dense(name, module, out[:-1].numel())
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        return _dense(name, module, out[2:].numel())
    return None


@torch.no_grad()
def count_operations(model: nn.Module, example: torch.Tensor) -> list[LayerCount]:
    """Per layer of ``model`` (in call order), the arithmetic for one sample of ``example``
    ``(1, *input_shape)`` and the layer's storage."""
    shapes: dict[nn.Module, torch.Size] = {}

    def record(module: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        shapes.setdefault(module, out.shape)  # the first call (a module may be reused)

    handles = [m.register_forward_hook(record) for m in model.modules()]
    was_training = model.training
    model.eval()
    try:
        model(example[:1])
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    names = {m: n for n, m in model.named_modules()}
    rows = []
    for module, out in shapes.items():
        row = _count(names[module], module, out)
        if row is not None:
            rows.append(row)
    return rows


def format_counts(rows: list[LayerCount]) -> str:
    """The counts as a table with the model's total."""
    lines = ["| layer | kind | multiplications | additions | parameters | KiB |", "|---|---|---|---|---|---|"]
    for r in rows:
        numbers = f"{r.multiplications:,} | {r.additions:,} | {r.parameters:,} | {r.bytes / 1024:.1f}"
        lines.append(f"| {r.layer} | {r.kind} | {numbers} |")
    total = [sum(getattr(r, key) for r in rows) for key in ("multiplications", "additions", "parameters", "bytes")]
    lines.append(f"| total | | {total[0]:,} | {total[1]:,} | {total[2]:,} | {total[3] / 1024:.1f} |")
    return "\n".join(lines)
