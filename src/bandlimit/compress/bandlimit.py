"""The band-limiting method: its config, its transform, and the knobs of converted models."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import ClassVar

from torch import nn

from .. import recompute
from ..checks import check_bool, check_rate
from ..nn import BandLimitedConv1d, BandLimitedConv2d
from ..settings import setting
from .config import CompressionConfig
from .transform import register_transform, replace_modules, retype

__all__ = ["BandLimitConfig", "band_limited_layers", "restore_", "set_rate"]

# Plain convolution type -> band-limited type, and back.
_TO_BAND_LIMITED: dict[type[nn.Module], type[nn.Module]] = {nn.Conv1d: BandLimitedConv1d, nn.Conv2d: BandLimitedConv2d}
_TO_PLAIN = {v: k for k, v in _TO_BAND_LIMITED.items()}
BandLimitedConv = BandLimitedConv1d | BandLimitedConv2d


@dataclasses.dataclass(frozen=True)
class BandLimitConfig(CompressionConfig):
    """Band-limit every ``nn.Conv1d`` / ``nn.Conv2d`` at ``rate`` (with ``where_it_pays``, only
    where the cost model estimates it to be faster than the plain convolution).

    ``overrides`` maps a layer name or regex to its own rate, e.g. ``{r"stages\\.3\\..*": 0.8}``.
    Layers that are band-limited already only take the new rate and mode.
    """

    method: ClassVar[str] = "bandlimit"
    OVERRIDE_FIELD: ClassVar[str | None] = "rate"
    ALIASES: ClassVar[Mapping[str, str]] = {
        "rate": "rate",
        "override": "overrides",
        "rate_overrides": "overrides",
        "spectral_checkpoints": "checkpoint",
    }

    rate: float = setting(
        0.5, help="compression rate in [0, 1): the fraction of spectral coefficients discarded", check=check_rate
    )
    checkpoint: bool = setting(
        False,
        help="spectral checkpoints: recompute the activations between band-limited layers in backward from "
        "their saved spectra instead of keeping them (whole model; less memory, some recomputation)",
        check=check_bool,
    )

    where_it_pays: bool = setting(
        False,
        help="band-limit a layer only for input sizes where the cost model estimates a training step faster "
        "than the plain convolution, and run the plain convolution elsewhere (off in the paper's setting)",
        check=check_bool,
    )

    def rate_for(self, name: str) -> float:
        """The rate of the layer with qualified name ``name``."""
        return self.for_layer(name).rate


def _install_checkpoints(model: nn.Module, config: BandLimitConfig) -> None:
    if config.checkpoint:
        recompute.install(model)
    else:
        recompute.uninstall(model)


@register_transform(BandLimitConfig, targets=(*_TO_BAND_LIMITED, *_TO_PLAIN), finalize=_install_checkpoints)
def _band_limit(module: nn.Conv1d | nn.Conv2d, config: BandLimitConfig) -> nn.Module:
    new = module if isinstance(module, BandLimitedConv) else retype(module, _TO_BAND_LIMITED[type(module)])
    assert isinstance(new, BandLimitedConv)
    new.rate = config.rate
    new.where_it_pays = config.where_it_pays
    return new


def band_limited_layers(model: nn.Module) -> dict[str, BandLimitedConv1d | BandLimitedConv2d]:
    """The band-limited layers of ``model`` by qualified name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, BandLimitedConv)}


def set_rate(model: nn.Module, rate: float) -> nn.Module:
    """Set the compression rate of every band-limited layer (e.g. between training and inference)."""
    rate = check_rate(rate)
    for layer in band_limited_layers(model).values():
        layer.rate = rate
    return model


def restore_(model: nn.Module) -> nn.Module:
    """Turn every band-limited layer back into a plain ``nn.Conv1d`` / ``nn.Conv2d``, in place."""

    def convert(module: nn.Module, name: str) -> nn.Module | None:
        if type(module) not in _TO_PLAIN:
            return None
        new = retype(module, _TO_PLAIN[type(module)])
        del new.__dict__["_rate"]
        new.__dict__.pop("_where_it_pays", None)
        new.__dict__.pop("_filter_cache", None)
        return new

    recompute.uninstall(model)
    return replace_modules(model, convert)
