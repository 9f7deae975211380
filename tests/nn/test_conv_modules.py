"""BandLimitedConv1d/2d: drop-in for nn.Conv1d/2d, state_dict compatible, rate adjustable."""

import pytest
import torch
from torch import nn

import bandlimit.functional as BF
from bandlimit.nn import BandLimitedConv1d, BandLimitedConv2d

PAIRS = [(nn.Conv1d, BandLimitedConv1d, 1), (nn.Conv2d, BandLimitedConv2d, 2)]


@pytest.mark.parametrize("padding_mode", ["zeros", "circular", "reflect", "replicate"])
@pytest.mark.parametrize("base, cls, ndim", PAIRS)
@pytest.mark.parametrize(
    "kwargs",
    [dict(padding=2), dict(padding="same", dilation=2), dict(padding=1, stride=2, groups=2, bias=False)],
    ids=str,
)
def test_module_equals_torch_module_at_rate_zero(base, cls, ndim, padding_mode, kwargs):
    torch.manual_seed(0)
    ref = base(4, 6, 3, padding_mode=padding_mode, dtype=torch.float64, **kwargs)
    ours = cls(4, 6, 3, padding_mode=padding_mode, dtype=torch.float64, **kwargs)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 4, *(11,) * ndim, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(ours(x), ref(x))
    g_ours = torch.autograd.grad(ours(x).square().sum(), [x, ours.weight])
    g_ref = torch.autograd.grad(ref(x).square().sum(), [x, ref.weight])
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("base, cls, ndim", PAIRS)
def test_state_dict_round_trip(base, cls, ndim):
    ref = base(3, 5, 3, padding=1)
    ours = cls(3, 5, 3, padding=1, rate=0.5)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    ours.load_state_dict(ref.state_dict())
    back = base(3, 5, 3, padding=1)
    back.load_state_dict(ours.state_dict())
    for k, v in ref.state_dict().items():
        assert torch.equal(back.state_dict()[k], v)


def test_rate_can_change_and_is_shown():
    layer = BandLimitedConv2d(3, 4, 3, padding=1, rate=0.5)
    x = torch.randn(1, 3, 16, 16)
    assert "rate=0.5" in repr(layer)
    expected = BF.conv2d(x, layer.weight, layer.bias, padding=1, rate=0.5)
    torch.testing.assert_close(layer(x), expected)
    layer.rate = 0.0
    torch.testing.assert_close(layer(x), nn.functional.conv2d(x, layer.weight, layer.bias, padding=1))
    assert "rate=0.0" in repr(layer)
    with pytest.raises(ValueError, match="rate must be in"):
        layer.rate = 1.0
    with pytest.raises(ValueError, match="rate must be in"):
        BandLimitedConv1d(3, 4, 3, rate=-0.5)


def test_band_reported_by_the_module_is_the_one_used():
    layer = BandLimitedConv2d(3, 4, (3, 5), padding=(1, 2), rate=0.6)
    band = layer.band((20, 24))
    assert band == BF.spectral_band((20, 24), (3, 5), padding=(1, 2), rate=0.6)
    assert band.achieved_rate >= 0.6
    assert BandLimitedConv1d(2, 2, 4, padding="same", rate=0.3).band((10,)).grid == (BF.fft_size(13),)


def test_unbatched_and_half_precision_module():
    layer = BandLimitedConv2d(3, 4, 3, padding=1, rate=0.3).to(torch.bfloat16)
    x = torch.randn(3, 8, 8, dtype=torch.bfloat16)
    y = layer(x)
    assert y.shape == (4, 8, 8) and y.dtype == torch.bfloat16
    torch.testing.assert_close(y, layer(x.unsqueeze(0)).squeeze(0), rtol=0, atol=0)


