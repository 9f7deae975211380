"""CSR execution of sparse weights against F.conv1d / F.conv2d / F.linear with the same dense
weights, and the CSR matrix against SciPy's."""

import copy

import numpy as np
import pytest
import scipy.sparse
import torch
import torch.nn.functional as F
from torch import nn

import bandlimit as bl
from bandlimit.compress import pruned_layers, sparse_layers
from bandlimit.errors import ConfigError
from bandlimit.functional.sparse import csr_bytes, csr_conv2d, csr_linear, csr_weight
from bandlimit.nn import CsrConv1d, CsrConv2d, CsrLinear


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
