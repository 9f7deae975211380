"""Compression methods (precision, prune, SSL removal, CSR execution) against independent
references (NumPy, F.conv*, plain PyTorch) and models written in the style of third-party code
(torchvision-like VGG / MobileNet blocks, functional calls in forward, reused modules).

Several tests here first failed and found bugs that were then fixed.
"""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bandlimit as bl
from bandlimit.compress import (
    PrecisionConfig,
    PruneConfig,
    SparseConfig,
    SSLConfig,
    pruned_layers,
    remove_pruning_,
    remove_zero_channels_,
    sparse_layers,
    weight_sparsity,
    zero_small_groups_,
)
from bandlimit.nn import CsrConv1d, CsrConv2d, CsrLinear

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# --------------------------------------------------------------------------------------------
# helpers and third-party-style models


def _sparsify_(module: nn.Module, threshold: float = 0.1) -> None:
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() > 1:
                p[p.abs() < threshold] = 0


def _removal_keeps_outputs(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    model.eval()
    with torch.no_grad():
        before = model(x)
    removed = remove_zero_channels_(model, x)
    with torch.no_grad():
        after = model(x)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    return removed


class VGGish(nn.Module):
    """torchvision-VGG-like: features Sequential, functional relu, flatten, classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Linear(8 * 2 * 2, 16), nn.ReLU(True), nn.Dropout(), nn.Linear(16, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = F.relu(x)
        return self.classifier(torch.flatten(x, 1))


class MobileBlock(nn.Module):
    """MobileNet-ish: pointwise expand, depthwise 3x3, pointwise project, residual add."""

    def __init__(self, c: int = 6, e: int = 12) -> None:
        super().__init__()
        self.expand = nn.Conv2d(c, e, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(e)
        self.dw = nn.Conv2d(e, e, 3, padding=1, groups=e, bias=False)
        self.bn2 = nn.BatchNorm2d(e)
        self.project = nn.Conv2d(e, c, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.bn1(self.expand(x)))
        y = F.relu6(self.bn2(self.dw(y)))
        return x + self.bn3(self.project(y))


class AddAndConcat(nn.Module):
    """A conv whose output goes both to an addition and to a concatenation."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.a(x)
        s = a + self.b(x)
        return self.head(torch.cat([a, s], 1)).mean((2, 3))


class ViewMean(nn.Module):
    """Calls F.relu, x.mean((2, 3)) and x.view(x.size(0), -1) in forward."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3)
        self.c2 = nn.Conv2d(6, 6, 3)
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.c1(x))
        x = F.relu(self.c2(x))
        x = x.mean((2, 3))
        return self.fc(x.view(x.size(0), -1))


def _random_bn_(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            if m.affine:
                with torch.no_grad():
                    m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                    m.bias.copy_(torch.rand(m.num_features, generator=g) - 0.5)


# --------------------------------------------------------------------------------------------
# CSR execution against the dense layers


CONV_CASES = [
    dict(kernel_size=3, padding=2, padding_mode="reflect"),
    dict(kernel_size=3, padding=1, stride=2, padding_mode="circular"),
    dict(kernel_size=3, padding=1, padding_mode="replicate", dilation=2),
    dict(kernel_size=4, padding="same", dilation=2),
    dict(kernel_size=4, padding="same", padding_mode="reflect"),
    dict(kernel_size=2, padding="same"),
    dict(kernel_size=3, padding="valid", stride=3, dilation=2),
    dict(kernel_size=3, padding=1, groups=2, bias=False),
    dict(kernel_size=1, stride=2),
]


@pytest.mark.parametrize("dim", [1, 2])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_csr_convs_equal_the_dense_convs(dim, batched, case):
    torch.manual_seed(case)
    cls = nn.Conv1d if dim == 1 else nn.Conv2d
    dense = cls(4, 6, **CONV_CASES[case])
    _sparsify_(dense, 0.15)
    model = bl.compress_(nn.Sequential(copy.deepcopy(dense)), SparseConfig())
    assert isinstance(model[0], CsrConv1d if dim == 1 else CsrConv2d)
    shape = (4, 11) if dim == 1 else (4, 9, 10)
    x = torch.randn(*(((2,) if batched else ()) + shape))
    with torch.no_grad():
        torch.testing.assert_close(model(x), dense(x), rtol=1e-5, atol=1e-5)
    # the input gradient (frozen weights: the CSR path) equals the dense one
    for p in model.parameters():
        p.requires_grad_(False)
    xg = x.clone().requires_grad_(True)
    model(xg).square().sum().backward()
    xr = x.clone().requires_grad_(True)
    dense(xr).square().sum().backward()
    torch.testing.assert_close(xg.grad, xr.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("sparse_input", [False, True])
def test_csr_float64_linear_any_leading_dims_and_inplace_after(sparse_input):
    torch.manual_seed(0)
    lin = nn.Linear(7, 5).double()
    _sparsify_(lin)
    model = bl.compress_(
        nn.Sequential(copy.deepcopy(lin), nn.ReLU(inplace=True)), SparseConfig(activations=sparse_input)
    )
    assert isinstance(model[0], CsrLinear)
    for shape in [(7,), (3, 7), (2, 3, 7)]:
        x = torch.randn(*shape, dtype=torch.float64)
        with torch.no_grad():
            out = model(x)
            out.add_(1)  # in-place on the output
            torch.testing.assert_close(out, torch.relu(lin(x)) + 1)


def test_csr_vgg_with_inplace_relu_matches_dense_and_survives_copy_and_pickle():
    torch.manual_seed(0)
    dense = VGGish().eval()
    _random_bn_(dense)
    _sparsify_(dense, 0.1)
    model = bl.compress_(copy.deepcopy(dense), SparseConfig())
    assert len(sparse_layers(model)) == 4
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = dense(x)
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model(x), expected, rtol=1e-5, atol=1e-5)  # cached CSR
        copied = copy.deepcopy(model)
        buf = io.BytesIO()
        torch.save(model, buf)
        buf.seek(0)
        loaded = torch.load(buf, weights_only=False)
        torch.testing.assert_close(copied(x), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(loaded(x), expected, rtol=1e-5, atol=1e-5)


def test_csr_shared_module_is_converted_once_and_state_dict_round_trips():
    torch.manual_seed(0)

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.alias = self.conv

        def forward(self, x):
            return self.alias(F.relu(self.conv(x)))

    dense = Twice()
    _sparsify_(dense)
    model = bl.compress_(copy.deepcopy(dense), SparseConfig())
    assert model.conv is model.alias and isinstance(model.conv, CsrConv2d)
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(model(x), dense(x), rtol=1e-5, atol=1e-5)
    fresh = bl.compress_(Twice(), SparseConfig())
    with torch.no_grad():
        fresh(x)  # builds a CSR cache before the load
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), dense(x), rtol=1e-5, atol=1e-5)


def test_csr_of_an_all_zero_weight():
    model = bl.compress_(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(6, 2)), PruneConfig(amount=0.999, scope="layer"))
    bl.compress_(model, SparseConfig())
    assert weight_sparsity(model) == {"0": 1.0, "1": 1.0}
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        expected = model[1].bias.expand(2, 4, 6, 2)
        torch.testing.assert_close(model(x), expected)


def test_csr_after_a_dtype_round_trip_uses_the_rounded_weights():
    torch.manual_seed(0)
    dense = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    model = bl.compress_(copy.deepcopy(dense), SparseConfig())
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        model(x)  # caches the CSR weights
    # nn.Module._apply assigns param.data: same tensor object, same _version, new values
    model.bfloat16().float()
    dense.bfloat16().float()
    with torch.no_grad():
        torch.testing.assert_close(model(x), dense(x))


def test_csr_sees_weights_changed_through_data():
    torch.manual_seed(0)
    model = bl.compress_(nn.Sequential(nn.Linear(8, 4)), SparseConfig())
    x = torch.randn(3, 8)
    with torch.no_grad():
        model(x)
    model[0].weight.data.mul_(-1)  # e.g. hand-written pruning or init code: m.weight.data.mul_(mask)
    model[0].csr_cache.clear()  # documented: like autograd, the cache does not see .data writes
    with torch.no_grad():
        torch.testing.assert_close(model(x), F.linear(x, model[0].weight, model[0].bias))


def test_pruned_csr_model_alternating_train_and_eval_steps_stays_correct():
    torch.manual_seed(0)
    wrong = 0
    for _ in range(1000):
        model = bl.compress_(nn.Sequential(nn.Linear(8, 8)), [PruneConfig(amount=0.5), SparseConfig()])
        x = torch.randn(4, 8)
        with torch.no_grad():
            model(x)  # evaluation
        model(x)  # a training forward (grad mode: dense path)
        with torch.no_grad():
            model[0].weight_orig.mul_(-1)  # the optimizer step
            out = model(x)  # evaluation again
        expected = F.linear(x, model[0].weight_orig * model[0].weight_mask, model[0].bias)
        wrong += not torch.allclose(out, expected, atol=1e-6)
    assert wrong == 0, f"{wrong} of 1000 evaluations used a stale CSR weight"


# --------------------------------------------------------------------------------------------
# precision


def test_precision_composes_with_sparse_execution():
    """(Failed at 7c36585: sparse.mm autocast to bf16, which has no CSR kernel; fixed by the
    float32 product in functional/sparse.py's _product.)"""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    _sparsify_(model)
    bl.compress_(model, [SparseConfig(), PrecisionConfig(dtype="bf16")])
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (2, 2) and not torch.is_autocast_enabled("cpu")
    plain = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    plain.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(out.float(), plain(x), rtol=5e-2, atol=5e-2)


def test_precision_leaves_autocast_when_forward_raises_and_recovers():
    class Flaky(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.fail = True

        def forward(self, x):
            y = self.lin(x)
            if self.fail:
                raise ValueError("boom")
            return y

    model = bl.compress_(Flaky(), PrecisionConfig())
    for _ in range(3):
        with pytest.raises(ValueError):
            model(torch.randn(2, 4))
        assert not torch.is_autocast_enabled("cpu")
    model.fail = False
    assert model(torch.randn(2, 4)).dtype == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")
    assert model.lin(torch.randn(2, 4)).dtype == torch.float32  # a submodule alone is not autocast


def test_nested_models_each_with_precision_and_kwargs_calls():
    class Outer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = bl.compress_(nn.Sequential(nn.Linear(4, 4)), PrecisionConfig(dtype="bf16"))
            self.lin = nn.Linear(4, 4)

        def forward(self, x):
            return self.lin(self.inner(x)), torch.is_autocast_enabled("cpu")

    model = bl.compress_(Outer(), PrecisionConfig(dtype="bf16"))
    out, inside = model(x=torch.randn(2, 4))  # keyword input: the device comes from the parameters
    assert inside and out.dtype == torch.bfloat16 and not torch.is_autocast_enabled("cpu")
    plain = Outer()
    plain.load_state_dict(model.state_dict())
    # inner alone, outside the outer's context
    assert model.inner(torch.randn(2, 4)).dtype == torch.bfloat16
    assert not torch.is_autocast_enabled("cpu")


def test_precision_copies_are_independent_and_pickle():
    model = bl.compress_(nn.Sequential(nn.Linear(4, 4)), [PruneConfig(amount=0.5), PrecisionConfig()])
    twin = copy.deepcopy(model)
    bl.compress_(twin, PrecisionConfig(dtype="fp32"))
    x = torch.randn(2, 4)
    assert twin(x).dtype == torch.float32 and model(x).dtype == torch.bfloat16
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    assert loaded(x).dtype == torch.bfloat16
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    bl.compress_(loaded, PrecisionConfig(dtype="fp32"))
    assert loaded(x).dtype == torch.float32 and model(x).dtype == torch.bfloat16


# --------------------------------------------------------------------------------------------
# pruning against NumPy


def _layers() -> nn.Sequential:
    torch.manual_seed(3)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv1d(2, 2, 1), nn.Linear(20, 7))


def _numpy_masks(weights: list[np.ndarray], amount: float) -> list[np.ndarray]:
    flat = np.concatenate([np.abs(w).ravel() for w in weights])
    k = round(amount * flat.size)
    keep = np.ones(flat.size, dtype=bool)
    keep[np.argsort(flat, kind="stable")[:k]] = False
    return [m.reshape(w.shape) for m, w in zip(np.split(keep, np.cumsum([w.size for w in weights])[:-1]), weights)]


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.77, 0.999])
@pytest.mark.parametrize("scope", ["global", "layer"])
def test_prune_masks_equal_a_numpy_reference(amount, scope):
    model = _layers()
    weights = {n: m.weight.detach().numpy().copy() for n, m in model.named_modules() if hasattr(m, "weight")}
    bl.compress_(model, PruneConfig(amount=amount, scope=scope))
    names = list(weights)
    if scope == "global":
        expected = dict(zip(names, _numpy_masks([weights[n] for n in names], amount)))
    else:
        expected = {n: _numpy_masks([weights[n]], amount)[0] for n in names}
    layers = pruned_layers(model)
    assert sorted(layers) == sorted(names)
    for n in names:
        np.testing.assert_array_equal(layers[n].weight_mask.numpy().astype(bool), expected[n])
        np.testing.assert_array_equal(layers[n].weight.detach().numpy(), weights[n] * expected[n])
    if amount == 0:
        assert all(v == 0 for v in weight_sparsity(model).values())


