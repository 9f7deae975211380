"""Arithmetic cost (FLOPs) of a convolution layer, counted as the algorithm runs it, and the
choice between the layer's two ways of computing the same result.

A band-limited layer runs one of two paths, equal up to rounding (the band is a projection
onto frequencies, so restricting the input's spectrum restricts the product's):

- ``"spectral"``: transform the input to the band, contract channels per frequency with the
  filter's band, transform back (only the output samples).
- ``"direct"``: low-pass the input onto the grid positions the kernel reads (separable: two
  real matrix products per plane on small grids), then the ordinary direct convolution (oneDNN) with the
  full kernel. A full band with symmetric padding is the direct convolution alone.

The spectral path wins on large maps at high rates; the direct path on small maps with many
channels, at small batches (the filter band is built per call) and on 1x1 kernels (no filter
band at all). :func:`preferred_path` chooses by estimated time. Neither path is faster than
the plain convolution unless the spectral one is: :func:`band_limiting_pays` says where
(the opt-in "where it pays" mode band-limits only those layers).

Conventions: a real multiply-add is 2 FLOPs and a complex one 8, so a GEMM of
``(m, k) @ (k, n)`` is ``2 m n k`` real or ``8 m n k`` complex; a complex FFT of length n costs
``5 n log2 n`` and a real FFT half of that (the usual radix-2 count, used for every size so that
sizes compare by the work the algorithm does). Elementwise work (adds, bias, casts) is not
counted. The transform counts live beside the transforms in :mod:`.spectral`.

Sizes are per spatial dimension, ``(L,)`` or ``(H, W)``; a 1D layer is counted as the 2D layer
on one row that it runs as.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from .band import Band
from .spectral import band_irfft2_flops, band_low_pass_adjoint_flops, band_low_pass_flops, band_rfft2_flops

__all__ = [
    "DIRECT_SPEEDUP",
    "PAYS_BATCH",
    "Path",
    "Saved",
    "band_limited_conv_flops",
    "band_limited_training_flops",
    "band_limiting_pays",
    "contraction_flops",
    "direct_conv_flops",
    "filter_dft_flops",
    "preferred_path",
    "saved_kind",
]

Path = Literal["spectral", "direct"]
Saved = Literal["input", "band", "low"]

# How many times more FLOP/s oneDNN's direct 3x3 convolution runs than the spectral path's
# transforms and per-frequency complex GEMMs: the exchange rate for comparing the paths. Fitted
# to forward+backward times of ResNet-18's layers (batch 4 and 32, rates 0.5 and 0.85, 1 thread,
# AVX-512): oneDNN ran at 110-190 GFLOP/s, the spectral path at 10-50. With 4 the choice was
# the faster path on 33 of 36 layers and lost 3.4 ms of 1.5 s in all.
DIRECT_SPEEDUP = 4.0

PAYS_BATCH = 32
"""The batch at which :func:`band_limiting_pays` prices a training step."""


def direct_conv_flops(
    in_channels: int, out_channels: int, groups: int, kernel_size: tuple[int, ...], output_size: tuple[int, ...]
) -> float:
    """FLOPs of the direct (spatial) convolution for one sample: ``2 Cout Cin/g prod(k) prod(out)``."""
    return 2.0 * out_channels * (in_channels // groups) * math.prod(kernel_size) * math.prod(output_size)


def contraction_flops(band: Band, batch: int, in_channels: int, out_channels: int, groups: int) -> float:
    """One channel contraction over the band: per frequency and group a complex
    ``(B, Cin_g) @ (Cin_g, Cout_g)`` GEMM (or its transposes in the backward), ``8 F B Cout Cin_g``."""
    return 8.0 * band.kept * batch * out_channels * (in_channels // groups)


def filter_dft_flops(band: Band, in_channels: int, out_channels: int, groups: int, kernel_size: Sequence[int]) -> float:
    """The filter's DFT to the band, a complex ``(F, taps) @ (taps, Cout Cin_g)`` GEMM, once per call.

    The weight gradient's tap adjoint, ``(taps, F) @ (F, Cout Cin_g)``, costs the same.
    """
    return 8.0 * band.kept * math.prod(kernel_size) * out_channels * (in_channels // groups)


def _plane(size: Sequence[int]) -> tuple[int, int]:
    """``(H, W)`` of a spatial size; a 1D size ``(L,)`` is one row, ``(1, L)``."""
    return (1, size[0]) if len(size) == 1 else (size[0], size[1])


def low_pass_grid(
    kernel_size: Sequence[int], padded_size: Sequence[int], output_size: Sequence[int], stride: Sequence[int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((h, w), (step_h, step_w))``: where the direct path samples the low-passed input.

    A 1x1 kernel reads only the output positions, so they alone are computed (the stride
    applied); other kernels read the padded extent of the grid, at every position.
    """
    if all(k == 1 for k in kernel_size):
        return _plane(output_size), _plane(stride) if len(stride) == 2 else (1, stride[0])
    return _plane(padded_size), (1, 1)


