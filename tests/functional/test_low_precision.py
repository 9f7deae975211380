"""bfloat16 and float16 computed in their own dtype: the precision contract against F.conv*d in
the same dtype (both measured against float64), autocast, saved bytes, the layout, and the
choice of compute dtype per device. Tests run on every available device."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bandlimit as bl
import bandlimit.functional as BF
from bandlimit.functional import low_precision, precision
from bandlimit.functional.precision import compute_dtype
from bandlimit.memory import SavedBytes
from bandlimit.nn import BandLimitedConv2d

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]
HALF = [torch.bfloat16, torch.float16]

# (input shape, weight shape, stride, padding, groups)
CASES = {
    "2d": ((4, 8, 16, 16), (12, 8, 3, 3), 1, 1, 1),
    "2d-strided-grouped": ((4, 8, 15, 15), (8, 4, 3, 3), 2, 1, 2),
    "1d": ((4, 6, 40), (10, 6, 5), 1, 2, 1),
    "1d-strided-grouped": ((4, 6, 41), (6, 2, 5), 2, 2, 3),
    "1d-long": ((2, 4, 300), (6, 4, 8), 1, "same", 1),  # a grid over 128: GEMMs in half types only
}


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double() - b.detach().double()).norm() / b.detach().double().norm())


def _forward_and_grads(op, tensors, grad, dtype, **kwargs):
    leaves = [t.detach().to(dtype).requires_grad_() for t in tensors]
    y = op(*leaves, **kwargs)
    return [y, *torch.autograd.grad(y, leaves, grad.to(dtype))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", HALF, ids=str)
@pytest.mark.parametrize("rate", [0.0, 0.5, 0.85])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_half_types_err_at_most_three_times_as_much_as_f_conv(case, rate, dtype, device, conv_path):
    """Output, input gradient and weight gradient: relative error against the same op in float64
    at most 3x that of F.conv*d in ``dtype`` against F.conv*d in float64."""
    x_shape, w_shape, stride, padding, groups = case
    ours, theirs = (BF.conv1d, F.conv1d) if len(x_shape) == 3 else (BF.conv2d, F.conv2d)
    generator = torch.Generator().manual_seed(0)
    x, w = (torch.randn(s, generator=generator, dtype=torch.float64).to(device) for s in (x_shape, w_shape))
    args = {"stride": stride, "padding": padding, "groups": groups}
    grad = torch.randn(theirs(x, w, **args).shape, generator=generator, dtype=torch.float64).to(device)
    with low_precision("always"):
        half = _forward_and_grads(ours, (x, w), grad, dtype, rate=rate, **args)
    exact = _forward_and_grads(ours, (x, w), grad, torch.float64, rate=rate, **args)
    plain_half = _forward_and_grads(theirs, (x, w), grad, dtype, **args)
    plain_exact = _forward_and_grads(theirs, (x, w), grad, torch.float64, **args)
    assert half[0].dtype == dtype
    for name, a, b, p, q in zip(("output", "input grad", "weight grad"), half, exact, plain_half, plain_exact):
        assert _relative(a, b) <= 3 * _relative(p, q), name


@pytest.mark.parametrize("device", DEVICES)
def test_the_half_types_compute_in_their_own_dtype_keeping_half_the_bytes(device, conv_path):
    layer = BandLimitedConv2d(16, 16, 3, padding=1, rate=0.5).to(device)
    x = torch.randn(8, 16, 16, 16, device=device)

    def saved(dtype, mode="always"):
        meter = SavedBytes(exclude=layer.parameters())
        with torch.autograd.graph.saved_tensors_hooks(meter.pack, lambda t: t), low_precision(mode):
            layer.to(dtype)(x.to(dtype).requires_grad_()).sum().backward()
        return meter.total

    assert saved(torch.bfloat16) == saved(torch.float32) / 2
    assert saved(torch.bfloat16, "never") > saved(torch.float32) / 2  # computed in float32


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", HALF, ids=str)
def test_under_autocast_the_output_dtype_is_nn_conv2ds(dtype, device):
    torch.manual_seed(0)
    plain = nn.Conv2d(4, 6, 3, padding=1).to(device)
    ours = bl.compress_(nn.Sequential(nn.Conv2d(4, 6, 3, padding=1)), bl.BandLimitConfig(rate=0.0))[0].to(device)
    ours.load_state_dict(plain.state_dict())
    x = torch.randn(2, 4, 10, 10, device=device)
    for mode in ("always", "never"):
        with torch.autocast(device, dtype=dtype), low_precision(mode):
            y, ref = ours(x), plain(x)
        assert y.dtype == ref.dtype == dtype
        torch.testing.assert_close(y.float(), ref.float(), atol=0.05, rtol=0.05)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_channels_last_in_gives_channels_last_out_as_nn_conv2d(dtype, device, conv_path):
    torch.manual_seed(0)
    plain = nn.Conv2d(4, 6, 3, padding=1).to(device, dtype)
    ours = BandLimitedConv2d(4, 6, 3, padding=1, rate=0.5).to(device, dtype)
    x = torch.randn(2, 4, 10, 10, device=device, dtype=dtype)
    for layers, data in (((plain, ours), x.to(memory_format=torch.channels_last)), ((plain, ours), x)):
        outputs = [layer(data) for layer in layers]
        formats = [y.is_contiguous(memory_format=torch.channels_last) for y in outputs]
        assert formats[0] == formats[1]
    for layer in (plain, ours):
        layer.to(memory_format=torch.channels_last)  # channels_last weights, as Module.to gives them
    assert ours(x).is_contiguous(memory_format=torch.channels_last) == plain(x).is_contiguous(
        memory_format=torch.channels_last
    )


@pytest.mark.parametrize("mode", ["always", "never", "auto"])
def test_the_compute_dtype_follows_the_mode_and_the_cpus_flags(mode, monkeypatch):
    for flags, native in ((frozenset({"avx2", "avx512_bf16"}), True), (frozenset({"avx2"}), False)):
        monkeypatch.setattr(precision, "cpu_flags", lambda flags=flags: flags)
        expected = {"always": True, "never": False, "auto": native}[mode]
        assert compute_dtype(torch.bfloat16, "cpu", mode) == (torch.bfloat16 if expected else torch.float32)
        assert compute_dtype(torch.float16, "cpu", mode) == (torch.float16 if mode == "always" else torch.float32)
    assert compute_dtype(torch.float32, "cpu", mode) == torch.float32
    assert compute_dtype(torch.float64, "cpu", mode) == torch.float64
    assert compute_dtype(torch.bfloat16, "cuda", mode) == (torch.float32 if mode == "never" else torch.bfloat16)


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        with low_precision("fast"):
            pass


@pytest.mark.parametrize("fft", [False, True], ids=["gemm-transforms", "fft-transforms"])
def test_half_types_work_with_the_filter_cache_energy_mode_checkpoints_and_the_dct(fft, monkeypatch):
    from bandlimit.functional import spectral

    if fft:
        monkeypatch.setattr(spectral, "GEMM_MAX_GRID", 0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
    x = torch.randn(4, 3, 12, 12)
    reference = model(x).detach()
    configs = [
        bl.BandLimitConfig(rate=0.0),
        bl.BandLimitConfig(rate=0.0, checkpoint=True),
        bl.BandLimitConfig(energy=1.0),
        bl.BandLimitConfig(rate=0.0, basis="dct"),
    ]
    with low_precision("always"):
        for config in configs:
            ours = bl.compress_(bl.restore_(model), config).to(torch.bfloat16)
            y = ours(x.bfloat16().requires_grad_())
            y.float().square().sum().backward()
            assert y.dtype == torch.bfloat16 and _relative(y, reference) < 0.03, config
            ours.eval()
            with torch.no_grad():  # the filter band cached between calls
                first, second = ours(x.bfloat16()), ours(x.bfloat16())
            torch.testing.assert_close(first, second, atol=0, rtol=0)
            assert _relative(first, reference) < 0.03
            model.float().train()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "config",
    [
        bl.BandLimitConfig(rate=0.0),
        bl.BandLimitConfig(rate=0.5),
        bl.BandLimitConfig(rate=0.5, checkpoint=True),
        bl.BandLimitConfig(rate=0.0, basis="dct"),
    ],
    ids=["rate0", "rate0.5", "checkpoint", "dct"],
)
def test_under_autocast_the_float32_weight_is_saved_not_a_cast_copy(config, device, conv_path):
    """nn.Conv2d under autocast keeps its bf16 weight copy for backward; the band-limited layer
    casts inside and saves the parameter (alive anyway). Its gradients are float32, and at rate
    0 they match nn.Conv2d's under the same autocast."""
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1)).to(device)
    ours = bl.compress_(copy.deepcopy(plain), config)
    x = torch.randn(2, 32, 6, 6, device=device)

    def run(model, autocast=True):
        model = copy.deepcopy(model)
        meter = SavedBytes(exclude=model.parameters())
        with torch.autograd.graph.saved_tensors_hooks(meter.pack, lambda t: t):
            with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
                y = model(x.to(next(model.parameters()).dtype))
        y.double().square().sum().backward()
        return meter.total, [p.grad for p in model.parameters()], y

    reference_saved, reference_grads, reference_y = run(plain)
    saved, grads, y = run(ours)
    _, exact_grads, _ = run(copy.deepcopy(ours).double(), autocast=False)
    weight_copies = sum(2 * p.numel() for p in plain.parameters() if p.dim() == 4)
    assert y.dtype == reference_y.dtype == torch.bfloat16
    assert saved < reference_saved - weight_copies + 4096  # the bf16 copies are not kept
    for grad, plain_grad, exact in zip(grads, reference_grads, exact_grads):
        assert grad.dtype == torch.float32
        if config.rate == 0.0:  # the same convolution as nn.Conv2d's: the precision contract
            assert _relative(grad, exact) <= 3 * _relative(plain_grad, exact)


