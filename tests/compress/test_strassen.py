"""StrassenNets: sum-product layers against the dense layers they can represent, ternary
quantisation, the three phases, counting against hand-computed values, and the rediscovery
of Strassen's 2x2 algorithm."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bandlimit as bl
from bandlimit.compress.counting import count_operations
from bandlimit.compress.strassen import StrassenConfig, strassen_layers, strassen_phase
from bandlimit.errors import ConfigError
from bandlimit.experiments.strassen2x2 import learn, matmul_tensor, rediscover
from bandlimit.functional.ternary import ternary, ternary_threshold, twn_scale
from bandlimit.models import create_model
from bandlimit.nn.strassen import StrassenConv1d, StrassenConv2d, StrassenLinear
from bandlimit.train import TrainConfig, train
from bandlimit.train.run import load_trained


def test_ternary_values_and_straight_through_gradients():
    w = torch.tensor([-1.2, -0.3, 0.0, 0.2, 0.6, 2.0], requires_grad=True)
    q = ternary(w, "fixed", 0.5)
    assert q.tolist() == [-1, 0, 0, 0, 1, 1]
    upstream = torch.arange(6.0)
    q.backward(upstream)
    assert torch.equal(w.grad, upstream)  # straight through
    delta = 0.7 * w.detach().abs().mean()
    assert torch.isclose(ternary_threshold(w, "twn"), delta)
    kept = w.detach().abs() > delta
    assert torch.isclose(twn_scale(w), w.detach().abs()[kept].mean())
    assert set(ternary(torch.randn(100), "twn").tolist()) <= {-1.0, 0.0, 1.0}


def test_a_linear_sum_product_layer_with_identity_settings_is_the_dense_layer():
    torch.manual_seed(0)
    dense = nn.Linear(5, 3)
    layer = StrassenLinear(5, 3, hidden=5)
    with torch.no_grad():
        layer.weight_b.copy_(torch.eye(5))
        layer.weight_c.copy_(dense.weight)
        layer.bias.copy_(dense.bias)
    x = torch.randn(4, 2, 5)
    torch.testing.assert_close(layer(x), dense(x))  # the full-precision phase


@pytest.mark.parametrize(
    ("stride", "padding", "patch", "size"), [(1, 1, 1, 7), (2, 1, 1, 8), (1, 0, 2, 7), (1, 1, 3, 8)]
)
def test_a_conv_sum_product_layer_with_identity_settings_is_the_convolution(stride, padding, patch, size):
    """W_b picks each (channel, tap) of a patch's receptive field, W_c puts the convolution's
    weights back: the network is the convolution, whatever the patch and stride."""
    torch.manual_seed(0)
    c_in, c_out, k = 2, 3, 3
    dense = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding).double()
    span = k + patch - 1
    hidden = c_in * span * span
    layer = StrassenConv2d(c_in, c_out, k, hidden, stride=stride, padding=padding, patch=patch).double().eval()
    with torch.no_grad():
        layer.weight_b.copy_(torch.eye(hidden, dtype=torch.float64).view(hidden, c_in, span, span))
        layer.norm.running_var.fill_(1 - layer.norm.eps)  # the batch norm is the identity
        layer.weight_c.zero_()
        for c in range(c_in):
            for y in range(span):
                for x in range(span):
                    j = (c * span + y) * span + x  # W_b's channel for input channel c at offset (y, x)
                    for ty in range(patch):
                        for tx in range(patch):
                            if 0 <= y - ty < k and 0 <= x - tx < k:
                                layer.weight_c[j, :, ty, tx] = dense.weight[:, c, y - ty, x - tx]
        layer.bias.copy_(dense.bias)
    x = torch.randn(2, c_in, size, size + 1, dtype=torch.float64)
    torch.testing.assert_close(layer(x), dense(x))
    torch.testing.assert_close(layer(x[0]), dense(x[0]))  # unbatched


@pytest.mark.parametrize("patch", [1, 2])
def test_a_1d_sum_product_layer_with_identity_settings_is_the_convolution_with_same_padding(patch):
    torch.manual_seed(0)
    c_in, c_out, k = 2, 3, 4
    dense = nn.Conv1d(c_in, c_out, k, padding="same").double()  # even kernel: 1 before, 2 after
    span = k + patch - 1
    hidden = c_in * span
    layer = StrassenConv1d(c_in, c_out, k, hidden, padding="same", patch=patch).double().eval()
    with torch.no_grad():
        layer.weight_b.copy_(torch.eye(hidden, dtype=torch.float64).view(hidden, c_in, 1, span))
        layer.norm.running_var.fill_(1 - layer.norm.eps)
        layer.weight_c.zero_()
        for c in range(c_in):
            for x in range(span):
                for t in range(patch):
                    if 0 <= x - t < k:
                        layer.weight_c[c * span + x, :, 0, t] = dense.weight[:, c, x - t]
        layer.bias.copy_(dense.bias)
    x = torch.randn(2, c_in, 11, dtype=torch.float64)
    torch.testing.assert_close(layer(x), dense(x))


def test_the_fcn_converts_and_keeps_its_shapes():
    model = bl.compress_(create_model("fcn", 1, 5, widths=[4, 8, 4]), StrassenConfig(hidden=0.5, patch=2))
    assert len(strassen_layers(model)) == 3 and isinstance(model.fc, nn.Linear)
    assert model(torch.randn(3, 1, 27)).shape == (3, 5)


def test_phases_quantise_then_freeze_and_are_saved():
    torch.manual_seed(0)
    layer = StrassenConv2d(3, 4, 3, hidden=4, padding=1, quantization="fixed", threshold=0.1)
    x = torch.randn(2, 3, 6, 6)
    layer.phase = "ternary"
    layer(x).sum().backward()
    assert layer.weight_b.grad is not None and layer.weight_b.grad.abs().sum() > 0  # straight through
    wb, wc = layer.ternary_weights()
    assert set(wb.unique().tolist()) <= {-1.0, 0.0, 1.0} and set(wc.unique().tolist()) <= {-1.0, 0.0, 1.0}
    quantised = F.conv_transpose2d(
        layer.scale.view(1, -1, 1, 1) * layer.norm(F.conv2d(F.pad(x, (1, 1, 1, 1)), wb)), wc, layer.bias
    )
    torch.testing.assert_close(layer(x), quantised)
    layer.phase = "frozen"
    assert not layer.weight_b.requires_grad and not layer.weight_c.requires_grad and layer.scale.requires_grad
    fresh = StrassenConv2d(3, 4, 3, hidden=4, padding=1)
    fresh.load_state_dict(layer.state_dict())
    assert fresh.phase == "frozen"
    with pytest.raises(ValueError, match="phase must be one of"):
        layer.phase = "half"


def test_the_config_converts_convolutions_and_follows_the_three_phases():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2), nn.Flatten(),
                          nn.LazyLinear(10))  # fmt: skip
    model(torch.randn(1, 3, 9, 9))
    config = StrassenConfig(hidden=0.5, full_epochs=0.25, ternary_epochs=0.5)
    bl.compress_(model, config)
    layers = strassen_layers(model)
    assert set(layers) == {"0", "2"} and isinstance(model[4], nn.Linear)  # the classifier stays dense
    assert layers["0"].hidden == 4 and layers["2"].stride == (2, 2)
    assert model(torch.randn(2, 3, 9, 9)).shape == (2, 10)
    assert [config.phase_at(e, 8) for e in range(8)] == ["full"] * 2 + ["ternary"] * 4 + ["frozen"] * 2
    config.begin_epoch(model, 7, 8)
    assert all(layer.phase == "frozen" for layer in layers.values())
    strassen_phase(model, "full")
    bl.compress_(model, StrassenConfig(linear=True))
    assert isinstance(model[4], StrassenLinear)
    with pytest.raises(ConfigError, match="full_epochs \\+ ternary_epochs must be <= 1"):
        StrassenConfig(full_epochs=0.6, ternary_epochs=0.6)
    with pytest.raises(ConfigError, match="quantization must be one of"):
        StrassenConfig(quantization="binary")


def test_counts_match_hand_computed_values():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(3 * 2 * 2, 4))
    x = torch.randn(1, 2, 4, 4)
    dense = {r.layer: r for r in count_operations(model, x)}
    # conv: 3 x 2 x 2 outputs, fan-in 2 x 3 x 3 = 18: 12 * 18 multiplications, 12 * (17 + 1) additions
    assert (dense["0"].multiplications, dense["0"].additions, dense["0"].parameters) == (216, 216, 57)
    assert (dense["2"].multiplications, dense["2"].additions, dense["2"].bytes) == (48, 48, 4 * 52)
    conv = StrassenConv2d(2, 3, 3, hidden=2, quantization="fixed", threshold=0.5)
    with torch.no_grad():
        conv.weight_b.zero_()
        conv.weight_b[0, 0, 0, 0], conv.weight_b[0, 1, 2, 2], conv.weight_b[0, 1, 1, 1] = 1, -1, 1  # 3 non-zeros
        conv.weight_b[1, 0, 1, 1] = 1  # 1 non-zero
        conv.weight_c.zero_()
        conv.weight_c[0, 0], conv.weight_c[1, 0], conv.weight_c[1, 2] = 1, -1, 1  # output 0 sums two products
    conv.phase = "frozen"
    row = count_operations(nn.Sequential(conv), x)[0]
    positions = 2 * 2
    # W_b: (3 - 1) + (1 - 1) additions; W_c: (2 - 1) for output 0; folded norm: 2 shifts; bias: 3 x 4 outputs
    assert row.multiplications == 2 * positions
    assert row.additions == (2 + 0 + 1 + 2) * positions + 12
    assert row.parameters == 2 * 2 * 9 + 2 * 3 + 2 + 2 + 3  # ternary W_b, W_c; a with the norm folded in; shift; bias
    assert row.bytes == -(-2 * (36 + 6) // 8) + 4 * (2 + 2 + 3)


def test_rediscovering_strassen_with_seven_ternary_products():
    algorithm, tried = rediscover(7, seeds=range(10), log=lambda line: None)
    assert algorithm is not None and tried <= 10
    assert algorithm.products == 7 and algorithm.is_exact()
    for w in (algorithm.wa, algorithm.wb, algorithm.wc):
        assert set(w.unique().tolist()) <= {-1, 0, 1}
    a = torch.randint(-100, 100, (500, 2, 2))
    b = torch.randint(-100, 100, (500, 2, 2))
    assert torch.equal(algorithm(a, b), a @ b)  # exact in integers
    x, y = torch.randn(500, 2, 2, dtype=torch.float64), torch.randn(500, 2, 2, dtype=torch.float64)
    torch.testing.assert_close(algorithm(x, y), x @ y)
    assert "M7 =" in algorithm.describe() and "C22 =" in algorithm.describe()


def test_six_products_never_suffice():
    # The 2x2 product has rank 7 (Winograd 1971): no exact 6-product algorithm exists to be found.
    assert all(learn(6, seed, steps=1000) is None for seed in range(3))
    assert matmul_tensor().sum() == 8  # the schoolbook algorithm's 8 products


def test_a_training_run_with_phases_and_distillation(tmp_path):
    base = TrainConfig(model="lenet", data="synthetic2d", limit=64, epochs=3, batch_size=16)
    train(base, tmp_path / "teacher", log=lambda line: None)
    student = base.with_(
        compression=(StrassenConfig(hidden=0.5, full_epochs=1 / 3, ternary_epochs=1 / 3),),
        teacher=str(tmp_path / "teacher" / "checkpoint.pt"),
        distill_weight=0.5,
    )
    result = train(student, tmp_path / "student", log=lambda line: None)
    assert result["epochs"] == 3
    saved = json.loads((tmp_path / "student" / "config.json").read_text())
    assert saved["compression"][0]["method"] == "strassen" and saved["teacher"].endswith("checkpoint.pt")
    exp = load_trained(tmp_path / "student" / "checkpoint.pt")
    assert all(layer.phase == "frozen" for layer in strassen_layers(exp.model).values())
    # A teacher that saw another split would leak this run's validation samples into its choice.
    with pytest.raises(ConfigError, match="teacher .* was trained with validation=0.0, not validation=0.25"):
        train(student.with_(validation=0.25), tmp_path / "leaky", log=lambda line: None)
    assert not (tmp_path / "leaky").exists()
