"""Magnitude pruning on the Deep Compression schedule (Han et al., 2015): prune, retrain, iterate.

``compress_(model, PruneConfig(amount=0.8))`` zeroes the 80% smallest-magnitude weights of every
convolution and linear layer at once (one shot, for a trained model). In a training run the
config's :meth:`PruneConfig.begin_epoch` follows the schedule instead: the first ``warmup`` of
the epochs train the dense model, then ``iterations`` prunings spread over the remaining epochs
each remove the same fraction of the surviving weights, so that the last one reaches ``amount``,
and the epochs after each pruning retrain what is left.

The masks are ``torch.nn.utils.prune``'s reparametrisation (``weight_orig`` and a
``weight_mask`` buffer, applied by a forward pre-hook), so a pruned model trains, saves and
loads with the masks in its state dict; :func:`remove_pruning_` makes the zeros permanent.
Pruned weights receive zero gradient through the mask and never come back.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Mapping
from typing import ClassVar

import torch
from torch import nn
from torch.nn.utils import prune

from ..checks import check_int, check_unit
from ..errors import ConfigError
from ..nn import BandLimitedConv1d, BandLimitedConv2d, CsrConv1d, CsrConv2d, CsrLinear
from ..settings import setting
from .config import CompressionConfig
from .transform import register_transform

__all__ = ["PruneConfig", "pruned_layers", "remove_pruning_", "scheduled_amount", "weight_sparsity"]

PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Linear, BandLimitedConv1d, BandLimitedConv2d, CsrConv1d, CsrConv2d, CsrLinear)


_check_amount = functools.partial(check_unit, below_one=True, meaning="the fraction of weights set to zero")


@dataclasses.dataclass(frozen=True)
class PruneConfig(CompressionConfig):
    """Magnitude pruning of convolution and linear weights, on the Deep Compression schedule.

    ``overrides`` maps a layer name or regex to that layer's own amount (0 keeps it dense),
    e.g. ``{"fc": 0.9}``; such a layer is pruned on its own even when ``scope`` is global.
    """

    method: ClassVar[str] = "prune"
    OVERRIDE_FIELD: ClassVar[str | None] = "amount"
    ALIASES: ClassVar[Mapping[str, str]] = {"sparsity": "amount"}

    amount: float = setting(0.5, help="fraction of the weights set to zero, in [0, 1)", check=_check_amount)
    scope: str = setting(
        "global",
        help="global: one magnitude threshold over all pruned layers (their sparsities differ); layer: each layer "
        "loses amount of its own weights",
        choices=("global", "layer"),
    )
    iterations: int = setting(
        3,
        help="in training: prune this many times, each removing the same fraction of the surviving weights, and "
        "retrain in between",
        check=lambda v, n: check_int(v, n, minimum=1),
    )
    warmup: float = setting(
        0.25,
        help="in training: fraction of the epochs trained dense before the first pruning, in [0, 1]",
        check=check_unit,
    )

    def begin_epoch(self, model: nn.Module, epoch: int, epochs: int) -> None:
        """Set every pruned layer's mask to the schedule's sparsity at ``epoch``."""
        _prune_to(model, self, lambda amount: scheduled_amount(amount, epoch, epochs, self.iterations, self.warmup))


def scheduled_amount(amount: float, epoch: int, epochs: int, iterations: int, warmup: float) -> float:
    """The sparsity the schedule asks for during ``epoch`` (0-based) of ``epochs``.

    Pruning ``i`` (0-based) happens at the start of epoch ``w + floor(i (epochs - w) / iterations)``
    with ``w = round(warmup * epochs)``, and leaves ``(1 - amount) ** ((i + 1) / iterations)``
    of the weights. With fewer epochs after the warmup than iterations, several prunings fall
    on one epoch (the last one reaches ``amount``).
    """
    first = min(round(warmup * epochs), epochs - 1)
    done = 0  # prunings whose epoch has started
    for i in range(iterations):
        if first + (i * (epochs - first)) // iterations <= epoch:
            done = i + 1
    return 1 - (1 - amount) ** (done / iterations) if done else 0.0


def pruned_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The layers of ``model`` with a pruning mask, by qualified name."""
    return {name: m for name, m in model.named_modules() if isinstance(getattr(m, "weight_mask", None), torch.Tensor)}


