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
    DIRECT_SPEEDUP,
    PAYS_BATCH,
    band_limiting_pays,
    contraction_flops,
    conv_flops,
    direct_conv_flops,
    filter_dft_flops,
    preferred_path,
    training_flops,
)
from bandlimit.functional.shape import ConvShape
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
            self.fft += _FFTS[func] * (x.numel() // x.shape[dims[0]]) * _fft(n)
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

    @property
    def out(self) -> tuple[int, ...]:
        return tuple((n - self.dilation * (k - 1) - 1) // self.stride + 1 for n, k in zip(self.padded, self.kernel))

    @property
    def shape(self) -> ConvShape:
        n = len(self.size)
        pads = tuple((p, p) for p in self.padding)
        return ConvShape(
            self.cin, self.cout, self.groups, self.kernel, self.size, pads, (self.stride,) * n, (self.dilation,) * n,
            self.batch,
        )  # fmt: skip

    def cost(self, cost_function, rate: float, path: str, **kwargs) -> float:
        """``conv_flops`` or ``training_flops`` (or ``preferred_path``) of this layer on ``path``."""
        return cost_function(self.shape, self.band(rate), **({"path": path} if path else {}), **kwargs)

    def parts(self, rate: float) -> tuple[float, float]:
        """FLOPs of one channel contraction and of one filter DFT on the spectral path."""
        band = self.band(rate)
        return (
            contraction_flops(band, self.batch, self.cin, self.cout, self.groups),
            filter_dft_flops(band, self.cin, self.cout, self.groups, self.kernel),
        )

    def run(self, rate: float, backward: bool, path: str = "auto") -> _CountFlops:
        """Count one forward (and backward of input, weight and bias) on ``path`` after an
        uncounted warm-up, which builds the cached DFT matrices."""
        g = torch.Generator().manual_seed(0)
        x = torch.randn(self.batch, self.cin, *self.size, generator=g, dtype=torch.float64, requires_grad=True)
        w = torch.randn(
            self.cout, self.cin // self.groups, *self.kernel, generator=g, dtype=torch.float64, requires_grad=True
        )
        b = torch.randn(self.cout, generator=g, dtype=torch.float64, requires_grad=True)
        op = BF.conv1d if len(self.size) == 1 else BF.conv2d
        kwargs = dict(padding=self.padding, stride=self.stride, dilation=self.dilation, groups=self.groups, rate=rate)
        with BF.forced_path(path):
            y = op(x, w, b, **kwargs)
            y.backward(torch.randn(y.shape, generator=g, dtype=y.dtype))
            # A forward alone runs as in inference, where the path may differ.
            with _CountFlops() as counted, torch.set_grad_enabled(backward):
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


PATHS = ["spectral", "direct"]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS.keys())
def test_forward_count_is_the_gemms_run(layer, rate, path):
    assert uses_gemm(layer.band(rate))
    counted = layer.run(rate, backward=False, path=path)
    assert counted.fft == 0
    assert counted.gemm + counted.direct == layer.cost(conv_flops, rate, path)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS.keys())
def test_training_count_is_the_gemms_run(layer, rate, path):
    counted = layer.run(rate, backward=True, path=path)
    assert counted.fft == 0
    assert counted.gemm + counted.direct == layer.cost(training_flops, rate, path)


@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS.keys())
def test_direct_path_at_rate_zero_is_the_direct_convolution_alone(layer):
    """A full band's low-pass removes nothing: no transform runs, only F.conv2d and its gradients."""
    counted = layer.run(0.0, backward=True, path="direct")
    assert counted.gemm == counted.fft == 0
    one = direct_conv_flops(layer.cin, layer.cout, layer.groups, layer.kernel, layer.out)
    assert counted.direct == 3 * layer.batch * one


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS.keys())
def test_fft_path_transforms_run_no_gemms_and_are_counted_as_ffts(fft_path, layer, rate, path):
    assert not uses_gemm(layer.band(rate))
    contraction, filter_dft = layer.parts(rate) if path == "spectral" else (0.0, 0.0)
    forward = layer.run(rate, backward=False, path=path)
    assert forward.gemm == contraction + filter_dft
    assert (forward.fft > 0) == (rate > 0 or path == "spectral")
    total = forward.gemm + forward.fft + forward.direct
    assert total == pytest.approx(layer.cost(conv_flops, rate, path), rel=1e-12)
    # Backward: the filter DFT again, the tap adjoint (its real part: half the size) and both
    # gradient contractions.
    training = layer.run(rate, backward=True, path=path)
    assert training.gemm == 3 * contraction + 2.5 * filter_dft
    total = training.gemm + training.fft + training.direct
    assert total == pytest.approx(layer.cost(training_flops, rate, path), rel=1e-12)


