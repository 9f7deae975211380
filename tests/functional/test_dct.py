"""Band-limiting in the DCT-II basis: against SciPy's DCT and F.conv*d, gradcheck, what it saves,
energy mode, and the module / config plumbing."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.fft import dctn, idctn

import bandlimit as bl
import bandlimit.functional as BF
from bandlimit.compress import summary
from bandlimit.errors import ConfigError
from bandlimit.functional.dct import dct_low_pass, dct_low_pass_flops, dct_matrix, select_dct_band
from bandlimit.functional.energy import band_energy, energy_map, rate_for_energy
from bandlimit.memory import count_saved_bytes
from bandlimit.nn import BandLimitedConv1d, BandLimitedConv2d


def _scipy_projection(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``x`` (..., H, W) with its orthonormal DCT-II coefficients outside ``[:rows, :cols]`` zeroed."""
    coefficients = dctn(x, type=2, norm="ortho", axes=(-2, -1))
    coefficients[..., rows:, :] = 0
    coefficients[..., :, cols:] = 0
    return idctn(coefficients, type=2, norm="ortho", axes=(-2, -1))


def test_dct_matrix_is_scipys_orthonormal_dct_ii():
    for n in (1, 2, 7, 32):
        expected = dctn(np.eye(n), type=2, norm="ortho", axes=(0,))  # column j: DCT of the j-th unit vector
        np.testing.assert_allclose(dct_matrix(n, n, torch.float64, "cpu").numpy(), expected, atol=1e-13)
    rows = dct_matrix(12, 5, torch.float64, "cpu")
    torch.testing.assert_close(rows @ rows.T, torch.eye(5, dtype=torch.float64))


@pytest.mark.parametrize("n_h, n_w, ndim", [(9, 12, 2), (32, 32, 2), (1, 60, 1), (5, 5, 2)])
def test_band_discards_at_least_the_rate_and_grows_from_dc(n_h, n_w, ndim):
    previous = None
    for rate in np.linspace(0, 0.95, 40):
        band = select_dct_band(n_h, n_w, float(rate), ndim)
        assert band.achieved_rate >= rate - 1e-12 and 1 <= band.rows <= n_h and 1 <= band.cols <= n_w
        assert band.kept >= 1 and (rate > 0 or band.is_full)
        if previous is not None:
            assert band.kept <= previous.kept  # a higher rate never keeps more
        previous = band
    with pytest.raises(ValueError, match="rate"):
        select_dct_band(n_h, n_w, 1.0, ndim)


