"""Sparse execution of pruned layers: the weight as a CSR matrix times dense (or CSR) activations.

A convolution is lowered to a matrix product with im2col (``F.unfold``): the weight, viewed as
``(C_out, C_in/groups * prod(kernel))`` and made block-diagonal over the groups, multiplies
the unfolded input ``(C_in * prod(kernel), B * L)`` (``L`` output positions). A linear layer
is the same product without the unfolding. With ``sparse_input`` the activations (or their
unfolding) are converted to CSR too, for the sparse x sparse product that pays when ReLU has
zeroed most of them.

The products are ``torch.sparse.mm`` on ``torch.sparse_csr`` tensors; autograd gives the
gradient of the dense input (not of the CSR weight: these are inference paths, and pruned
training keeps the dense masked weight).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["csr_bytes", "csr_conv2d", "csr_linear", "csr_weight", "lowered_conv2d", "sparse_product"]


def csr_weight(weight: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """The weight of a convolution or linear layer as one CSR matrix with int32 indices.

    Args:
        weight: ``(C_out, C_in/groups, *kernel)`` or a linear layer's ``(out, in)``.
        groups: the convolution's groups; the result is block-diagonal over them.

    Returns:
        ``(C_out, groups * C_in/groups * prod(kernel))``, zeros left out.
    """
    out_channels = weight.shape[0]
    rows = weight.detach().reshape(out_channels, -1)
    width = rows.shape[1]
    rows_idx, cols_idx = rows.nonzero(as_tuple=True)  # row-major order
    values = rows[rows_idx, cols_idx]
    if groups > 1:  # block-diagonal: group g's rows see only group g's columns
        cols_idx = cols_idx + (rows_idx // (out_channels // groups)) * width
    return _csr_from_coo(rows_idx, cols_idx, values, (out_channels, groups * width))


def _csr_from_coo(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """CSR from row-major-sorted coordinates (``nonzero`` returns them so)."""
    counts = torch.bincount(rows, minlength=shape[0])
    crow = torch.zeros(shape[0] + 1, dtype=torch.int32, device=values.device)
    crow[1:] = torch.cumsum(counts, 0)
    return torch.sparse_csr_tensor(crow, cols.to(torch.int32), values, shape, check_invariants=False)


def csr_bytes(matrix: torch.Tensor) -> int:
    """Bytes of a CSR matrix: values, column indices and row pointers."""
    parts = (matrix.values(), matrix.col_indices(), matrix.crow_indices())
    return sum(p.numel() * p.element_size() for p in parts)


def sparse_product(weight: torch.Tensor, columns: torch.Tensor, sparse_input: bool) -> torch.Tensor:
    """``weight @ columns`` for a CSR ``weight`` and dense ``(K, N)`` ``columns``, in the weight's
    dtype (the sparse kernels have no bfloat16: under autocast the product runs in float32)."""
    columns = columns.to(weight.dtype)
    with torch.autocast(columns.device.type, enabled=False):  # autocast would cast both to bfloat16
        if sparse_input and not (torch.is_grad_enabled() and columns.requires_grad):
            product: torch.Tensor = torch.sparse.mm(weight, columns.to_sparse_csr()).to_dense()
        else:
            product = torch.sparse.mm(weight, columns)
    return product


def csr_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, sparse_input: bool = False
) -> torch.Tensor:
    """``F.linear(x, W, bias)`` with ``W`` given by :func:`csr_weight`.

    Args:
        x: ``(*, in)``.
        weight: CSR ``(out, in)``.
        sparse_input: multiply by ``x`` as CSR as well (only without a gradient to ``x``).

    Returns:
        ``(*, out)``.
    """
    flat = x.reshape(-1, x.shape[-1])
    out = sparse_product(weight, flat.t(), sparse_input).t()  # (N, out)
    if bias is not None:
        out = out + bias
    return out.reshape(*x.shape[:-1], weight.shape[0])


def lowered_conv2d(
    x: torch.Tensor,
    product: Callable[[torch.Tensor], torch.Tensor],
    bias: torch.Tensor | None,
    kernel_size: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
) -> torch.Tensor:
    """A 2-D convolution as im2col (``F.unfold``) and one matrix product for the whole batch.

    Args:
        x: ``(B, C_in, H, W)``, zero-padded by ``padding`` on both sides.
        product: maps the unfolded input ``(C_in * kh * kw, B * L)`` to ``(C_out, B * L)``.

    Returns:
        ``(B, C_out, H_out, W_out)``.
    """
    b, _, h, w = x.shape
    columns = F.unfold(x, kernel_size, dilation=dilation, padding=padding, stride=stride)  # (B, K, L)
    h_out = (h + 2 * padding[0] - dilation[0] * (kernel_size[0] - 1) - 1) // stride[0] + 1
    w_out = (w + 2 * padding[1] - dilation[1] * (kernel_size[1] - 1) - 1) // stride[1] + 1
    out = product(columns.transpose(0, 1).reshape(columns.shape[1], -1))
    out = out.reshape(out.shape[0], b, h_out, w_out).transpose(0, 1)
    if bias is not None:
        out = out + bias.view(1, -1, 1, 1)
    return out.contiguous()


def csr_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    kernel_size: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
    sparse_input: bool = False,
) -> torch.Tensor:
    """``F.conv2d`` with the weight given by :func:`csr_weight` (groups are in its blocks).

    Args:
        x: ``(B, C_in, H, W)``, zero-padded by ``padding`` on both sides.
        weight: CSR ``(C_out, C_in * kh * kw)``.
        sparse_input: multiply by the unfolded input as CSR as well (only without a gradient to ``x``).

    Returns:
        ``(B, C_out, H_out, W_out)``.
    """
    return lowered_conv2d(
        x, lambda columns: sparse_product(weight, columns, sparse_input), bias, kernel_size, stride, padding, dilation
    )
