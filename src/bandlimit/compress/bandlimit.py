"""The band-limiting method: its config, its transform, and the knobs of converted models."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from .. import recompute
from ..checks import check_bool, check_fraction, check_int, check_rate, optional
from ..errors import ConfigError
from ..functional.conv import BASES
from ..functional.energy import rate_for_energy
from ..nn import BandLimitedConv1d, BandLimitedConv2d
from ..settings import setting
from .config import CompressionConfig
from .summary import summary
from .transform import compress_, register_transform, replace_modules, retype

__all__ = ["BandLimitConfig", "band_limited_layers", "calibrate_", "chosen_rates", "restore_", "set_rate"]

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
    EXCLUSIVE: ClassVar[tuple[tuple[str, str], ...]] = (("rate", "energy"),)  # energy chooses the rates
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
    basis: str = setting(
        "fft",
        help="the basis whose low band is kept: fft (the paper's) or dct (DCT-II of the input, no wrap-around; "
        "the convolution itself runs direct)",
        choices=BASES,
    )
    energy: float | None = setting(
        None,
        help="energy mode instead of rate: per layer, the smallest band holding this fraction of the input "
        "spectrum's energy, in (0, 1], chosen per batch (or once, with calibrate)",
        check=optional(check_fraction),
    )
    calibrate: int = setting(
        0,
        help="with energy: choose each layer's band once, on this many training batches, then train at those "
        "fixed per-layer rates (0: choose per batch)",
        check=lambda v, name: check_int(v, name, minimum=0),
    )
    calibrated_energy: float | None = setting(
        None,
        help="set by calibration: the energy that the per-layer rates in overrides were calibrated to",
        check=optional(check_fraction),
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.where_it_pays and self.basis != "fft":
            raise ConfigError(
                f"where_it_pays prices the FFT basis only; it cannot be combined with basis={self.basis!r}"
            )

    @property
    def needs_calibration(self) -> bool:
        """Energy mode with ``calibrate`` batches whose per-layer rates are not measured yet."""
        return self.energy is not None and self.calibrate > 0

    def rate_for(self, name: str) -> float:
        """The rate of the layer with qualified name ``name``."""
        return self.for_layer(name).rate

    @property
    def per_batch(self) -> bool:
        """Energy mode choosing each call's band (not calibrated)."""
        return self.energy is not None and self.calibrate == 0

    def prepare(
        self, model: nn.Module, batches: Iterable[torch.Tensor], trained: CompressionConfig | None = None
    ) -> CompressionConfig:
        """Calibration (:func:`calibrate_`) if this config asks for it; a resumed run's calibrated
        rates are applied again rather than measured anew."""
        if not self.needs_calibration:
            return self
        if isinstance(trained, BandLimitConfig) and trained.calibrated_energy == self.energy:
            compress_(model, trained)
            return trained
        assert self.energy is not None
        return calibrate_(model, batches, self.energy, self.calibrate, self)

    def begin_epoch(self, model: nn.Module, epoch: int, epochs: int) -> None:
        if self.per_batch:  # an epoch's mean rate is over its own training batches only
            chosen_rates(model)

    def epoch_metrics(self, model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, Any]:
        """``rate``, and ``achieved_rate``: the layers' mean rate (per batch in energy mode: the
        epoch's training batches' mean, with ``layer_rates`` per layer)."""
        if self.per_batch:
            layer_rates = chosen_rates(model)
            achieved = sum(layer_rates.values()) / max(1, len(layer_rates))
            return {"rate": self.rate, "achieved_rate": achieved, "layer_rates": layer_rates}
        rates = [r.rate for r in summary(model, (2, *input_shape)) if r.grid is not None]
        return {"rate": self.rate, "achieved_rate": sum(rates) / len(rates) if rates else 0.0}


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
    # Either order of the two could be refused by the layer mid-change: clear, then set both.
    new.where_it_pays = False
    new.basis = config.basis
    new.where_it_pays = config.where_it_pays
    # Until calibrated, a calibrating config chooses per batch like the dynamic mode.
    new.energy = config.energy
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
        for key in ("_where_it_pays", "_basis", "_energy", "_chosen"):
            new.__dict__.pop(key, None)
        new.__dict__.pop("_filter_cache", None)
        return new

    recompute.uninstall(model)
    return replace_modules(model, convert)


def calibrate_(
    model: nn.Module,
    loader: Iterable[torch.Tensor | Sequence[torch.Tensor]],
    energy: float = 0.9,
    batches: int = 8,
    config: BandLimitConfig | None = None,
) -> BandLimitConfig:
    """Choose each band-limited layer's band once at ``energy`` and freeze it as a static rate.

    Runs ``model`` in eval mode under ``no_grad`` on the first ``batches`` batches of ``loader``
    (tensors, or ``(input, target)`` pairs), with every layer in energy mode so that each sees
    inputs as the dynamic mode would. A layer's band keeps ``energy`` of its input spectra summed
    over those batches (over every input size it saw, the smallest rate). Parameters, buffers
    and the training mode are left as they were.

    Returns:
        ``config`` (default ``BandLimitConfig()``) with the per-layer rates in ``overrides``,
        energy mode off and ``calibrated_energy`` set: applying it with ``compress_`` gives the
        same layers, and it is saved with a run so that a resumed run keeps them.
    """
    energy = check_fraction(energy, "energy")
    batches = check_int(batches, "batches", minimum=1)
    layers = band_limited_layers(model)
    if not layers:
        raise ValueError("calibrate_ needs a model with band-limited layers: apply BandLimitConfig first")
    maps: dict[str, dict[tuple[int, ...], torch.Tensor]] = {name: {} for name in layers}

    def record(name: str) -> Callable[[nn.Module, tuple[torch.Tensor, ...]], None]:
        def hook(layer: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            assert isinstance(layer, BandLimitedConv)
            x = inputs[0]
            grid = layer.energy_grid(tuple(x.shape[-len(layer.kernel_size) :]))
            power = layer.spectral_energy(x)
            maps[name][grid] = maps[name][grid] + power if grid in maps[name] else power

        return hook

    handles = [layer.register_forward_pre_hook(record(name)) for name, layer in layers.items()]
    previous = {name: layer.energy for name, layer in layers.items()}
    training = model.training
    try:
        for layer in layers.values():
            layer.energy = energy
        model.eval()
        with torch.no_grad():
            for _, batch in zip(range(batches), loader):
                model(batch if isinstance(batch, torch.Tensor) else batch[0])
    finally:
        model.train(training)
        for handle in handles:
            handle.remove()
        for name, layer in layers.items():
            layer.energy = previous[name]
    unused = [name for name, seen in maps.items() if not seen]
    if unused:
        raise ValueError(f"calibrate_: layers {unused} saw no input in {batches} batches of the loader")
    rates = {
        name: min(rate_for_energy(power, grid, energy, layers[name].basis) for grid, power in seen.items())
        for name, seen in maps.items()
    }
    for name, layer in layers.items():
        layer.energy, layer.rate = None, rates[name]
    base = config or BandLimitConfig()
    return dataclasses.replace(
        base, energy=None, calibrate=0, calibrated_energy=energy, overrides={**base.overrides, **rates}
    )


def chosen_rates(model: nn.Module, reset: bool = True) -> dict[str, float]:
    """Energy mode: each band-limited layer's mean achieved rate over its calls since the last
    reset (the layers called at least once), and start new averages if ``reset``."""
    out = {}
    for name, layer in band_limited_layers(model).items():
        chosen = layer.chosen_rate
        if chosen is not None:
            out[name] = chosen[1]
        if reset:
            layer.reset_chosen_rate()
    return out
