"""Validation and normalisation of the arguments of the band-limited convolutions.

Everything a user can get wrong is checked here, at the boundary, with an error that names
the argument, the value received and what is allowed; the numerical code assumes valid input.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence

import torch

from ..checks import check_int, check_rate

# check_rate is re-exported: it lived here before moving to bandlimit.checks.
__all__ = ["check_rate", "check_conv_inputs", "check_kernel_fits", "as_tuple", "resolve_padding"]


def as_tuple(name: str, value: int | Sequence[int], ndim: int, minimum: int) -> tuple[int, ...]:
    """Expand an int or a sequence of ``ndim`` ints to a tuple, checking each is ``>= minimum``."""
    if isinstance(value, numbers.Integral):  # numpy integers too; check_int refuses bools
        return (check_int(value, name, minimum),) * ndim
    values = tuple(value) if isinstance(value, Iterable) and not isinstance(value, str) else ()
    if len(values) != ndim:
        raise TypeError(f"{name} must be an int or a sequence of {ndim} ints, got {value!r}")
    return tuple(check_int(v, f"{name}[{i}]", minimum) for i, v in enumerate(values))


def resolve_padding(
    padding: str | int | Sequence[int],
    kernel_size: tuple[int, ...],
    dilation: tuple[int, ...],
    stride: tuple[int, ...],
) -> tuple[tuple[int, int], ...]:
    """Padding as ``(before, after)`` per spatial dimension, as ``F.conv*d`` applies it.

    ``'same'`` pads ``dilation * (kernel - 1)`` in total, the odd element after (bottom/right),
    and like ``F.conv*d`` it is refused for strided convolutions.
    """
    ndim = len(kernel_size)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * ndim
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"padding='same' is not supported for strided convolutions (stride={stride})")
            totals = [d * (k - 1) for k, d in zip(kernel_size, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(f"padding must be 'same', 'valid', an int or a sequence of ints, got {padding!r}")
    return tuple((p, p) for p in as_tuple("padding", padding, ndim, minimum=0))


def _check_tensor(name: str, tensor: object) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.is_complex() or not tensor.is_floating_point():
        raise TypeError(
            f"{name} must be a real floating-point tensor (float16, bfloat16, float32 or float64), got {tensor.dtype}"
        )
    return tensor


def check_conv_inputs(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    groups: int,
    ndim: int,
    autocast: torch.dtype | None = None,
) -> None:
    """Check types, ranks, dtypes, devices and channel counts of a ``conv{ndim}d`` call
    (under ``autocast`` to that dtype, a float32 weight goes with an input of that dtype)."""
    _check_tensor("input", input)
    _check_tensor("weight", weight)
    if input.dim() not in (ndim + 1, ndim + 2):
        raise ValueError(
            f"input must be {ndim + 2}D (batch, channels, *spatial) or {ndim + 1}D (unbatched), "
            f"got shape {tuple(input.shape)}"
        )
    if weight.dim() != ndim + 2:
        raise ValueError(
            f"weight must be {ndim + 2}D (out_channels, in_channels / groups, *kernel), got shape {tuple(weight.shape)}"
        )
    if weight.dtype != input.dtype and not (weight.dtype == torch.float32 and input.dtype == autocast):
        raise TypeError(f"weight dtype {weight.dtype} must equal input dtype {input.dtype}")
    if weight.device != input.device:
        raise ValueError(f"weight is on {weight.device} but input is on {input.device}")
    try:
        check_int(groups, "groups", minimum=1)
    except (TypeError, ValueError) as err:  # one message for every bad group count, as before
        raise ValueError(f"groups must be a positive int, got {groups!r}") from err
    in_channels = input.shape[-ndim - 1]
    out_channels = weight.shape[0]
    if in_channels != weight.shape[1] * groups:
        raise ValueError(
            f"input has {in_channels} channels but weight expects in_channels = weight.shape[1] * groups = "
            f"{weight.shape[1]} * {groups} = {weight.shape[1] * groups}"
        )
    if out_channels % groups != 0:
        raise ValueError(f"out_channels (weight.shape[0] = {out_channels}) must be divisible by groups = {groups}")
    if any(s == 0 for s in input.shape[-ndim:]) or any(s == 0 for s in weight.shape[-ndim:]):
        raise ValueError(
            f"input and kernel spatial sizes must be positive, got {tuple(input.shape)} and {tuple(weight.shape)}"
        )
    if bias is not None:
        _check_tensor("bias", bias)
        if bias.shape != (out_channels,):
            raise ValueError(f"bias must have shape ({out_channels},) (out_channels), got {tuple(bias.shape)}")
        if bias.dtype != input.dtype or bias.device != input.device:
            raise TypeError(
                f"bias must have the dtype and device of input ({input.dtype}, {input.device}), "
                f"got ({bias.dtype}, {bias.device})"
            )


def check_kernel_fits(padded: Sequence[int], kernel_size: Sequence[int], dilation: Sequence[int]) -> None:
    """Raise if the dilated kernel is larger than the padded input in some dimension."""
    if any(d * (k - 1) + 1 > n for n, k, d in zip(padded, kernel_size, dilation)):
        raise ValueError(
            f"kernel_size {tuple(kernel_size)} with dilation {tuple(dilation)} is larger than "
            f"the padded input {tuple(padded)}"
        )