@pytest.mark.parametrize("path", PATHS)
def test_the_count_switches_path_where_the_transforms_do(monkeypatch, path):
    """One grid size below the one a layer needs, both the transforms and the count use FFTs."""
    from bandlimit.functional import spectral

    layer = LAYERS["2d-padding"]
    grid = max(layer.band(0.5).grid)
    for limit in (grid, grid - 1):
        monkeypatch.setattr(spectral, "GEMM_MAX_GRID", limit)
        counted = layer.run(0.5, backward=True, path=path)
        total = counted.gemm + counted.fft + counted.direct
        assert total == pytest.approx(layer.cost(training_flops, rate=0.5, path=path), rel=1e-12)


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("layer", LAYERS.values(), ids=LAYERS.keys())
def test_a_call_takes_the_path_with_the_smaller_estimate(layer, training):
    """``preferred_path`` is what the layer runs: its count is that path's."""
    path = layer.cost(preferred_path, 0.5, "", training=training, cached_filter=False)
    counted = layer.run(0.5, backward=training)
    cost = training_flops if training else conv_flops
    assert counted.gemm + counted.direct == layer.cost(cost, 0.5, path)


def _resnet_layer(batch, channels, size, rate, kernel=3, stride=1, cached_filter=False, training=True):
    pad = kernel // 2
    layer = Layer(batch, channels, channels, (size, size), (kernel, kernel), (pad, pad), stride=stride)
    return preferred_path(layer.shape, layer.band(rate), training=training, cached_filter=cached_filter)


def test_the_choice_follows_the_measured_trade_off():
    """Where the measurements in cost.DIRECT_SPEEDUP's comment found one path clearly faster."""
    assert _resnet_layer(32, 64, 32, 0.85) == "spectral"  # large map, high rate
    assert _resnet_layer(32, 128, 16, 0.85) == "spectral"
    assert _resnet_layer(4, 512, 4, 0.5) == "direct"  # small map, many channels, small batch
    assert _resnet_layer(32, 512, 4, 0.0) == "direct"  # a full band: the direct path has nothing to low-pass
    assert _resnet_layer(32, 256, 8, 0.5, kernel=1, stride=2) == "direct"  # no filter band to build
    # A cached filter band makes the spectral path cheaper, never dearer.
    for batch, channels, size in [(1, 64, 32), (32, 256, 8), (4, 512, 4)]:
        if _resnet_layer(batch, channels, size, 0.5, training=False) == "spectral":
            assert _resnet_layer(batch, channels, size, 0.5, training=False, cached_filter=True) == "spectral"


PAYS_CASES = {  # (layer, rate, pays): the where-it-pays mode's choices on ResNet-18's shapes
    "64ch-32x32-0.85": (Layer(PAYS_BATCH, 64, 64, (32, 32), (3, 3), (1, 1)), 0.85, True),
    "128ch-16x16-0.5": (Layer(PAYS_BATCH, 128, 128, (16, 16), (3, 3), (1, 1)), 0.5, True),
    "512ch-4x4-0.5": (Layer(PAYS_BATCH, 512, 512, (4, 4), (3, 3), (1, 1)), 0.5, False),
    "1x1-stride2": (Layer(PAYS_BATCH, 256, 512, (8, 8), (1, 1), (0, 0), stride=2), 0.85, False),
    "full-band": (Layer(PAYS_BATCH, 64, 64, (32, 32), (3, 3), (1, 1)), 0.0, False),
}


@pytest.mark.parametrize("case", PAYS_CASES.values(), ids=PAYS_CASES.keys())
def test_band_limiting_pays_where_a_spectral_step_is_estimated_faster_than_a_plain_one(case):
    """The plain step is the direct convolution's forward and two gradients at oneDNN's rate."""
    layer, rate, pays = case
    spectral = layer.cost(training_flops, rate, "spectral")
    plain = 3 * layer.batch * direct_conv_flops(layer.cin, layer.cout, 1, layer.kernel, layer.out) / DIRECT_SPEEDUP
    chosen = band_limiting_pays(layer.shape, layer.band(rate))
    assert chosen == (rate > 0 and spectral < plain) == pays


@pytest.mark.parametrize("layer", [*LAYERS.values(), *(case[0] for case in PAYS_CASES.values())])
def test_the_shape_computes_the_sizes_worked_out_here(layer):
    assert layer.shape.padded == layer.padded and layer.shape.output_size == layer.out
    n = len(layer.size)
    padding = layer.padding if n == 2 else layer.padding[0]
    again = ConvShape.of(
        layer.cin, layer.cout, layer.kernel, layer.size, stride=layer.stride, padding=padding,
        dilation=layer.dilation, groups=layer.groups, batch=layer.batch,
    )  # fmt: skip
    assert again == layer.shape