def test_prune_overrides_under_global_scope_are_pruned_on_their_own():
    model = _layers()
    weights = {n: m.weight.detach().numpy().copy() for n, m in model.named_modules() if hasattr(m, "weight")}
    bl.compress_(model, PruneConfig(amount=0.6, overrides={"3": 0.0, "0": 0.9}))
    layers = pruned_layers(model)
    np.testing.assert_array_equal(layers["3"].weight_mask.numpy(), np.ones_like(weights["3"]))
    np.testing.assert_array_equal(layers["0"].weight_mask.numpy().astype(bool), _numpy_masks([weights["0"]], 0.9)[0])
    np.testing.assert_array_equal(layers["2"].weight_mask.numpy().astype(bool), _numpy_masks([weights["2"]], 0.6)[0])


def test_pruned_model_trains_saves_and_loads_into_a_fresh_compressed_model():
    torch.manual_seed(0)
    model = bl.compress_(VGGish(), PruneConfig(amount=0.7))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(4, 3, 8, 8)
    for _ in range(2):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    masks = {n: m.weight_mask.clone() for n, m in pruned_layers(model).items()}
    for n, m in pruned_layers(model).items():
        assert bool(((m.weight == 0) | (masks[n] == 1)).all())  # pruned weights stay zero
    model.eval()
    with torch.no_grad():
        expected = model(x)
    torch.manual_seed(5)
    fresh = bl.compress_(VGGish(), PruneConfig(amount=0.2))
    fresh.load_state_dict(model.state_dict())
    fresh.eval()
    copied = copy.deepcopy(model)
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    with torch.no_grad():
        for other in (fresh, copied, loaded):
            torch.testing.assert_close(other(x), expected)


