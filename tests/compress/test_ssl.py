"""Structured Sparsity Learning: the group lasso against its formula in NumPy, zeroing small
groups, and the removal of zero filters and channels, which must leave outputs unchanged, on the
registry's models and on models written the way third-party code is."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bandlimit as bl
from bandlimit.compress import (
    PrecisionConfig,
    SSLConfig,
    remove_pruning_,
    remove_zero_channels_,
    remove_zero_shapes_,
    skip_zero_branches_,
    zero_small_groups_,
)
from bandlimit.compress.ssl import group_norms
from bandlimit.compress.structure import BranchConstant, branches
from bandlimit.errors import BandlimitError, ConfigError
from bandlimit.models import create_model
from bandlimit.train import TrainConfig, train

from third_party_models import AddAndConcat, MobileBlock, VGGish, ViewMean, random_bn_, removal_keeps_outputs


def test_the_penalty_is_the_group_lasso_formula():
    torch.manual_seed(0)
    model = bl.compress_(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 5, 2)), bl.SSLConfig(
        filters=0.1, channels=0.2, shapes=0.3, overrides={"2": {"filters": 0.0}}
    ))  # fmt: skip
    expected = 0.0
    for index, (filters, channels, shapes) in ((0, (0.1, 0.2, 0.3)), (2, (0.0, 0.2, 0.3))):
        w = model[index].weight.detach().double().numpy()
        o, i = w.shape[:2]
        k = w[0, 0].size
        expected += filters * sum(np.sqrt(i * k) * np.linalg.norm(w[a]) for a in range(o))
        expected += channels * sum(np.sqrt(o * k) * np.linalg.norm(w[:, b]) for b in range(i))
        taps = w.reshape(o, i, k)
        expected += shapes * sum(np.sqrt(o) * np.linalg.norm(taps[:, b, t]) for b in range(i) for t in range(k))
    penalty = bl.SSLConfig().penalty(model)  # the strengths are the layers' own, set by compress_
    assert penalty is not None
    np.testing.assert_allclose(float(penalty), expected, rtol=1e-5)
    penalty.backward()
    assert model[0].weight.grad is not None


def test_zeroing_small_groups_and_its_counts():
    model = bl.compress_(nn.Sequential(nn.Conv1d(2, 4, 3)), bl.SSLConfig())
    with torch.no_grad():
        model[0].weight[1] *= 1e-6  # a dying filter
        model[0].weight[:, 0, 2] *= 1e-6  # a dying tap of input channel 0
    counts = zero_small_groups_(model, threshold=0.01)  # 1% of the median group
    assert counts["0"] == {"filters": 1, "channels": 0, "shapes": 1}
    assert (model[0].weight[1] == 0).all() and (model[0].weight[:, 0, 2] == 0).all()
    assert group_norms(model[0].weight, rms=True)["filters"][0] > 0


def _zero_some(model: nn.Module, filters: dict[str, list[int]], channels: dict[str, list[int]]) -> None:
    with torch.no_grad():
        for name, rows in filters.items():
            model.get_submodule(name).weight[rows] = 0
        for name, cols in channels.items():
            model.get_submodule(name).weight[:, cols] = 0


def _check_removal(model: nn.Module, x: torch.Tensor, expected_removed: dict[str, int]) -> None:
    model.eval()
    before = model(x)
    parameters = sum(p.numel() for p in model.parameters())
    removed = remove_zero_channels_(model, x)
    assert removed == expected_removed
    torch.testing.assert_close(model(x), before, atol=1e-5, rtol=1e-5)
    assert sum(p.numel() for p in model.parameters()) < parameters


def _randomise_norms(model: nn.Module) -> None:
    """Batch norms with running statistics and affine parameters away from identity, so that a
    zero channel's constant is not zero after them."""
    torch.manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)


def test_removal_in_the_fcn_keeps_its_outputs():
    torch.manual_seed(0)
    model = create_model("fcn", 1, 5, widths=[6, 8, 6])
    _randomise_norms(model)
    # features.0 filter 2: zero, its constant reaches a padded conv (not constant at the borders)
    # unless ReLU zeroes it; features.3 reads none of features.0's channel 4; features.6's
    # filters 1, 5 are zero and reach the linear layer through pooling, folded into its bias.
    _zero_some(model, {"features.0": [2], "features.6": [1, 5]}, {"features.3": [4]})
    with torch.no_grad():
        model.features[1].bias[2] = -5.0  # BN(constant) < 0: ReLU makes it exactly zero
    x = torch.randn(4, 1, 30)
    _check_removal(model, x, {"features.0": 2, "features.6": 2})
    assert model.features[0].out_channels == 4 and model.features[1].num_features == 4
    assert model.features[3].in_channels == 4 and model.fc.in_features == 4


