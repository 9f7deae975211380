"""Energy mode's measurements on a band-limited model: the rates that keep an energy on
calibration batches, and the rates a per-batch energy mode chose."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from ..functional.energy import rate_for_energy
from ..nn import BandLimitedConv1d, BandLimitedConv2d

__all__ = ["band_limited_layers", "chosen_rates", "energy_rates"]

BandLimitedConv = BandLimitedConv1d | BandLimitedConv2d


def band_limited_layers(model: nn.Module) -> dict[str, BandLimitedConv1d | BandLimitedConv2d]:
    """The band-limited layers of ``model`` by qualified name."""
    return {name: m for name, m in model.named_modules() if isinstance(m, BandLimitedConv)}


def energy_rates(
    model: nn.Module, loader: Iterable[torch.Tensor | Sequence[torch.Tensor]], energy: float, batches: int
) -> dict[str, float]:
    """Per band-limited layer of ``model``, the rate whose band keeps ``energy`` of its input
    spectra over the first ``batches`` batches of ``loader`` (see :func:`bandlimit.compress.calibrate_`).
    The model's layers, mode, parameters and buffers are left as they were."""
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
    return {
        name: min(rate_for_energy(power, grid, energy, layers[name].basis) for grid, power in seen.items())
        for name, seen in maps.items()
    }


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
