"""Band-limited conv1d/conv2d against references nobody here wrote.

At rate 0 the reference is ``F.conv1d`` / ``F.conv2d`` (outputs and gradients); at rates
above 0 it is the band-limited correlation written directly with NumPy's FFT.
"""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import bandlimit.functional as BF

TOL = {torch.float64: dict(rtol=1e-9, atol=1e-9), torch.float32: dict(rtol=1e-4, atol=1e-4)}


def _compare(op, ref, x, w, b, dtype, **kwargs):
    """Outputs and input/weight/bias gradients of ``op`` and ``ref`` agree."""
    torch.manual_seed(0)
    tensors = [t.to(dtype) if t is not None else None for t in (x, w, b)]
    grads = []
    outs = []
    for f in (op, ref):
        leaves = [t.clone().requires_grad_() if t is not None else None for t in tensors]
        y = f(*leaves, **kwargs)
        outs.append(y)
        g = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
        (y * g).sum().backward()
        grads.append([t.grad if t is not None else None for t in leaves])
    torch.testing.assert_close(outs[0], outs[1], **TOL[dtype])
    for a, r in zip(*grads):
        if r is not None:
            torch.testing.assert_close(a, r, **TOL[dtype])


CONFIGS_2D = [
    dict(),
    dict(padding=1),
    dict(padding=(2, 0)),
    dict(padding="same"),
    dict(padding="valid"),
    dict(stride=2),
    dict(stride=(3, 2), padding=(1, 2)),
    dict(dilation=2, padding=2),
    dict(dilation=(1, 3), padding="same"),
    dict(groups=2, padding=1),
    dict(groups=4, stride=2, padding=1),  # depthwise with 4 input channels
    dict(groups=2, dilation=2, stride=(1, 2)),
]
SHAPES_2D = [  # (batch, in, out, H, W, kh, kw)
    (2, 4, 8, 10, 10, 3, 3),
    (1, 4, 4, 9, 12, 2, 4),  # odd/even, non-square kernel, batch 1
    (3, 4, 8, 11, 16, 5, 1),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", SHAPES_2D)
@pytest.mark.parametrize("config", CONFIGS_2D, ids=str)
def test_conv2d_rate_zero_equals_f_conv2d(config, shape, bias, dtype, conv_path):
    b, cin, cout, h, w, kh, kw = shape
    x = torch.randn(b, cin, h, w)
    weight = torch.randn(cout, cin // config.get("groups", 1), kh, kw)
    bias_t = torch.randn(cout) if bias else None
    _compare(BF.conv2d, F.conv2d, x, weight, bias_t, dtype, **config)


CONFIGS_1D = [
    dict(),
    dict(padding=3),
    dict(padding="same"),
    dict(stride=3, padding=1),
    dict(dilation=3, padding=2),
    dict(groups=2),
    dict(groups=4, stride=2, dilation=2, padding=4),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(2, 4, 8, 33, 5), (1, 4, 4, 26, 8), (3, 4, 8, 20, 1)])
@pytest.mark.parametrize("config", CONFIGS_1D, ids=str)
def test_conv1d_rate_zero_equals_f_conv1d(config, shape, bias, dtype, conv_path):
    b, cin, cout, length, k = shape
    x = torch.randn(b, cin, length)
    weight = torch.randn(cout, cin // config.get("groups", 1), k)
    bias_t = torch.randn(cout) if bias else None
    _compare(BF.conv1d, F.conv1d, x, weight, bias_t, dtype, **config)


@pytest.mark.parametrize("op, ref, ndim", [(BF.conv2d, F.conv2d, 2), (BF.conv1d, F.conv1d, 1)])
def test_unbatched_input(op, ref, ndim):
    x = torch.randn(3, *(9,) * ndim, dtype=torch.float64)
    w = torch.randn(5, 3, *(3,) * ndim, dtype=torch.float64)
    y = op(x, w, padding=1)
    assert y.shape == ref(x, w, padding=1).shape
    torch.testing.assert_close(y, ref(x, w, padding=1))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_types_the_device_does_not_multiply_natively_compute_in_float32(dtype, conv_path):
    x, w, b = torch.randn(2, 3, 12, 12), torch.randn(4, 3, 3, 3), torch.randn(4)
    x, w, b = x.to(dtype), w.to(dtype), b.to(dtype)
    with BF.low_precision("never"):  # as on a CPU without native bfloat16 (see test_low_precision.py)
        y = BF.conv2d(x.requires_grad_(), w, b, padding=1)
    assert y.dtype == dtype
    assert torch.equal(y, BF.conv2d(x.float(), w.float(), b.float(), padding=1).to(dtype))
    expected = F.conv2d(x.float(), w.float(), b.float(), padding=1)
    torch.testing.assert_close(y.float(), expected.to(dtype).float(), rtol=2e-2, atol=2e-2)
    y.sum().backward()
    assert x.grad.dtype == dtype


def _numpy_band_limited_conv2d(x, w, rate, padding, stride=1, dilation=1, groups=1):
    """Band-limited cross-correlation written directly with NumPy's FFT and a boolean mask:
    the kernel dilated by inserting zeros, groups by slicing, stride by subsampling."""
    band = BF.spectral_band(x.shape[-2:], w.shape[-2:], padding=padding, dilation=dilation, rate=rate)
    mask = np.zeros(band.rfft_shape, dtype=bool)
    mask[np.ix_(list(band.rows), list(range(band.cols)))] = True
    kh, kw = (np.array(w.shape[-2:]) - 1) * dilation + 1
    dilated = np.zeros((*w.shape[:2], kh, kw))
    dilated[..., ::dilation, ::dilation] = w
    xp = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)])
    X = np.fft.rfft2(xp, s=band.grid) * mask
    W = np.fft.rfft2(dilated, s=band.grid) * mask
    cin_g, cout_g = x.shape[1] // groups, w.shape[0] // groups
    Y = np.concatenate(
        [
            np.einsum("bihw,oihw->bohw", X[:, g * cin_g : (g + 1) * cin_g], W[g * cout_g : (g + 1) * cout_g].conj())
            for g in range(groups)
        ],
        axis=1,
    )
    y = np.fft.irfft2(Y, s=band.grid)
    ho, wo = xp.shape[-2] - kh + 1, xp.shape[-1] - kw + 1
    return y[..., :ho:stride, :wo:stride]


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5, 0.85, 0.99])
@pytest.mark.parametrize("hw, k, padding", [((16, 16), (3, 3), 1), ((11, 14), (4, 3), 0), ((20, 9), (5, 5), 2)])
def test_conv2d_band_limited_matches_numpy(rate, hw, k, padding, conv_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, *hw))
    w = rng.standard_normal((4, 3, *k))
    y = BF.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=padding, rate=rate)
    np.testing.assert_allclose(y.numpy(), _numpy_band_limited_conv2d(x, w, rate, padding), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("rate", [0.3, 0.7])
@pytest.mark.parametrize(
    "stride, dilation, groups",
    [(2, 1, 1), (1, 2, 1), (1, 1, 2), (3, 2, 2)],
    ids=["stride", "dilation", "groups", "all"],
)
def test_strided_dilated_grouped_band_limited_matches_numpy(rate, stride, dilation, groups, conv_path):
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 4, 15, 12)), rng.standard_normal((6, 4 // groups, 3, 2))
    y = BF.conv2d(
        torch.from_numpy(x), torch.from_numpy(w), padding=1, stride=stride, dilation=dilation, groups=groups, rate=rate
    )
    ref = _numpy_band_limited_conv2d(x, w, rate, 1, stride, dilation, groups)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("rate", [0.2, 0.6, 0.9])
def test_conv1d_band_limited_matches_numpy(rate, conv_path):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 50)), rng.standard_normal((4, 3, 7))
    band = BF.spectral_band((50,), (7,), rate=rate)
    n = band.grid[0]
    X = np.fft.rfft(x, n=n)[..., : band.cols]
    W = np.fft.rfft(w, n=n)[..., : band.cols]
    ref = np.fft.irfft(np.einsum("bif,oif->bof", X, W.conj()), n=n)[..., : 50 - 7 + 1]
    y = BF.conv1d(torch.from_numpy(x), torch.from_numpy(w), rate=rate)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-9, atol=1e-9)


