"""Removal of zero filters, and of input channels that nobody reads, from a traced model: the
channel leaves its convolution, the batch norms after it and the layers that read it, and the
outputs in eval mode stay the same (up to float rounding). Channels that meet an addition or a
concatenation, layers called more than once and operations not known to act per channel are kept.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..errors import BandlimitError
from .tracing import CONVS, PER_CHANNEL_FUNCTIONS, PER_CHANNEL_METHODS, PER_CHANNEL_MODULES, trace

__all__ = ["remove_zero_channels_"]


@dataclasses.dataclass
class _Consumer:
    module: nn.Conv1d | nn.Conv2d | nn.Linear
    spread: int  # input features per channel (> 1 for a linear layer after flattening a feature map)


def _follow(
    node: fx.Node, modules: dict[str, nn.Module], shapes: dict[str, Any], calls: Counter[int]
) -> tuple[list[tuple[_BatchNorm, int]], list[_Consumer]] | None:
    """The batch norms (with the features per channel where they sit) and the consuming layers
    of ``node``'s channels, or None if a channel reaches anything else (an addition, a
    concatenation, the output) or a layer with parameters that is called elsewhere too: then
    it is tied."""
    channels = shapes[node.name][1]
    chain: list[tuple[_BatchNorm, int]] = []
    consumers: list[_Consumer] = []
    todo = [(node, 1)]
    while todo:
        current, per = todo.pop()
        for user in current.users:
            target = modules.get(user.target) if user.op == "call_module" else None  # type: ignore[arg-type]
            if target is not None and calls[id(target)] > 1 and any(True for _ in target.parameters()):
                return None  # shrinking it would change its other calls
            if isinstance(target, CONVS) and target.groups == 1 and per == 1:
                consumers.append(_Consumer(target, 1))
                continue
            if isinstance(target, nn.Linear) and len(shapes[current.name]) == 2:
                consumers.append(_Consumer(target, per))
                continue
            flatten = (user.op == "call_module" and isinstance(target, nn.Flatten)) or user.target in (
                torch.flatten,
                "flatten",
            )
            out = shapes.get(user.name)
            if flatten and out is not None and len(out) == 2:
                todo.append((user, out[1] // channels))
            elif (
                (
                    isinstance(target, PER_CHANNEL_MODULES)
                    or (user.op == "call_function" and user.target in PER_CHANNEL_FUNCTIONS)
                    or (user.op == "call_method" and user.target in PER_CHANNEL_METHODS)
                )
                and out is not None
                and len(out) >= 2
                and out[1] == channels * (per if len(out) == 2 else 1)
            ):
                if isinstance(target, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    chain.append((target, per if len(out) == 2 else 1))
                todo.append((user, per))
            else:
                return None
    return chain, consumers


def _consumer_slice(consumer: _Consumer, channel: int) -> torch.Tensor:
    """The weights of ``consumer`` that read ``channel``."""
    if isinstance(consumer.module, nn.Linear):
        return consumer.module.weight[:, channel * consumer.spread : (channel + 1) * consumer.spread]
    return consumer.module.weight[:, channel]


def _constant_contribution(consumer: _Consumer, inputs: torch.Tensor, channel: int) -> torch.Tensor | None:
    """What ``channel`` adds to ``consumer``'s output when it holds the same value for every input
    (a zero filter): a per-output constant to fold into the bias, or None if it varies with the
    position (zero padding at the borders)."""
    module = consumer.module
    inputs = inputs.to(module.weight.dtype)  # captured under the model's autocast, if any
    if isinstance(module, nn.Linear):
        features = slice(channel * consumer.spread, (channel + 1) * consumer.spread)
        return F.linear(inputs[:1, features], module.weight[:, features])[0]
    only = torch.zeros_like(inputs[:1])
    only[:, channel] = inputs[:1, channel]
    out = module._conv_forward(only, module.weight, None)[0]
    flat = out.flatten(1)
    mean = flat.mean(1)
    scale = flat.abs().max().clamp_min(1e-30)
    return mean if bool(((flat - mean[:, None]).abs() <= 1e-6 * scale).all()) else None


@torch.no_grad()
def remove_zero_channels_(model: nn.Module, example: torch.Tensor) -> dict[str, int]:
    """Remove the zero filters of each convolution, and the input channels nobody reads, in place.

    A channel between a convolution and the layers that read it (through batch norms,
    activations, pooling and flattening) is removed when the readers' weights for it are all
    zero, or when the filter that writes it is zero: then it holds a value that does not depend
    on the input, which is folded into the readers' biases where it is the same at every output
    position. Channels that reach an addition, a concatenation or the model's output are kept.
    The model's outputs in eval mode are unchanged (up to float rounding).

    Args:
        model: the model, with plain weights (call ``remove_pruning_`` first on a pruned one).
        example: an input batch, used to trace shapes and the values of zero channels.

    Returns:
        The number of channels removed after each convolution, by its name.

    Raises:
        BandlimitError: the model cannot be traced with ``torch.fx`` or has pruning masks.
    """
    if any(hasattr(m, "weight_mask") for m in model.modules()):
        raise BandlimitError("the model has pruning masks: call bandlimit.compress.remove_pruning_(model) first")
    graph = trace(model)
    was_training = model.training
    model.eval()
    try:
        return _remove(model, graph, example)
    finally:
        model.train(was_training)


def _remove(model: nn.Module, graph: fx.Graph, example: torch.Tensor) -> dict[str, int]:
    modules = dict(model.named_modules(remove_duplicate=False))
    names = {id(m): n for n, m in reversed(list(modules.items()))}  # a shared module's first name
    calls = Counter(id(modules[n.target]) for n in graph.nodes if n.op == "call_module")
    removed: dict[str, int] = {}
    for node in graph.nodes:
        producer = modules.get(node.target) if node.op == "call_module" else None
        if not isinstance(producer, CONVS) or producer.groups != 1 or calls[id(producer)] > 1:
            continue
        shapes = _shapes(model, graph, example)
        followed = _follow(node, modules, shapes, calls)
        if followed is None or not followed[1]:
            continue
        chain, consumers = followed
        inputs = _capture_inputs(model, example, [c.module for c in consumers])
        keep = torch.ones(producer.out_channels, dtype=torch.bool)
        folds: dict[int, list[torch.Tensor]] = {}  # removed constant channels: what they add to each reader
        for j in range(producer.out_channels):
            if all(bool((_consumer_slice(c, j) == 0).all()) for c in consumers):
                keep[j] = False  # nobody reads it
            elif bool((producer.weight[j] == 0).all()):
                adds = [_constant_contribution(c, inputs[i], j) for i, c in enumerate(consumers)]
                constants = [a for a in adds if a is not None]
                if len(constants) < len(adds):
                    continue  # it varies with the position: kept
                if any(bool(a.any()) for a in constants):  # a constant to fold into the readers' biases
                    if any(c.module.bias is None for c in consumers):
                        continue
                    folds[j] = constants
                keep[j] = False
        if not keep.any():  # a layer cannot have no channels: keep the first
            keep[0] = True
            folds.pop(0, None)
        for constants in folds.values():
            for c, add in zip(consumers, constants):
                c.module.bias += add  # type: ignore[operator]
        if bool(keep.all()):
            continue
        _shrink(producer, chain, consumers, keep)
        removed[names[id(producer)]] = int((~keep).sum())
    return removed


def _shapes(model: nn.Module, graph: fx.Graph, example: torch.Tensor) -> dict[str, Any]:
    from torch.fx.passes.shape_prop import ShapeProp

    gm = fx.GraphModule(model, graph)
    ShapeProp(gm).propagate(example)
    return {
        n.name: tuple(n.meta["tensor_meta"].shape)
        for n in gm.graph.nodes
        if "tensor_meta" in n.meta and hasattr(n.meta["tensor_meta"], "shape")
    }


def _capture_inputs(model: nn.Module, example: torch.Tensor, layers: list[nn.Module]) -> list[torch.Tensor]:
    seen: dict[int, torch.Tensor] = {}
    handles = [m.register_forward_pre_hook(lambda mod, args: seen.setdefault(id(mod), args[0])) for m in layers]
    try:
        model(example[:1])
    finally:
        for h in handles:
            h.remove()
    return [seen[id(m)] for m in layers]


def _shrink(
    producer: nn.Conv1d | nn.Conv2d, chain: list[tuple[_BatchNorm, int]], consumers: list[_Consumer], keep: torch.Tensor
) -> None:
    """Keep only the ``keep`` output channels of ``producer`` and the matching inputs downstream."""
    producer.weight = nn.Parameter(producer.weight[keep].clone())
    if producer.bias is not None:
        producer.bias = nn.Parameter(producer.bias[keep].clone())
    producer.out_channels = int(keep.sum())
    for norm, per in chain:
        features = keep.repeat_interleave(per)  # a batch norm after flattening sees per features a channel
        for key in ("weight", "bias"):
            if getattr(norm, key) is not None:
                setattr(norm, key, nn.Parameter(getattr(norm, key)[features].clone()))
        for key in ("running_mean", "running_var"):
            if getattr(norm, key) is not None:
                setattr(norm, key, getattr(norm, key)[features].clone())
        norm.num_features = int(features.sum())
    for consumer in consumers:
        module = consumer.module
        if isinstance(module, nn.Linear):
            features = keep.repeat_interleave(consumer.spread)
            module.weight = nn.Parameter(module.weight[:, features].clone())
            module.in_features = int(features.sum())
        else:
            module.weight = nn.Parameter(module.weight[:, keep].clone())
            module.in_channels = int(keep.sum())
    for layer in (producer, *(c.module for c in consumers)):
        cache = layer.__dict__.get("_filter_cache")  # a band-limited layer's filter band
        if cache is not None:
            cache.clear()
