"""Structured Sparsity Learning (Wen et al., NIPS 2016): a group lasso that zeroes whole filters,
channels and filter shapes, after which the zero structure is physically removed.

Training with ``SSLConfig`` adds, to every step's loss, for each convolution ``W`` of shape
``(C_out, C_in, *kernel)``::

    filters  * sum_o ||W[o, :, ...]||_2  +  channels * sum_i ||W[:, i, ...]||_2
                                         +  shapes   * sum_{i,k} ||W[:, i, k]||_2

(each term weighted by ``sqrt`` of its group's size, as in the group lasso of Yuan and Lin).
Afterwards :func:`zero_small_groups_` sets the groups whose root-mean-square fell below a
threshold to exactly zero (the approximation, measured by accuracy), and
:func:`remove_zero_channels_` removes the zero filters and channels from the model: the
layers shrink, the model's outputs in eval mode do not change.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..checks import check_float
from ..errors import BandlimitError
from ..settings import setting
from .config import CompressionConfig
from .transform import register_transform

__all__ = ["SSLConfig", "group_norms", "remove_zero_channels_", "zero_small_groups_"]

_CONVS = (nn.Conv1d, nn.Conv2d)
_STRENGTH = "_bandlimit_ssl"  # a regularised layer's (filters, channels, shapes) strengths


def _strength(value: object, name: str) -> float:
    return check_float(value, name, minimum=0.0)


@dataclasses.dataclass(frozen=True)
class SSLConfig(CompressionConfig):
    """Structured sparsity: a group lasso over the filters, channels and shapes of convolutions.

    ``overrides`` maps a layer name or regex to its own strengths, e.g. ``{"features.0": {"filters": 0}}``.
    """

    method: ClassVar[str] = "ssl"
    ALIASES: ClassVar[Mapping[str, str]] = {}

    filters: float = setting(1e-3, help="group-lasso strength on whole filters (output channels)", check=_strength)
    channels: float = setting(1e-3, help="group-lasso strength on input channels", check=_strength)
    shapes: float = setting(0.0, help="group-lasso strength on filter shapes (an input channel's tap)", check=_strength)

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        terms = []
        for module in model.modules():
            strengths = getattr(module, _STRENGTH, None)
            if strengths is not None:
                assert isinstance(module, _CONVS)
                norms = group_norms(module.weight)
                terms += [s * norms[kind].sum() for s, kind in zip(strengths, ("filters", "channels", "shapes")) if s]
        return torch.stack(terms).sum() if terms else None


def group_norms(weight: torch.Tensor, rms: bool = False) -> dict[str, torch.Tensor]:
    """The L2 norms of a convolution weight's groups, each times ``sqrt`` of its size.

    Args:
        weight: ``(C_out, C_in, *kernel)``.
        rms: the root-mean-square of each group instead (comparable across group sizes).

    Returns:
        ``filters`` ``(C_out,)``, ``channels`` ``(C_in,)``, ``shapes`` ``(C_in, *kernel)``.
    """
    sums = {
        "filters": weight.square().flatten(1).sum(1),
        "channels": weight.square().transpose(0, 1).flatten(1).sum(1),
        "shapes": weight.square().sum(0),
    }
    sizes = {"filters": weight[0].numel(), "channels": weight[:, 0].numel(), "shapes": weight.shape[0]}
    if rms:
        return {k: (v / sizes[k]).sqrt() for k, v in sums.items()}
    # sqrt(size) * ||g||_2; the small epsilon keeps the gradient of an all-zero group finite.
    return {k: math.sqrt(sizes[k]) * (v + 1e-12).sqrt() for k, v in sums.items()}


@register_transform(SSLConfig, targets=_CONVS)
def _mark(module: nn.Module, config: SSLConfig) -> nn.Module:
    setattr(module, _STRENGTH, (config.filters, config.channels, config.shapes))
    return module


@torch.no_grad()
def zero_small_groups_(model: nn.Module, threshold: float = 0.1) -> dict[str, dict[str, int]]:
    """Set to zero every filter, channel and shape group of the regularised convolutions whose
    root-mean-square is below ``threshold`` times the median of its layer's groups of that kind.

    Relative, not absolute: a batch norm after a convolution makes the scale of its weights
    arbitrary, so the group lasso shrinks all of its groups together; a group is dead when it
    is small beside its siblings.

    Returns:
        Per layer, the number of groups of each kind that are zero now.
    """
    counts = {}
    for name, module in model.named_modules():
        if getattr(module, _STRENGTH, None) is None:
            continue
        weight = module.weight
        norms = group_norms(weight, rms=True)
        small = {kind: v < threshold * v.median() for kind, v in norms.items()}
        weight[small["filters"]] = 0
        weight[:, small["channels"]] = 0
        weight.mul_((~small["shapes"]).to(weight.dtype))
        after = group_norms(weight, rms=True)
        counts[name] = {kind: int((v == 0).sum()) for kind, v in after.items()}
    return counts


# Modules and functions that act on each channel alone: a channel can be followed through them.
_PER_CHANNEL_MODULES = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Identity,
    nn.Dropout,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
)
_PER_CHANNEL_FUNCTIONS = {F.relu, torch.relu, F.gelu, torch.sigmoid, torch.tanh, F.dropout, F.max_pool2d, F.avg_pool2d,
                          F.adaptive_avg_pool1d, F.adaptive_avg_pool2d}  # fmt: skip
_PER_CHANNEL_METHODS = {"relu", "sigmoid", "tanh", "contiguous"}


class _Tracer(fx.Tracer):
    """Keeps convolutions, linear layers and batch norms (and their subclasses) as leaves."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, (*_CONVS, nn.Linear, *_PER_CHANNEL_MODULES)) or super().is_leaf_module(m, qualname)


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
            if isinstance(target, _CONVS) and target.groups == 1 and per == 1:
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
                    isinstance(target, _PER_CHANNEL_MODULES)
                    or (user.op == "call_function" and user.target in _PER_CHANNEL_FUNCTIONS)
                    or (user.op == "call_method" and user.target in _PER_CHANNEL_METHODS)
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
    try:
        graph = _Tracer().trace(model)
    except Exception as err:  # noqa: BLE001 - fx raises many kinds; the user needs one message
        raise BandlimitError(f"cannot trace the model with torch.fx to find its channels: {err}") from None
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
        if not isinstance(producer, _CONVS) or producer.groups != 1 or calls[id(producer)] > 1:
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
            elif bool((producer.weight[j] == 0).all()) and all(c.module.bias is not None for c in consumers):
                adds = [_constant_contribution(c, inputs[i], j) for i, c in enumerate(consumers)]
                if all(a is not None for a in adds):
                    folds[j] = [a for a in adds if a is not None]
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