def test_error_grows_with_rate_and_output_is_low_pass():
    torch.manual_seed(0)
    x, w = torch.randn(2, 3, 32, 32, dtype=torch.float64), torch.randn(4, 3, 3, 3, dtype=torch.float64)
    exact = F.conv2d(x, w, padding=1)
    errors = [(BF.conv2d(x, w, padding=1, rate=r) - exact).norm().item() for r in (0.0, 0.3, 0.6, 0.9)]
    assert errors[0] < 1e-9
    assert errors == sorted(errors) and errors[-1] > errors[1] > 0


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    ndim=st.sampled_from([1, 2]),
    groups=st.sampled_from([1, 2, 3]),
    batch=st.integers(1, 3),
    bias=st.booleans(),
    path=st.sampled_from(["spectral", "direct"]),
)
def test_random_configurations_match_reference(data, ndim, groups, batch, bias, path):
    cin = groups * data.draw(st.integers(1, 2))
    cout = groups * data.draw(st.integers(1, 2))
    kernel = tuple(data.draw(st.integers(1, 4)) for _ in range(ndim))
    dilation = tuple(data.draw(st.integers(1, 3)) for _ in range(ndim))
    stride = tuple(data.draw(st.integers(1, 3)) for _ in range(ndim))
    padding = tuple(data.draw(st.integers(0, 3)) for _ in range(ndim))
    size = tuple(
        data.draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 17)) for k, d, p in zip(kernel, dilation, padding)
    )
    x = torch.randn(batch, cin, *size)
    w = torch.randn(cout, cin // groups, *kernel)
    b = torch.randn(cout) if bias else None
    op, ref = (BF.conv1d, F.conv1d) if ndim == 1 else (BF.conv2d, F.conv2d)
    with BF.forced_path(path):
        _compare(op, ref, x, w, b, torch.float64, stride=stride, padding=padding, dilation=dilation, groups=groups)


def test_every_stride_dilation_combination_on_one_shape(conv_path):
    x, w = torch.randn(2, 2, 13, 11, dtype=torch.float64), torch.randn(2, 2, 3, 2, dtype=torch.float64)
    for s, d in itertools.product((1, 2, 3), (1, 2)):
        torch.testing.assert_close(BF.conv2d(x, w, stride=s, dilation=d), F.conv2d(x, w, stride=s, dilation=d))


def test_autocast_bf16_matches_f_conv2d_under_autocast():
    x, w, b = torch.randn(2, 3, 10, 10), torch.randn(4, 3, 3, 3, requires_grad=True), torch.randn(4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = BF.conv2d(x.bfloat16(), w, b, padding=1)  # mixed input/weight dtypes, as after an autocast op
        ref = F.conv2d(x.bfloat16(), w, b, padding=1)
    assert y.dtype == ref.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), ref.float(), rtol=3e-2, atol=3e-2)
    y.float().sum().backward()
    assert w.grad.dtype == torch.float32