def test_removal_in_a_resnet_keeps_channels_tied_to_additions():
    torch.manual_seed(0)
    model = create_model("small_resnet", 3, 4, width=4)
    _randomise_norms(model)
    block = "stages.1.0"
    # conv1's output feeds only conv2 (removable); conv2's output meets the shortcut (tied).
    _zero_some(model, {f"{block}.conv2": [0]}, {f"{block}.conv2": [3, 5]})
    x = torch.randn(2, 3, 12, 12)
    _check_removal(model, x, {f"{block}.conv1": 2})
    assert model.get_submodule(f"{block}.conv2").weight.shape == (8, 6, 3, 3)


def test_removal_folds_a_constant_channel_through_flatten_into_a_linear_layer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 5, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(5 * 3 * 3, 4))
    with torch.no_grad():
        model[0].weight[3] = 0
        model[0].bias[3] = 0.7  # a constant 0.7 after ReLU and pooling, read by 9 inputs of the linear layer
    x = torch.randn(3, 2, 8, 8)
    _check_removal(model, x, {"0": 1})
    assert model[4].in_features == 4 * 9


def test_removal_on_band_limited_layers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Conv2d(6, 3, 3))
    _randomise_norms(model)
    bl.compress_(model, bl.BandLimitConfig(rate=0.5))
    _zero_some(model, {}, {"3": [0, 4]})
    _check_removal(model, torch.randn(2, 2, 9, 9), {"0": 2})


def test_errors_are_clear():
    model = bl.compress_(nn.Sequential(nn.Conv2d(2, 3, 3), nn.Conv2d(3, 3, 3)), bl.PruneConfig(amount=0.5))
    with pytest.raises(BandlimitError, match="remove_pruning_"):
        remove_zero_channels_(model, torch.randn(1, 2, 8, 8))
    remove_pruning_(model)
    assert remove_zero_channels_(model, torch.randn(1, 2, 8, 8)) == {}

    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)

        def forward(self, x):
            return self.conv(x) if x.sum() > 0 else x  # data-dependent control flow: fx cannot trace

    with pytest.raises(BandlimitError, match="cannot trace"):
        remove_zero_channels_(Branchy(), torch.randn(1, 1, 5, 5))
    with pytest.raises(ConfigError, match="filters must be >= 0"):
        bl.SSLConfig(filters=-1.0)


def test_a_training_run_adds_the_penalty(tmp_path):
    base = TrainConfig(
        model="fcn", data="synthetic1d", limit=64, epochs=2, batch_size=16, model_kwargs={"widths": [4, 8, 4]}
    )
    plain = train(base, tmp_path / "plain", log=lambda line: None)
    ssl = train(base.with_(compression=(bl.SSLConfig(filters=0.05),)), tmp_path / "ssl", log=lambda line: None)
    assert ssl.final_train_loss != plain.final_train_loss  # same seed and data: only the penalty differs


def test_a_layer_whose_filters_are_all_zero_keeps_one_channel():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 3, 3))
    _randomise_norms(model)
    _zero_some(model, {"0": [0, 1, 2, 3]}, {})
    with torch.no_grad():
        model[1].bias.fill_(-3.0)  # every channel is ReLU(negative) = 0: all removable
    x = torch.randn(2, 2, 7, 7)
    _check_removal(model, x, {"0": 3})
    assert model[0].out_channels == 1 and model[3].in_channels == 1


def test_residual_branches_of_a_resnet():
    model = create_model("small_resnet", 3, 4, width=4)
    found = {tuple(b.names) for b in branches(model)}
    block = "stages.1.0"
    assert (f"{block}.conv1", f"{block}.bn1", f"{block}.relu1", f"{block}.conv2", f"{block}.bn2") in found
    assert (f"{block}.shortcut.0", f"{block}.shortcut.1") in found  # the projection is a branch too
    assert len(found) == 3 + 2  # three residual branches, two projections; the stem is no branch


def test_the_depth_penalty_is_the_group_lasso_over_each_branch():
    torch.manual_seed(0)
    model = bl.compress_(create_model("small_resnet", 3, 4, width=4), bl.SSLConfig(filters=0, channels=0, depth=0.5))
    expected = 0.0
    for branch in branches(model):
        w = np.concatenate([c.weight.detach().double().numpy().ravel() for c in branch.convolutions])
        expected += 0.5 * np.sqrt(w.size) * np.linalg.norm(w)
    penalty = bl.SSLConfig().penalty(model)
    assert penalty is not None
    np.testing.assert_allclose(float(penalty), expected, rtol=1e-5)


