"""CSR execution of sparse weights against F.conv1d / F.conv2d / F.linear with the same dense
weights, and the CSR matrix against SciPy's; through compress_, on every padding mode, dtype
round trips, copies, pickles, shared modules and a third-party-style VGG."""

import copy
import io

import numpy as np
import pytest
import scipy.sparse
import torch
import torch.nn.functional as F
from torch import nn

import bandlimit as bl
from bandlimit.compress import PruneConfig, SparseConfig, pruned_layers, sparse_layers, weight_sparsity
from bandlimit.errors import ConfigError
from bandlimit.functional.sparse import csr_bytes, csr_conv2d, csr_linear, csr_weight
from bandlimit.nn import CsrConv1d, CsrConv2d, CsrLinear

from third_party_models import VGGish, random_bn_, sparsify_


def _sparse(shape, sparsity, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=g, dtype=dtype)
    return w * (torch.rand(shape, generator=g, dtype=dtype) >= sparsity)


def test_csr_weight_matches_scipy_and_counts_its_bytes():
    w = _sparse((6, 4, 3, 3), 0.8)
    csr = csr_weight(w)
    reference = scipy.sparse.csr_matrix(w.reshape(6, -1).numpy())
    np.testing.assert_array_equal(csr.crow_indices().numpy(), reference.indptr)
    np.testing.assert_array_equal(csr.col_indices().numpy(), reference.indices)
    np.testing.assert_array_equal(csr.values().numpy(), reference.data)
    assert csr_bytes(csr) == reference.nnz * (8 + 4) + 7 * 4  # float64 values, int32 indices and pointers


def test_grouped_weight_is_block_diagonal():
    w = _sparse((6, 2, 3, 3), 0.5)  # groups 3: 2 output channels per group, 2 input channels each
    dense = csr_weight(w, groups=3).to_dense()
    assert dense.shape == (6, 3 * 18)
    for g in range(3):
        rows = slice(2 * g, 2 * g + 2)
        torch.testing.assert_close(dense[rows, 18 * g : 18 * g + 18], w[rows].reshape(2, 18))
        outside = torch.cat([dense[rows, : 18 * g], dense[rows, 18 * g + 18 :]], 1)
        assert not outside.any()