def weight_sparsity(model: nn.Module) -> dict[str, float]:
    """Fraction of zero weights of each convolution and linear layer (pruned or not), by name."""
    rows = {}
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if isinstance(module, PRUNABLE) and isinstance(weight, torch.Tensor):
            rows[name] = float((weight == 0).sum()) / weight.numel()
    return rows


def remove_pruning_(model: nn.Module) -> nn.Module:
    """Make the masks permanent: each pruned layer gets back a plain ``weight`` parameter holding
    its zeros (``torch.nn.utils.prune.remove``)."""
    for module in pruned_layers(model).values():
        prune.remove(module, "weight")  # type: ignore[no-untyped-call]
    return model


def _masks(weights: list[torch.Tensor], masks: list[torch.Tensor], amount: float) -> list[torch.Tensor]:
    """Masks keeping the largest ``1 - amount`` of the weights' magnitudes, taken together.

    Weights already masked out count as zero while the sparsity grows, so they stay pruned;
    when it shrinks (a schedule restarting dense), the masks are recomputed from all weights.
    """
    total = sum(w.numel() for w in weights)
    pruned = round(amount * total)
    growing = pruned >= sum(int((m == 0).sum()) for m in masks)
    scores = torch.cat([(w.abs() * m if growing else w.abs()).flatten() for w, m in zip(weights, masks)])
    keep = torch.ones(total, dtype=masks[0].dtype, device=scores.device)
    keep[torch.argsort(scores, stable=True)[:pruned]] = 0  # stable: ties go to the earlier weight
    return list(torch.split(keep, [w.numel() for w in weights]))


def _prune_to(model: nn.Module, config: PruneConfig, schedule: Callable[[float], float]) -> None:
    """Set the masks of ``model``'s pruned layers: each layer's amount (its override, or the
    config's) mapped through ``schedule(amount) -> sparsity now``."""
    groups: dict[object, list[tuple[str, nn.Module]]] = {}
    for name, module in pruned_layers(model).items():
        own = config.for_layer(name)
        key = name if (config.scope == "layer" or own is not config) else "global"
        groups.setdefault(key, []).append((name, module))
    with torch.no_grad():
        for members in groups.values():
            amount = schedule(config.for_layer(members[0][0]).amount)
            weights = [_tensor(m, "weight_orig").detach() for _, m in members]
            old = [_tensor(m, "weight_mask") for _, m in members]
            for (_, module), current, mask in zip(members, old, _masks(weights, old, amount)):
                current.copy_(mask.view_as(current))
                # what the forward pre-hook would compute; until then readers see the new zeros
                module.weight = _tensor(module, "weight_orig") * current


def _tensor(module: nn.Module, name: str) -> torch.Tensor:
    value = getattr(module, name)
    assert isinstance(value, torch.Tensor)
    return value


def _prune_now(model: nn.Module, config: PruneConfig) -> None:
    names = pruned_layers(model)
    unknown = [p for p in config.overrides if p not in names and not any(re.fullmatch(p, n) for n in names)]
    if unknown:
        raise ConfigError(f"prune overrides {unknown} name no pruned layer; pruned layers: {sorted(names)}")
    _prune_to(model, config, lambda amount: amount)


def _detach_weight(module: nn.Module, args: object, output: object) -> None:
    """After a forward, keep the masked weight without its graph (autograd holds its own
    reference): a tensor with a graph as a module attribute would make the model impossible to
    deep-copy (``copy.deepcopy`` refuses non-leaf tensors)."""
    if "weight_orig" in module._parameters:
        module.weight = _tensor(module, "weight").detach()


@register_transform(PruneConfig, targets=PRUNABLE, finalize=_prune_now)
def _reparametrise(module: nn.Module, config: PruneConfig) -> nn.Module:
    if not hasattr(module, "weight_mask"):
        prune.identity(module, "weight")  # type: ignore[no-untyped-call]
        module.register_forward_hook(_detach_weight)
    return module
