"""The band-limited convolution under torch.export and torch.compile: the custom op's
registrations checked by ``torch.library.opcheck``, its gradients by gradcheck, and whole
models (a registry model and one written like third-party code) against eager."""

import io

import pytest
import torch
from torch import nn

import bandlimit as bl
from bandlimit.models import create_model

# (input shape, weight shape, bias?, stride, padding as F.conv*d takes it, the op's pads (before,
# after per dimension; 'same' with an even kernel pads one more after, as F.conv2d does),
# dilation, groups, rate, basis)
CALLS = {
    "2d": ((2, 4, 9, 9), (6, 4, 3, 3), True, [1, 1], [1, 1], [1, 1, 1, 1], [1, 1], 1, 0.5, "fft"),
    "2d-strided-grouped": ((2, 4, 10, 10), (4, 2, 3, 3), False, [2, 2], [1, 1], [1, 1, 1, 1], [1, 1], 2, 0.3, "fft"),
    "2d-same-even": ((1, 3, 8, 8), (2, 3, 4, 4), True, [1, 1], "same", [1, 2, 1, 2], [1, 1], 1, 0.5, "fft"),
    "2d-dilated-full": ((2, 2, 11, 11), (3, 2, 3, 3), True, [1, 1], [2, 2], [2, 2, 2, 2], [2, 2], 1, 0.0, "fft"),
    "1d": ((2, 3, 20), (5, 3, 5), True, [1], [2], [2, 2], [1], 1, 0.85, "fft"),
    "2d-dct": ((2, 3, 8, 8), (4, 3, 3, 3), True, [1, 1], [1, 1], [1, 1, 1, 1], [1, 1], 1, 0.5, "dct"),
}


def _arguments(call, dtype=torch.float32, requires_grad=False, op=True):
    """The call's arguments: the op's (``op``), or ``F.conv*d``'s with the rate and basis."""
    x_shape, w_shape, has_bias, stride, padding, pads, dilation, groups, rate, basis = call
    rest = (stride, pads if op else padding, dilation, groups, rate, basis)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(x_shape, dtype=dtype, generator=generator, requires_grad=requires_grad)
    w = torch.randn(w_shape, dtype=dtype, generator=generator, requires_grad=requires_grad)
    b = torch.randn(w_shape[0], dtype=dtype, generator=generator, requires_grad=requires_grad) if has_bias else None
    return (x, w, b, *rest)


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_the_custom_op_passes_opcheck(call):
    # schema, fake (meta) implementation, autograd registration, and tracing under AOT dispatch
    torch.library.opcheck(torch.ops.bandlimit.conv.default, _arguments(call, requires_grad=True))


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_the_custom_op_equals_the_eager_op_and_its_gradients_check(call):
    x, w, b, stride, padding, dilation, groups, rate, basis = _arguments(call, torch.float64, True, op=False)
    pads = _arguments(call, op=True)[4]
    op = bl.functional.conv1d if x.dim() == 3 else bl.functional.conv2d
    eager = op(x, w, b, stride, padding, dilation, groups, rate=rate, basis=basis)
    custom = torch.ops.bandlimit.conv(x, w, b, stride, pads, dilation, groups, rate, basis)
    torch.testing.assert_close(custom, eager)
    inputs = (x, w) if b is None else (x, w, b)

    def through_op(*tensors):
        bias = tensors[2] if len(tensors) == 3 else None
        return torch.ops.bandlimit.conv(*tensors[:2], bias, stride, pads, dilation, groups, rate, basis)

    assert torch.autograd.gradcheck(through_op, inputs)


def _registry_model():
    torch.manual_seed(0)
    model = create_model("small_resnet", 3, 10, width=8)
    return bl.compress_(model, bl.BandLimitConfig(rate=0.5))


