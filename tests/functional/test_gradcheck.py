"""The backward is the exact adjoint of the band-limited forward: gradcheck in float64."""

import pytest
import torch

import bandlimit.functional as BF

RATES = [0.0, 0.3, 0.5, 0.85]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(
    "config",
    [
        dict(padding=1),
        dict(stride=2, padding=(1, 0)),
        dict(dilation=(2, 1), padding="same"),
        dict(groups=2, stride=(1, 2), dilation=2, padding=2),
    ],
    ids=str,
)
def test_gradcheck_conv2d(rate, config, conv_path):
    g = config.get("groups", 1)
    x = torch.randn(2, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2 // g, 3, 2, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *t: BF.conv2d(*t, rate=rate, **config), (x, w, b))


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(
    "config",
    [dict(padding=2), dict(stride=3, padding=1), dict(dilation=3, padding="same"), dict(groups=4, stride=2)],
    ids=str,
)
def test_gradcheck_conv1d(rate, config, conv_path):
    g = config.get("groups", 1)
    x = torch.randn(2, 4, 15, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 4 // g, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *t: BF.conv1d(*t, rate=rate, **config), (x, w, b))


@pytest.mark.parametrize("rate", [0.0, 0.5])
def test_gradcheck_unbatched(rate, conv_path):
    x = torch.randn(3, 7, 7, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *t: BF.conv2d(*t, padding=1, rate=rate), (x, w))


def test_gradient_lies_in_the_band(conv_path):
    """At rate > 0 the input gradient has no energy outside the retained band."""
    x = torch.randn(1, 2, 16, 16, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    BF.conv2d(x, w, rate=0.7).square().sum().backward()
    band = BF.spectral_band((16, 16), (3, 3), rate=0.7)
    spectrum = torch.fft.rfft2(x.grad, s=band.grid)
    outside = torch.ones(band.rfft_shape, dtype=torch.bool)
    outside[list(band.rows), : band.cols] = False
    assert spectrum[..., outside].abs().max() < 1e-9 * spectrum.abs().max()


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize(
    "op, shape, config",
    [
        (BF.conv2d, (2, 4, 7, 6), dict(stride=2, padding=1, groups=2)),
        (BF.conv2d, (1, 4, 5, 5), dict()),
        (BF.conv1d, (2, 4, 9), dict(stride=3, padding=1)),
    ],
    ids=["2d", "2d-plain", "1d"],
)
def test_gradcheck_pointwise(rate, op, shape, config):
    """1x1 kernels take their own path (low-pass, then the 1x1 product)."""
    g = config.get("groups", 1)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, shape[1] // g, *([1] * (len(shape) - 2)), dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *t: op(*t, rate=rate, **config), (x, w, b))


@pytest.mark.parametrize("rate", [0.0, 0.5])
def test_gradcheck_pointwise_input_only(rate):
    """Without a weight gradient the 1x1 layer skips the saved input's low-pass."""
    x = torch.randn(2, 4, 6, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 4, 1, 1, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: BF.conv2d(x, w, stride=2, padding=1, rate=rate), (x,))