@pytest.mark.parametrize("config", CONFIGS_2D[:8], ids=str)
def test_fft_path_rate_zero_equals_f_conv2d(fft_path, config, conv_path):
    x, w, b = torch.randn(2, 4, 10, 9), torch.randn(4, 4 // config.get("groups", 1), 3, 2), torch.randn(4)
    _compare(BF.conv2d, F.conv2d, x, w, b, torch.float64, **config)


def test_fft_path_rate_zero_equals_f_conv1d(fft_path, conv_path):
    x, w = torch.randn(2, 3, 40, dtype=torch.float64), torch.randn(2, 3, 5, dtype=torch.float64)
    _compare(BF.conv1d, F.conv1d, x, w, None, torch.float64, padding=2)


def _output_and_grads(op, x, w, **kwargs):
    """``[y, dL/dx, dL/dw]`` for a seeded output gradient."""
    x, w = x.clone().requires_grad_(), w.clone().requires_grad_()
    y = op(x, w, **kwargs)
    y.backward(torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=y.dtype))
    return [y.detach(), x.grad, w.grad]


@pytest.mark.parametrize("rate", [0.3, 0.85])
def test_fft_path_matches_numpy_and_gemm_path(monkeypatch, rate):
    """The same inputs through both transform paths give the same outputs and gradients."""
    from bandlimit.functional import spectral

    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 3, 13, 16)), rng.standard_normal((4, 3, 3, 4))
    x1, w1 = torch.randn(2, 3, 40, dtype=torch.float64), torch.randn(2, 3, 5, dtype=torch.float64)
    band = BF.spectral_band(x.shape[-2:], w.shape[-2:], padding=1, rate=rate)
    results = {}
    for path, limit in (("gemm", spectral.GEMM_MAX_GRID), ("fft", 0)):
        monkeypatch.setattr(spectral, "GEMM_MAX_GRID", limit)
        assert spectral.uses_gemm(band) == (path == "gemm")
        results[path] = _output_and_grads(
            BF.conv2d, torch.from_numpy(x), torch.from_numpy(w), padding=1, rate=rate
        ) + _output_and_grads(BF.conv1d, x1, w1, padding=2, rate=rate)
    np.testing.assert_allclose(
        results["fft"][0].numpy(), _numpy_band_limited_conv2d(x, w, rate, 1), rtol=1e-9, atol=1e-9
    )
    for fft, gemm in zip(results["fft"], results["gemm"]):
        torch.testing.assert_close(fft, gemm, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("rate", [0.0, 0.5])
def test_fft_path_gradcheck(fft_path, rate, conv_path):
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *t: BF.conv2d(*t, padding=1, stride=(1, 2), rate=rate), (x, w))


