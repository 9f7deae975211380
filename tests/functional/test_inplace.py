"""The output of a band-limited convolution accepts in-place ops, as F.conv*d's does
(pre-activation ResNets write ``out = conv(x); out += shortcut``)."""

import pytest
import torch
import torch.nn.functional as F

import bandlimit.functional as BF
from bandlimit.nn import BandLimitedConv1d, BandLimitedConv2d


@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("rate", [0.0, 0.5])
def test_in_place_sum_and_relu_on_the_output(ndim, bias, stride, rate):
    op, reference = (BF.conv1d, F.conv1d) if ndim == 1 else (BF.conv2d, F.conv2d)
    x = torch.randn(2, 4, *(9,) * ndim, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 4, *(3,) * ndim, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True) if bias else None
    shortcut = torch.randn(2, 4, *(9 // stride + (stride > 1),) * ndim, dtype=torch.float64)

    def run(conv, **kw):
        out = conv(x, w, b, stride=stride, padding=1, **kw)
        out += shortcut
        out = F.relu(out, inplace=True)
        return out, torch.autograd.grad(out.square().sum(), [t for t in (x, w, b) if t is not None])

    ours, ref = run(op, rate=rate), run(reference)
    assert ours[0].shape == ref[0].shape
    if rate == 0:
        torch.testing.assert_close(ours[0], ref[0])
        torch.testing.assert_close(ours[1], ref[1])


@pytest.mark.parametrize("module", [BandLimitedConv1d(3, 3, 3, padding=1, bias=False), BandLimitedConv2d(3, 3, 3)])
def test_modules_outputs_accept_in_place_ops(module):
    x = torch.randn(2, 3, *(8,) * (module.weight.dim() - 2), requires_grad=True)
    out = module(x)
    out.mul_(2).relu_()
    out.sum().backward()
    assert x.grad is not None and module.weight.grad is not None