@pytest.mark.parametrize("sparse_input", [False, True])
@pytest.mark.parametrize(
    ("stride", "padding", "dilation", "groups"), [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), (2, 1, 1, 2)]
)
def test_csr_conv2d_equals_f_conv2d(stride, padding, dilation, groups, sparse_input):
    x = F.relu(torch.randn(3, 4, 11, 9, dtype=torch.float64))  # ReLU-sparse activations
    w = _sparse((6, 4 // groups, 3, 3), 0.7)
    bias = torch.randn(6, dtype=torch.float64)
    expected = F.conv2d(x, w, bias, stride, padding, dilation, groups)
    got = csr_conv2d(
        x, csr_weight(w, groups), bias, (3, 3), (stride,) * 2, (padding,) * 2, (dilation,) * 2, sparse_input
    )
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("sparse_input", [False, True])
def test_csr_linear_equals_f_linear(sparse_input):
    x = F.relu(torch.randn(2, 5, 12, dtype=torch.float64))
    w = _sparse((7, 12), 0.9)
    bias = torch.randn(7, dtype=torch.float64)
    torch.testing.assert_close(csr_linear(x, csr_weight(w), bias, sparse_input), F.linear(x, w, bias))
    torch.testing.assert_close(csr_linear(x[0, 0], csr_weight(w)), F.linear(x[0, 0], w))  # a vector


def test_the_input_gradient_flows_through_the_csr_product():
    w = csr_weight(_sparse((5, 3, 3, 3), 0.6))
    x = torch.randn(2, 3, 7, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: csr_conv2d(t, w, None, (3, 3), (1, 1), (1, 1)), (x,))
    v = torch.randn(4, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: csr_linear(t, csr_weight(_sparse((3, 8), 0.5))), (v,))


def _conv_cases():
    yield nn.Conv2d(4, 6, 3, padding=1, bias=True)
    yield nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding="valid", padding_mode="zeros")
    yield nn.Conv2d(4, 4, 4, padding="same", groups=2)  # even kernel: asymmetric 'same'
    yield nn.Conv2d(4, 6, 3, padding=1, padding_mode="reflect")
    yield nn.Conv1d(4, 6, 5, padding=2, dilation=1)
    yield nn.Conv1d(4, 6, 4, padding="same", dilation=2, padding_mode="circular")


@pytest.mark.parametrize("index", range(6))
def test_csr_modules_equal_their_dense_layers(index):
    torch.manual_seed(index)
    dense = list(_conv_cases())[index].double()
    with torch.no_grad():
        dense.weight.mul_(torch.rand_like(dense.weight) > 0.6)
    csr_type = CsrConv2d if isinstance(dense, nn.Conv2d) else CsrConv1d
    shape = (2, 4, 10, 9) if isinstance(dense, nn.Conv2d) else (2, 4, 13)
    x = torch.randn(shape, dtype=torch.float64)
    layer = bl.compress_(copy.deepcopy(dense), bl.SparseConfig())
    assert type(layer) is csr_type and set(layer.state_dict()) == set(dense.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(layer(x), dense(x))
        torch.testing.assert_close(layer(x[0]), dense(x[0]))  # unbatched


def test_training_runs_the_dense_path_and_frozen_weights_the_csr_one():
    layer = bl.compress_(nn.Linear(8, 3).double(), bl.SparseConfig())
    x = torch.randn(4, 8, dtype=torch.float64, requires_grad=True)
    layer(x).sum().backward()
    assert layer.weight.grad is not None and "_csr_cache" not in layer.__dict__  # trained densely
    layer.weight.requires_grad_(False)
    x.grad = None
    layer(x).sum().backward()
    torch.testing.assert_close(x.grad, layer.weight.sum(0).expand(4, 8))
    assert layer.csr_cache.matrix is not None


def test_pruned_model_runs_sparse_with_its_masks_and_inplace_ops():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(8 * 6 * 6, 4))
    x = torch.randn(2, 3, 8, 8)
    bl.compress_(model, bl.PruneConfig(amount=0.8, scope="layer"))
    expected = model(x)
    bl.compress_(model, bl.SparseConfig(min_sparsity=0.5, activations=True))
    assert set(sparse_layers(model)) == {"0", "3"} and set(pruned_layers(model)) == {"0", "3"}
    with torch.no_grad():
        out = model(x)
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
        out.add_(1)  # the output is an ordinary tensor
    bl.compress_(model, bl.PruneConfig(amount=0.95))  # the cached CSR follows a changed mask
    with torch.no_grad():
        model(x)
    assert model[0].csr_cache.matrix._nnz() == int((model[0].weight_mask != 0).sum())


def test_min_sparsity_leaves_dense_layers_alone_and_bad_values_are_refused():
    model = bl.compress_(nn.Sequential(nn.Linear(4, 4)), bl.SparseConfig(min_sparsity=0.5), filter_fn=None)
    assert not sparse_layers(model)
    with pytest.raises(ConfigError, match=r"min_sparsity must be in \[0, 1\]"):
        bl.SparseConfig(min_sparsity=1.5)


def test_csr_linear_module_equals_nn_linear():
    torch.manual_seed(1)
    dense = nn.Linear(10, 5).double()
    layer = bl.compress_(copy.deepcopy(dense), bl.SparseConfig())
    assert type(layer) is CsrLinear
    x = torch.randn(3, 2, 10, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), dense(x))


def test_csr_layers_run_under_bf16_autocast():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    bl.compress_(model, [bl.PruneConfig(amount=0.5), bl.PrecisionConfig()])
    x = torch.randn(2, 2, 6, 6)
    with torch.no_grad():
        expected = model(x).float()
        bl.compress_(model, bl.SparseConfig())
        torch.testing.assert_close(model(x).float(), expected, atol=0.05, rtol=0.05)  # bf16's rounding


# ----------------------------------------------------------------------------------------
# Through compress_: padding modes, dtypes, leading dimensions, copies and pickles, shared
# modules, all-zero weights, weights changed in place, and a third-party-style VGG.


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
    sparsify_(dense, 0.15)
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
    sparsify_(lin)
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
    random_bn_(dense)
    sparsify_(dense, 0.1)
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
    sparsify_(dense)
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