def test_a_zero_branch_is_skipped_with_the_same_outputs():
    torch.manual_seed(0)
    model = bl.compress_(create_model("small_resnet", 3, 4, width=4), bl.SSLConfig(depth=1e-3))
    _randomise_norms(model)
    block = model.get_submodule("stages.1.0")
    with torch.no_grad():
        block.conv1.weight.mul_(1e-7)  # a dying branch
        block.conv2.weight.mul_(1e-7)
    counts = zero_small_groups_(model, threshold=0.01)
    assert counts["branches"] == {"zero": 1} and not block.conv2.weight.any()
    x = torch.randn(2, 3, 12, 12)
    model.eval()
    before = model(x)
    parameters = sum(p.numel() for p in model.parameters())
    assert skip_zero_branches_(model) == ["stages.1.0.conv1"]
    assert isinstance(block.conv1, BranchConstant) and isinstance(block.conv2, nn.Identity)
    torch.testing.assert_close(model(x), before)
    torch.testing.assert_close(model(x[:1]), before[:1])
    assert sum(p.numel() for p in model.parameters()) < parameters
    assert skip_zero_branches_(model) == []  # nothing left to skip


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv2d(3, 5, 3, padding=1),
        nn.Conv2d(3, 5, (3, 2), stride=2, padding_mode="reflect", padding=1, bias=False),
        nn.Conv1d(3, 5, 4, padding="same", dilation=2),
    ],
)
def test_zero_shape_columns_leave_the_lowered_product(conv):
    torch.manual_seed(0)
    model = nn.Sequential(conv, nn.ReLU())
    with torch.no_grad():
        conv.weight[:, 0] = 0  # input channel 0: every tap
        conv.weight[:, 2, 0] = 0  # input channel 2: the first kernel row (or tap)
    x = torch.randn((2, 3, 9, 8) if isinstance(conv, nn.Conv2d) else (2, 3, 11))
    model.eval()
    before = model(x)
    taps = conv.weight[0, 0].numel()
    removed = remove_zero_shapes_(model)
    expected = taps + conv.weight[0, 2, 0].numel()
    assert removed == {"0": expected}
    assert model[0].weight.shape == (5, 3 * taps - expected)
    torch.testing.assert_close(model(x), before)
    torch.testing.assert_close(model(x[0]), before[0])  # unbatched
    assert remove_zero_shapes_(model) == {}  # replaced layers are not convolutions any more


def test_a_dead_filter_whose_output_is_zero_needs_no_bias_to_fold_into():
    torch.manual_seed(0)
    model = create_model("small_resnet", 3, 4, width=4)
    _randomise_norms(model)
    block = "stages.1.0"
    _zero_some(model, {f"{block}.conv1": [1, 2]}, {})
    with torch.no_grad():
        model.get_submodule(f"{block}.bn1").bias[1] = -5.0  # ReLU(negative constant) = 0: removable
        model.get_submodule(f"{block}.bn1").bias[2] = 5.0  # a constant 5 meets conv2's zero padding: kept
    assert model.get_submodule(f"{block}.conv2").bias is None
    _check_removal(model, torch.randn(2, 3, 12, 12), {f"{block}.conv1": 1})


# ----------------------------------------------------------------------------------------
# Removal on third-party-style models: functional calls, depthwise convolutions, additions and
# concatenations, views, reused modules, permutations, precision.


def test_ssl_removal_vgg_style_with_functional_calls():
    torch.manual_seed(0)
    model = bl.compress_(VGGish(), SSLConfig())
    random_bn_(model)
    with torch.no_grad():
        model.features[0].weight[2] = 0  # a zero filter (its bias folds through BN/ReLU/pool)
        model.features[4].weight[:, 5] = 0  # an unread channel
        model.features[4].weight[6] = 0
        model.classifier[0].weight[:, 4:8] = 0  # channel 1 of the flattened 8x2x2 map is unread
    removed = removal_keeps_outputs(model, torch.randn(2, 3, 8, 8))
    # features.0: channel 5 unread (its zero filter 2 is kept: features.4 pads, the constant varies);
    # features.4: filter 6 folds through ReLU/pool/flatten into the linear bias, channel 1 unread
    assert removed == {"features.0": 1, "features.4": 2}
    assert model.features[4].in_channels == 7 and model.classifier[0].in_features == 24


def test_ssl_removal_leaves_depthwise_additions_and_concatenations_alone():
    torch.manual_seed(0)
    model = nn.Sequential(MobileBlock(), MobileBlock())
    bl.compress_(model, SSLConfig())
    random_bn_(model)
    with torch.no_grad():
        model[0].expand.weight[3] = 0  # feeds the depthwise conv: tied
        model[1].project.weight[:, 2] = 0
    removed = removal_keeps_outputs(model, torch.randn(2, 6, 7, 7))
    assert removed == {}
    other = bl.compress_(AddAndConcat(), SSLConfig())
    with torch.no_grad():
        other.a.weight[1] = 0
        other.head.weight[:, 0] = 0
    assert removal_keeps_outputs(other, torch.randn(2, 3, 6, 6)) == {}


