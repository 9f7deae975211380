"""Error analysis of the band-limited convolution and pictures of the spectra it keeps.

- :func:`conv_error`: relative and absolute error of a band-limited 2D convolution against
  the exact one as a function of the rate, for two ways of discarding coefficients: the
  layers' low-frequency ``band``, and a ``fine``-grained one that keeps the largest-magnitude
  coefficients of the input's and the filter's spectra (as many as the band keeps).
- :func:`kept_energy`: the fraction of inputs' energy that a layer's band keeps by rate, in the
  FFT basis and in the DCT-II basis.
- :func:`plot_spectrum_2d` / :func:`plot_series_1d`: the log-magnitude spectrum of an image
  with the retained band outlined at a few rates; a series, its spectrum and its band-limited
  reconstruction at a few rates.

The default input is a real photograph that ships with matplotlib (Grace Hopper), resized to
3x32x32, so that this works offline; any image file or tensor can be given instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import functional as BF
from ..checks import check_rate
from ..errors import ConfigError
from ..functional.band import Band, band_for_size
from ..functional.conv import BASES
from ..functional.energy import band_energy
from ..nn import BandLimitedConv1d, BandLimitedConv2d

__all__ = [
    "conv_error",
    "default_filter",
    "kept_energy",
    "load_image",
    "plot_error",
    "plot_series_1d",
    "plot_spectrum_2d",
]

METHODS = ("band", "fine")


def load_image(path: str | Path | None = None, size: int = 32) -> torch.Tensor:
    """An RGB image as float64 ``(3, size, size)`` in ``[0, 1]`` (area-averaged down to size).

    Args:
        path: any image matplotlib reads (PNG; JPEG with Pillow); default matplotlib's sample
            photograph ``grace_hopper.jpg``.
    """
    import matplotlib.cbook
    import matplotlib.image

    source = path or matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    try:
        pixels = np.asarray(matplotlib.image.imread(source), dtype=np.float64)
    except (OSError, ValueError) as err:  # missing file, or not an image Pillow/matplotlib reads
        raise ConfigError(f"image {source} cannot be read: {err}") from None
    if pixels.max() > 1.0:
        pixels = pixels / 255.0
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    image = torch.from_numpy(pixels[..., :3].copy()).permute(2, 0, 1)
    side = min(image.shape[1:])  # a centred square, then area averaging down to ``size``
    top, left = (image.shape[1] - side) // 2, (image.shape[2] - side) // 2
    square = image[:, top : top + side, left : left + side]
    return F.adaptive_avg_pool2d(square[None], size)[0]


def default_filter(channels: int = 3, kernel: int = 5, seed: int = 0) -> torch.Tensor:
    """A float64 ``(channels, kernel, kernel)`` filter of standard normal weights from ``seed``."""
    return torch.randn(channels, kernel, kernel, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _keep_largest(spectrum: torch.Tensor, count: int) -> torch.Tensor:
    """``spectrum`` (C, Nh, Nc) with all but the ``count`` largest-magnitude coefficients of each
    channel set to zero."""
    flat = spectrum.reshape(spectrum.shape[0], -1)
    keep = flat.abs().topk(count, dim=1).indices
    mask = torch.zeros(flat.shape, dtype=torch.bool).scatter_(1, keep, True)
    return (flat * mask).reshape(spectrum.shape)


def _fine_grained(x: torch.Tensor, w: torch.Tensor, band: Band, padding: int) -> torch.Tensor:
    """Cross-correlation of ``x`` (C, H, W) with ``w`` (C, k, k) through spectra that keep their
    ``band.kept`` largest coefficients per channel; output ``(H + 2p - k + 1,) * 2``."""
    grid = (band.n_h, band.n_w)
    spectrum_x = torch.fft.rfft2(F.pad(x, (padding,) * 4), s=grid)
    spectrum_w = torch.fft.rfft2(w, s=grid)
    product = (_keep_largest(spectrum_x, band.kept) * _keep_largest(spectrum_w, band.kept).conj()).sum(0)
    out_h = x.shape[1] + 2 * padding - w.shape[1] + 1
    out_w = x.shape[2] + 2 * padding - w.shape[2] + 1
    return torch.fft.irfft2(product, s=grid)[:out_h, :out_w]


def conv_error(
    x: torch.Tensor, w: torch.Tensor, rates: Sequence[float], padding: int | None = None
) -> list[dict[str, float | str]]:
    """Errors of the band-limited convolution of one input with one filter, per rate and method.

    Args:
        x: ``(C, H, W)`` input. w: ``(C, k, k)`` filter (one output channel).
        rates: compression rates in ``[0, 1)``.
        padding: zero padding on each side (default ``k // 2``, "same" for odd k).

    Returns:
        One row per (rate, method): ``rate``, ``method`` (``"band"`` or ``"fine"``),
        ``achieved_rate`` (the band's; ``fine`` keeps as many coefficients), ``abs_error``
        (L2 norm of the difference to ``F.conv2d``) and ``rel_error`` (that over the L2 norm
        of the exact output). Computed in float64.
    """
    rates = [check_rate(r) for r in rates]
    x, w = x.to(torch.float64), w.to(torch.float64)
    pad = w.shape[-1] // 2 if padding is None else padding
    exact = F.conv2d(x[None], w[None], padding=pad)[0, 0]
    rows: list[dict[str, float | str]] = []
    for rate in rates:
        band = band_for_size((x.shape[1] + 2 * pad, x.shape[2] + 2 * pad), rate)
        outputs = {
            "band": BF.conv2d(x[None], w[None], padding=pad, rate=rate)[0, 0],
            "fine": _fine_grained(x, w, band, pad),
        }
        for method, out in outputs.items():
            diff = float(torch.linalg.vector_norm(out - exact))
            rows.append(
                {
                    "rate": float(rate),
                    "method": method,
                    "achieved_rate": band.achieved_rate,
                    "abs_error": diff,
                    "rel_error": diff / float(torch.linalg.vector_norm(exact)),
                }
            )
    return rows


def kept_energy(
    x: torch.Tensor, layer: BandLimitedConv1d | BandLimitedConv2d, rates: Sequence[float]
) -> list[dict[str, float | str]]:
    """The fraction of the energy of the inputs ``x`` that ``layer``'s band keeps, per basis and rate.

    Args:
        x: ``(B, C, L)`` or ``(B, C, H, W)`` inputs of the layer (its padding and kernel decide
            the FFT grid); their spectra are summed over batch and channels.
        rates: compression rates in ``[0, 1)``.

    Returns:
        One row per (basis, rate): ``basis``, ``rate``, ``achieved_rate``, ``energy`` (kept
        fraction, Parseval-weighted in the FFT basis) and ``reals`` (the reals the band keeps per
        plane over the input plane's size: a complex FFT coefficient is two). The layer's
        basis and rate are left as they were.
    """
    rates = [check_rate(r) for r in rates]
    size = tuple(x.shape[2:])
    previous = layer.basis, layer.rate
    rows: list[dict[str, float | str]] = []
    try:
        for basis in BASES:
            layer.basis = basis
            power = layer.spectral_energy(x)
            for rate in rates:
                layer.rate = rate
                band = layer.band(size)
                reals = band.kept * (2 if basis == "fft" else 1)
                rows.append(
                    {
                        "basis": basis,
                        "rate": rate,
                        "achieved_rate": band.achieved_rate,
                        "energy": band_energy(power, band) / float(power.sum()),
                        "reals": reals / math.prod(size),
                    }
                )
    finally:
        layer.basis, layer.rate = previous
    return rows


def plot_error(rows: Sequence[dict[str, float | str]], path: str | Path) -> None:
    """Relative error against achieved rate, one line per method, written to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    labels = {"band": "low-frequency band (the layers')", "fine": "largest coefficients (fine-grained)"}
    for method in METHODS:
        mine = [r for r in rows if r["method"] == method]
        ax.plot([r["achieved_rate"] for r in mine], [r["rel_error"] for r in mine], "o-", label=labels[method])
    ax.set_xlabel("compression rate (fraction of coefficients discarded)")
    ax.set_ylabel("relative L2 error")
    ax.set_title("Band-limited convolution against the exact one")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _band_outline(ax: object, band: Band) -> None:
    """Outline ``band`` on an fftshift-ed rfft image whose row 0 is frequency ``-(Nh // 2)``."""
    from matplotlib.patches import Rectangle

    # Rows -high..low-1 around DC sit at centre-high .. centre+low-1 (every row when all are kept).
    bottom = -0.5 if band.low + band.high == band.n_h else band.n_h // 2 - band.high - 0.5
    ax.add_patch(  # type: ignore[attr-defined]
        Rectangle((-0.5, bottom), band.cols, band.low + band.high, fill=False, color="cyan", lw=1.5)
    )


def plot_spectrum_2d(
    image: torch.Tensor, rates: Sequence[float], path: str | Path, padded_size: Sequence[int] | None = None
) -> list[Band]:
    """Log-magnitude (dB) of the image's rfft2 (channels summed in power, DC row centred), with
    the band kept at each rate outlined in cyan, one panel per rate; returns the bands drawn.

    ``padded_size``: the size after a layer's padding, whose grid and bands are drawn (a layer's
    input); by default the image's own size.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = tuple(padded_size or image.shape[-2:])
    grid = band_for_size(size, 0.0).grid
    power = torch.fft.rfft2(image.to(torch.float64), s=grid).abs().square().sum(0)
    decibels = 10 * torch.log10(torch.fft.fftshift(power, dim=0) + 1e-12)
    bands = [band_for_size(size, r) for r in rates]
    fig, axes = plt.subplots(1, len(rates), figsize=(3.2 * len(rates), 3.6), squeeze=False)
    for ax, rate, band in zip(axes[0], rates, bands):
        shown = ax.imshow(decibels.numpy(), origin="lower", cmap="magma", aspect="auto")
        _band_outline(ax, band)
        ax.set_title(f"rate {rate:g} (achieved {band.achieved_rate:.2f})", fontsize=9)
        ax.set_xlabel("column frequency")
        ticks = [0, grid[0] // 2, grid[0] - 1]
        ax.set_yticks(ticks, [str(t - grid[0] // 2) for t in ticks])
    axes[0][0].set_ylabel("row frequency")
    fig.colorbar(shown, ax=axes[0].tolist(), label="power (dB)")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return bands


def plot_series_1d(
    series: torch.Tensor, rates: Sequence[float], path: str | Path, padded_size: int | None = None
) -> list[Band]:
    """A series with its band-limited reconstructions (top) and its rfft magnitude in dB with the
    band edge of each rate (bottom); returns the bands drawn. ``padded_size`` as in
    :func:`plot_spectrum_2d`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = series.to(torch.float64).flatten()
    bands = [band_for_size((padded_size or series.numel(),), r) for r in rates]
    n = bands[0].n_w
    spectrum = torch.fft.rfft(series, n=n)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.5))
    top.plot(series.numpy(), color="k", lw=2, label="series")
    for rate, band in zip(rates, bands):
        kept = spectrum.clone()
        kept[band.cols :] = 0
        top.plot(torch.fft.irfft(kept, n=n)[: series.numel()].numpy(), lw=1, label=f"rate {rate:g}")
        bottom.axvline(band.cols - 0.5, ls="--", lw=1, color=top.lines[-1].get_color())
    bottom.plot((20 * torch.log10(spectrum.abs() + 1e-12)).numpy(), color="k")
    top.set_title("series and its band-limited reconstructions")
    top.legend(fontsize=8)
    bottom.set_xlabel("frequency (rfft bin)")
    bottom.set_ylabel("magnitude (dB)")
    bottom.set_title("spectrum; dashed: last bin each rate keeps")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return bands
