"""Architecture details: parameter counts and layer structure."""

import pytest
from torch import nn

from bandlimit.models import create_model


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def bn(channels: int) -> int:
    """BatchNorm weight + bias."""
    return 2 * channels


def conv(c_in: int, c_out: int, k: int, bias: bool = False) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


def linear(c_in: int, c_out: int) -> int:
    return c_in * c_out + c_out


def test_resnet18_cifar_parameter_count():
    # The widely quoted count for the CIFAR ResNet-18 (3x3 stem, 10 classes).
    assert num_params(create_model("resnet18", 3, 10)) == 11_173_962


def resnet_count(in_channels: int, num_classes: int, widths: list[int], blocks: list[int]) -> int:
    """Parameter count of the BasicBlock ResNet, from per-layer formulas."""
    total = conv(in_channels, widths[0], 3) + bn(widths[0])
    channels = widths[0]
    for index, (width, count) in enumerate(zip(widths, blocks)):
        for block in range(count):
            total += conv(channels, width, 3) + bn(width) + conv(width, width, 3) + bn(width)
            stride = 2 if index > 0 and block == 0 else 1
            if stride != 1 or channels != width:
                total += conv(channels, width, 1) + bn(width)
            channels = width
    return total + linear(channels, num_classes)


def test_resnet18_count_matches_formula():
    assert resnet_count(3, 10, [64, 128, 256, 512], [2, 2, 2, 2]) == 11_173_962
    assert num_params(create_model("resnet18", 1, 5, width=16)) == resnet_count(1, 5, [16, 32, 64, 128], [2, 2, 2, 2])


def test_small_resnet_parameter_count():
    expected = resnet_count(3, 10, [16, 32, 64], [1, 1, 1])
    assert expected == 78_042
    assert num_params(create_model("small_resnet", 3, 10)) == expected


def densenet_count(in_channels: int, num_classes: int, growth: int, blocks=(6, 12, 24, 16)) -> int:
    """Parameter count of the CIFAR DenseNet-BC, from per-layer formulas."""
    channels = 2 * growth
    total = conv(in_channels, channels, 3)
    for index, count in enumerate(blocks):
        for _ in range(count):
            total += bn(channels) + conv(channels, 4 * growth, 1) + bn(4 * growth) + conv(4 * growth, growth, 3)
            channels += growth
        if index < len(blocks) - 1:
            total += bn(channels) + conv(channels, channels // 2, 1)
            channels //= 2
    return total + bn(channels) + linear(channels, num_classes)


def test_densenet121_parameter_count():
    expected = densenet_count(3, 10, growth=12)
    # Channels: 24 -> +72 = 96 -> 48 -> +144 = 192 -> 96 -> +288 = 384 -> 192 -> +192 = 384 at the classifier.
    assert expected == 1_000_618
    model = create_model("densenet121", 3, 10)
    assert num_params(model) == expected
    assert model.fc.in_features == 384


def test_densenet121_other_growth_rate_count():
    assert num_params(create_model("densenet121", 1, 100, growth_rate=32)) == densenet_count(1, 100, growth=32)


def test_densenet121_layer_counts():
    """121 = 1 stem conv + 2 convs in each of 58 bottlenecks + 3 transition convs + 1 linear."""
    model = create_model("densenet121", 3, 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(convs) + len(linears) == 1 + 2 * (6 + 12 + 24 + 16) + 3 + 1 == 121
    pools = [m for m in model.modules() if isinstance(m, nn.AvgPool2d)]
    assert len(pools) == 3 and all(p.kernel_size == 2 for p in pools)


def test_fcn_structure():
    model = create_model("fcn", 1, 5)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    assert [c.out_channels for c in convs] == [128, 256, 128]
    assert [c.kernel_size for c in convs] == [(8,), (5,), (3,)]
    assert all(c.padding == "same" for c in convs)
    assert [c.in_channels for c in convs] == [1, 128, 256]
    assert len([m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]) == 3
    assert len([m for m in model.modules() if isinstance(m, nn.ReLU)]) == 3
    assert not any(isinstance(m, (nn.Conv2d, nn.Conv3d)) for m in model.modules())
    assert model.fc.in_features == 128 and model.fc.out_features == 5


@pytest.mark.parametrize("in_channels", [1, 3])
def test_lenet_structure(in_channels):
    model = create_model("lenet", in_channels, 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (in_channels, 6, (5, 5), (2, 2)),
        (6, 16, (5, 5), (0, 0)),
    ]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(400, 120), (120, 84), (84, 10)]
    expected = conv(in_channels, 6, 5, bias=True) + conv(6, 16, 5, bias=True) + linear(400, 120)
    assert num_params(model) == expected + linear(120, 84) + linear(84, 10)
