"""The FLOP counts of ``functional.cost`` against the operations a convolution actually runs.

A dispatch mode sees every aten operation executed, the backward's included, and counts the
matrix products (``2 m n k`` real, ``8 m n k`` complex) and the FFTs (``5 n log2 n`` complex,
half that real): the conventions of the cost model. ``torch.utils.flop_counter.FlopCounterMode``
is not used because it counts a complex GEMM like a real one.
"""

import math
from dataclasses import dataclass

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import bandlimit.functional as BF
from bandlimit.functional.band import band_for_size
from bandlimit.functional.cost import (
    band_limited_conv_flops,
    band_limited_training_flops,
    contraction_flops,
    filter_dft_flops,
)
from bandlimit.functional.spectral import uses_gemm

aten = torch.ops.aten
_GEMMS = {  # op -> positions of its two matrix operands
    aten.mm.default: (0, 1),
    aten.mm.out: (0, 1),
    aten.addmm.default: (1, 2),
    aten.addmm_.default: (1, 2),
    aten.addmm.out: (1, 2),
    aten.bmm.default: (0, 1),
    aten.bmm.out: (0, 1),
    aten.baddbmm.default: (1, 2),
}
# Products the kernel does not use; seeing one means the counter would miss work.
_UNCOUNTED = {aten.addbmm.default, aten.mv.default, aten.addmv.default, aten.dot.default, aten.vdot.default}
_FFTS = {aten._fft_r2c.default: 0.5, aten._fft_c2c.default: 1.0, aten._fft_c2r.default: 0.5}  # op -> share


def _fft(n: int) -> float:
    return 5.0 * n * math.log2(n) if n > 1 else 0.0


class _CountFlops(TorchDispatchMode):
    """FLOPs of the GEMMs and FFTs run inside the ``with`` block."""

    def __init__(self):
        super().__init__()
        self.gemm = 0
        self.fft = 0.0
        self.direct = 0  # direct convolutions (oneDNN), 2 FLOPs per multiply-add, gradients included

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        assert func not in _UNCOUNTED, f"{func} is not counted"
        base = func.overloadpacket.__name__.rstrip("_")
        assert base not in ("mm", "addmm", "bmm", "baddbmm") or func in _GEMMS, f"{func} is not counted"
        if func == aten.convolution.default:
            x, w, out = args[0], args[1], func(*args, **(kwargs or {}))
            self.direct += 2 * out.numel() * math.prod(w.shape[1:])
            return out
        if func == aten.convolution_backward.default:
            y_grad, w, mask = args[0], args[2], args[10]
            self.direct += 2 * y_grad.numel() * math.prod(w.shape[1:]) * sum(mask[:2])
        if func in _GEMMS:
            a, b = (args[i] for i in _GEMMS[func])
            self.gemm += (8 if a.is_complex() else 2) * math.prod(a.shape) * b.shape[-1]
        elif func in _FFTS:
            x, dims = args[0], args[1]
            assert len(dims) == 1, "the kernel transforms one dimension at a time"
            n = args[3] if func == aten._fft_c2r.default else x.shape[dims[0]]  # c2r: the output length
            self.fft += _FFTS[func] * x.numel() // x.shape[dims[0]] * _fft(n)
        return func(*args, **(kwargs or {}))