def saved_kind(band: Band, input_hw: tuple[int, int], low_hw: tuple[int, int], path: Path) -> Saved:
    """What a layer keeps for backward: the smallest thing it can restart from.

    The input where the band holds as many reals (:meth:`Band.outweighs`): zero padding and
    rfft's extra column make that so at low rates and on small maps, and the input is often
    saved already by the activation before the layer, so it costs nothing. Otherwise the
    band, or on the direct path the low-passed input if that is smaller.
    """
    if band.outweighs(input_hw):
        return "input"
    return "low" if path == "direct" and math.prod(low_hw) < 2 * band.kept else "band"


@dataclass(frozen=True)
class _Layer:
    """The arguments of the cost functions, normalised to the 2D layer the kernel runs."""

    cin: int
    cout: int
    groups: int
    kernel: tuple[int, ...]
    band: Band
    placed: tuple[int, int, int]  # (h, w, top): the unpadded input and its place on the grid
    out_hw: tuple[int, int]
    output_size: tuple[int, ...]
    low_hw: tuple[int, int]
    low_step: int  # row step of the direct path's samples
    row_step: int  # the stride along the grid's rows
    batch: int
    plain: bool  # a full band and the same padding before and after: the direct path is the convolution alone

    @classmethod
    def of(
        cls,
        in_channels: int,
        out_channels: int,
        groups: int,
        kernel_size: tuple[int, ...],
        band: Band,
        padded_size: tuple[int, ...],
        output_size: tuple[int, ...],
        batch: int,
        padding: Sequence[tuple[int, int]] | None,
        stride: Sequence[int] | None,
    ) -> _Layer:
        pairs = [(0, 0)] * len(padded_size) if padding is None else list(padding)
        (top, bottom), (left, right) = [(0, 0), *pairs] if len(pairs) == 1 else pairs
        plain = band.is_full and top == bottom and left == right
        padded_h, padded_w = _plane(padded_size)
        strides = tuple(stride) if stride is not None else (1,) * len(padded_size)
        low_hw, low_step = low_pass_grid(kernel_size, padded_size, output_size, strides)
        return cls(
            in_channels,
            out_channels,
            groups,
            tuple(kernel_size),
            band,
            (padded_h - top - bottom, padded_w - left - right, top),
            _plane(output_size),
            tuple(output_size),
            low_hw,
            low_step[0],
            _plane(strides)[0] if len(strides) == 2 else 1,
            batch,
            plain,
        )

    @property
    def planes(self) -> int:
        return self.batch * self.cin

    def input_transform(self) -> float:
        h, w, top = self.placed
        return band_rfft2_flops(self.band, self.planes, h, w, top)

    def direct(self) -> float:
        return self.batch * direct_conv_flops(self.cin, self.cout, self.groups, self.kernel, self.output_size)

    def low_pass_inverse(self) -> float:
        return band_irfft2_flops(self.band, self.planes, *self.low_hw, self.low_step)

    def contraction(self) -> float:
        return contraction_flops(self.band, self.batch, self.cin, self.cout, self.groups)

    def filter_dft(self) -> float:
        return filter_dft_flops(self.band, self.cin, self.cout, self.groups, self.kernel)

    def saved(self, path: Path) -> Saved:
        return saved_kind(self.band, self.placed[:2], self.low_hw, path)

    def low_pass(self, adjoint: bool = False) -> float:
        """The direct path's low-pass of the input (or its adjoint); none if plain."""
        h, w, top = self.placed
        if self.plain:
            return 0.0
        if adjoint:
            return band_low_pass_adjoint_flops(self.band, self.planes, (h, w), self.low_hw, self.low_step)
        return band_low_pass_flops(self.band, self.planes, (h, w), self.low_hw, top, self.low_step)

    def forward(self, path: Path, cached_filter: bool) -> tuple[float, float]:
        """``(spectral-kernel FLOPs, direct-convolution FLOPs)`` of the forward."""
        if path == "direct":  # through the band if that is what the layer saves
            if self.saved(path) == "band":
                return self.input_transform() + self.low_pass_inverse(), self.direct()
            return self.low_pass(), self.direct()
        inverse = band_irfft2_flops(self.band, self.batch * self.cout, *self.out_hw, self.row_step)
        filter_dft = 0.0 if cached_filter else self.filter_dft()
        return self.input_transform() + self.contraction() + inverse + filter_dft, 0.0

    def backward(self, path: Path) -> tuple[float, float]:
        """``(spectral-kernel FLOPs, direct-convolution FLOPs)`` of a backward that needs the
        input and weight gradients."""
        h, w, _ = self.placed
        grad_input_inverse = band_irfft2_flops(self.band, self.planes, h, w)
        saved = self.saved(path)
        if path == "direct":
            # Back to the low-passed input; the direct product's two gradients; the low-pass's adjoint.
            restart = {"input": self.low_pass(), "band": self.low_pass_inverse(), "low": 0.0}[saved]
            return restart + self.low_pass(adjoint=True), 2 * self.direct()
        restart = self.input_transform() if saved == "input" else 0.0
        grad_out_transform = band_rfft2_flops(self.band, self.batch * self.cout, *self.out_hw, step=self.row_step)
        # The filter DFT again and its adjoint for the weight gradient (same size), two contractions.
        spectral = grad_out_transform + 2 * self.filter_dft() + 2 * self.contraction() + grad_input_inverse
        return restart + spectral, 0.0


