"""compress_ / set_rate / restore_ / summary on whole models, and config serialisation."""

import pytest
import torch
from torch import nn

import bandlimit as bl
import bandlimit.functional as BF
from bandlimit.compress import config_from_dict
from bandlimit.errors import ConfigError
from bandlimit.nn import BandLimitedConv1d, BandLimitedConv2d


def _net2d() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=2, padding_mode="reflect"), nn.ReLU()),
        nn.Conv2d(8, 4, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    ).double()


def test_conversion_at_rate_zero_leaves_outputs_identical():
    model = _net2d().eval()
    x = torch.randn(2, 3, 12, 12, dtype=torch.float64)
    before = model(x)
    params = list(model.parameters())
    out = bl.compress_(model, bl.BandLimitConfig(rate=0.0))
    assert out is model
    assert len(bl.band_limited_layers(model)) == 3
    assert all(a is b for a, b in zip(params, model.parameters()))  # same Parameter objects
    torch.testing.assert_close(model(x), before)


def test_restore_round_trip():
    model = _net2d()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    bl.compress_(model, bl.BandLimitConfig(rate=0.7))
    assert set(model.state_dict()) == set(state)
    bl.restore_(model)
    assert not bl.band_limited_layers(model)
    assert {type(m) for m in model.modules()} >= {nn.Conv2d}
    assert not hasattr(model[0], "_rate")
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k])


def test_overrides_by_name_and_regex_and_filter():
    model = _net2d()
    config = bl.BandLimitConfig(rate=0.5, overrides={"3.0": 0.2, r"\d": 0.9})
    bl.compress_(model, config, filter_fn=lambda m, name: m.kernel_size != (1, 1))
    layers = bl.band_limited_layers(model)
    assert {n: m.rate for n, m in layers.items()} == {"0": 0.9, "3.0": 0.2}
    assert type(model[4]) is nn.Conv2d


def test_set_rate_changes_every_layer_and_outputs():
    model = _net2d().eval()
    x = torch.randn(1, 3, 12, 12, dtype=torch.float64)
    bl.compress_(model, bl.BandLimitConfig(rate=0.0))
    y0 = model(x)
    bl.set_rate(model, 0.8)
    assert all(m.rate == 0.8 for m in bl.band_limited_layers(model).values())
    assert not torch.allclose(model(x), y0)
    with pytest.raises(ValueError, match="rate"):
        bl.set_rate(model, 1.2)


def test_compressing_again_updates_rates_and_single_layer_is_returned():
    model = _net2d()
    bl.compress_(model, bl.BandLimitConfig(rate=0.3))
    bl.compress_(model, bl.BandLimitConfig(rate=0.6))
    assert {m.rate for m in bl.band_limited_layers(model).values()} == {0.6}
    conv = nn.Conv1d(2, 3, 5)
    layer = bl.compress_(conv, bl.BandLimitConfig(rate=0.4))
    assert isinstance(layer, BandLimitedConv1d) and layer.weight is conv.weight and layer.rate == 0.4
    assert type(bl.restore_(layer)) is nn.Conv1d


def test_optimizer_keeps_working_after_conversion():
    model = _net2d()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    bl.compress_(model, bl.BandLimitConfig(rate=0.5))
    w = model[0].weight.detach().clone()
    model(torch.randn(2, 3, 8, 8, dtype=torch.float64)).sum().backward()
    opt.step()
    assert not torch.equal(model[0].weight, w)


def test_config_json_round_trip_and_validation():
    config = bl.BandLimitConfig(rate=0.25, overrides={"layer1.*": 0.5})
    assert bl.config_from_json(config.to_json()) == config
    assert config.to_dict()["method"] == "bandlimit"
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        bl.BandLimitConfig(rate=1.0)
    with pytest.raises(ValueError, match=r"overrides\['a'\]: rate must be in"):
        bl.BandLimitConfig(overrides={"a": 2.0})
    with pytest.raises(ValueError, match="not a valid regular expression"):
        bl.BandLimitConfig(overrides={"(": 0.1})
    with pytest.raises(ValueError, match="unknown compression method"):
        config_from_dict({"method": "nope"})
    with pytest.raises(ValueError, match=r"unknown bandlimit keys \['speed'\]"):
        config_from_dict({"method": "bandlimit", "speed": 3})
    with pytest.raises(TypeError, match="config must be one of"):
        bl.compress_(_net2d(), object())


def test_summary_reports_grid_rate_memory_and_flops():
    model = _net2d()
    bl.compress_(model, bl.BandLimitConfig(rate=0.5))
    rows = bl.summary(model, (4, 3, 16, 16))
    assert [r.name for r in rows] == ["0", "3.0", "4"]
    first = rows[0]
    band = BF.spectral_band((16, 16), (3, 3), padding=1, rate=0.5)
    assert first.grid == band.grid and first.rate == band.achieved_rate
    assert first.input_shape == (3, 16, 16) and first.output_shape == (8, 16, 16)
    rows_kept, cols_kept = band.shape
    assert first.saved_bytes_per_sample == 3 * rows_kept * cols_kept * 16  # complex128 band per sample
    plain = bl.summary(bl.restore_(model), (4, 3, 16, 16))
    assert plain[0].grid is None and plain[0].saved_bytes_per_sample == 3 * 16 * 16 * 8
    assert plain[0].flops == 2 * 8 * 3 * 9 * 16 * 16
    assert "total" in bl.format_summary(rows)


