"""Structured Sparsity Learning (Wen et al., NIPS 2016): a group lasso that zeroes whole filters,
channels and filter shapes, after which the zero structure is physically removed.

Training with ``SSLConfig`` adds, to every step's loss, for each convolution ``W`` of shape
``(C_out, C_in, *kernel)``::

    filters  * sum_o ||W[o, :, ...]||_2  +  channels * sum_i ||W[:, i, ...]||_2
                                         +  shapes   * sum_{i,k} ||W[:, i, k]||_2

(each term weighted by ``sqrt`` of its group's size, as in the group lasso of Yuan and Lin).
With ``depth``, each residual branch's convolutions form one more group, so that a whole
branch can go to zero. Afterwards :func:`zero_small_groups_` sets the groups whose
root-mean-square fell below a threshold to exactly zero (the approximation, measured by
accuracy), and :mod:`.structure` removes what is zero: ``remove_zero_channels_`` the zero
filters and channels, ``skip_zero_branches_`` the zero branches. The layers shrink, the
model's outputs in eval mode do not change.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import ClassVar

import torch
from torch import nn

from ..checks import check_float
from ..settings import setting
from .branches import branches
from .config import CompressionConfig
from .transform import register_transform

__all__ = ["SSLConfig", "group_norms", "zero_small_groups_"]

_CONVS = (nn.Conv1d, nn.Conv2d)
_STRENGTH = "_bandlimit_ssl"  # a regularised layer's (filters, channels, shapes) strengths
_DEPTH = "_bandlimit_ssl_depth"  # on the model: (strength, the residual branches' convolutions)


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
    depth: float = setting(
        0.0,
        help="group-lasso strength on each residual branch's convolutions taken together (the model must trace "
        "with torch.fx; a zero branch is skipped by skip_zero_branches_)",
        check=_strength,
    )

    def penalty(self, model: nn.Module) -> torch.Tensor | None:
        terms = []
        for module in model.modules():
            strengths = getattr(module, _STRENGTH, None)
            if strengths is not None:
                assert isinstance(module, _CONVS)
                norms = group_norms(module.weight)
                terms += [s * norms[kind].sum() for s, kind in zip(strengths, ("filters", "channels", "shapes")) if s]
        depth, groups = getattr(model, _DEPTH, (0.0, []))
        for convolutions in groups:
            weights = torch.cat([c.weight.flatten() for c in convolutions])
            terms.append(depth * math.sqrt(weights.numel()) * (weights.square().sum() + 1e-12).sqrt())
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


def _find_branches(model: nn.Module, config: SSLConfig) -> None:
    """Record the residual branches' convolutions on the model, for the depth term."""
    groups = [b.convolutions for b in branches(model)] if config.depth else []
    setattr(model, _DEPTH, (config.depth, groups))


@register_transform(SSLConfig, targets=_CONVS, finalize=_find_branches)
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

    With a depth term, a residual branch whose root-mean-square (over its convolutions) is below
    ``threshold`` times the median branch's has all its convolutions zeroed too.

    Returns:
        Per layer, the number of groups of each kind that are zero now; under ``"branches"``,
        the number of zero branches.
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
    _, groups = getattr(model, _DEPTH, (0.0, []))
    if groups:
        rms = torch.stack([torch.cat([c.weight.flatten() for c in g]).square().mean().sqrt() for g in groups])
        for convolutions, small in zip(groups, rms < threshold * rms.median()):
            if small:
                for conv in convolutions:
                    conv.weight.zero_()
        counts["branches"] = {"zero": sum(int(not any(bool(c.weight.any()) for c in g)) for g in groups)}
    return counts
