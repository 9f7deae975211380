"""The transform bases of the band-limited convolution, each a registered strategy: how it
chooses a band of a given rate, measures a spectrum's energy, plans a call (path, what is
saved, the kernel's geometry) and counts its FLOPs.

- ``"fft"`` (the paper's): the band of the zero-padded input's DFT; a call runs the spectral
  or the direct path (:mod:`.fft_conv`), whichever is estimated faster (:mod:`.cost`).
- ``"dct"``: a band of the unpadded input's DCT-II coefficients, projected before the ordinary
  convolution (:mod:`.dct_conv`).

A new basis subclasses :class:`Basis` and calls :func:`register_basis`.
"""

from __future__ import annotations

import abc
import math
from typing import Any, ClassVar, cast

import torch

from ..checks import check_choice
from .autograd import pair
from .band import Band, band_for_size, select_band
from .cost import Path, conv_flops, low_pass_grid, preferred_path, saved_kind, training_flops
from .dct import DctBand, dct_analysis, dct_low_pass_flops, select_dct_band
from .dct_conv import DctConv2d, DctGeometry
from .fft_conv import DirectConv2d, Geometry, SpectralConv2d
from .precision import LOW_PRECISION
from .shape import ConvShape
from .spectral import column_weights, uses_gemm
from .taps import tap_form_pays

__all__ = ["BASES", "Basis", "basis", "register_basis"]

AnyBand = Band | DctBand


def _plane(size: tuple[int, ...]) -> tuple[int, int]:
    return (1, size[0]) if len(size) == 1 else (size[0], size[1])


class Basis(abc.ABC):
    """A transform basis: its band, energy, plan and costs. Instances are stateless."""

    name: ClassVar[str]

    def grid(self, shape: ConvShape) -> tuple[int, ...]:
        """The transform size the band and its energy are counted on."""
        return self.band(shape, 0.0).grid

    @abc.abstractmethod
    def band(self, shape: ConvShape, rate: float) -> AnyBand:
        """The band a call of ``shape`` keeps at ``rate``."""

    @abc.abstractmethod
    def select(self, n_h: int, n_w: int, rate: float, ndim: int) -> AnyBand:
        """The band of rate ``rate`` on an ``(n_h, n_w)`` grid (``n_h = 1`` in 1D)."""

    @abc.abstractmethod
    def coefficients(self, n_h: int, n_w: int) -> int:
        """How many coefficients the grid has (what a rate is a fraction of)."""

    @abc.abstractmethod
    def energy_map(self, x: torch.Tensor, grid: tuple[int, ...]) -> torch.Tensor:
        """float64 energy per coefficient of ``x`` on ``grid``, summed over leading dimensions."""

    @abc.abstractmethod
    def plan(
        self, shape: ConvShape, band: Any, *, training: bool, cached_filter: bool, dtype: torch.dtype,
        compute: torch.dtype, forced: str,
    ) -> tuple[str, Any]:  # fmt: skip
        """``(path, geometry)`` of a call on ``dtype`` inputs computing in ``compute``: the path's
        name and what its autograd Function needs."""

    def low_precision_pays(self, band: Any, path: str) -> bool:
        """Whether ``path`` with ``band`` runs faster in bfloat16/float16 than in float32 (where the
        device has them natively; :mod:`.precision`). Yes by default."""
        return True

    @abc.abstractmethod
    def function(self, path: str) -> type[torch.autograd.Function]:
        """The autograd Function that runs ``path``."""

    @abc.abstractmethod
    def flops(self, shape: ConvShape, band: Any, path: str, *, training: bool, cached_filter: bool) -> float | None:
        """FLOPs of a call (forward, or forward and backward if ``training``); None if not counted."""