@pytest.mark.parametrize("rate", [0.3, 0.5, 0.85])
@pytest.mark.parametrize(
    "padding, stride, dilation, groups",
    [(1, 1, 1, 1), ("same", 1, 1, 1), ((0, 2), 2, 1, 1), (2, 1, 2, 2), ("same", 1, (1, 2), 2)],
)
def test_conv2d_is_the_direct_convolution_of_scipys_projection(rate, padding, stride, dilation, groups):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 11, 14, dtype=torch.float64)
    w = torch.randn(6, 4 // groups, 3, 4, dtype=torch.float64)
    b = torch.randn(6, dtype=torch.float64)
    band = select_dct_band(11, 14, rate)
    projected = torch.from_numpy(_scipy_projection(x.numpy(), band.rows, band.cols))
    expected = F.conv2d(projected, w, b, stride, padding, dilation, groups)
    ours = BF.conv2d(x, w, b, stride, padding, dilation, groups, rate=rate, basis="dct")
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("rate", [0.5, 0.85])
def test_conv1d_projects_the_series_only_along_time(rate):
    torch.manual_seed(1)
    x = torch.randn(3, 2, 40, dtype=torch.float64)
    w = torch.randn(5, 2, 7, dtype=torch.float64)
    band = select_dct_band(1, 40, rate, ndim=1)
    assert band.rows == 1 and band.cols == 40 - round(rate * 40)
    coefficients = dctn(x.numpy(), type=2, norm="ortho", axes=(-1,))
    coefficients[..., band.cols :] = 0
    projected = torch.from_numpy(idctn(coefficients, type=2, norm="ortho", axes=(-1,)))
    expected = F.conv1d(projected, w, padding=3)
    torch.testing.assert_close(BF.conv1d(x, w, padding=3, rate=rate, basis="dct"), expected)


@pytest.mark.parametrize("ndim", [1, 2])
def test_rate_zero_is_f_conv_forward_and_backward(ndim):
    op, reference = (BF.conv1d, F.conv1d) if ndim == 1 else (BF.conv2d, F.conv2d)
    x = torch.randn(2, 3, *(10,) * ndim, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, *(3,) * ndim, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    ours = op(x, w, b, stride=2, padding="valid", rate=0.0, basis="dct")
    ref = reference(x, w, b, stride=2)
    torch.testing.assert_close(ours, ref)
    g = torch.randn_like(ref)
    for a, e in zip(torch.autograd.grad(ours, (x, w, b), g), torch.autograd.grad(ref, (x, w, b), g)):
        torch.testing.assert_close(a, e)


@pytest.mark.parametrize(
    "shape, kernel, kwargs",
    [
        ((2, 2, 7, 8), (3, 2, 3, 3), {"padding": 1, "stride": 2}),
        ((1, 2, 6, 7), (2, 2, 4, 2), {"padding": "same"}),  # asymmetric padding of even kernels
        ((1, 4, 6, 6), (4, 2, 3, 3), {"padding": 2, "dilation": 2, "groups": 2}),
        ((2, 2, 15), (3, 2, 4), {"padding": "same"}),
    ],
)
@pytest.mark.parametrize("rate", [0.4, 0.8])
def test_gradcheck(shape, kernel, kwargs, rate):
    torch.manual_seed(2)
    op = BF.conv1d if len(shape) == 3 else BF.conv2d
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    w = torch.randn(kernel, dtype=torch.float64, requires_grad=True)
    b = torch.randn(kernel[0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *t: op(*t, **kwargs, rate=rate, basis="dct"), (x, w, b))


def test_input_gradient_is_the_projection_of_f_conv_gradient():
    """P is self-adjoint: grad_x = P conv^T(g), so it lies in the band and matches SciPy's projection."""
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    y = BF.conv2d(x, w, padding=2, rate=0.75, basis="dct")
    g = torch.randn_like(y)
    (grad,) = torch.autograd.grad(y, x, g)
    (plain,) = torch.autograd.grad(F.conv2d(x, w, padding=2), x, g)
    band = select_dct_band(12, 12, 0.75)
    torch.testing.assert_close(grad, torch.from_numpy(_scipy_projection(plain.numpy(), band.rows, band.cols)))


def test_saves_the_bands_coefficients_and_the_weight():
    x = torch.randn(4, 8, 32, 32, requires_grad=True)
    w = torch.randn(8, 8, 3, 3, requires_grad=True)
    for rate in (0.5, 0.85):
        band = select_dct_band(32, 32, rate)
        with count_saved_bytes() as saved:
            BF.conv2d(x, w, padding=1, rate=rate, basis="dct")
        assert saved.total == 4 * (x.shape[0] * x.shape[1] * band.kept + w.numel())
    with count_saved_bytes() as full:
        BF.conv2d(x, w, padding=1, rate=0.0, basis="dct")
    assert full.total == 4 * (x.numel() + w.numel())  # the input itself, as F.conv2d saves


@pytest.mark.parametrize("bias", [True, False])
def test_output_accepts_in_place_ops(bias):
    layer = BandLimitedConv1d(3, 3, 3, padding=1, bias=bias, rate=0.5)
    layer.basis = "dct"
    x = torch.randn(2, 3, 16, requires_grad=True)
    out = layer(x)
    out += 1.0
    F.relu(out, inplace=True).sum().backward()
    assert x.grad is not None and layer.weight.grad is not None


def test_bad_basis_names_the_argument():
    x, w = torch.randn(1, 1, 8, 8), torch.randn(1, 1, 3, 3)
    with pytest.raises(ValueError, match=r"basis must be one of \['dct', 'fft'\], got 'wavelet'"):
        BF.conv2d(x, w, rate=0.5, basis="wavelet")
    layer = BandLimitedConv2d(1, 1, 3)
    with pytest.raises(ValueError, match="basis"):
        layer.basis = "DCT"


def test_energy_map_is_parseval_and_energy_mode_is_monotonic():
    torch.manual_seed(3)
    x = torch.randn(2, 3, 9, 12, dtype=torch.float64).cumsum(-1).cumsum(-2)
    power = energy_map(x, (9, 12), basis="dct")
    torch.testing.assert_close(power.sum(), x.square().sum())  # orthonormal: Parseval with no weights
    coefficients = dctn(x.numpy(), type=2, norm="ortho", axes=(-2, -1))
    np.testing.assert_allclose(power.numpy(), (coefficients**2).sum((0, 1)), rtol=1e-12)
    rates = [rate_for_energy(power, (9, 12), e, basis="dct") for e in np.linspace(0.05, 1.0, 60)]
    assert rates == sorted(rates, reverse=True)  # more energy never gives a higher rate
    for energy in (0.5, 0.9, 0.99):
        rate = rate_for_energy(power, (9, 12), energy, basis="dct")
        assert band_energy(power, select_dct_band(9, 12, rate)) >= energy * float(power.sum()) * (1 - 1e-12)


def test_energy_mode_layer_uses_the_dct_band_it_chose():
    torch.manual_seed(4)
    layer = BandLimitedConv2d(2, 3, 3, padding=1, padding_mode="reflect").double()
    layer.basis, layer.energy = "dct", 0.95
    x = torch.randn(2, 2, 10, 10, dtype=torch.float64).cumsum(-1).cumsum(-2)
    out = layer(x)
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")  # other modes pad first: the band is over 12x12
    rate = rate_for_energy(energy_map(padded, (12, 12), "dct"), (12, 12), 0.95, "dct")
    assert 0 < layer.chosen_rate[0] == select_dct_band(12, 12, rate).achieved_rate
    torch.testing.assert_close(out, BF.conv2d(padded, layer.weight, layer.bias, rate=rate, basis="dct"))


def _convnet() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(inplace=True),
        torch.nn.Conv2d(8, 8, 3, padding=1, bias=False),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(8, 2),
    )


def test_config_applies_the_basis_and_round_trips_and_restores():
    torch.manual_seed(5)
    model = _convnet().double()
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    config = bl.BandLimitConfig(rate=0.5, basis="dct")
    assert bl.config_from_json(config.to_json()) == config
    ours = bl.compress_(copy.deepcopy(model), config)
    assert all(layer.basis == "dct" for layer in bl.band_limited_layers(ours).values())
    assert "basis='dct'" in repr(ours[0])
    # The first layer alone, by hand: the DCT projection of the input, then the plain conv.
    band = select_dct_band(16, 16, 0.5)
    projected = torch.from_numpy(_scipy_projection(x.numpy(), band.rows, band.cols))
    torch.testing.assert_close(ours[0](x), model[0](projected))
    rows = {row.name: row for row in summary(ours, (4, 3, 16, 16))}
    assert rows["0"].path == "dct" and rows["0"].grid == (16, 16) and rows["0"].rate == band.achieved_rate
    assert rows["0"].flops == pytest.approx(
        9 * 3 * 8 * 2 * 256 + dct_low_pass_flops(band, 3)
    )  # direct MACs x 2 plus the projection of 3 planes
    bl.restore_(ours)
    assert "_basis" not in ours[0].__dict__ and type(ours[0]) is torch.nn.Conv2d


def test_config_refuses_dct_with_where_it_pays_and_layers_too():
    with pytest.raises(ConfigError, match="where_it_pays"):
        bl.BandLimitConfig(basis="dct", where_it_pays=True)
    with pytest.raises(ConfigError, match="basis"):
        bl.BandLimitConfig(basis="haar")
    layer = BandLimitedConv2d(1, 1, 3)
    layer.where_it_pays = True
    with pytest.raises(ValueError, match="where_it_pays"):
        layer.basis = "dct"
    # A config can switch a converted model from one mode to the other.
    model = bl.compress_(_convnet(), bl.BandLimitConfig(where_it_pays=True))
    bl.compress_(model, bl.BandLimitConfig(basis="dct"))
    assert model[0].basis == "dct" and not model[0].where_it_pays


def test_spectral_checkpoints_give_the_same_gradients_in_the_dct_basis():
    torch.manual_seed(6)
    model = _convnet().double()
    x = torch.randn(3, 3, 16, 16, dtype=torch.float64)
    grads = []
    for checkpoint in (False, True):
        m = bl.compress_(copy.deepcopy(model), bl.BandLimitConfig(rate=0.6, basis="dct", checkpoint=checkpoint))
        m(x).square().sum().backward()
        grads.append([p.grad for p in m.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_calibration_in_the_dct_basis_matches_the_energy_of_each_layers_input():
    torch.manual_seed(7)
    model = bl.compress_(_convnet(), bl.BandLimitConfig(basis="dct"))
    batches = [torch.randn(4, 3, 16, 16).cumsum(-1) for _ in range(2)]
    config = bl.calibrate_(model, batches, energy=0.9, batches=2, config=bl.BandLimitConfig(basis="dct"))
    power = sum(energy_map(b, (16, 16), "dct") for b in batches)
    assert config.overrides["0"] == rate_for_energy(power, (16, 16), 0.9, "dct") > 0
    assert config.basis == "dct" and model[0].rate == config.overrides["0"]


def test_dct_low_pass_is_an_orthogonal_projection():
    band = select_dct_band(8, 10, 0.6)
    x = torch.randn(3, 2, 8, 10, dtype=torch.float64)
    y = torch.randn(3, 2, 8, 10, dtype=torch.float64)
    px = dct_low_pass(x, band)
    torch.testing.assert_close(dct_low_pass(px, band), px)  # idempotent
    torch.testing.assert_close((px * y).sum(), (x * dct_low_pass(y, band)).sum())  # self-adjoint
