"""The band-limiting method: its config, its transform, and the knobs of converted models."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from .. import recompute
from ..checks import check_bool, check_fraction, check_int, check_rate, optional
from ..errors import ConfigError
from ..functional.conv import BASES
from ..functional.cost import direct_conv_flops
from ..functional.plan import plan_conv
from ..nn import BandLimitedConv1d, BandLimitedConv2d
from ..settings import setting
from .calibration import band_limited_layers, chosen_rates, energy_rates
from .config import CompressionConfig
from .costs import LayerCost
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

    @classmethod
    def layer_cost(
        cls, module: nn.Module, in_spatial: tuple[int, ...], out_spatial: tuple[int, ...], batch: int
    ) -> LayerCost | None:
        """A band-limited layer's band, and its paths and FLOPs as its plans for a training step
        and for inference (filter band cached) give them (:func:`plan_conv`)."""
        if not isinstance(module, BandLimitedConv):
            return None
        shape = module.conv_shape(in_spatial, batch)
        flops = direct_conv_flops(
            module.in_channels, module.out_channels, module.groups, module.kernel_size, out_spatial
        )
        band = module.band(in_spatial)
        rate = module.effective_rate(in_spatial)
        if module.where_it_pays and rate == 0:
            return LayerCost(flops, band.grid, band.achieved_rate, path="plain", inference_path="plain")
        device = module.weight.device.type
        dtype = module.weight.dtype  # or the autocast dtype, if the summary runs under autocast
        if torch.is_autocast_enabled(device) and dtype == torch.float32:
            dtype = torch.get_autocast_dtype(device)
        step, inference = (
            plan_conv(
                shape, rate, module.basis, training=not eval_, cached_filter=eval_, dtype=dtype, device_type=device
            )
            for eval_ in (False, True)
        )
        # The training forward's FLOPs: the planned step's forward (a forward-only plan of its path).
        forward = step.basis.flops(shape, step.band, step.path, training=False, cached_filter=False)
        # A cached band entry: complex, or its 2 x 2 real block form in bf16/fp16 (as many bytes).
        entry = 8 if step.compute_dtype in (torch.float16, torch.bfloat16) else 2 * step.compute_dtype.itemsize
        cache = step.band.kept * module.out_channels * (module.in_channels // module.groups) * entry
        return LayerCost(
            flops=(forward or 0.0) / batch,
            grid=band.grid,
            rate=band.achieved_rate,
            path=step.path,
            inference_path=inference.path,
            filter_cache_bytes=cache if inference.path == "spectral" else 0,
            compute=str(step.compute_dtype).removeprefix("torch."),
        )


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
    rates = energy_rates(model, loader, energy, batches)
    layers = band_limited_layers(model)
    for name, layer in layers.items():
        layer.energy, layer.rate = None, rates[name]
    base = config or BandLimitConfig()
    return dataclasses.replace(
        base, energy=None, calibrate=0, calibrated_energy=energy, overrides={**base.overrides, **rates}
    )
