"""Every bad input gets a clear error naming the argument and what is allowed."""

import pytest
import torch

import bandlimit.functional as BF

X = torch.randn(2, 4, 8, 8)
W = torch.randn(6, 4, 3, 3)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan")])
def test_rate_out_of_range(rate):
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        BF.conv2d(X, W, rate=rate)


@pytest.mark.parametrize("rate", ["0.5", None, True, 1j])
def test_rate_of_wrong_type(rate):
    with pytest.raises(TypeError, match="rate must be a real number"):
        BF.conv2d(X, W, rate=rate)


@pytest.mark.parametrize("x", [torch.randn(8, 8), torch.randn(1, 2, 4, 8, 8)])
def test_wrong_input_rank(x):
    with pytest.raises(ValueError, match="input must be 4D"):
        BF.conv2d(x, W)


def test_wrong_weight_rank():
    with pytest.raises(ValueError, match="weight must be 3D"):
        BF.conv1d(torch.randn(2, 4, 8), W)


def test_channel_mismatch():
    with pytest.raises(ValueError, match="input has 4 channels but weight expects in_channels"):
        BF.conv2d(X, torch.randn(6, 3, 3, 3))


def test_groups_must_divide_out_channels():
    with pytest.raises(ValueError, match="divisible by groups"):
        BF.conv2d(X, torch.randn(5, 2, 3, 3), groups=2)


@pytest.mark.parametrize("groups", [0, -1, 1.5])
def test_bad_groups(groups):
    with pytest.raises(ValueError, match="groups must be a positive int"):
        BF.conv2d(X, W, groups=groups)


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match="larger than the padded input"):
        BF.conv2d(torch.randn(1, 4, 2, 8), W)
    with pytest.raises(ValueError, match="larger than the padded input"):
        BF.conv2d(X, W, dilation=4)


@pytest.mark.parametrize("dtype", [torch.complex64, torch.int64, torch.bool])
def test_complex_and_integer_tensors(dtype):
    with pytest.raises(TypeError, match="input must be a real floating-point tensor"):
        BF.conv2d(X.to(dtype), W)
    with pytest.raises(TypeError, match="weight must be a real floating-point tensor"):
        BF.conv2d(X, W.to(dtype))


def test_not_a_tensor():
    with pytest.raises(TypeError, match="input must be a torch.Tensor"):
        BF.conv2d(X.numpy(), W)


def test_dtype_mismatch():
    with pytest.raises(TypeError, match="weight dtype torch.float64 must equal input dtype torch.float32"):
        BF.conv2d(X, W.double())


def test_bad_bias():
    with pytest.raises(ValueError, match=r"bias must have shape \(6,\)"):
        BF.conv2d(X, W, torch.randn(5))
    with pytest.raises(TypeError, match="bias must have the dtype"):
        BF.conv2d(X, W, torch.randn(6, dtype=torch.float64))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(stride=0), ValueError, "stride must be >= 1, got 0"),
        (dict(stride=(1, 2, 3)), TypeError, "stride must be an int or a sequence of 2 ints"),
        (dict(stride=1.5), TypeError, "stride must be an int or a sequence of 2 ints"),
        (dict(stride=True), TypeError, "stride must be an int, got bool"),
        (dict(dilation=0), ValueError, "dilation must be >= 1"),
        (dict(dilation=(1, 0)), ValueError, r"dilation\[1\] must be >= 1, got 0"),
        (dict(padding=-1), ValueError, "padding must be >= 0"),
        (dict(padding=(1, 1.5)), TypeError, r"padding\[1\] must be an int, got float"),
        (dict(padding="full"), ValueError, "padding must be 'same', 'valid'"),
        (dict(padding="same", stride=2), ValueError, "padding='same' is not supported for strided"),
    ],
)
def test_bad_geometry(kwargs, error, match):
    with pytest.raises(error, match=match):
        BF.conv2d(X, W, **kwargs)


def test_one_rate_checker():
    """``functional.arguments.check_rate`` stays importable: it is the shared checker."""
    from bandlimit.checks import check_rate
    from bandlimit.functional.arguments import check_rate as reexported

    assert reexported is check_rate
