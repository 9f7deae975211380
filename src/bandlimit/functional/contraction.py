"""The spectral path's channel contraction, and the filter's DFT it contracts with: per frequency
(and group) a complex matrix product,
``X (F, B, Cin)``, ``W (F, Cout, Cin_g)``, ``G (F, B, Cout)``, with the filter's band built in
frequency chunks so that its spectrum never takes more than about ``CHUNK_BYTES``.

In bfloat16/float16 the bands are real, ``(F, 2, B, C)`` (:mod:`.spectral`), and so is a
filter band, ``(2, F, Cout, Cin_g)`` (each part whole, so that a GEMM reads it, or its
transpose, in place): the real and imaginary parts as matrices. A complex product is then four
real GEMMs of the parts (:func:`_complex_matmul`), with no layout copies. The filter band's
parts come from one 2D GEMM of the kernel taps as the weight lays them out."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .band import Band
from .precision import complex_dtype
from .spectral import chunks, column_weights

__all__ = [
    "adjoint_weights",
    "empty_band",
    "filter_band",
    "filter_band_conj",
    "filter_band_gradients",
    "filter_dft_matrix",
    "frequency_chunks",
    "input_grad_band",
    "kernel_taps",
    "output_band",
    "parts_dft",
    "tap_adjoint_matrix",
    "weight_grad_band",
]


def _grouped(t: torch.Tensor, groups: int) -> torch.Tensor:
    """(F, N, C) -> (F, groups, N, C / groups)."""
    return torch.unflatten(t, 2, (groups, -1)).transpose(1, 2) if groups > 1 else t.unsqueeze(1)


def _ungrouped(t: torch.Tensor) -> torch.Tensor:
    """(F, groups, N, C_g) -> (F, N, groups * C_g)."""
    return t.transpose(1, 2).flatten(2)


def _parts(band: torch.Tensor, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A real band ``(F, 2, N, C)``'s parts, grouped: ``(F, groups, N, C / groups)`` each."""
    return _grouped(band[:, 0], groups), _grouped(band[:, 1], groups)


def _complex_matmul(
    a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor], conj_a: bool = False,
    conj_b: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """``(re, im)`` of ``op(a) @ op(b)`` from the parts ``(re, im)`` of ``a`` and ``b``, ``op``
    conjugating where asked (one of the two at most): four real products."""
    (ar, ai), (br, bi) = (tuple(t.flatten(0, 1) for t in pair) for pair in (a, b))  # (F g, rows, cols)
    sign = -1 if conj_a or conj_b else 1
    # The second product is accumulated onto the first inside one GEMM (one rounding in bf16).
    re = torch.baddbmm(torch.bmm(ar, br), ai, bi, alpha=-sign)
    if conj_b:  # (ar + i ai)(br - i bi)
        im = torch.baddbmm(torch.bmm(ai, br), ar, bi, alpha=-1)
    else:
        im = torch.baddbmm(torch.bmm(ar, bi), ai, br, alpha=sign)
    return re.view(*a[0].shape[:-1], -1), im.view(*a[0].shape[:-1], -1)


