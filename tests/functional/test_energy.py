"""Energy mode: the energy map against NumPy's full FFT, the band choice against a brute-force
search over every band of the rate mode, and the layer's forward and backward at the chosen band."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import bandlimit.functional as BF
from bandlimit.compress import BandLimitConfig, calibrate_, chosen_rates, compress_, config_from_dict
from bandlimit.functional.band import band_for_size, select_band
from bandlimit.functional.energy import band_energy, energy_map, energy_rate, rate_for_energy
from bandlimit.nn import BandLimitedConv1d, BandLimitedConv2d

GRIDS = [(35, 35), (12, 10), (9, 7), (1, 280), (1, 15)]


def _numpy_band_energy(x: np.ndarray, grid: tuple[int, int], band) -> float:
    """Energy of the band's coefficients and their conjugate mirrors on the full 2D FFT grid."""
    n_h, n_w = grid
    spectrum = np.fft.fft2(x.reshape(-1, *x.shape[-2:]), s=grid)
    power = (np.abs(spectrum) ** 2).sum(0)
    mask = np.zeros(grid, dtype=bool)
    for r in band.rows:
        for c in range(band.cols):
            mask[r, c] = mask[(-r) % n_h, (-c) % n_w] = True
    return float(power[mask].sum())


def _smooth(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    return x.cumsum(-1).cumsum(-2) if len(shape) > 3 else x.cumsum(-1)


def _input_on(grid, seed=0):
    """A smooth input two samples smaller than the grid along each axis, and its spatial dims."""
    dims = grid if grid[0] > 1 else (grid[1],)
    return _smooth((2, 3, *(n - 2 for n in dims)), seed), dims


@pytest.mark.parametrize("grid", GRIDS)
def test_energy_map_is_parseval_and_matches_numpy_per_band(grid):
    x, dims = _input_on(grid)
    power = energy_map(x, dims)
    assert power.shape == (grid[0], grid[1] // 2 + 1)
    parseval = grid[0] * grid[1] * float((x**2).sum())
    assert float(power.sum()) == pytest.approx(parseval, rel=1e-10)
    x2d = x.numpy().reshape(*x.shape[:2], -1, x.shape[-1])
    for rate in (0.0, 0.3, 0.7, 0.95):
        band = select_band(*grid, rate, ndim=len(dims))
        assert band_energy(power, band) == pytest.approx(_numpy_band_energy(x2d, grid, band), rel=1e-9)


@pytest.mark.parametrize("grid", GRIDS)
def test_chosen_band_is_the_smallest_that_keeps_the_energy(grid):
    x, dims = _input_on(grid, seed=1)
    power = energy_map(x, dims)
    total = float(power.sum())
    total_coefficients = grid[0] * (grid[1] // 2 + 1)
    all_bands = {select_band(*grid, 1 - b / total_coefficients, len(dims)) for b in range(1, total_coefficients + 1)}
    for energy in (0.3, 0.6, 0.9, 0.99, 1.0):
        band = select_band(*grid, rate_for_energy(power, dims, energy), len(dims))
        assert band_energy(power, band) >= energy * total * (1 - 1e-9)
        smaller = [b for b in all_bands if b.kept < band.kept]
        assert all(band_energy(power, b) < energy * total for b in smaller)


@pytest.mark.parametrize("grid", GRIDS)
def test_higher_energy_never_gives_a_higher_rate(grid):
    dims = grid if grid[0] > 1 else (grid[1],)
    for seed in range(3):
        x = torch.randn(2, 3, *dims, generator=torch.Generator().manual_seed(seed))
        if seed == 2:
            x = x.cumsum(-1)
        power = energy_map(x, dims)
        rates = [rate_for_energy(power, dims, e) for e in np.linspace(0.01, 1.0, 60)]
        assert all(a >= b for a, b in zip(rates, rates[1:]))


def test_zero_input_keeps_dc_alone_and_energy_argument_is_checked():
    power = energy_map(torch.zeros(1, 1, 8, 8), (10, 10))
    assert band_for_size((10, 10), rate_for_energy(power, (10, 10), 0.9)).kept == 1
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="energy must be in \\(0, 1\\]"):
            rate_for_energy(power, (10, 10), bad)
    with pytest.raises(TypeError, match="energy"):
        rate_for_energy(power, (10, 10), "high")
    with pytest.raises(ValueError, match="energy"):
        BandLimitConfig(energy=2.0)
    with pytest.raises(ValueError, match="calibrate"):
        BandLimitConfig(energy=0.9, calibrate=-1)


def test_energy_one_keeps_everything_and_equals_conv2d():
    layer = BandLimitedConv2d(3, 4, 3, padding=1).double()
    layer.energy = 1.0
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    torch.testing.assert_close(layer(x), F.conv2d(x, layer.weight, layer.bias, padding=1))
    assert layer.chosen_rate == (0.0, 0.0)


@pytest.mark.parametrize("dim", [1, 2])
def test_dynamic_layer_is_the_conv_at_the_band_it_chose_forward_and_backward(dim):
    torch.manual_seed(0)
    if dim == 2:
        layer, op, size = BandLimitedConv2d(3, 4, 3, padding=1).double(), BF.conv2d, (3, 12, 11)
    else:
        layer, op, size = BandLimitedConv1d(3, 4, 5, padding=2).double(), BF.conv1d, (3, 40)
    layer.energy = 0.8
    x = _smooth((2, *size)).requires_grad_()
    out = layer(x)
    padded = layer.padded_size(size[1:])
    rate = energy_rate(x, band_for_size(padded, 0.0).grid, 0.8)
    assert 0 < layer.chosen_rate[0] == band_for_size(padded, rate).achieved_rate
    reference = op(x, layer.weight, layer.bias, padding=layer.padding, rate=rate)
    torch.testing.assert_close(out, reference)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, (x, layer.weight, layer.bias), g)
    expected = torch.autograd.grad(reference, (x, layer.weight, layer.bias), g)
    for a, b in zip(grads, expected):
        torch.testing.assert_close(a, b)
    # The backward is the adjoint for the band the forward chose: gradcheck with that band frozen.
    frozen = x.detach()[:1].clone().requires_grad_()
    w = layer.weight.detach().clone().requires_grad_()
    rate = energy_rate(frozen, band_for_size(padded, 0.0).grid, 0.8)
    assert torch.autograd.gradcheck(lambda a, b: op(a, b, padding=layer.padding, rate=rate), (frozen, w))


def _fcn_batches():
    g = torch.Generator().manual_seed(3)
    return [torch.randn(8, 1, 60, generator=g).cumsum(-1) for _ in range(3)]


def _fcn(seed=0):
    from bandlimit.models import create_model

    torch.manual_seed(seed)
    return create_model("fcn", 1, 4, widths=[8, 16, 8])


def test_calibration_is_deterministic_keeps_the_model_and_round_trips():
    configs, states = [], []
    for _ in range(2):
        model = compress_(_fcn(), BandLimitConfig(energy=0.9, calibrate=2))
        model.train()
        before = {k: v.clone() for k, v in model.state_dict().items()}
        config = calibrate_(
            model, _fcn_batches(), energy=0.9, batches=2, config=BandLimitConfig(energy=0.9, calibrate=2)
        )
        assert model.training
        for k, v in model.state_dict().items():
            torch.testing.assert_close(v, before[k], rtol=0, atol=0)  # BatchNorm statistics untouched
        configs.append(config)
        states.append({name: (m.rate, m.energy) for name, m in model.named_modules() if hasattr(m, "energy")})
    assert configs[0] == configs[1] and states[0] == states[1]
    config = configs[0]
    assert config.energy is None and config.calibrated_energy == 0.9 and not config.needs_calibration
    assert set(config.overrides) == {"features.0", "features.3", "features.6"}
    assert config_from_dict(json.loads(json.dumps(config.to_dict()))) == config
    again = compress_(_fcn(), config)
    assert {n: m.rate for n, m in again.named_modules() if hasattr(m, "energy")} == config.overrides
    # The first layer's rate keeps 90% of its input's energy summed over the two batches.
    x = torch.cat(_fcn_batches()[:2])
    grid = band_for_size(again.features[0].padded_size((60,)), 0.0).grid
    assert config.overrides["features.0"] == rate_for_energy(energy_map(x, grid), grid, 0.9)


def test_chosen_rates_average_the_calls_and_reset():
    model = compress_(_fcn(), BandLimitConfig(energy=0.7))
    batches = _fcn_batches()
    for x in batches:
        model(x)
    first = model.features[0]
    grid = band_for_size(first.padded_size((60,)), 0.0).grid
    expected = [
        band_for_size(first.padded_size((60,)), rate_for_energy(energy_map(x, grid), grid, 0.7)).achieved_rate
        for x in batches
    ]
    rates = chosen_rates(model)
    assert rates["features.0"] == pytest.approx(sum(expected) / 3)
    assert chosen_rates(model) == {}
    with pytest.raises(ValueError, match="saw no input"):
        calibrate_(model, [], energy=0.9)