class _ThirdPartyNet(nn.Module):
    """Written as code found elsewhere: a 1D conv stack with functional calls and an in-place op."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(2, 8, 7, padding="same")
        self.conv2 = nn.Conv1d(8, 8, 5, padding=2, stride=2, bias=False)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        x = torch.relu_(self.conv1(x))
        x = nn.functional.max_pool1d(x, 2)
        x = self.conv2(x)
        x += 1.0
        return self.head(x.mean(-1))


def _third_party_model():
    torch.manual_seed(0)
    return bl.compress_(_ThirdPartyNet(), bl.BandLimitConfig(rate=0.6))


MODELS = {"small_resnet": (_registry_model, (2, 3, 16, 16)), "third-party 1D": (_third_party_model, (2, 2, 40))}


@pytest.mark.slow
@pytest.mark.parametrize("build, shape", MODELS.values(), ids=MODELS.keys())
def test_an_exported_band_limited_model_matches_eager_and_survives_save_and_load(build, shape):
    model = build().eval()
    x = torch.randn(shape)
    program = torch.export.export(model, (x,))
    assert "bandlimit.conv" in program.graph_module.code
    expected = model(x)
    torch.testing.assert_close(program.module()(x), expected)
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    buffer.seek(0)
    torch.testing.assert_close(torch.export.load(buffer).module()(x), expected)


@pytest.mark.slow
@pytest.mark.parametrize("build, shape", MODELS.values(), ids=MODELS.keys())
def test_torch_compile_runs_the_layers_without_graph_breaks_and_trains_like_eager(build, shape):
    model = build()
    compiled = torch.compile(model, fullgraph=True)  # a graph break anywhere would raise
    x = torch.randn(shape)
    with torch.no_grad():
        torch.testing.assert_close(compiled.eval()(x), model.eval()(x))
    model.train()
    eager_input, compiled_input = x.clone().requires_grad_(), x.clone().requires_grad_()
    model(eager_input).square().sum().backward()
    eager_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    compiled(compiled_input).square().sum().backward()
    for eager, traced in zip(eager_grads, (p.grad for p in model.parameters())):
        torch.testing.assert_close(traced, eager, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(compiled_input.grad, eager_input.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_under_bf16_autocast_torch_compile_trains_like_eager():
    """The compiled backward computes half types as the eager op does (bf16 where native)."""
    torch.manual_seed(0)
    model = bl.compress_(
        nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3)), bl.BandLimitConfig(rate=0.5)
    )
    compiled = torch.compile(model, fullgraph=True)
    x = torch.randn(2, 3, 12, 12)
    grads = []
    for run in (model, compiled):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16), bl.functional.low_precision("always"):
            y = run(x)
        assert y.dtype == torch.bfloat16
        y.float().square().sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for eager, traced in zip(*grads):
        torch.testing.assert_close(traced, eager, rtol=0.05, atol=0.05)


@pytest.mark.parametrize("mode", ["always", "never"])
@pytest.mark.parametrize("call", ["2d", "1d"])  # 1D in bf16: the tap form (:mod:`bandlimit.functional.taps`)
def test_the_backward_op_computes_half_types_as_the_eager_op(mode, call):
    x, w, b, stride, pads, dilation, groups, rate, basis = _arguments(CALLS[call], torch.bfloat16)
    op = bl.functional.conv1d if x.dim() == 3 else bl.functional.conv2d
    padding = CALLS[call][4]
    with bl.functional.low_precision(mode):
        grad = torch.randn(op(x, w, b, stride, padding, dilation, groups, rate=rate).shape, dtype=torch.bfloat16)
        ours = torch.ops.bandlimit.conv_backward(grad, x, w, b, stride, pads, dilation, groups, rate, basis)
        leaves = [t.clone().requires_grad_() for t in (x, w, b)]
        y = op(*leaves, stride, padding, dilation, groups, rate=rate, basis=basis)
        eager = torch.autograd.grad(y, leaves, grad)
    for a, e in zip(ours, eager):
        torch.testing.assert_close(a, e, atol=0, rtol=0)