def test_ssl_removal_with_mean_and_view_and_conv1d_and_bias_free_layers():
    torch.manual_seed(0)
    model = bl.compress_(ViewMean(), SSLConfig())
    with torch.no_grad():
        model.c1.weight[0] = 0
        model.c2.weight[:, 3] = 0
    removed = removal_keeps_outputs(model, torch.randn(2, 3, 8, 8))
    assert removed == {"c1": 2}  # c1: filter 0 folds into c2's bias (no padding), channel 3 unread
    conv1d = nn.Sequential(
        nn.Conv1d(2, 6, 3, bias=False), nn.BatchNorm1d(6), nn.ReLU(),
        nn.Conv1d(6, 4, 3, padding=1, padding_mode="circular"), nn.ReLU(),
        nn.Conv1d(4, 3, 1, bias=False), nn.Flatten(), nn.Linear(3 * 8, 2),
    )  # fmt: skip
    bl.compress_(conv1d, SSLConfig())
    random_bn_(conv1d)
    with torch.no_grad():
        conv1d[0].weight[1] = 0  # folds into the circular conv's bias
        conv1d[3].weight[2] = 0  # a constant ReLU(0.5) for a next conv without bias: kept
        conv1d[3].bias[2] = 0.5
        conv1d[7].weight[:, 8:16] = 0  # channel 1 of the last conv unread
    removed = removal_keeps_outputs(conv1d, torch.randn(3, 2, 10))
    assert removed == {"0": 1, "5": 1}


def test_ssl_zero_small_groups_then_removal_on_a_trained_like_model():
    torch.manual_seed(0)
    model = bl.compress_(VGGish(), SSLConfig())
    random_bn_(model)
    with torch.no_grad():
        model.features[0].weight[[0, 3]] *= 1e-5
        model.features[4].weight[:, 1] *= 1e-5
    counts = zero_small_groups_(model, threshold=1e-3)
    assert counts["features.0"]["filters"] == 2 and counts["features.4"]["channels"] >= 1
    removal_keeps_outputs(model, torch.randn(2, 3, 8, 8))


def test_ssl_removal_with_a_producer_conv_called_twice():
    class Reuse(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.head = nn.Conv2d(4, 2, 1)

        def forward(self, x):
            a = self.head(F.relu(self.conv(x)))
            b = self.conv(x)  # the same conv again; its channels go on to the output
            return a.mean((2, 3)) + b[:, :2].mean((2, 3))

    torch.manual_seed(0)
    model = bl.compress_(Reuse(), SSLConfig())
    with torch.no_grad():
        model.head.weight[:, 1] = 0  # channel 1 is unread on the first path only
    removal_keeps_outputs(model, torch.randn(2, 3, 8, 8))


def test_ssl_removal_with_a_head_shared_by_two_branches():
    class SharedHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(3, 4, 3)
            self.c2 = nn.Conv2d(3, 4, 3)
            self.head = nn.Conv2d(4, 2, 1)

        def forward(self, x):
            return self.head(F.relu(self.c1(x))) + self.head(F.relu(self.c2(x)))

    torch.manual_seed(0)
    model = bl.compress_(SharedHead(), SSLConfig())
    with torch.no_grad():
        model.c1.weight[1] = 0  # a zero filter in one branch only
    removal_keeps_outputs(model, torch.randn(2, 3, 8, 8))


def test_ssl_removal_with_batchnorm1d_after_flatten():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.BatchNorm1d(64), nn.Linear(64, 2))
    bl.compress_(model, SSLConfig())
    random_bn_(model)
    with torch.no_grad():
        model[3].weight[:, 16:32] = 0  # channel 1 of the conv is unread
    removal_keeps_outputs(model, torch.randn(2, 3, 6, 6))


def test_ssl_removal_with_a_channel_permutation_by_indexing():
    class Perm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            y = self.conv(x)[:, [3, 2, 1, 0]]  # channel order reversed
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(y, 1), 1))

    torch.manual_seed(0)
    model = bl.compress_(Perm(), SSLConfig())
    with torch.no_grad():
        model.fc.weight[:, 0] = 0  # reads permuted channel 3 of the conv, not channel 0
    removal_keeps_outputs(model, torch.randn(2, 3, 6, 6))


def test_ssl_removal_on_a_model_with_precision():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 1))
    bl.compress_(model, [SSLConfig(), PrecisionConfig()])
    with torch.no_grad():
        model[0].weight[1] = 0
        model[0].bias[1] = 0.5
    x = torch.randn(2, 3, 6, 6)
    model.eval()
    with torch.no_grad():
        before = model(x)
    remove_zero_channels_(model, x)
    assert model[0].out_channels == 3
    with torch.no_grad():
        torch.testing.assert_close(model(x), before, rtol=2e-2, atol=2e-2)