def test_the_summary_shows_the_compute_dtype_and_the_halved_bytes():
    model = bl.compress_(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1)), bl.BandLimitConfig(rate=0.5))
    rows = {}
    for mode in ("always", "never"):
        with low_precision(mode), torch.autocast("cpu", dtype=torch.bfloat16):
            rows[mode] = bl.summary(model, (2, 3, 16, 16))[0]
    assert (rows["always"].compute, rows["never"].compute) == ("bfloat16", "float32")
    assert rows["always"].saved_bytes_per_sample < rows["never"].saved_bytes_per_sample
    assert bl.summary(model, (2, 3, 16, 16))[0].compute == "float32"
    assert "bfloat16" in bl.format_summary([rows["always"]])


def test_grids_with_fft_transforms_keep_float32_on_the_spectral_path(monkeypatch):
    """There the low precision would be slower (see FftBasis.low_precision_pays); "always" still forces it."""
    from bandlimit.functional import plan, spectral
    from bandlimit.functional.shape import ConvShape

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512_bf16"}))
    shape = ConvShape.of(8, 8, (3,), (300,), padding=1, batch=4)
    computed = {}
    for grid_limit in (0, 512):  # FFT transforms, then GEMM ones
        monkeypatch.setattr(spectral, "GEMM_MAX_GRID", grid_limit)
        plan._plan.cache_clear()  # plans are cached per call, not per machine setting
        for path in ("spectral", "direct"):
            with BF.forced_path(path):
                computed[grid_limit, path] = plan.plan_conv(
                    shape, 0.5, training=True, dtype=torch.bfloat16
                ).compute_dtype
                with low_precision("always"):
                    forced = plan.plan_conv(shape, 0.5, training=True, dtype=torch.bfloat16).compute_dtype
                assert forced == torch.bfloat16
    plan._plan.cache_clear()
    assert computed == {
        (0, "spectral"): torch.float32,
        (0, "direct"): torch.bfloat16,
        (512, "spectral"): torch.bfloat16,
        (512, "direct"): torch.bfloat16,
    }


def test_a_cached_half_type_filter_band_gives_the_same_output_and_gradients():
    """The filter cache holds the half-type band transposed; the input gradient reads it back."""
    torch.manual_seed(0)
    layer = BandLimitedConv2d(6, 8, 3, padding=1, groups=2, rate=0.5).to(torch.bfloat16)
    x = torch.randn(4, 6, 12, 12, dtype=torch.bfloat16)
    results = []
    with low_precision("always"), BF.forced_path("spectral"):
        for mode in (True, False):  # eval: the filter band cached; train: built per call
            layer.train(not mode)
            leaf = x.clone().requires_grad_()
            y = layer(leaf)
            (grad,) = torch.autograd.grad(y.float().square().sum(), leaf)
            results.append((y, grad))
    torch.testing.assert_close(results[0][0], results[1][0], atol=0.05, rtol=0.02)
    torch.testing.assert_close(results[0][1], results[1][1], atol=0.1, rtol=0.02)
