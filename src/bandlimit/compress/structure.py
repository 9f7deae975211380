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

The first two live in :mod:`.channels` and :mod:`.branches`, over the graph that
:mod:`.tracing` traces; this module holds the third and is the home of their public names.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nn.sparse import ColumnPrunedConv
from .branches import Branch, branches, skip_zero_branches_
from .channels import remove_zero_channels_
from .tracing import CONVS, BranchConstant

__all__ = [
    "Branch",
    "BranchConstant",
    "branches",
    "remove_zero_channels_",
    "remove_zero_shapes_",
    "skip_zero_branches_",
]


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
        if type(module) not in CONVS or module.groups != 1:
            continue
        keep = module.weight.reshape(module.out_channels, -1).ne(0).any(0)
        if bool(keep.all()) or not bool(keep.any()):
            continue
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent), child, ColumnPrunedConv(module, keep))
        removed[name] = int((~keep).sum())
    return removed