def test_1d_models_are_converted():
    model = nn.Sequential(nn.Conv1d(1, 4, 8, padding="same"), nn.ReLU(), nn.Conv1d(4, 4, 3))
    bl.compress_(model, bl.BandLimitConfig(rate=0.5))
    assert isinstance(model[0], BandLimitedConv1d) and not isinstance(model[0], BandLimitedConv2d)
    assert model(torch.randn(2, 1, 40)).shape == (2, 4, 38)


def test_summary_leaves_batchnorm_statistics_untouched():
    model = _net2d()
    model[1].running_mean.fill_(0.3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bl.summary(model.eval(), (2, 3, 8, 8))
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_a_layer_registered_twice_stays_one_layer():
    conv = nn.Conv2d(2, 2, 3, padding=1)
    model = nn.Sequential(conv, nn.ReLU(), conv)
    bl.compress_(model, bl.BandLimitConfig(rate=0.5))
    assert model[0] is model[2] and isinstance(model[0], BandLimitedConv2d)


def test_overrides_that_match_nothing_warn():
    with pytest.warns(UserWarning, match=r"\['nope'\] match no converted layer"):
        bl.compress_(_net2d(), bl.BandLimitConfig(rate=0.5, overrides={"nope": 0.1, "0": 0.2}))


def test_where_it_pays_band_limits_only_the_layers_that_pay():
    """A 3x3 layer on a large map at a high rate pays; a strided 1x1 layer never does and
    computes exactly the plain convolution, in forward and backward."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 32, 1, stride=2)).double()
    plain = [(m.weight.detach().clone().requires_grad_(), m.bias.detach().clone().requires_grad_()) for m in model[::2]]
    bl.compress_(model, bl.BandLimitConfig(rate=0.85, where_it_pays=True))
    assert model[0].where_it_pays and "where_it_pays=True" in repr(model[0])
    x = torch.randn(2, 64, 32, 32, dtype=torch.float64)
    y = model(x)
    hidden = torch.relu(BF.conv2d(x, *plain[0], padding=1, rate=0.85))
    expected = torch.nn.functional.conv2d(hidden, *plain[1], stride=2)
    torch.testing.assert_close(y, expected, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(y)
    y.backward(g)
    expected.backward(g)
    for layer, (weight, bias) in zip(model[::2], plain):
        torch.testing.assert_close(layer.weight.grad, weight.grad, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(layer.bias.grad, bias.grad, rtol=1e-10, atol=1e-10)
    rows = {r.name: r for r in bl.summary(model, (2, 64, 32, 32))}
    assert (rows["0"].path, rows["2"].path) == ("spectral", "plain")
    assert rows["0"].rate > 0.8 and rows["2"].rate == 0.0
    assert "plain/plain" in bl.format_summary(list(rows.values()))

    model[2].where_it_pays = False  # the mode off: every layer band-limited again
    assert bl.summary(model, (2, 64, 32, 32))[1].rate > 0.8
    bl.restore_(model)
    assert "_where_it_pays" not in model[0].__dict__
    with pytest.raises(ConfigError, match="where_it_pays must be true or false"):
        bl.BandLimitConfig(where_it_pays=1)
    assert config_from_dict(bl.BandLimitConfig(where_it_pays=True).to_dict()).where_it_pays


@pytest.mark.parametrize(
    ("model", "shape", "rate", "expected"),
    [
        ("resnet18", (2, 3, 32, 32), 0.5, {"stages.1.0.conv2", "stages.1.1.conv1", "stages.1.1.conv2"}),
        ("fcn", (2, 1, 270), 0.5, set()),
        ("fcn", (2, 1, 270), 0.85, {"features.3", "features.6"}),
    ],
)
def test_where_it_pays_chooses_the_layers_the_readme_names(model, shape, rate, expected):
    from bandlimit.models import create_model

    net = create_model(model, shape[1], 10)
    bl.compress_(net, bl.BandLimitConfig(rate=rate, where_it_pays=True))
    assert {r.name for r in bl.summary(net, shape) if r.path != "plain"} == expected


def test_where_it_pays_at_high_rates_takes_every_stride_one_3x3_layer_of_resnet18_but_the_stem_and_one_strided():
    from bandlimit.models import create_model

    net = create_model("resnet18", 3, 10)
    bl.compress_(net, bl.BandLimitConfig(rate=0.85, where_it_pays=True))
    paying = {r.name for r in bl.summary(net, (2, 3, 32, 32)) if r.path != "plain"}
    stride_one_3x3 = {
        name
        for name, m in net.named_modules()
        if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) and m.stride == (1, 1) and m.in_channels > 3
    }
    # The third stage's strided 3x3 (128 -> 256 channels, 16x16) pays too since the weight
    # gradient's tap adjoint is real: measured 0.92x of oneDNN (float32, batch 32, 1 thread).
    assert paying == stride_one_3x3 | {"stages.2.0.conv1"} and len(stride_one_3x3) == 13
