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

Sizes come from a :class:`~.shape.ConvShape`, per spatial dimension, ``(L,)`` or ``(H, W)``;
a 1D layer is counted as the 2D layer on one row that it runs as.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Literal

from .band import Band
from .low_pass import band_low_pass_adjoint_flops, band_low_pass_flops
from .shape import ConvShape
from .spectral import band_irfft2_flops, band_rfft2_flops

__all__ = [
    "DIRECT_SPEEDUP",
    "DIRECT_SPEEDUP_LOW_PRECISION",
    "PAYS_BATCH",
    "Path",
    "Saved",
    "band_limiting_pays",
    "contraction_flops",
    "conv_flops",
    "direct_conv_flops",
    "filter_dft_flops",
    "low_pass_grid",
    "preferred_path",
    "saved_kind",
    "training_flops",
]

Path = Literal["spectral", "direct"]
Saved = Literal["input", "band", "low"]

# How many times more FLOP/s oneDNN's direct 3x3 convolution runs than the spectral path's
# transforms and per-frequency complex GEMMs: the exchange rate for comparing the paths. Fitted
# to forward+backward times of ResNet-18's layers (batch 4 and 32, rates 0.5 and 0.85, 1 thread,
# AVX-512): oneDNN ran at 110-190 GFLOP/s, the spectral path at 10-50. With 4 the choice was
# the faster path on 33 of 36 layers and lost 3.4 ms of 1.5 s in all.
DIRECT_SPEEDUP = 4.0

# The same in bfloat16/float16 computed natively (:mod:`.precision`): oneDNN's convolution gains
# 2-2.4x from bf16, and so does the spectral path once its contractions are real GEMMs of the
# parts. Fitted like DIRECT_SPEEDUP on 44 calls (ResNet-18's 11 layer shapes, batch 4 and 32,
# rates 0.5 and 0.85, bf16 autocast, 1 thread, AMD EPYC with avx512_bf16): with 3 the choice
# was the faster path on 40, and the other 4 lost 11.7 ms of the 605 ms the faster paths took
# (weighted by how often ResNet-18 has each layer); with 2.5 or 3.5, 38 and 18 or 37 ms.
DIRECT_SPEEDUP_LOW_PRECISION = 3.0

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
    """A convolution's shape and band, as the 2D kernel runs it (a 1D layer is one row)."""

    shape: ConvShape
    band: Band

    @cached_property
    def placed(self) -> tuple[int, int, int]:
        """``(h, w, top)``: the unpadded input and its row on the grid."""
        h, w = _plane(self.shape.input_size)
        return h, w, (self.shape.pads[0][0] if self.shape.ndim == 2 else 0)

    @cached_property
    def low(self) -> tuple[tuple[int, int], tuple[int, int]]:
        s = self.shape
        return low_pass_grid(s.kernel, s.padded, s.output_size, s.stride)

    @property
    def plain(self) -> bool:
        """A full band and the same padding before and after: the direct path is the convolution alone."""
        return self.band.is_full and self.shape.symmetric

    @property
    def planes(self) -> int:
        return self.shape.batch * self.shape.in_channels

    @property
    def row_step(self) -> int:
        """The stride along the grid's rows (the inverse transforms compute only those samples)."""
        return self.shape.stride[0] if self.shape.ndim == 2 else 1

    def input_transform(self) -> float:
        h, w, top = self.placed
        return band_rfft2_flops(self.band, self.planes, h, w, top)

    def direct(self) -> float:
        s = self.shape
        return s.batch * direct_conv_flops(s.in_channels, s.out_channels, s.groups, s.kernel, s.output_size)

    def low_pass_inverse(self) -> float:
        (h, w), step = self.low
        return band_irfft2_flops(self.band, self.planes, h, w, step[0])

    def contraction(self) -> float:
        s = self.shape
        return contraction_flops(self.band, s.batch, s.in_channels, s.out_channels, s.groups)

    def filter_dft(self) -> float:
        s = self.shape
        return filter_dft_flops(self.band, s.in_channels, s.out_channels, s.groups, s.kernel)

    def saved(self, path: Path) -> Saved:
        return saved_kind(self.band, self.placed[:2], self.low[0], path)

    def low_pass(self, adjoint: bool = False) -> float:
        """The direct path's low-pass of the input (or its adjoint); none if plain."""
        h, w, top = self.placed
        (low_hw, (step, _)) = self.low
        if self.plain:
            return 0.0
        if adjoint:
            return band_low_pass_adjoint_flops(self.band, self.planes, (h, w), low_hw, step)
        return band_low_pass_flops(self.band, self.planes, (h, w), low_hw, top, step)

    def forward(self, path: Path, cached_filter: bool) -> tuple[float, float]:
        """``(spectral-kernel FLOPs, direct-convolution FLOPs)`` of the forward."""
        if path == "direct":  # through the band if that is what the layer saves
            if self.saved(path) == "band":
                return self.input_transform() + self.low_pass_inverse(), self.direct()
            return self.low_pass(), self.direct()
        out_h, out_w = _plane(self.shape.output_size)
        inverse = band_irfft2_flops(self.band, self.shape.batch * self.shape.out_channels, out_h, out_w, self.row_step)
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
        out_h, out_w = _plane(self.shape.output_size)
        grad_out = band_rfft2_flops(
            self.band, self.shape.batch * self.shape.out_channels, out_h, out_w, step=self.row_step
        )
        # The filter DFT again, and its adjoint for the weight gradient: the real part only, two
        # real GEMMs of the same sizes (half the complex one); two contractions.
        spectral = grad_out + 1.5 * self.filter_dft() + 2 * self.contraction() + grad_input_inverse
        return restart + spectral, 0.0


