"""StrassenNets as a compression method: convolutions (and, if asked, linear layers) become
sum-product layers with ternary weights and a budget of ``r`` multiplications
(:mod:`bandlimit.nn.strassen`).

``compress_(model, StrassenConfig(hidden=1.0))`` replaces every ``nn.Conv1d`` / ``nn.Conv2d``
(zero padding, no dilation or groups) by a :class:`StrassenConv1d` / :class:`StrassenConv2d` with
``r = hidden * C_out`` products per position; the layers are new (trained from scratch, or
distilled from the original model). In a training run the config's :meth:`begin_epoch`
follows the three phases: full-precision ``W_b, W_c`` for the first ``full_epochs`` of the
epochs, ternary for the next ``ternary_epochs``, then ternary and frozen while the rest
(the factors ``a``, batch norms, biases, other layers) fine-tunes.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import ClassVar

import torch
from torch import nn

from ..checks import check_bool, check_float, check_int, check_unit
from ..errors import ConfigError
from ..functional.ternary import MODES
from ..nn.strassen import StrassenConv1d, StrassenConv2d, StrassenLinear
from ..settings import setting
from .config import CompressionConfig
from .costs import LayerCount
from .transform import register_transform

__all__ = ["StrassenConfig", "strassen_layers", "strassen_phase"]

StrassenConv = StrassenConv1d | StrassenConv2d
_LAYERS = (StrassenConv1d, StrassenConv2d, StrassenLinear)


_at_least_one = functools.partial(check_int, minimum=1)


@dataclasses.dataclass(frozen=True)
class StrassenConfig(CompressionConfig):
    """StrassenNets: convolutions as ternary sum-product layers with a multiplication budget."""

    method: ClassVar[str] = "strassen"
    OVERRIDE_FIELD: ClassVar[str | None] = "hidden"
    ALIASES: ClassVar[Mapping[str, str]] = {}

    hidden: float = setting(
        1.0,
        help="r, the products per position, relative to the layer's output channels",
        check=functools.partial(check_float, above=0.0),
    )
    patch: int = setting(1, help="p: the output patch (p x p) each product serves", check=_at_least_one)
    groups: int = setting(1, help="groups of W_b and W_c", check=_at_least_one)
    quantization: str = setting(
        "twn",
        help="ternary quantisation: twn (threshold 0.7 mean|w|, rescaled) or fixed (threshold, values -1/0/1)",
        choices=MODES,
    )
    threshold: float = setting(
        0.5, help="the fixed quantisation's threshold", check=functools.partial(check_float, minimum=0.0)
    )
    full_epochs: float = setting(
        1 / 3, help="in training: fraction of the epochs with full-precision W_b and W_c", check=check_unit
    )
    ternary_epochs: float = setting(
        1 / 3,
        help="in training: fraction of the epochs with ternary W_b and W_c (then frozen while the rest fine-tunes)",
        check=check_unit,
    )
    linear: bool = setting(
        False, help="convert linear layers too (the classifier stays dense otherwise)", check=check_bool
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.full_epochs + self.ternary_epochs > 1:
            raise ConfigError(
                f"full_epochs + ternary_epochs must be <= 1, got {self.full_epochs} + {self.ternary_epochs}"
            )

    def phase_at(self, epoch: int, epochs: int) -> str:
        """The phase of epoch ``epoch`` (0-based) of ``epochs``."""
        if epoch < round(self.full_epochs * epochs):
            return "full"
        if epoch < round((self.full_epochs + self.ternary_epochs) * epochs):
            return "ternary"
        return "frozen"

    def begin_epoch(self, model: nn.Module, epoch: int, epochs: int) -> None:
        strassen_phase(model, self.phase_at(epoch, epochs))

    @classmethod
    def layer_count(cls, name: str, module: nn.Module, out_shape: torch.Size) -> LayerCount | None:
        """A sum-product layer multiplies only by its factors ``a``; its ternary ``W_b`` and
        ``W_c`` add (see :mod:`bandlimit.compress.counting`)."""
        return _count(name, module, out_shape) if isinstance(module, _LAYERS) else None


def strassen_layers(model: nn.Module) -> dict[str, StrassenConv1d | StrassenConv2d | StrassenLinear]:
    """The sum-product layers of ``model`` by qualified name."""
    return {n: m for n, m in model.named_modules() if isinstance(m, _LAYERS)}


def strassen_phase(model: nn.Module, phase: str) -> nn.Module:
    """Set every sum-product layer's phase (``full``, ``ternary`` or ``frozen``)."""
    for layer in strassen_layers(model).values():
        layer.phase = phase
    return model


def _hidden(config: StrassenConfig, out: int) -> int:
    """``r``: ``hidden * out`` rounded to a positive multiple of the groups."""
    return max(1, round(config.hidden * out / config.groups)) * config.groups


def _sums(rows: torch.Tensor) -> int:
    """Additions to sum the non-zero terms of each row of a ternary matrix: ``nnz - 1`` per row."""
    nnz = rows.ne(0).sum(1)
    return int((nnz - 1).clamp_min(0).sum())


def _count(name: str, module: StrassenConv | StrassenLinear, out: torch.Size) -> LayerCount:
    """A sum-product layer's arithmetic (see :mod:`bandlimit.compress.counting`); ``out``: its
    output shape for one sample, ``(1, C_out, *spatial)`` or ``(1, *, out)``."""
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


_CONVERTED: dict[type[nn.Module], type[nn.Module]] = {nn.Conv1d: StrassenConv1d, nn.Conv2d: StrassenConv2d}


@register_transform(StrassenConfig, targets=(nn.Conv1d, nn.Conv2d, nn.Linear))
def _to_strassen(module: nn.Module, config: StrassenConfig) -> nn.Module | None:
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    new: nn.Module
    if isinstance(module, nn.Linear):
        if not config.linear:
            return None
        new = StrassenLinear(
            module.in_features,
            module.out_features,
            _hidden(config, module.out_features),
            bias=module.bias is not None,
            quantization=config.quantization,
            threshold=config.threshold,
        )
    else:
        assert isinstance(module, (nn.Conv1d, nn.Conv2d))
        convertible = (
            all(d == 1 for d in module.dilation)
            and module.groups == 1
            and module.padding_mode == "zeros"
            and (config.patch == 1 or all(s == 1 for s in module.stride))
            and module.in_channels % config.groups == 0
            and module.out_channels % config.groups == 0
        )
        if not convertible:
            return None  # left as it is: compress_ reports the layers it converted
        new = _CONVERTED[type(module)](
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            _hidden(config, module.out_channels),
            stride=module.stride,
            padding=module.padding,
            bias=module.bias is not None,
            patch=config.patch,
            groups=config.groups,
            quantization=config.quantization,
            threshold=config.threshold,
        )
    return new.to(device=weight.device, dtype=weight.dtype)
