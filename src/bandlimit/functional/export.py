"""The band-limited convolution as a ``torch.library`` custom op, for torch.compile and torch.export.

The eager op (:func:`.execute.run_conv`) picks its band, path and geometry in Python and runs a
hand-written autograd Function: a tracer cannot look inside it. When torch.compile or
torch.export traces a model, each call becomes one opaque op, ``bandlimit::conv``, with

- a fake (meta) implementation that gives the output's shape and dtype from the call's sizes,
  so the graph is built without running the transforms;
- registered autograd: the backward is a second op, ``bandlimit::conv_backward``, which runs
  the layer again with autograd and takes its gradients. A compiled training step therefore
  pays the layer's forward twice (no spectral checkpoints, no filter cache); inference and
  exported programs pay nothing extra.

An exported program saved with ``torch.export.save`` loads where ``bandlimit`` is imported.
Energy mode chooses its band from the batch's values, which a traced graph cannot; trace
layers with fixed (or calibrated) rates.
"""

from __future__ import annotations

import torch

from .execute import run_conv
from .precision import compute_dtype, precision_mode
from .shape import ConvShape

__all__ = ["compiled_conv"]


def _shape(
    input: torch.Tensor, weight: torch.Tensor, stride: list[int], pads: list[int], dilation: list[int], groups: int
) -> ConvShape:
    """The call's sizes from the op's arguments; ``pads``: ``before, after`` per dimension."""
    ndim = weight.dim() - 2
    return ConvShape(
        weight.shape[1] * groups, weight.shape[0], groups, tuple(weight.shape[2:]), tuple(input.shape[-ndim:]),
        tuple(zip(pads[::2], pads[1::2])), tuple(stride), tuple(dilation),
        input.shape[0] if input.dim() == ndim + 2 else 1,
    )  # fmt: skip


@torch.library.custom_op("bandlimit::conv", mutates_args=())
def _conv_op(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: list[int],
    pads: list[int],
    dilation: list[int],
    groups: int,
    rate: float,
    basis: str,
) -> torch.Tensor:
    ndim = weight.dim() - 2
    with torch.no_grad():  # the registered autograd below differentiates it
        out = run_conv(input, weight, bias, _shape(input, weight, stride, pads, dilation, groups), rate, basis)
    # 1D and unbatched results are views of the 4D kernel's output; an op's output must be its own.
    return out if ndim == 2 and input.dim() == 4 else out.clone()


@_conv_op.register_fake
def _conv_fake(
    input: torch.Tensor, weight: torch.Tensor, bias: object, stride: list[int], pads: list[int],
    dilation: list[int], groups: int, *_: object,
) -> torch.Tensor:  # fmt: skip
    shape = _shape(input, weight, stride, pads, dilation, groups)
    return input.new_empty((*input.shape[: -shape.ndim - 1], weight.shape[0], *shape.output_size))


@torch.library.custom_op("bandlimit::conv_backward", mutates_args=())
def _conv_backward_op(
    grad: torch.Tensor,
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: list[int],
    pads: list[int],
    dilation: list[int],
    groups: int,
    rate: float,
    basis: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of input, weight and bias (zeros ``(Cout,)`` without a bias)."""
    # An op's implementation runs below autograd: only the Function records a graph, so the
    # layer runs on leaves it needs no lifting or cast for (4D, batched, in its compute dtype).
    ndim = weight.dim() - 2
    # Half types compute as the eager op's plan would (:mod:`.precision`): in their own dtype
    # where the device has it natively.
    compute = compute_dtype(input.dtype, input.device.type, precision_mode())
    rows = 2 - ndim  # a 1D layer runs as a 2D layer on one row
    x = input.reshape(-1, *input.shape[-ndim - 1 :]) if input.dim() == ndim + 2 else input.unsqueeze(0)
    x = x.reshape(*x.shape[:2], *[1] * rows, *x.shape[2:]).to(compute).detach().requires_grad_()
    w = weight.reshape(*weight.shape[:2], *[1] * rows, *weight.shape[2:]).to(compute).detach().requires_grad_()
    b = bias.to(compute).detach().requires_grad_() if bias is not None else None
    lift = [1] * rows
    shape = _shape(x, w, lift + list(stride), [0, 0] * rows + list(pads), lift + list(dilation), groups)
    with torch.enable_grad():
        y = run_conv(x, w, b, shape, rate, basis)
        grads = torch.autograd.grad(y, [x, w, *([b] if b is not None else [])], grad.to(compute).reshape(y.shape))
    grad_bias = grads[2].to(weight.dtype) if b is not None else weight.new_zeros(weight.shape[0])
    return grads[0].reshape(input.shape).to(input.dtype), grads[1].reshape(weight.shape).to(weight.dtype), grad_bias


@_conv_backward_op.register_fake
def _conv_backward_fake(
    grad: torch.Tensor, input: torch.Tensor, weight: torch.Tensor, *_: object
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.empty_like(input), torch.empty_like(weight), weight.new_empty(weight.shape[0])


def _setup_context(ctx: torch.autograd.function.FunctionCtx, inputs: tuple[object, ...], output: torch.Tensor) -> None:
    input, weight, bias, *arguments = inputs
    ctx.save_for_backward(input, weight, bias)  # type: ignore[arg-type]
    ctx.arguments = arguments  # type: ignore[attr-defined]


def _backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> tuple[object, ...]:
    input, weight, bias = ctx.saved_tensors  # type: ignore[attr-defined]
    grad_input, grad_weight, grad_bias = _conv_backward_op(grad, input, weight, bias, *ctx.arguments)  # type: ignore[attr-defined]
    return (grad_input, grad_weight, grad_bias if bias is not None else None, *[None] * 6)


_conv_op.register_autograd(_backward, setup_context=_setup_context)


def compiled_conv(
    input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, shape: ConvShape, rate: float, basis: str
) -> torch.Tensor:
    """The checked call as ``bandlimit::conv`` (arguments as :func:`.execute.run_conv`)."""
    pads = [p for pair in shape.pads for p in pair]
    out: torch.Tensor = torch.ops.bandlimit.conv(
        input, weight, bias, list(shape.stride), pads, list(shape.dilation), shape.groups, rate, basis
    )
    return out
