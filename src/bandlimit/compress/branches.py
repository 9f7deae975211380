"""Residual branches found in a traced model, and the skipping of those whose last convolution is
zero: the branch adds a constant, so its layers are replaced by that constant (SSL's depth-wise
sparsity) and the outputs in eval mode stay the same.
"""

from __future__ import annotations

import dataclasses
import operator
from collections import Counter

import torch
from torch import fx, nn

from ..functional.arguments import resolve_padding
from .tracing import CONVS, SHAPE_KEEPING, BranchConstant, trace

__all__ = ["Branch", "branches", "skip_zero_branches_"]

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
        return [m for m in self.modules if isinstance(m, CONVS)]


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
    graph = trace(model)
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
            if names and any(isinstance(modules[n], CONVS) for n in names):
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
            or not isinstance(module, (*CONVS, *SHAPE_KEEPING))
            or calls[id(module)] > 1
            or len(current.all_input_nodes) != 1
            or len(current.users) != 1
        ):
            return None
        names.insert(0, str(current.target))
        current = current.all_input_nodes[0]
    return names


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
            last = max(i for i, m in enumerate(branch.modules) if isinstance(m, CONVS))
            conv = branch.modules[last]
            assert isinstance(conv, CONVS)
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
