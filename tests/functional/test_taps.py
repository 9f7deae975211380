"""The spectral path's tap form (bfloat16/float16 1D layers): where it is chosen, the precision
contract against float64 (as F.conv1d's own error in the same dtype), checkpoints."""

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bandlimit as bl
import bandlimit.functional as BF
from bandlimit.functional import low_precision
from bandlimit.functional.band import band_for_size
from bandlimit.functional.plan import plan_conv
from bandlimit.functional.shape import ConvShape
from bandlimit.functional.taps import tap_form_pays


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double() - b.detach().double()).norm() / b.detach().double().norm())


def _fcn_layer(batch: int, cin: int, cout: int, k: int, length: int = 270) -> ConvShape:
    return ConvShape.of_call(torch.empty(batch, cin, length), torch.empty(cout, cin, k), 1, "same", 1, 1)


def test_the_tap_form_is_chosen_for_small_batches_and_few_taps_only():
    """The FCN's layers at batch 16 (FiftyWords): k 5 and 3 in tap form, k 8 not; 2D and
    grouped layers never; nor a full band."""
    for (cin, cout, k), expected in (((128, 256, 5), True), ((256, 128, 3), True), ((1, 128, 8), False)):
        shape = _fcn_layer(16, cin, cout, k)
        assert tap_form_pays(shape, band_for_size(shape.padded, 0.5)) is expected
    shape = _fcn_layer(16, 256, 128, 3)
    assert not tap_form_pays(shape, band_for_size(shape.padded, 0.0))
    grouped = ConvShape.of_call(torch.empty(16, 256, 270), torch.empty(128, 128, 3), 1, "same", 1, 2)
    assert not tap_form_pays(grouped, band_for_size(grouped.padded, 0.5))
    image = ConvShape.of_call(torch.empty(4, 64, 16, 16), torch.empty(64, 64, 3, 3), 1, 1, 1, 1)
    assert not tap_form_pays(image, band_for_size(image.padded, 0.5))
    with low_precision("always"):
        plan = plan_conv(shape, 0.5, training=True, dtype=torch.bfloat16)
        assert plan.path == "spectral" and plan.geometry.taps
        assert not plan_conv(shape, 0.5, training=True, dtype=torch.float32).geometry.taps


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize(("rate", "stride", "dilation"), [(0.5, 1, 1), (0.85, 1, 1), (0.85, 2, 1), (0.5, 1, 2)])
def test_the_tap_form_errs_at_most_three_times_as_much_as_f_conv1d(rate, dtype, stride, dilation):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(8, 24, 90, generator=generator, dtype=torch.float64)
    w = torch.randn(40, 24, 3, generator=generator, dtype=torch.float64)
    args = {"stride": stride, "padding": dilation, "dilation": dilation}
    grad = torch.randn(F.conv1d(x, w, **args).shape, generator=generator, dtype=torch.float64)
    shape = ConvShape.of_call(x, w, stride, dilation, dilation, 1)
    with low_precision("always"):
        assert plan_conv(shape, rate, training=True, dtype=dtype).geometry.taps

    def run(op, dtype, **kwargs):
        leaves = [t.detach().to(dtype).requires_grad_() for t in (x, w)]
        y = op(*leaves, **args, **kwargs)
        return [y, *torch.autograd.grad(y, leaves, grad.to(dtype))]

    with low_precision("always"):
        half = run(BF.conv1d, dtype, rate=rate)
    exact = run(BF.conv1d, torch.float64, rate=rate)
    plain_half, plain_exact = run(F.conv1d, dtype), run(F.conv1d, torch.float64)
    for name, a, b, p, q in zip(("output", "input grad", "weight grad"), half, exact, plain_half, plain_exact):
        assert a.dtype == dtype
        assert _relative(a, b) <= 3 * _relative(p, q), name


def test_a_checkpointed_tap_form_model_recomputes_exactly():
    torch.manual_seed(0)
    layers = [nn.Conv1d(8, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU(), nn.Conv1d(32, 32, 3, padding=1)]
    model = nn.Sequential(*layers)
    x = torch.randn(16, 8, 100)
    outputs, grads = [], []
    for checkpoint in (False, True):
        ours = bl.compress_(copy.deepcopy(model), bl.BandLimitConfig(rate=0.5, checkpoint=checkpoint))
        with low_precision("always"), torch.autocast("cpu", dtype=torch.bfloat16):
            y = ours(x)
        y.float().square().sum().backward()
        outputs.append(y)
        grads.append([p.grad for p in ours.parameters()])
    torch.testing.assert_close(outputs[0], outputs[1], atol=0, rtol=0)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
