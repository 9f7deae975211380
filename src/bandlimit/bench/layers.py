"""Forward + backward steps of one layer for each implementation, and their FLOP counts."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .. import functional as BF
from ..functional.cost import direct_conv_flops
from ..functional.plan import plan_conv
from ..functional.shape import ConvShape
from .cases import LayerCase

__all__ = ["IMPLEMENTATIONS", "layer_inputs", "make_step", "training_flops"]

IMPLEMENTATIONS = ("direct", "bandlimit", "fft-conv-pytorch")


def layer_inputs(case: LayerCase, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded leaf tensors of the layer: input ``(B, C, *spatial)`` and weight ``(C, C, *kernel)``."""
    g = torch.Generator().manual_seed(seed)
    spatial = (case.size,) * case.ndim
    x = torch.randn(case.batch, case.channels, *spatial, generator=g).requires_grad_()
    w = torch.randn(case.channels, case.channels, *(case.kernel,) * case.ndim, generator=g).requires_grad_()
    return x, w


def _conv(case: LayerCase, impl: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if impl == "direct":
        op = F.conv1d if case.ndim == 1 else F.conv2d
        return lambda x, w: op(x, w, padding=case.padding)
    if impl == "bandlimit":
        band_limited = BF.conv1d if case.ndim == 1 else BF.conv2d  # not `op`: a different signature
        return lambda x, w: band_limited(x, w, padding=case.padding, rate=case.rate)
    if impl == "fft-conv-pytorch":
        from fft_conv_pytorch import fft_conv  # optional: pip install 'bandlimit[bench]'

        return lambda x, w: fft_conv(x, w, padding=case.padding)
    raise ValueError(f"impl must be one of {IMPLEMENTATIONS}, got {impl!r}")


def make_step(
    case: LayerCase, impl: str, inputs: tuple[torch.Tensor, torch.Tensor] | None = None
) -> Callable[[], None]:
    """A closure running forward + backward of the layer (gradients of input and weight).

    Args:
        inputs: the leaves ``(x, w)`` to run on, whose ``.grad`` each step replaces; by
            default :func:`layer_inputs`. The output gradient is seeded too, so every
            implementation gets the same one.
    """
    x, w = inputs if inputs is not None else layer_inputs(case)
    conv = _conv(case, impl)
    grad = torch.randn(conv(x, w).shape, generator=torch.Generator().manual_seed(1))

    def step() -> None:
        x.grad = w.grad = None
        conv(x, w).backward(grad)

    return step


def make_forward(case: LayerCase, impl: str) -> Callable[[], torch.Tensor]:
    """A closure running the forward only (with autograd recording, as in training)."""
    x, w = layer_inputs(case)
    conv = _conv(case, impl)
    return lambda: conv(x, w)


def training_flops(case: LayerCase, impl: str) -> float | None:
    """FLOPs of forward + backward for the whole batch as the algorithm does them (None if unknown)."""
    shape = ConvShape.of(
        case.channels, case.channels, (case.kernel,) * case.ndim, (case.size,) * case.ndim, padding=case.padding,
        batch=case.batch,
    )  # fmt: skip
    if impl == "bandlimit":
        return plan_conv(shape, case.rate, training=True).flops()
    if impl == "direct":
        return 3.0 * case.batch * direct_conv_flops(case.channels, case.channels, 1, shape.kernel, shape.output_size)
    return None