class FftBasis(Basis):
    """The paper's basis: the rfft of the zero-padded input, on the spectral or the direct path."""

    name = "fft"

    def band(self, shape: ConvShape, rate: float) -> Band:
        return band_for_size(shape.padded, rate)

    def select(self, n_h: int, n_w: int, rate: float, ndim: int) -> Band:
        return select_band(n_h, n_w, rate, ndim)

    def coefficients(self, n_h: int, n_w: int) -> int:
        return n_h * (n_w // 2 + 1)

    def energy_map(self, x: torch.Tensor, grid: tuple[int, ...]) -> torch.Tensor:
        n_h, n_w = _plane(grid)
        spectrum = torch.fft.rfftn(x, s=tuple(grid), dim=tuple(range(-len(grid), 0)))
        power = spectrum.abs().square().reshape(-1, n_h, n_w // 2 + 1).sum(0)
        weighted: torch.Tensor = power * column_weights(select_band(n_h, n_w, 0.0, len(grid)))
        return weighted

    def plan(
        self,
        shape: ConvShape,
        band: Band,
        *,
        training: bool,
        cached_filter: bool,
        dtype: torch.dtype,
        compute: torch.dtype,
        forced: str,
    ) -> tuple[str, Geometry]:
        path: Path
        # bf16's exchange rate was fitted on GEMM transforms; FFT grids choose as in float32
        # (and keep float32 on the spectral path, see low_precision_pays).
        low = compute in LOW_PRECISION and uses_gemm(band, compute)
        taps = low and not cached_filter and tap_form_pays(shape, band)  # the spectral path without a filter band
        if forced != "auto":
            path = "spectral" if forced == "spectral" else "direct"
        elif taps:
            path = "spectral"
        else:
            path = preferred_path(shape, band, training=training, cached_filter=cached_filter, low_precision=low)
        low_hw, low_step = low_pass_grid(shape.kernel, shape.padded, shape.output_size, shape.stride)
        input_hw = pair(shape.input_size, 1)
        saved = saved_kind(band, input_hw, low_hw, path)
        if saved == "input" and compute != dtype:  # a float32 copy of the input would be new memory
            saved = "low" if path == "direct" and band.is_full else "band"  # a full band's low-pass is a copy
        return path, Geometry(
            band=band,
            offset=pair([before for before, _ in shape.pads], 0),
            stride=pair(shape.stride, 1),
            dilation=pair(shape.dilation, 1),
            groups=shape.groups,
            input_hw=input_hw,
            out_hw=pair(shape.output_size, 1),
            low_hw=low_hw,
            low_step=low_step,
            conv_stride=(1, 1) if all(k == 1 for k in shape.kernel) else pair(shape.stride, 1),
            saved=saved,
            plain=band.is_full and shape.symmetric,
            taps=taps and path == "spectral",
        )

    def low_precision_pays(self, band: Band, path: str) -> bool:
        """Not on the spectral path of a grid whose transforms are FFTs even in bf16: they run
        in float32 anyway, and the casts cost more than bf16 saves."""
        return path == "direct" or uses_gemm(band, torch.bfloat16)

    def function(self, path: str) -> type[torch.autograd.Function]:
        return SpectralConv2d if path == "spectral" else DirectConv2d

    def flops(self, shape: ConvShape, band: Band, path: str, *, training: bool, cached_filter: bool) -> float:
        fft_path = cast(Path, path)
        if training:
            return training_flops(shape, band, path=fft_path)
        return conv_flops(shape, band, path=fft_path, cached_filter=cached_filter)


class DctBasis(Basis):
    """A band of the unpadded input's DCT-II coefficients (zero padding comes after the projection)."""

    name = "dct"

    def band(self, shape: ConvShape, rate: float) -> DctBand:
        return select_dct_band(*_plane(shape.input_size), rate, shape.ndim)

    def select(self, n_h: int, n_w: int, rate: float, ndim: int) -> DctBand:
        return select_dct_band(n_h, n_w, rate, ndim)

    def coefficients(self, n_h: int, n_w: int) -> int:
        return n_h * n_w

    def energy_map(self, x: torch.Tensor, grid: tuple[int, ...]) -> torch.Tensor:
        n_h, n_w = _plane(grid)
        coefficients: torch.Tensor = dct_analysis(x.reshape(-1, 1, n_h, n_w), select_dct_band(n_h, n_w, 0.0, len(grid)))
        return coefficients.square().sum((0, 1))

    def plan(
        self,
        shape: ConvShape,
        band: DctBand,
        *,
        training: bool,
        cached_filter: bool,
        dtype: torch.dtype,
        compute: torch.dtype,
        forced: str,
    ) -> tuple[str, DctGeometry]:
        (top, bottom), (left, right) = ((0, 0), shape.pads[0]) if shape.ndim == 1 else shape.pads
        return "dct", DctGeometry(
            band=band,
            padding=(left, right, top, bottom),
            stride=pair(shape.stride, 1),
            dilation=pair(shape.dilation, 1),
            groups=shape.groups,
            saved="input" if band.is_full else "band",
        )

    def function(self, path: str) -> type[torch.autograd.Function]:
        return DctConv2d

    def flops(self, shape: ConvShape, band: DctBand, path: str, *, training: bool, cached_filter: bool) -> float | None:
        if training:
            return None  # the DCT path's backward is not counted
        direct = 2.0 * shape.out_channels * (shape.in_channels // shape.groups) * math.prod(shape.kernel)
        low_pass = 0.0 if band.is_full else shape.batch * dct_low_pass_flops(band, shape.in_channels)
        return shape.batch * direct * math.prod(shape.output_size) + low_pass


BASES: dict[str, Basis] = {}
"""The registered bases by name."""


def register_basis(instance: Basis) -> Basis:
    """Make ``instance`` available by its name (``basis="..."`` of the ops and modules)."""
    if instance.name in BASES:
        raise ValueError(f"basis {instance.name!r} is registered already")
    BASES[instance.name] = instance
    return instance


def basis(name: str) -> Basis:
    """The registered basis ``name``; a ``ValueError`` names the known ones."""
    return BASES[check_choice(name, "basis", tuple(BASES))]


register_basis(FftBasis())
register_basis(DctBasis())