def test_prune_then_remove_pruning_then_remove_zero_channels_keeps_outputs():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 6, 3), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3),
    )  # fmt: skip
    _random_bn_(model)
    bl.compress_(model, PruneConfig(amount=0.6, scope="layer"))
    with torch.no_grad():  # zero whole filters and a column of the linear layer through the masks
        model[0].weight_mask[[1, 5]] = 0
        model[3].weight_mask[:, 2] = 0
        model[7].weight_mask[:, 4] = 0
    remove_pruning_(model)
    assert not pruned_layers(model)
    removed = _removal_keeps_outputs(model, torch.randn(2, 3, 9, 9))
    assert removed["0"] >= 1 and removed["3"] >= 1


# --------------------------------------------------------------------------------------------
# SSL removal on third-party-style models


def test_ssl_removal_vgg_style_with_functional_calls():
    torch.manual_seed(0)
    model = bl.compress_(VGGish(), SSLConfig())
    _random_bn_(model)
    with torch.no_grad():
        model.features[0].weight[2] = 0  # a zero filter (its bias folds through BN/ReLU/pool)
        model.features[4].weight[:, 5] = 0  # an unread channel
        model.features[4].weight[6] = 0
        model.classifier[0].weight[:, 4:8] = 0  # channel 1 of the flattened 8x2x2 map is unread
    removed = _removal_keeps_outputs(model, torch.randn(2, 3, 8, 8))
    # features.0: channel 5 unread (its zero filter 2 is kept: features.4 pads, the constant varies);
    # features.4: filter 6 folds through ReLU/pool/flatten into the linear bias, channel 1 unread
    assert removed == {"features.0": 1, "features.4": 2}
    assert model.features[4].in_channels == 7 and model.classifier[0].in_features == 24


