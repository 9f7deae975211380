"""Band-limited convolution modules, subclasses of ``nn.Conv1d`` / ``nn.Conv2d``.

They keep the parent's parameters, buffers and ``state_dict`` layout, so a pretrained
``nn.Conv*d`` state_dict loads unchanged; only the convolution itself is replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from .. import functional as BF
from ..checks import check_bool, check_choice, check_fraction, check_rate
from ..functional.band import Band, band_for_size
from ..functional.basis import basis as basis_of
from ..functional.conv import BASES, FilterCache
from ..functional.cost import band_limiting_pays
from ..functional.dct import DctBand
from ..functional.energy import energy_map, rate_for_energy
from ..functional.shape import ConvShape

__all__ = ["BandLimitedConv1d", "BandLimitedConv2d"]


class _BandLimitedMixin(nn.Module):
    """Shared ``rate`` state and band arithmetic of the band-limited modules.

    Mixed in before ``nn.Conv1d`` / ``nn.Conv2d``, which set the attributes declared here
    (declared as ``torch.nn.modules.conv._ConvNd`` does).
    """

    _rate: float
    _band_limited_op: ClassVar[Callable[..., torch.Tensor]]  # set by subclasses: BF.conv1d or BF.conv2d
    _reversed_padding_repeated_twice: list[int]
    in_channels: int
    out_channels: int
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: str | tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"]

    @property
    def rate(self) -> float:
        """Fraction of spectral coefficients discarded, in [0, 1); may be changed at any time."""
        return self._rate

    @rate.setter
    def rate(self, value: float) -> None:
        self._rate = check_rate(value)

    def extra_repr(self) -> str:
        pays = ", where_it_pays=True" if self.where_it_pays else ""
        basis = f", basis={self.basis!r}" if self.basis != "fft" else ""
        return super().extra_repr() + f", rate={self._rate}" + pays + basis

    def conv_shape(self, input_size: tuple[int, ...], batch: int = 1) -> ConvShape:
        """The sizes of this layer's band-limited op on ``batch`` inputs of spatial size
        ``input_size`` (:meth:`ConvShape.of_module`)."""
        return ConvShape.of_module(self, input_size, batch)

    def padded_size(self, input_size: tuple[int, ...]) -> tuple[int, ...]:
        """Spatial size of the input after this layer's padding (of any ``padding_mode``)."""
        return self.conv_shape(input_size).padded

    @property
    def where_it_pays(self) -> bool:
        """Band-limit only inputs for which band-limiting is estimated to be faster than the
        plain convolution (:func:`bandlimit.functional.cost.band_limiting_pays`), and compute
        the plain convolution (rate 0) for the others. Off by default, as in the paper."""
        return bool(self.__dict__.get("_where_it_pays", False))

    @where_it_pays.setter
    def where_it_pays(self, value: bool) -> None:
        value = check_bool(value, "where_it_pays")
        if value and self.basis != "fft":
            raise ValueError("where_it_pays prices the FFT basis only: set basis='fft' first")
        self.__dict__["_where_it_pays"] = value

    @property
    def basis(self) -> str:
        """``"fft"`` (the paper's band of the zero-padded input's DFT) or ``"dct"`` (a band of the
        input's DCT-II coefficients, :mod:`bandlimit.functional.dct`)."""
        basis: str = self.__dict__.get("_basis", "fft")
        return basis

    @basis.setter
    def basis(self, value: str) -> None:
        value = check_choice(value, "basis", BASES)
        if value != "fft" and self.where_it_pays:
            raise ValueError(f"basis={value!r} cannot be combined with where_it_pays, which prices the FFT basis")
        self.__dict__["_basis"] = value

    @property
    def energy(self) -> float | None:
        """Energy mode: when set (in ``(0, 1]``), each call keeps the smallest band that holds this
        fraction of its input's spectral energy (:mod:`bandlimit.functional.energy`), and
        ``rate`` is not used. None (the default) is the rate mode."""
        energy: float | None = self.__dict__.get("_energy")
        return energy

    @energy.setter
    def energy(self, value: float | None) -> None:
        self.__dict__["_energy"] = None if value is None else check_fraction(value, "energy")
        self.__dict__.pop("_chosen", None)

    @property
    def chosen_rate(self) -> tuple[float, float] | None:
        """Energy mode: ``(latest, mean)`` achieved rate of the calls since the energy was set or
        :meth:`reset_chosen_rate` was called; None before the first call."""
        log: tuple[float, float, int] | None = self.__dict__.get("_chosen")
        return None if log is None else (log[0], log[1] / log[2])

    def reset_chosen_rate(self) -> None:
        """Start a new average of :attr:`chosen_rate` (e.g. at the start of an epoch)."""
        self.__dict__.pop("_chosen", None)

    def _log_chosen(self, rate: float) -> None:
        _, total, count = self.__dict__.get("_chosen", (0.0, 0.0, 0))
        self.__dict__["_chosen"] = (rate, total + rate, count + 1)

    def _requested_rate(self) -> float:
        # Energy mode's band is chosen per call: between calls the layer reports its latest one.
        if self.energy is None:
            return self._rate
        chosen = self.chosen_rate
        return 0.0 if chosen is None else chosen[0]

    def effective_rate(self, input_size: tuple[int, ...], rate: float | None = None) -> float:
        """The rate this layer computes at for inputs of spatial size ``input_size``: ``rate``
        (by default the layer's; in energy mode the latest chosen one), or 0 in the
        :attr:`where_it_pays` mode where band-limiting does not pay."""
        rate = self._requested_rate() if rate is None else rate
        if rate == 0 or not self.where_it_pays:
            return rate
        shape = self.conv_shape(input_size)
        return rate if band_limiting_pays(shape, band_for_size(shape.padded, rate)) else 0.0

    def band(self, input_size: tuple[int, ...]) -> Band | DctBand:
        """The transform grid and retained band this layer uses for an input of spatial size
        ``input_size``: a :class:`Band` of the FFT grid, or a :class:`DctBand` in the DCT basis."""
        return self._band_at(input_size, self.effective_rate(input_size))

    def _band_at(self, input_size: tuple[int, ...], rate: float) -> Band | DctBand:
        return basis_of(self.basis).band(self.conv_shape(input_size), rate)

    def energy_grid(self, input_size: tuple[int, ...]) -> tuple[int, ...]:
        """The transform size on which this layer's band (and energy) is counted for inputs of
        spatial size ``input_size``: the FFT grid of the padded input, or in the DCT basis the
        input size (zero padding comes after the projection; other modes pad first)."""
        return basis_of(self.basis).grid(self.conv_shape(input_size))

    def spectral_energy(self, x: torch.Tensor) -> torch.Tensor:
        """The :func:`~bandlimit.functional.energy.energy_map` of the input ``x`` as this layer's
        band sees it, on :meth:`energy_grid`."""
        size = tuple(x.shape[-len(self.kernel_size) :])
        if self.basis == "dct" and self.padding_mode != "zeros":
            x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
        # In the FFT basis the unpadded input's energy is the padded one's: padding moves it on
        # the grid (phases), and zero padding adds none.
        return energy_map(x, self.energy_grid(size), self.basis)

    @property
    def filter_cache(self) -> FilterCache:
        """The filter band kept between calls in eval mode and under ``torch.no_grad()``
        (``filter_cache.nbytes`` is its memory); dropped at the first call that trains."""
        cache: FilterCache | None = self.__dict__.get("_filter_cache")
        if cache is None:  # created on first use: modules built by copying __dict__ have none
            cache = self.__dict__["_filter_cache"] = FilterCache()
        return cache

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        size = tuple(input.shape[-len(self.kernel_size) :])
        requested = None
        if self.energy is not None:  # this batch's band (the backward keeps the forward's)
            grid = self.energy_grid(size)
            requested = rate_for_energy(self.spectral_energy(input), grid, self.energy, self.basis)
            self._log_chosen(self._band_at(size, requested).achieved_rate)
        rate = self.effective_rate(size, requested)
        if rate == 0 and self.where_it_pays:  # band-limiting does not pay here: the plain layer
            plain: torch.Tensor = super()._conv_forward(input, weight, bias)  # type: ignore[misc]
            return plain
        padding: str | int | tuple[int, ...] = self.padding
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            padding = 0
        op = type(self)._band_limited_op
        # The weight changes at every training step, so only inference keeps its filter band.
        cache: FilterCache | None = self.filter_cache
        if self.training and torch.is_grad_enabled():
            self.filter_cache.clear()
            cache = None
        return op(
            input,
            weight,
            bias,
            self.stride,
            padding,
            self.dilation,
            self.groups,
            rate=rate,
            filter_cache=cache,
            basis=self.basis,
        )


class BandLimitedConv2d(_BandLimitedMixin, nn.Conv2d):
    """``nn.Conv2d`` computed by :func:`bandlimit.functional.conv2d` with a compression ``rate``.

    Accepts every argument of ``nn.Conv2d`` plus the keyword ``rate`` in [0, 1).
    """

    _band_limited_op = staticmethod(BF.conv2d)

    def __init__(self, *args: Any, rate: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rate = rate


class BandLimitedConv1d(_BandLimitedMixin, nn.Conv1d):
    """``nn.Conv1d`` computed by :func:`bandlimit.functional.conv1d` with a compression ``rate``.

    Accepts every argument of ``nn.Conv1d`` plus the keyword ``rate`` in [0, 1).
    """

    _band_limited_op = staticmethod(BF.conv1d)

    def __init__(self, *args: Any, rate: float = 0.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rate = rate