def conv_flops(shape: ConvShape, band: Band, *, path: Path, cached_filter: bool = False) -> float:
    """FLOPs the band-limited forward does for ``shape.batch`` samples on ``path``.

    Spectral path: input transform + channel contraction + inverse transform (of the output
    samples only, stride applied), plus the filter DFT unless ``cached_filter`` (inference with
    a module's cache). Direct path: the low-pass onto the samples the kernel reads (through the
    band, if the layer saves that) + the direct convolution. The zero padding of ``shape`` is
    folded into the input transform, which runs on the unpadded input.
    """
    return sum(_Layer(shape, band).forward(path, cached_filter))


def training_flops(shape: ConvShape, band: Band, *, path: Path) -> float:
    """FLOPs of the band-limited forward plus a backward that needs input and weight gradients.

    Both paths first restart from what the layer saved (:func:`saved_kind`; float32/float64
    inputs): the input is transformed again. The spectral backward transforms the output
    gradient (its samples placed ``stride`` apart on the grid), rebuilds the filter DFT,
    contracts for the input gradient and inverse-transforms it onto the input's place on the
    grid, contracts for the weight gradient and maps that to the kernel taps with the tap
    adjoint. The direct backward rebuilds the low-passed input, runs the direct convolution's
    two gradients and the low-pass's adjoint on the input gradient.
    """
    layer = _Layer(shape, band)
    return sum(layer.forward(path, False)) + sum(layer.backward(path))


@lru_cache(maxsize=4096)
def preferred_path(
    shape: ConvShape, band: Band, *, training: bool, cached_filter: bool, low_precision: bool = False
) -> Path:
    """The path with the smaller estimated time for this call: direct-convolution FLOPs count
    ``1 / DIRECT_SPEEDUP`` (``1 / DIRECT_SPEEDUP_LOW_PRECISION`` if ``low_precision``).

    Args:
        training: a backward with input and weight gradients follows.
        cached_filter: the spectral path would find the filter band cached.
        low_precision: the call computes in bfloat16/float16.
    """
    layer = _Layer(shape, band)
    speedup = DIRECT_SPEEDUP_LOW_PRECISION if low_precision else DIRECT_SPEEDUP
    direct, spectral = (_seconds(layer, path, training, cached_filter, speedup) for path in ("direct", "spectral"))
    return "direct" if direct < spectral else "spectral"


@lru_cache(maxsize=4096)
def band_limiting_pays(shape: ConvShape, band: Band) -> bool:
    """Whether a training step of the band-limited layer on its spectral path is estimated
    faster than the plain direct convolution's.

    The layers of the "where it pays" mode are band-limited only if so. The step is priced
    at batch :data:`PAYS_BATCH` whatever ``shape.batch``, so that the choice, which changes
    the model's function, depends only on the layer and its input size.
    """
    layer = _Layer(dataclasses.replace(shape, batch=PAYS_BATCH), band)
    plain = 3 * layer.direct() / DIRECT_SPEEDUP  # forward, input gradient, weight gradient
    return not band.is_full and _seconds(layer, "spectral", True, False, DIRECT_SPEEDUP) < plain


def _seconds(layer: _Layer, path: Path, training: bool, cached_filter: bool, speedup: float) -> float:
    """Estimated time of a call on ``path``, in spectral-kernel FLOPs (direct ones count ``1 / speedup``)."""
    parts = [layer.forward(path, cached_filter)] + ([layer.backward(path)] if training else [])
    return sum(spectral + direct / speedup for spectral, direct in parts)