def test_module_trains():
    torch.manual_seed(0)
    model = nn.Sequential(BandLimitedConv2d(1, 4, 3, padding=1, rate=0.5), nn.ReLU(), nn.Flatten(), nn.Linear(256, 2))
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 2, (16,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])
def test_band_of_same_padding_with_an_even_kernel(padding_mode):
    layer = BandLimitedConv2d(2, 2, 4, padding="same", padding_mode=padding_mode, rate=0.5)
    assert layer.padded_size((10, 10)) == (13, 13)  # 3 in total: 1 before, 2 after
    assert layer.band((10, 10)).grid == (BF.fft_size(13),) * 2
    assert layer(torch.randn(1, 2, 10, 10)).shape == (1, 2, 10, 10)


# The filter band kept between inference calls: exact, and rebuilt whenever the weight or the band changes.


def _uncached(layer: BandLimitedConv2d, x: torch.Tensor) -> torch.Tensor:
    """The layer's output computed with no cache at all."""
    return BF.conv2d(x, layer.weight, layer.bias, layer.stride, layer.padding, rate=layer.rate)


@pytest.fixture
def cached_layer():
    """A layer on the spectral path in eval mode (the direct path builds no filter band)."""
    torch.manual_seed(0)
    layer = BandLimitedConv2d(4, 6, 3, padding=1, rate=0.5, dtype=torch.float64).eval()
    with BF.forced_path("spectral"):
        yield layer, torch.randn(2, 4, 10, 10, dtype=torch.float64)


def test_the_filter_band_is_kept_in_eval_mode_and_under_no_grad(cached_layer):
    layer, x = cached_layer
    assert layer.filter_cache.nbytes == 0
    y = layer(x)
    band = layer.band((10, 10))
    assert layer.filter_cache.nbytes == band.kept * 6 * 4 * 16  # (F, Cout, Cin) complex128
    torch.testing.assert_close(layer(x), y, rtol=0, atol=0)  # the cached band gives the same values
    torch.testing.assert_close(y, _uncached(layer, x))
    layer.train()
    with torch.no_grad():
        torch.testing.assert_close(layer(x), y)
    assert layer.filter_cache.nbytes > 0
    layer(x)  # a call that trains drops it
    assert layer.filter_cache.nbytes == 0


def test_the_cached_band_is_dropped_by_an_optimizer_step(cached_layer):
    layer, x = cached_layer
    before = layer(x)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    layer.train()
    layer(x).square().sum().backward()
    optimizer.step()
    layer.eval()
    after = layer(x)
    assert not torch.allclose(after, before)
    torch.testing.assert_close(after, _uncached(layer, x))
    with torch.no_grad():  # an in-place change in eval mode, between two cached calls
        layer.weight.mul_(-1)
    torch.testing.assert_close(layer(x), -after + 2 * layer.bias.view(-1, 1, 1))


def test_the_cached_band_is_dropped_by_load_state_dict_and_a_rate_change(cached_layer):
    layer, x = cached_layer
    layer(x)
    other = nn.Conv2d(4, 6, 3, padding=1, dtype=torch.float64)
    layer.load_state_dict(other.state_dict())
    torch.testing.assert_close(layer(x), _uncached(layer, x))
    layer.rate = 0.0
    torch.testing.assert_close(layer(x), other(x))
    layer.weight = nn.Parameter(torch.randn_like(layer.weight))  # a new tensor
    torch.testing.assert_close(layer(x), _uncached(layer, x))


def test_gradients_through_a_cached_layer_in_eval_mode(cached_layer):
    """Inference with gradients (input attacks, saliency) keeps the cache and stays exact."""
    layer, x = cached_layer
    x.requires_grad_()
    layer(x)
    assert layer.filter_cache.nbytes > 0
    cached = torch.autograd.grad(layer(x).square().sum(), [x, layer.weight])
    reference = torch.autograd.grad(_uncached(layer, x).square().sum(), [x, layer.weight])
    for a, b in zip(cached, reference):
        torch.testing.assert_close(a, b)


def test_copies_of_a_layer_start_with_an_empty_cache(cached_layer, tmp_path):
    import copy

    layer, x = cached_layer
    layer(x)
    clone = copy.deepcopy(layer)
    assert clone.filter_cache.nbytes == 0
    torch.save(layer, tmp_path / "layer.pt")
    loaded = torch.load(tmp_path / "layer.pt", weights_only=False)
    torch.testing.assert_close(loaded(x), layer(x))
