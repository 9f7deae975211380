"""Per-layer summary of a model's convolutions: shapes, FFT grid, rate, memory and FLOPs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..functional.cost import direct_conv_flops
from ..memory import SavedBytes
from .config import config_types
from .costs import LayerCost

__all__ = ["LayerSummary", "summary", "format_summary"]

_CONVS = (nn.Conv1d, nn.Conv2d)


@dataclass(frozen=True)
class LayerSummary:
    """One convolution layer of a model, for one input shape.

    Attributes:
        name: qualified module name.
        kind: class name.
        input_shape, output_shape: per-sample shapes ``(C, *spatial)``.
        grid: transform grid of a band-limited layer (FFT grid, or the DCT's input size), None for a plain convolution.
        rate: achieved compression rate (0 for a plain convolution).
        saved_bytes_per_sample: bytes the layer keeps for backward per sample (parameters
            excluded), counted with ``saved_tensors_hooks``.
        flops: FLOPs of the layer's training forward per sample at the summary's batch size
            (see :mod:`bandlimit.functional.cost`).
        path: the path a band-limited layer takes in a training step at this batch size,
            ``"spectral"`` or ``"direct"`` (``"dct"`` in the DCT basis); ``"plain"`` where the
            where-it-pays mode leaves the layer unlimited for this input size; ``"-"`` for a plain convolution.
        inference_path: likewise in eval mode, with the filter band cached.
        filter_cache_bytes: memory of the filter band kept between inference calls (0 on the
            direct path, which has none).
        compute: the dtype a band-limited layer computes in (``float32``, or ``bfloat16`` /
            ``float16`` where the device has it natively; run the summary under autocast to see
            that), ``"-"`` for a plain convolution.
    """

    name: str
    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    grid: tuple[int, ...] | None
    rate: float
    saved_bytes_per_sample: float
    flops: float
    path: str = "-"
    inference_path: str = "-"
    filter_cache_bytes: int = 0
    compute: str = "-"


def _cost(
    layer: nn.Conv1d | nn.Conv2d, in_spatial: tuple[int, ...], out_spatial: tuple[int, ...], batch: int
) -> LayerCost:
    """The cost of ``layer`` as the method that made it prices it, else as a direct convolution."""
    for config_type in config_types().values():
        cost = config_type.layer_cost(layer, in_spatial, out_spatial, batch)
        if cost is not None:
            return cost
    kernel = layer.kernel_size
    return LayerCost(direct_conv_flops(layer.in_channels, layer.out_channels, layer.groups, kernel, out_spatial))


def summary(model: nn.Module, input_shape: tuple[int, ...]) -> list[LayerSummary]:
    """Run one forward pass on zeros of ``input_shape`` (batch included) and describe each convolution.

    The model is put in training mode with gradients enabled for the pass (so the bytes saved
    for backward are those of a training step); its mode and buffers (e.g. BatchNorm running
    statistics, which a training-mode pass updates) are restored afterwards.
    """
    batch = input_shape[0]
    shapes: dict[str, tuple[torch.Size, torch.Size]] = {}
    saved = SavedBytes(exclude=model.parameters())

    def enter(name: str) -> Callable[[nn.Module, tuple[Any, ...]], None]:
        return lambda module, args: saved.enter(name)

    def leave(name: str) -> Callable[[nn.Module, tuple[Any, ...], torch.Tensor], None]:
        def hook(module: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> None:
            shapes[name] = (args[0].shape, out.shape)
            saved.leave()

        return hook

    handles = []
    for name, module in model.named_modules():
        if isinstance(module, _CONVS):
            handles.append(module.register_forward_pre_hook(enter(name)))
            handles.append(module.register_forward_hook(leave(name)))
    was_training = model.training
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    param = next(model.parameters())
    try:
        model.train()
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda t: t):
            model(torch.zeros(input_shape, device=param.device, dtype=param.dtype))
    finally:
        model.train(was_training)
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        for h in handles:
            h.remove()

    rows = []
    for name, module in model.named_modules():
        if name not in shapes or not isinstance(module, _CONVS):
            continue
        in_shape, out_shape = (tuple(s[-module.weight.dim() + 1 :]) for s in shapes[name])
        cost = _cost(module, in_shape[1:], out_shape[1:], batch)
        rows.append(
            LayerSummary(
                name=name,
                kind=type(module).__name__,
                input_shape=in_shape,
                output_shape=out_shape,
                saved_bytes_per_sample=saved.by_scope.get(name, 0) / batch,
                **dataclasses.asdict(cost),
            )
        )
    return rows


def format_summary(rows: list[LayerSummary]) -> str:
    """A plain-text table of :func:`summary` rows, with totals."""
    header = (
        f"{'layer':<28} {'kind':<18} {'input':<16} {'output':<16} {'grid':<10} "
        f"{'rate':>6} {'saved/sample':>13} {'MFLOPs':>9} {'path train/eval':>17} {'filter cache':>13} {'compute':>9}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        grid = "x".join(map(str, r.grid)) if r.grid else "-"
        paths = f"{r.path}/{r.inference_path}" if r.grid else "-"
        lines.append(
            f"{r.name:<28} {r.kind:<18} {str(r.input_shape):<16} {str(r.output_shape):<16} {grid:<10} "
            f"{r.rate:>6.3f} {r.saved_bytes_per_sample / 1024:>10.1f} KB {r.flops / 1e6:>9.2f} {paths:>17} "
            f"{r.filter_cache_bytes / 2**20:>10.2f} MB {r.compute:>9}"
        )
    total_saved = sum(r.saved_bytes_per_sample for r in rows)
    total_flops = sum(r.flops for r in rows)
    total_cache = sum(r.filter_cache_bytes for r in rows)
    mean_rate = sum(r.rate for r in rows) / max(1, len(rows))
    lines.append("-" * len(header))
    lines.append(
        f"{'total (' + str(len(rows)) + ' layers, mean rate)':<92} {mean_rate:>6.3f} "
        f"{total_saved / 1024:>10.1f} KB {total_flops / 1e6:>9.2f} {'':>17} {total_cache / 2**20:>10.2f} MB"
    )
    return "\n".join(lines)