def test_autocast_leaves_float64_alone():
    x, w = torch.randn(1, 2, 6, 6, dtype=torch.float64), torch.randn(2, 2, 3, 3, dtype=torch.float64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert BF.conv2d(x, w).dtype == F.conv2d(x, w).dtype == torch.float64


def test_double_backward_is_refused_clearly():
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, 3, 3, dtype=torch.float64)
    (g,) = torch.autograd.grad(BF.conv2d(x, w).square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()


@pytest.mark.parametrize("path", ["gemm", "fft"])
@pytest.mark.parametrize("rate", [0.0, 0.4, 0.8])
@pytest.mark.parametrize(
    "stride, padding, groups", [(1, 0, 1), (2, 0, 1), (2, 1, 2), (3, 2, 1)], ids=["plain", "stride", "groups", "pad"]
)
def test_pointwise_layers_match_numpy(monkeypatch, path, rate, stride, padding, groups, conv_path):
    """1x1 kernels on the direct path low-pass only the output positions (no filter spectrum);
    on both paths, the same band-limited convolution as the reference on the same grid."""
    from bandlimit.functional import spectral

    if path == "fft":
        monkeypatch.setattr(spectral, "GEMM_MAX_GRID", 0)
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 4, 11, 8)), rng.standard_normal((6, 4 // groups, 1, 1))
    y = BF.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=padding, stride=stride, groups=groups, rate=rate)
    ref = _numpy_band_limited_conv2d(x, w, rate, padding, stride, 1, groups)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("transforms", ["gemm", "fft"])
@pytest.mark.parametrize("rate", [0.0, 0.3, 0.8])
@pytest.mark.parametrize(
    "kernel, stride, padding, dilation, groups",
    [((3, 3), 1, 1, 1, 1), ((3, 2), 2, (2, 0), 1, 2), ((3, 3), 3, 0, 2, 1), ((1, 1), 2, 1, 1, 1)],
    ids=["same", "strided-grouped", "dilated-strided", "pointwise-padded"],
)
def test_both_paths_give_the_same_values_and_gradients(
    monkeypatch, transforms, rate, kernel, stride, padding, dilation, groups
):
    """The direct path (low-pass, then F.conv2d) and the spectral one are the same function."""
    from bandlimit.functional import spectral

    if transforms == "fft":
        monkeypatch.setattr(spectral, "GEMM_MAX_GRID", 0)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 4, 13, 10, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 4 // groups, *kernel, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True)
    results = []
    for path in ("spectral", "direct"):
        with BF.forced_path(path):
            y = BF.conv2d(x, w, b, stride, padding, dilation, groups, rate=rate)
            results.append((y, *torch.autograd.grad(y, (x, w, b), torch.ones_like(y))))
    for spectral_result, direct_result in zip(*results):
        torch.testing.assert_close(direct_result, spectral_result, rtol=1e-10, atol=1e-10)


def test_forced_path_refuses_unknown_paths():
    with pytest.raises(ValueError, match="path"):
        with BF.forced_path("fast"):
            pass


@pytest.mark.parametrize("transforms", ["gemm", "fft"])
@pytest.mark.parametrize("rate", [0.0, 0.4, 0.9])
@pytest.mark.parametrize("step", [(1, 1), (2, 3)])
def test_separable_low_pass_matches_numpy_and_its_adjoint(monkeypatch, transforms, rate, step):
    """The direct path's low-pass: numpy's rfft2, the band kept, irfft2, sampled; and its adjoint."""
    from bandlimit.functional import spectral
    from bandlimit.functional.band import band_for_size
    from bandlimit.functional.low_pass import band_low_pass, band_low_pass_adjoint

    if transforms == "fft":
        monkeypatch.setattr(spectral, "GEMM_MAX_GRID", 0)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 9, 11))
    top, left, grid_size = 2, 1, (13, 14)
    band = band_for_size(grid_size, rate)
    grid = np.zeros((2, 3, *band.grid))
    grid[..., top : top + 9, left : left + 11] = x
    spectrum = np.fft.rfft2(grid)
    mask = np.zeros(spectrum.shape[-2:], dtype=bool)
    mask[np.array(band.rows)[:, None], np.arange(band.cols)[None, :]] = True
    full = np.fft.irfft2(spectrum * mask, s=band.grid)
    out_h, out_w = (grid_size[0] - 1) // step[0] + 1, (grid_size[1] - 1) // step[1] + 1
    ref = full[..., :: step[0], :: step[1]][..., :out_h, :out_w]
    low = band_low_pass(torch.from_numpy(x), band, out_h, out_w, top, left, step=step)
    np.testing.assert_allclose(low.numpy(), ref, rtol=1e-10, atol=1e-10)
    g = torch.from_numpy(rng.standard_normal(ref.shape))
    back = band_low_pass_adjoint(g, band, 9, 11, top, left, step=step)
    torch.testing.assert_close((low * g).sum(), (torch.from_numpy(x) * back).sum(), rtol=1e-10, atol=1e-10)