@dataclass(frozen=True)
class Layer:
    batch: int
    cin: int
    cout: int
    size: tuple[int, ...]
    kernel: tuple[int, ...]
    padding: tuple[int, ...]
    stride: int = 1
    dilation: int = 1
    groups: int = 1

    @property
    def padded(self) -> tuple[int, ...]:
        return tuple(n + 2 * p for n, p in zip(self.size, self.padding))

    def band(self, rate: float):
        return band_for_size(self.padded, rate)

    def cost(self, cost_function, rate: float) -> float:
        """``band_limited_conv_flops`` or ``band_limited_training_flops`` of this layer."""
        out = tuple((n - self.dilation * (k - 1) - 1) // self.stride + 1 for n, k in zip(self.padded, self.kernel))
        pads = [(p, p) for p in self.padding]
        band = self.band(rate)
        return cost_function(
            self.cin,
            self.cout,
            self.groups,
            self.kernel,
            band,
            self.padded,
            out,
            self.batch,
            padding=pads,
            stride=(self.stride,) * len(self.size),
        )

    def parts(self, rate: float) -> tuple[float, float]:
        """FLOPs of one channel contraction and of one filter DFT (none for a 1x1 kernel)."""
        if all(k == 1 for k in self.kernel):
            return 0.0, 0.0
        band = self.band(rate)
        return (
            contraction_flops(band, self.batch, self.cin, self.cout, self.groups),
            filter_dft_flops(band, self.cin, self.cout, self.groups, self.kernel),
        )

    def run(self, rate: float, backward: bool) -> _CountFlops:
        """Count one forward (and backward of input, weight and bias) after an uncounted warm-up,
        which builds the cached DFT matrices."""
        g = torch.Generator().manual_seed(0)
        x = torch.randn(self.batch, self.cin, *self.size, generator=g, dtype=torch.float64, requires_grad=True)
        w = torch.randn(
            self.cout, self.cin // self.groups, *self.kernel, generator=g, dtype=torch.float64, requires_grad=True
        )
        b = torch.randn(self.cout, generator=g, dtype=torch.float64, requires_grad=True)
        op = BF.conv1d if len(self.size) == 1 else BF.conv2d
        kwargs = dict(padding=self.padding, stride=self.stride, dilation=self.dilation, groups=self.groups, rate=rate)
        y = op(x, w, b, **kwargs)
        y.backward(torch.randn(y.shape, generator=g, dtype=y.dtype))
        with _CountFlops() as counted:
            y = op(x, w, b, **kwargs)
            if backward:
                y.backward(torch.randn(y.shape, generator=g, dtype=y.dtype))
        return counted


LAYERS = {
    "2d-padding": Layer(2, 3, 5, (11, 12), (3, 4), (1, 2)),
    "2d-groups-stride": Layer(2, 4, 6, (10, 9), (3, 2), (1, 1), stride=2, groups=2),
    "2d-dilation": Layer(1, 2, 4, (12, 10), (3, 3), (2, 0), dilation=2),
    "1d-all": Layer(3, 4, 4, (33,), (5,), (2,), stride=3, dilation=2, groups=4),
    "2d-pointwise": Layer(2, 6, 4, (10, 9), (1, 1), (1, 0), stride=2, groups=2),
    "1d-pointwise": Layer(3, 4, 5, (20,), (1,), (0,), stride=3),
}
RATES = [0.0, 0.5]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS.keys())
def test_forward_count_is_the_gemms_run(layer, rate):
    assert uses_gemm(layer.band(rate))
    counted = layer.run(rate, backward=False)
    assert counted.fft == 0
    assert counted.gemm + counted.direct == layer.cost(band_limited_conv_flops, rate)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS.keys())
def test_training_count_is_the_gemms_run(layer, rate):
    counted = layer.run(rate, backward=True)
    assert counted.fft == 0
    assert counted.gemm + counted.direct == layer.cost(band_limited_training_flops, rate)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS.keys())
def test_fft_path_transforms_run_no_gemms_and_are_counted_as_ffts(fft_path, layer, rate):
    assert not uses_gemm(layer.band(rate))
    contraction, filter_dft = layer.parts(rate)
    forward = layer.run(rate, backward=False)
    assert forward.gemm == contraction + filter_dft
    assert forward.fft > 0
    total = forward.gemm + forward.fft + forward.direct
    assert total == pytest.approx(layer.cost(band_limited_conv_flops, rate), rel=1e-12)
    # Backward: the filter DFT again, the tap adjoint (same size) and both gradient contractions.
    training = layer.run(rate, backward=True)
    assert training.gemm == 3 * (contraction + filter_dft)
    total = training.gemm + training.fft + training.direct
    assert total == pytest.approx(layer.cost(band_limited_training_flops, rate), rel=1e-12)


def test_the_count_switches_path_where_the_transforms_do(monkeypatch):
    """One grid size below the one a layer needs, both the transforms and the count use FFTs."""
    from bandlimit.functional import spectral

    layer = LAYERS["2d-padding"]
    grid = max(layer.band(0.5).grid)
    counts = {}
    for limit in (grid, grid - 1):
        monkeypatch.setattr(spectral, "GEMM_MAX_GRID", limit)
        counts[limit] = layer.run(0.5, backward=True)
        total = counts[limit].gemm + counts[limit].fft + counts[limit].direct
        assert total == pytest.approx(layer.cost(band_limited_training_flops, 0.5), rel=1e-12)
    assert counts[grid].fft == 0 and counts[grid - 1].fft > 0