def _stacked(parts: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Grouped parts ``(F, g, N, C_g)`` back into one real band ``(F, 2, N, g * C_g)``."""
    return torch.stack((_ungrouped(parts[0]), _ungrouped(parts[1])), dim=1)


def empty_band(like: torch.Tensor, channels: int) -> torch.Tensor:
    """An uninitialised band like ``like`` (same frequencies, batch, dtype) with ``channels``
    channels: ``(F, B, C)`` complex, or ``(F, 2, B, C)`` real."""
    if like.is_complex():
        return like.new_empty(like.shape[0], like.shape[1], channels)
    return like.new_empty(like.shape[0], 2, like.shape[2], channels)


def output_band(x_band: torch.Tensor, w_conj: torch.Tensor, groups: int) -> torch.Tensor:
    """``Y[f, b, o] = sum_i X[f, b, i] * Wc[f, o, i]`` with ``Wc = conj(W)`` -> (F, B, Cout).

    Real bands: ``w_conj`` holds the parts of ``W`` itself, ``(2, F, Cout, Cin_g)``
    (:func:`filter_band_conj`); the GEMMs read their transposes in place."""
    if x_band.is_complex():
        w = torch.unflatten(w_conj, 1, (groups, -1))  # (F, g, Cout_g, Cin_g)
        return _ungrouped(_grouped(x_band, groups) @ w.transpose(-1, -2))
    w = torch.unflatten(w_conj, 2, (groups, -1)).transpose(-1, -2)  # (2, F, g, Cin_g, Cout_g)
    return _stacked(_complex_matmul(_parts(x_band, groups), (w[0], w[1]), conj_b=True))


def input_grad_band(g_band: torch.Tensor, w_band: torch.Tensor, groups: int) -> torch.Tensor:
    """``Xbar[f, b, i] = sum_o G[f, b, o] * W[f, o, i]`` -> (F, B, Cin) (real bands: ``w_band``
    ``(F, 2, Cout, Cin_g)``)."""
    if g_band.is_complex():
        w = torch.unflatten(w_band, 1, (groups, -1))
        return _ungrouped(_grouped(g_band, groups) @ w)
    w = torch.unflatten(w_band, 2, (groups, -1))  # (2, F, g, Cout_g, Cin_g)
    return _stacked(_complex_matmul(_parts(g_band, groups), (w[0], w[1])))


def weight_grad_band(x_band: torch.Tensor, g_band: torch.Tensor, groups: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``Wbar[f, o, i] = sum_b conj(G[f, b, o]) * X[f, b, i]``: its real and imaginary parts,
    ``(F, Cout * Cin_g)`` each (in the bands' dtype for real bands)."""
    if g_band.is_complex():
        w = (_grouped(g_band, groups).conj().transpose(-1, -2) @ _grouped(x_band, groups)).flatten(1)
        return w.real, w.imag
    gr, gi = _parts(g_band, groups)
    re, im = _complex_matmul((gr.mT, gi.mT), _parts(x_band, groups), conj_a=True)  # (F, g, Cout_g, Cin_g)
    return re.flatten(1), im.flatten(1)


def frequency_chunks(n_freq: int, weight: torch.Tensor, dtype: torch.dtype) -> list[slice]:
    """Frequencies in chunks whose filter spectrum (f x Cout x Cin_g of ``dtype``, or its two
    real parts) is about ``CHUNK_BYTES``, and of at least as many frequencies as the kernel has
    taps: each chunk's filter DFT reads all the taps, and the weight gradient writes them all,
    so smaller chunks of a wide layer would cost more memory traffic than their GEMMs save
    (a 512x512 3x3 layer is 1 MiB per frequency in bfloat16, 2 MiB in complex64: at most 9 and
    18 MiB per chunk, beside its 9 MiB float32 weight)."""
    entry = torch.empty((), dtype=dtype).element_size() * (1 if dtype.is_complex else 2)
    return chunks(n_freq, weight.shape[0] * weight.shape[1] * entry, minimum=weight.shape[-2] * weight.shape[-1])


def filter_band_conj(
    weight: torch.Tensor, band: Band, dilation: tuple[int, int], dtype: torch.dtype, f: slice = slice(None)
) -> torch.Tensor:
    """``conj`` of the filter's band at frequencies ``f``: ``(f, Cout, Cin_g)`` of complex
    ``dtype``; for a real ``dtype`` (bfloat16/float16), the parts of the band itself,
    ``(2, f, Cout, Cin_g)``, one real GEMM in ``dtype`` (:func:`parts_dft`)."""
    if not dtype.is_complex:
        parts = parts_dft(filter_dft_matrix(band, weight.shape[-2:], dilation, weight)[f]).to(dtype)
        return _filter_parts(parts, kernel_taps(weight, dtype), weight)
    dft_conj = filter_dft_matrix(band, weight.shape[-2:], dilation, weight)[f].conj().resolve_conj()
    return torch.unflatten(dft_conj @ kernel_taps(weight, dtype), 1, weight.shape[:2])


def filter_band(
    cached: torch.Tensor | None,
    dft: torch.Tensor,
    parts: torch.Tensor | None,
    taps: torch.Tensor,
    weight: torch.Tensor,
    f: slice,
) -> torch.Tensor:
    """The filter's band ``W`` at frequencies ``f``, as the input gradient contracts it:
    ``(f, Cout, Cin_g)`` complex, or its parts ``(2, f, Cout, Cin_g)`` (``parts``:
    :func:`parts_dft` of ``dft``, for real bands); from the cache (which holds ``conj(W)``, or
    the parts of ``W``) if there is one."""
    if cached is not None:
        return cached[f].conj() if cached.is_complex() else cached[:, f]
    if parts is not None:
        return _filter_parts(parts[:, f], taps, weight)
    return torch.unflatten(dft[f] @ taps, 1, weight.shape[:2])


def parts_dft(dft: torch.Tensor) -> torch.Tensor:
    """The filter DFT ``(F, taps)`` as its real parts ``(2, F, taps)``: times the kernel taps,
    the filter band's parts."""
    return torch.stack((dft.real, dft.imag))


def _filter_parts(parts: torch.Tensor, taps: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``parts (2, f, taps) @ taps (taps, Cout Cin_g)`` as the filter band's parts ``(2, f, Cout, Cin_g)``:
    one 2D GEMM (a batched one would copy the taps once per part), reading the taps transposed in place."""
    return torch.mm(parts.reshape(-1, parts.shape[-1]), taps).view(2, -1, *weight.shape[:2])


def filter_dft_matrix(
    band: Band, kernel_size: Sequence[int], dilation: tuple[int, int], like: torch.Tensor
) -> torch.Tensor:
    """The 2D DFT from the (dilated) kernel taps to the band: ``(F, kh * kw)``, complex.

    Entry ``[(c, r), (i, j)] = exp(-2 pi i (row_r * i * dh / Nh + c * j * dw / Nw))``.
    """
    rows = _dft_matrix(band.rows, band.n_h, kernel_size[0], dilation[0], like.device)  # (R, kh)
    cols = _dft_matrix(tuple(range(band.cols)), band.n_w, kernel_size[1], dilation[1], like.device)  # (cols, kw)
    matrix = (cols[:, None, None, :] * rows[None, :, :, None]).reshape(cols.shape[0] * rows.shape[0], -1)
    return matrix.to(complex_dtype(like.dtype))


def _dft_matrix(freqs: tuple[int, ...], n: int, taps: int, step: int, device: torch.device) -> torch.Tensor:
    """``E[f, k] = exp(-2 pi i freqs[f] * k * step / n)`` in complex128, from integer phases."""
    f = torch.tensor(freqs, dtype=torch.int64, device=device)
    k = torch.arange(taps, dtype=torch.int64, device=device) * step
    phase = torch.remainder(torch.outer(f, k), n).to(torch.float64) * (-2.0 * math.pi / n)
    return torch.polar(torch.ones_like(phase), phase)


def kernel_taps(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The kernel as a ``(kh * kw, Cout * Cin_g)`` matrix of ``dtype`` (complex), ready for a DFT GEMM.

    ``filter_dft_matrix(...) @ kernel_taps(w)`` is the band of ``rfft2`` of the dilated kernel
    zero-padded to the grid, ``(F, Cout * Cin_g)``: the kernel has only ``kh * kw`` nonzeros,
    so a small GEMM replaces a full-size FFT of a mostly-zero array.
    """
    return weight.flatten(2).flatten(0, 1).t().to(dtype)


def tap_adjoint_matrix(dft: torch.Tensor, band: Band) -> torch.Tensor:
    """``(kh * kw, F)`` matrix ``A`` such that ``Re(A @ Z)`` is ``irfft2`` of the band-limited
    Hermitian spectrum ``Z`` (``(F, N)``) at the kernel taps: the adjoint of the band
    projection composed with the filter DFT, as used for the weight gradient.
    """
    weights = adjoint_weights(band).to(dft.real.dtype).to(dft.device)
    return (dft.conj() * weights[:, None]).t()


def adjoint_weights(band: Band) -> torch.Tensor:
    """``a_f`` ``(F,)`` (float64): the weight of each band frequency in ``irfft2``, its rfft
    column weight over the grid size."""
    return (column_weights(band) / (band.n_h * band.n_w)).repeat_interleave(band.shape[0])


def filter_band_gradients(
    g_band: torch.Tensor,
    x_band: torch.Tensor | None,
    weight: torch.Tensor,
    dft: torch.Tensor,
    band: Band,
    groups: int,
    cached: torch.Tensor | None,
    need_x: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The input gradient's band ``(F, B, Cin)`` (if ``need_x``) and, with ``x_band``, the weight
    gradient (float32; float64 for float64), contracting with the filter band in frequency
    chunks (``cached``: the filter cache's band, if any; ``dft``: :func:`filter_dft_matrix`)."""
    real = not g_band.is_complex()  # a half-type band: real and imaginary parts as matrices
    taps = kernel_taps(weight, g_band.dtype if real else dft.dtype)
    parts = parts_dft(dft).to(g_band.dtype) if real else None
    x_bar = empty_band(g_band, weight.shape[1] * groups) if need_x else None
    # The weight gradient's taps: half types accumulate them as the weight lays them out,
    # (Cout Cin_g, kh kw), so no transposing copy follows; MKL's sgemm is much faster writing
    # (kh kw, Cout Cin_g), which float32 and float64 keep.
    need_w = x_band is not None
    shape = taps.shape[::-1] if real else taps.shape
    grad_taps = torch.zeros(shape, dtype=dft.real.dtype, device=g_band.device) if need_w else None
    adjoint = tap_adjoint_matrix(dft, band) if need_w else None  # (kh*kw, F)
    for f in frequency_chunks(dft.shape[0], weight, g_band.dtype):
        if x_bar is not None:
            w_band = filter_band(cached, dft, parts, taps, weight, f)  # W (or its parts)
            x_bar[f] = input_grad_band(g_band[f], w_band, groups)
        if x_band is not None and grad_taps is not None and adjoint is not None:
            re, im = weight_grad_band(x_band[f], g_band[f], groups)  # (f, Cout Cin_g) each
            # Re(A Wbar) = Ar re - Ai im, with no complex temporary; half types transposed, as a
            # GEMM pair in their dtype (float32 accumulation) added in float32.
            ar, ai = adjoint.real[:, f], adjoint.imag[:, f]  # (kh kw, f)
            if real:
                ar, ai = ar.t().to(re.dtype), ai.t().to(re.dtype)
                grad_taps += torch.addmm(torch.mm(re.t(), ar), im.t(), ai, alpha=-1)
            else:
                grad_taps.addmm_(ar, re).addmm_(ai, im, alpha=-1)
    if grad_taps is None:
        return x_bar, None
    return x_bar, (grad_taps if real else grad_taps.t()).reshape(weight.shape)
