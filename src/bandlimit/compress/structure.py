"""Removal of zero structure, traced with ``torch.fx``: the layers shrink, the outputs in eval
mode stay the same (up to float rounding).

- :func:`remove_zero_channels_`: zero filters, and input channels that nobody reads, leave
  their convolution, the batch norms after it and the layers that read it;
- :func:`skip_zero_branches_`: a residual branch whose last convolution is zero adds a
  constant, so its layers are replaced by that constant (SSL's depth-wise sparsity);
- :func:`remove_zero_shapes_`: filter-shape columns that are zero in every filter leave the
  convolution's lowered (im2col) product (SSL's shape-wise sparsity).

Both keep anything they cannot prove exact: channels that meet an addition or concatenation,
layers called more than once, operations not known to act per channel.
"""

from __future__ import annotations

import dataclasses
import operator
from collections import Counter
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..errors import BandlimitError
from ..functional.arguments import resolve_padding
from ..nn.sparse import ColumnPrunedConv

__all__ = [
    "Branch",
    "BranchConstant",
    "branches",
    "remove_zero_channels_",
    "remove_zero_shapes_",
    "skip_zero_branches_",
]

_CONVS = (nn.Conv1d, nn.Conv2d)

# Per-channel modules that keep the spatial size: a residual branch may hold them.
_SHAPE_KEEPING = (
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
)
# Modules and functions that act on each channel alone: a channel can be followed through them.
_PER_CHANNEL_MODULES = (
    *_SHAPE_KEEPING,
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
        leaves = (*_CONVS, nn.Linear, *_PER_CHANNEL_MODULES, BranchConstant)
        return isinstance(m, leaves) or super().is_leaf_module(m, qualname)


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
    graph = _trace(model)
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


_ADDS = {operator.add, operator.iadd, torch.add}


@dataclasses.dataclass
class Branch:
    """A residual branch: a chain of single-input modules from where it forks off to an addition.

    Attributes:
        names: the chain's modules' qualified names, in forward order.
        modules: the modules.
    """

    names: list[str]
    modules: list[nn.Module]

    @property
    def convolutions(self) -> list[nn.Conv1d | nn.Conv2d]:
        return [m for m in self.modules if isinstance(m, _CONVS)]


def _trace(model: nn.Module) -> fx.Graph:
    try:
        return _Tracer().trace(model)
    except Exception as err:  # noqa: BLE001 - fx raises many kinds; the user needs one message
        raise BandlimitError(f"cannot trace the model with torch.fx to find its structure: {err}") from None


def _ancestors(node: fx.Node) -> set[fx.Node]:
    seen: set[fx.Node] = set()
    todo = [node]
    while todo:
        for parent in todo.pop().all_input_nodes:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def branches(model: nn.Module) -> list[Branch]:
    """The residual branches of ``model``: for each addition of two tensors, each side that is a
    chain of convolutions and shape-keeping per-channel modules (each called once, each output
    used once) back to where it forks from the other side.

    Raises:
        BandlimitError: the model cannot be traced with ``torch.fx``.
    """
    graph = _trace(model)
    modules = dict(model.named_modules(remove_duplicate=False))
    calls = Counter(id(modules[str(n.target)]) for n in graph.nodes if n.op == "call_module")
    found = []
    for node in graph.nodes:
        is_add = (node.op == "call_function" and node.target in _ADDS) or (
            node.op == "call_method" and node.target in ("add", "add_")
        )
        inputs = [a for a in node.args[:2] if isinstance(a, fx.Node)]
        if not is_add or len(inputs) != 2:
            continue
        for side, other in (inputs, inputs[::-1]):
            names = _chain(side, other, modules, calls)
            if names and any(isinstance(modules[n], _CONVS) for n in names):
                found.append(Branch(names, [modules[n] for n in names]))
    return found


def _chain(side: fx.Node, other: fx.Node, modules: dict[str, nn.Module], calls: Counter[int]) -> list[str] | None:
    """The modules from the fork with ``other`` to ``side``, or None if ``side`` is not a chain."""
    stop = _ancestors(other) | {other}
    names: list[str] = []
    current = side
    while current not in stop:
        module = modules.get(str(current.target)) if current.op == "call_module" else None
        if (
            module is None
            or not isinstance(module, (*_CONVS, *_SHAPE_KEEPING))
            or calls[id(module)] > 1
            or len(current.all_input_nodes) != 1
            or len(current.users) != 1
        ):
            return None
        names.insert(0, str(current.target))
        current = current.all_input_nodes[0]
    return names


class BranchConstant(nn.Module):
    """What a skipped residual branch adds: a constant per channel, at the size the branch's
    convolutions would have produced.

    Args:
        value: ``(C,)``, the branch's output per channel.
        geometry: per convolution of the branch, ``(kernel, stride, padding (before, after),
            dilation)`` per spatial dimension.
    """

    def __init__(self, value: torch.Tensor, geometry: list[tuple[tuple[int, int, tuple[int, int], int], ...]]) -> None:
        super().__init__()
        self.value: torch.Tensor
        self.register_buffer("value", value)
        self.geometry = geometry

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ndim = len(self.geometry[0])
        size = list(x.shape[-ndim:])
        for conv in self.geometry:
            for i, (k, s, (before, after), d) in enumerate(conv):
                size[i] = (size[i] + before + after - d * (k - 1) - 1) // s + 1
        lead = x.shape[: -ndim - 1]
        value = self.value.view(*([1] * len(lead)), -1, *([1] * ndim))
        return value.expand(*lead, -1, *size).contiguous()  # contiguous: in-place ops may follow


@torch.no_grad()
def skip_zero_branches_(model: nn.Module) -> list[str]:
    """Replace each residual branch whose last convolution has only zero weights by the constant
    it adds (its bias through the per-channel modules after it, in eval mode), in place.

    Returns:
        The names of the skipped branches' first modules.
    """
    skipped = []
    was_training = model.training
    model.eval()
    try:
        for branch in branches(model):
            last = max(i for i, m in enumerate(branch.modules) if isinstance(m, _CONVS))
            conv = branch.modules[last]
            assert isinstance(conv, _CONVS)
            if bool(conv.weight.any()):
                continue
            ndim = len(conv.kernel_size)
            value = conv.bias if conv.bias is not None else conv.weight.new_zeros(conv.out_channels)
            value = value.view(1, -1, *([1] * ndim))
            for module in branch.modules[last + 1 :]:
                value = module(value)
            geometry = [_geometry(m) for m in branch.convolutions]
            replacement: list[nn.Module] = [BranchConstant(value.flatten().clone(), geometry)]
            replacement += [nn.Identity() for _ in branch.names[1:]]
            for name, new in zip(branch.names, replacement):
                parent, _, child = name.rpartition(".")
                setattr(model.get_submodule(parent), child, new)
            skipped.append(branch.names[0])
    finally:
        model.train(was_training)
    return skipped


def _geometry(conv: nn.Conv1d | nn.Conv2d) -> tuple[tuple[int, int, tuple[int, int], int], ...]:
    if conv.padding_mode != "zeros":
        pads = tuple((p, p) for p in conv._reversed_padding_repeated_twice[::2][::-1])
    else:
        pads = resolve_padding(conv.padding, conv.kernel_size, conv.dilation, conv.stride)
    return tuple(zip(conv.kernel_size, conv.stride, pads, conv.dilation))


@torch.no_grad()
def remove_zero_shapes_(model: nn.Module) -> dict[str, int]:
    """Replace each plain convolution (``groups=1``) that has all-zero filter-shape columns by a
    :class:`~bandlimit.nn.sparse.ColumnPrunedConv` without them, in place. Run it after
    :func:`remove_zero_channels_` and :func:`skip_zero_branches_`, which look for convolutions.

    Returns:
        The number of columns removed from each replaced layer, by name.
    """
    removed = {}
    for name, module in list(model.named_modules()):
        if type(module) not in _CONVS or module.groups != 1:
            continue
        keep = module.weight.reshape(module.out_channels, -1).ne(0).any(0)
        if bool(keep.all()) or not bool(keep.any()):
            continue
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, ColumnPrunedConv(module, keep))
        removed[name] = int((~keep).sum())
    return removed