def test_ssl_removal_leaves_depthwise_additions_and_concatenations_alone():
    torch.manual_seed(0)
    model = nn.Sequential(MobileBlock(), MobileBlock())
    bl.compress_(model, SSLConfig())
    _random_bn_(model)
    with torch.no_grad():
        model[0].expand.weight[3] = 0  # feeds the depthwise conv: tied
        model[1].project.weight[:, 2] = 0
    removed = _removal_keeps_outputs(model, torch.randn(2, 6, 7, 7))
    assert removed == {}
    other = bl.compress_(AddAndConcat(), SSLConfig())
    with torch.no_grad():
        other.a.weight[1] = 0
        other.head.weight[:, 0] = 0
    assert _removal_keeps_outputs(other, torch.randn(2, 3, 6, 6)) == {}


def test_ssl_removal_with_mean_and_view_and_conv1d_and_bias_free_layers():
    torch.manual_seed(0)
    model = bl.compress_(ViewMean(), SSLConfig())
    with torch.no_grad():
        model.c1.weight[0] = 0
        model.c2.weight[:, 3] = 0
    removed = _removal_keeps_outputs(model, torch.randn(2, 3, 8, 8))
    assert removed == {"c1": 2}  # c1: filter 0 folds into c2's bias (no padding), channel 3 unread
    conv1d = nn.Sequential(
        nn.Conv1d(2, 6, 3, bias=False), nn.BatchNorm1d(6), nn.ReLU(),
        nn.Conv1d(6, 4, 3, padding=1, padding_mode="circular"), nn.ReLU(),
        nn.Conv1d(4, 3, 1, bias=False), nn.Flatten(), nn.Linear(3 * 8, 2),
    )  # fmt: skip
    bl.compress_(conv1d, SSLConfig())
    _random_bn_(conv1d)
    with torch.no_grad():
        conv1d[0].weight[1] = 0  # folds into the circular conv's bias
        conv1d[3].weight[2] = 0  # a constant ReLU(0.5) for a next conv without bias: kept
        conv1d[3].bias[2] = 0.5
        conv1d[7].weight[:, 8:16] = 0  # channel 1 of the last conv unread
    removed = _removal_keeps_outputs(conv1d, torch.randn(3, 2, 10))
    assert removed == {"0": 1, "5": 1}


def test_ssl_zero_small_groups_then_removal_on_a_trained_like_model():
    torch.manual_seed(0)
    model = bl.compress_(VGGish(), SSLConfig())
    _random_bn_(model)
    with torch.no_grad():
        model.features[0].weight[[0, 3]] *= 1e-5
        model.features[4].weight[:, 1] *= 1e-5
    counts = zero_small_groups_(model, threshold=1e-3)
    assert counts["features.0"]["filters"] == 2 and counts["features.4"]["channels"] >= 1
    _removal_keeps_outputs(model, torch.randn(2, 3, 8, 8))


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
    _removal_keeps_outputs(model, torch.randn(2, 3, 8, 8))


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
    _removal_keeps_outputs(model, torch.randn(2, 3, 8, 8))


def test_ssl_removal_with_batchnorm1d_after_flatten():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.BatchNorm1d(64), nn.Linear(64, 2))
    bl.compress_(model, SSLConfig())
    _random_bn_(model)
    with torch.no_grad():
        model[3].weight[:, 16:32] = 0  # channel 1 of the conv is unread
    _removal_keeps_outputs(model, torch.randn(2, 3, 6, 6))


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
    _removal_keeps_outputs(model, torch.randn(2, 3, 6, 6))


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
