"""Sparse execution as a compression method: pruned weights run as CSR at inference.

``compress_(model, [PruneConfig(amount=0.9), SparseConfig(min_sparsity=0.8)])`` prunes, then
swaps each convolution and linear layer that is sparse enough for its CSR module
(:mod:`bandlimit.nn.sparse`), which keeps the parameters, the masks and the state dict. The
break-even sparsity below which CSR is slower than the dense product depends on the layer and
the CPU: ``bandlimit sparsity-bench`` measures it.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import ClassVar

import torch
from torch import nn

from ..checks import check_bool, check_unit
from ..nn.sparse import CsrConv1d, CsrConv2d, CsrLayer, CsrLinear
from ..settings import setting
from .config import CompressionConfig
from .transform import register_transform, retype

__all__ = ["SparseConfig", "sparse_layers"]

_TO_CSR: dict[type[nn.Module], type[nn.Module]] = {nn.Conv1d: CsrConv1d, nn.Conv2d: CsrConv2d, nn.Linear: CsrLinear}


@dataclasses.dataclass(frozen=True)
class SparseConfig(CompressionConfig):
    """Run convolution and linear layers with enough zero weights as CSR x dense at inference."""

    method: ClassVar[str] = "sparse"
    OVERRIDE_FIELD: ClassVar[str | None] = "min_sparsity"

    min_sparsity: float = setting(
        0.0,
        help="convert only layers with at least this fraction of zero weights (the break-even sparsity that "
        "`bandlimit sparsity-bench` measures), in [0, 1]",
        check=functools.partial(check_unit, meaning="a fraction of zero weights"),
    )
    activations: bool = setting(
        False,
        help="multiply by the activations as CSR too (sparse x sparse: pays for ReLU-sparse inputs)",
        check=check_bool,
    )


def sparse_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The CSR-executing layers of ``model`` by qualified name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, CsrLayer)}


@register_transform(SparseConfig, targets=(*_TO_CSR, *_TO_CSR.values()))
def _to_csr(module: nn.Module, config: SparseConfig) -> nn.Module | None:
    weight = module.weight  # under pruning: the masked weight the pre-hook computed
    assert isinstance(weight, torch.Tensor)
    if float((weight == 0).sum()) / weight.numel() < config.min_sparsity:
        return None
    csr_type = _TO_CSR.get(type(module), type(module))
    new = module if csr_type is type(module) else retype(module, csr_type)
    assert isinstance(new, CsrLayer)
    new.sparse_input = config.activations
    return new