def band_limited_conv_flops(
    in_channels: int,
    out_channels: int,
    groups: int,
    kernel_size: tuple[int, ...],
    band: Band,
    padded_size: tuple[int, ...],
    output_size: tuple[int, ...],
    batch: int = 1,
    *,
    path: Path,
    padding: Sequence[tuple[int, int]] | None = None,
    stride: Sequence[int] | None = None,
    cached_filter: bool = False,
) -> float:
    """FLOPs the band-limited forward does for ``batch`` samples on ``path``.

    Args:
        padded_size: spatial size of the input after padding.
        output_size: spatial size of the output, stride applied (the inverse transform
            computes only those samples).
        path: ``"spectral"`` or ``"direct"`` (see the module docstring); :func:`preferred_path`
            gives the one the layer takes.
        padding: ``(before, after)`` zero padding per spatial dimension that the layer folds
            into its input transform (the transform then runs on the unpadded input); None if
            the input is already padded (``padding=0`` or a ``padding_mode`` other than zeros).
        stride: the layer's stride per spatial dimension (1 if None).
        cached_filter: the filter band is kept between calls (inference with a module's
            cache), so the spectral path does not build it.

    Returns:
        Spectral path: input transform + channel contraction + inverse transform, plus the
        filter DFT unless cached. Direct path: the low-pass onto the samples the kernel reads
        (through the band, if the layer saves that) + the direct convolution.
    """
    layer = _Layer.of(
        in_channels, out_channels, groups, kernel_size, band, padded_size, output_size, batch, padding, stride
    )
    return sum(layer.forward(path, cached_filter))


