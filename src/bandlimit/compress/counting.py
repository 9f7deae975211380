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

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..nn.strassen import StrassenConv1d, StrassenConv2d, StrassenLinear

StrassenConv = StrassenConv1d | StrassenConv2d

__all__ = ["LayerCount", "count_operations", "format_counts"]


@dataclass(frozen=True)
class LayerCount:
    """One layer's arithmetic per sample and its storage."""

    layer: str
    kind: str
    multiplications: int
    additions: int
    parameters: int
    bytes: int


def _sums(rows: torch.Tensor) -> int:
    """Additions to sum the non-zero terms of each row of a ternary matrix: ``nnz - 1`` per row."""
    nnz = rows.ne(0).sum(1)
    return int((nnz - 1).clamp_min(0).sum())


def _dense(name: str, module: nn.Module, positions: int) -> LayerCount:
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    fan_in = weight[0].numel()
    outputs = weight.shape[0] * positions
    bias = module.bias is not None
    parameters = weight.numel() + (weight.shape[0] if bias else 0)
    kind = type(module).__name__
    return LayerCount(name, kind, outputs * fan_in, outputs * (fan_in - 1 + bias), parameters, 4 * parameters)


def _strassen(name: str, module: StrassenConv | StrassenLinear, out: torch.Size) -> LayerCount:
    """``out``: the layer's output shape for one sample, ``(1, C_out, *spatial)`` or ``(1, *, out)``."""
    wb, wc = module.ternary_weights()
    r = module.hidden
    if isinstance(module, StrassenConv):
        g, (ph, pw) = module.groups, wc.shape[2:]  # W_c: (r, C_out/g, ph, pw), 1-D as height 1
        h, w = (1, out[-1]) if module.ndim == 1 else (out[-2], out[-1])
        positions = math.ceil(h / ph) * math.ceil(w / pw)  # W_b's output grid
        # An output pixel sums, within its group, the products of its tap of the patch; a tap
        # counts where its pixel survives the crop to the output size.
        sums = (wc.reshape(g, r // g, -1, ph, pw).ne(0).sum(1) - 1).clamp_min(0)  # (g, C_out/g, ph, pw)
        rows = torch.tensor([h // ph + (t < h % ph) for t in range(ph)])
        cols = torch.tensor([w // pw + (t < w % pw) for t in range(pw)])
        additions_c = int((sums * rows[:, None] * cols[None, :]).sum())
        # W_b's sums at every position, W_c's, and the folded batch norm's shift
        additions = _sums(wb.reshape(r, -1)) * positions + additions_c + r * positions
        floats = 2 * r  # batch norm folded into a: a factor and a shift per channel
    else:
        positions = math.prod(out[1:-1])
        additions = (_sums(wb) + _sums(wc)) * positions
        floats = r
    if module.bias is not None:
        additions += math.prod(out[1:])
        floats += module.bias.numel()
    ternary = wb.numel() + wc.numel()
    return LayerCount(
        name, type(module).__name__, r * positions, additions, ternary + floats, math.ceil(2 * ternary / 8) + 4 * floats
    )


@torch.no_grad()
def count_operations(model: nn.Module, example: torch.Tensor) -> list[LayerCount]:
    """Per layer of ``model`` (in call order), the arithmetic for one sample of ``example``
    ``(1, *input_shape)`` and the layer's storage."""
    shapes: dict[nn.Module, tuple[torch.Size, torch.Size]] = {}
    kinds = (nn.Conv1d, nn.Conv2d, nn.Linear, StrassenConv1d, StrassenConv2d, StrassenLinear)

    def record(module: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        shapes.setdefault(module, (args[0].shape, out.shape))  # the first call (a module may be reused)

    handles = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, kinds)]
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
    for module, (_, out) in shapes.items():
        name = names[module]
        if isinstance(module, (StrassenConv1d, StrassenConv2d, StrassenLinear)):
            rows.append(_strassen(name, module, out))
        elif isinstance(module, nn.Linear):
            rows.append(_dense(name, module, out[:-1].numel()))
        else:
            rows.append(_dense(name, module, out[2:].numel()))
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
