"""The files of ``bandlimit error`` and ``bandlimit spectrum``: the error of the band-limited
convolution by rate, pictures of spectra, and the spectrum a trained layer sees.

Each function checks every argument before it writes anything, so a refused call leaves
``out`` as it was.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch

from ..checks import check_int, check_rate
from ..data import load_dataset
from ..errors import ConfigError
from ..functional.shape import ConvShape
from ..io import atomic_write_text
from ..train import check_out_dir
from ..train.run import load_trained
from .spectra import conv_error, default_filter, load_image, plot_error, plot_series_1d, plot_spectrum_2d

__all__ = ["ErrorFiles", "write_conv_error", "write_layer_spectrum", "write_spectra"]

DEFAULT_SERIES = "ucr:FiftyWords"


class ErrorFiles(NamedTuple):
    """What :func:`write_conv_error` computed and wrote."""

    rows: list[dict[str, float | str]]  # :func:`.spectra.conv_error`'s rows
    results: Path  # error.json: the rows
    plot: Path  # error.png: relative error against achieved rate


def write_conv_error(
    out: str | Path, rates: Sequence[float], image: str | Path | None = None, *, kernel: int = 5, seed: int = 0
) -> ErrorFiles:
    """The error of the band-limited convolution of ``image`` with a random ``kernel`` x
    ``kernel`` filter by rate (:func:`.spectra.conv_error`), written to ``out/error.json`` and
    plotted to ``out/error.png``.

    Args:
        image: an image file (default matplotlib's sample photograph), resized to 3x32x32.
        kernel, seed: size and seed of the filter's standard normal weights.
    """
    rates = [check_rate(r) for r in rates]
    out = check_out_dir(out)
    weights = default_filter(kernel=check_int(kernel, "kernel", minimum=1), seed=seed)
    rows = conv_error(load_image(image), weights, rates)
    out.mkdir(parents=True, exist_ok=True)
    files = ErrorFiles(rows, out / "error.json", out / "error.png")
    atomic_write_text(files.results, json.dumps(rows, indent=2))
    plot_error(rows, files.plot)
    return files


def write_spectra(
    out: str | Path,
    rates: Sequence[float],
    image: str | Path | None = None,
    series: str | None = None,
    index: int = 0,
) -> tuple[Path, Path]:
    """Pictures of the band kept at ``rates``: in an image's spectrum (``out/spectrum-2d.png``)
    and for a series of a data set (``out/spectrum-1d.png``); returns the two paths.

    Args:
        image: an image file (default matplotlib's sample photograph), resized to 3x32x32.
        series: the data set of the series (default ``ucr:FiftyWords``).
        index: which series of its training set.
    """
    rates = [check_rate(r) for r in rates]
    out = check_out_dir(out)
    picture = load_image(image)
    series = series or DEFAULT_SERIES
    train_set, _, _ = load_dataset(series)
    if not 0 <= check_int(index, "index") < len(train_set):
        raise ConfigError(f"index must be in [0, {len(train_set)}) for {series}, got {index}")
    out.mkdir(parents=True, exist_ok=True)
    image_png, series_png = out / "spectrum-2d.png", out / "spectrum-1d.png"
    plot_spectrum_2d(picture, rates, image_png)
    plot_series_1d(train_set.tensors[0][index], rates, series_png)
    return image_png, series_png


def write_layer_spectrum(
    checkpoint: str | Path, layer: str, out: str | Path, rates: Sequence[float], index: int = 0
) -> Path:
    """The spectrum of ``layer``'s input for test sample ``index`` of a trained run, with the band
    kept at ``rates`` on the layer's padded grid, pictured in ``out/spectrum-layer.png``.

    A 2D layer's spectrum sums its channels in power; a 1D layer's picture is of its channel
    with the most energy.

    Args:
        checkpoint: the run's ``checkpoint.pt`` (or its folder).
        layer: a convolution's qualified name in the model, e.g. ``features.1.conv``.
    """
    rates = [check_rate(r) for r in rates]
    out = check_out_dir(out)
    exp = load_trained(checkpoint)
    convs = {name: m for name, m in exp.model.named_modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))}
    if layer not in convs:
        raise ConfigError(f"layer must name a convolution of the model: one of {sorted(convs)}, got {layer!r}")
    x_test = exp.test_data[0]
    if not 0 <= check_int(index, "index") < len(x_test):
        raise ConfigError(f"index must be in [0, {len(x_test)}) for the test set, got {index}")
    seen = _layer_input(exp.model, convs[layer], x_test[index : index + 1])
    size = tuple(seen.shape[1:])
    padded = list(ConvShape.of_module(convs[layer], size).padded)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "spectrum-layer.png"
    if len(size) == 2:
        plot_spectrum_2d(seen, rates, path, padded_size=padded)
    else:
        channel = int(seen.square().sum(-1).argmax())  # the channel with the most energy
        plot_series_1d(seen[channel], rates, path, padded_size=padded[0])
    return path


def _layer_input(model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What ``layer`` receives when ``model`` runs on the one sample ``x``: ``(C, *spatial)``."""
    seen: list[torch.Tensor] = []
    handle = layer.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].detach()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return seen[0][0]