def band_limited_training_flops(
    in_channels: int,
    out_channels: int,
    groups: int,
    kernel_size: tuple[int, ...],
    band: Band,
    padded_size: tuple[int, ...],
    output_size: tuple[int, ...],
    batch: int = 1,
    *,
    path: Path,
    padding: Sequence[tuple[int, int]] | None = None,
    stride: Sequence[int] | None = None,
) -> float:
    """FLOPs of the band-limited forward plus a backward that needs input and weight gradients.

    Arguments as in :func:`band_limited_conv_flops`. Both paths first restart from what the
    layer saved (:func:`saved_kind`; float32/float64 inputs): the input is transformed again.
    The spectral backward transforms the output gradient (its samples placed ``stride`` apart
    on the grid), rebuilds the filter DFT, contracts for the input gradient and
    inverse-transforms it onto the input's place on the grid, contracts for the weight
    gradient and maps that to the kernel taps with the tap adjoint. The direct backward
    rebuilds the low-passed input, runs the direct convolution's two gradients and the
    low-pass's adjoint on the input gradient.
    """
    layer = _Layer.of(
        in_channels, out_channels, groups, kernel_size, band, padded_size, output_size, batch, padding, stride
    )
    return sum(layer.forward(path, False)) + sum(layer.backward(path))


@lru_cache(maxsize=4096)
def preferred_path(
    in_channels: int,
    out_channels: int,
    groups: int,
    kernel_size: tuple[int, ...],
    band: Band,
    padded_size: tuple[int, ...],
    output_size: tuple[int, ...],
    batch: int,
    *,
    padding: tuple[tuple[int, int], ...] | None,
    stride: tuple[int, ...] | None,
    training: bool,
    cached_filter: bool,
) -> Path:
    """The path with the smaller estimated time for this call (arguments hashable, as in
    :func:`band_limited_conv_flops`): direct-convolution FLOPs count ``1 / DIRECT_SPEEDUP``.

    Args:
        training: a backward with input and weight gradients follows.
        cached_filter: the spectral path would find the filter band cached.
    """
    layer = _Layer.of(
        in_channels, out_channels, groups, kernel_size, band, padded_size, output_size, batch, padding, stride
    )
    direct, spectral = (_seconds(layer, path, training, cached_filter) for path in ("direct", "spectral"))
    return "direct" if direct < spectral else "spectral"


@lru_cache(maxsize=4096)
def band_limiting_pays(
    in_channels: int,
    out_channels: int,
    groups: int,
    kernel_size: tuple[int, ...],
    band: Band,
    padded_size: tuple[int, ...],
    output_size: tuple[int, ...],
    *,
    padding: tuple[tuple[int, int], ...] | None,
    stride: tuple[int, ...] | None,
) -> bool:
    """Whether a training step of the band-limited layer on its spectral path is estimated
    faster than the plain direct convolution's (arguments as in :func:`preferred_path`).

    The layers of the "where it pays" mode are band-limited only if so. The step is priced
    at batch :data:`PAYS_BATCH` whatever the batch at hand, so that the choice, which changes
    the model's function, depends only on the layer and its input size.
    """
    layer = _Layer.of(
        in_channels, out_channels, groups, kernel_size, band, padded_size, output_size, PAYS_BATCH, padding, stride
    )
    plain = 3 * layer.direct() / DIRECT_SPEEDUP  # forward, input gradient, weight gradient
    return not band.is_full and _seconds(layer, "spectral", True, False) < plain


def _seconds(layer: _Layer, path: Path, training: bool, cached_filter: bool) -> float:
    """Estimated time of a call on ``path``, in spectral-kernel FLOPs."""
    parts = [layer.forward(path, cached_filter)] + ([layer.backward(path)] if training else [])
    return sum(spectral + direct / DIRECT_SPEEDUP for spectral, direct in parts)
