"""Band-restricted transforms: forward and inverse DFTs computed only where the band lives.

Spatial arrays are ``(B, C, H, W)``. A band is stored frequency-major as ``(F, B, C)``, with
``F = cols * rows`` ordered (column, row) and rows in ascending signed frequency
(``-Kr..Kr``, see :attr:`Band.rows`): the channel contraction is then one batched matrix
product over frequencies with no layout copies. There is no complex bfloat16 or float16: a
band of a low-precision input is real, ``(F, 2, B, C)``, the real and imaginary parts of
each frequency as two matrices, and its contraction is four real GEMMs (:mod:`.contraction`).

On the small grids of CNN layers (up to ``GEMM_MAX_GRID`` per axis) the transforms are dense
products with DFT matrices restricted to the band: they prune the transform for free, fold
the zero padding into the phases, and run on GEMM, which is far faster here than an FFT of an
awkward size. Larger grids use ``torch.fft``; :func:`uses_gemm` is the one place that decides.

Each transform path has its FLOP count beside it, counted as the path runs: a real
multiply-add is 2 FLOPs (a real GEMM of ``(m, k) @ (k, n)`` is ``2 m n k``), a complex FFT of
length n is ``5 n log2 n`` and a real one half that. Elementwise work is not counted: the adds
that combine GEMM partial results, and the FFT inverse's phase ramp (one complex multiply per
output row and kept column, small next to the transforms).
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

from .band import Band
from .precision import LOW_PRECISION, spectrum_dtype

__all__ = [
    "GEMM_MAX_GRID",
    "band_irfft2",
    "band_irfft2_flops",
    "band_rfft2",
    "band_rfft2_flops",
    "column_weights",
    "uses_gemm",
]

# Above this the transforms use torch.fft. Raised to 512 for the FCN's 280-point 1D grid
# (batch 16, 1 thread, AVX-512), the GEMM transforms changed the layers' forward+backward by
# -10% to +24% against torch.fft at rates 0.5 and 0.85: no gain, so 1D grids keep the FFT.
GEMM_MAX_GRID = 128
# In bf16/fp16 (no half-type FFT) 1D grids up to 4x that use GEMMs: the FCN's FiftyWords step
# (bf16, batch 16, 1 thread, avx512_bf16) went from 2.39x to 1.77x of plain bf16 at rate 0.5
# and from 1.79x to 0.92x at rate 0.85.
HALF_1D_GEMM_FACTOR = 4


def uses_gemm(band: Band, dtype: torch.dtype = torch.float32) -> bool:
    """True if the transforms of ``band`` on ``dtype`` data run as DFT GEMMs, False if they use
    ``torch.fft``. FLOPs are counted for float32's choice.

    Read at call time, so tests can force the FFT path by setting ``GEMM_MAX_GRID`` to 0.
    """
    half_1d = dtype in LOW_PRECISION and band.n_h == 1
    return max(band.n_h, band.n_w) <= GEMM_MAX_GRID * (HALF_1D_GEMM_FACTOR if half_1d else 1)


def _fft_flops(n: int) -> float:
    """FLOPs of a complex FFT of length ``n`` (the radix-2 count, used for every size)."""
    return 5.0 * n * math.log2(n) if n > 1 else 0.0


def column_weights(band: Band) -> torch.Tensor:
    """``alpha_c``: rfft columns 1..Nw/2-1 stand for themselves and their conjugate mirror; DC and Nyquist once."""
    weights = torch.full((band.cols,), 2.0, dtype=torch.float64)
    weights[0] = 1.0
    if band.n_w % 2 == 0 and band.cols == band.n_w // 2 + 1:
        weights[-1] = 1.0
    return weights


@lru_cache(maxsize=256)
def _matrices(
    band: Band, kind: str, size: int, offset: int, step: int, dtype: torch.dtype, device: str
) -> torch.Tensor:
    """Real DFT matrices, built in float64 from integer phases (exact to rounding) and cached.

    Spatial positions are ``offset + step * j`` for ``j < size``: a step other than 1 places the
    samples of a strided layer's output (or output gradient) on the grid.

    kinds:
        ``"cols"``: input columns to the band, ``(2 cols, size)``:
            rows ``[cos; -sin](2 pi c (j + offset) / Nw)``.
        ``"rows"``: input rows to the band, ``(2 R, size)``:
            rows ``[cos; sin](2 pi k_r (h + offset) / Nh)``.
        ``"inverse_rows"``: band rows to output rows on (re, im) planes, ``(2, 2 R, size)``:
            ``exp(+2 pi i k_r h / Nh) / Nh`` as ``[[cos; -sin], [sin; cos]]``.
        ``"inverse_cols"``: band to output columns, ``(2 cols, size)``:
            interleaved rows ``alpha_c [cos; -sin](2 pi c w / Nw) / Nw``.
    """
    if kind in ("rows", "inverse_rows"):
        freqs, n = torch.tensor(band.rows, dtype=torch.int64), band.n_h
    else:
        freqs, n = torch.arange(band.cols, dtype=torch.int64), band.n_w
    positions = torch.arange(size, dtype=torch.int64) * step + offset
    phase = torch.remainder(torch.outer(freqs, positions), n).to(torch.float64) * (2.0 * math.pi / n)
    cos, sin = torch.cos(phase), torch.sin(phase)
    if kind == "cols":
        matrix = torch.cat((cos, -sin))
    elif kind == "rows":
        matrix = torch.cat((cos, sin))
    elif kind == "inverse_rows":  # exp(+i phase) / Nh on (re, im) planes, per output part
        real_out = torch.cat((cos, -sin)) / n  # re = cos re - sin im
        imag_out = torch.cat((sin, cos)) / n  # im = sin re + cos im
        matrix = torch.stack((real_out, imag_out))  # (2, 2 R, size)
    else:
        weights = (column_weights(band) / n)[:, None]
        matrix = torch.stack((weights * cos, -weights * sin), dim=1).flatten(0, 1)
    return matrix.to(dtype=dtype, device=device)


def band_rfft2(
    x: torch.Tensor, band: Band, top: int = 0, left: int = 0, step: tuple[int, int] = (1, 1)
) -> torch.Tensor:
    """The band of ``rfft2`` of ``x`` placed at offset ``(top, left)`` of the zero grid.

    Args:
        x: real tensor ``(B, C, H, W)`` with ``top + (H - 1) * step[0] < Nh`` and likewise for W.
        top, left: zero padding before the input (the padding after it is implicit).
        step: grid distance between neighbouring samples of ``x`` (zeros between them are
            implicit): a strided layer's output gradient sits on the grid this way.

    Returns:
        Complex tensor ``(F, B, C)``, frequency-major (for a bfloat16/float16 ``x``, real
        ``(F, 2, B, C)``, see above).
    """
    if not uses_gemm(band, x.dtype):
        if x.dtype in LOW_PRECISION:  # no half-type FFTs: in float32, the band stored as the GEMMs store it
            z = _band_rfft2_fft(x.float(), band, top, left, step)
            return torch.stack((z.real, z.imag), dim=1).to(x.dtype)
        return _band_rfft2_fft(x, band, top, left, step)
    b, c, h, w = x.shape
    rows, cols = band.shape
    device = str(x.device)
    dw = _matrices(band, "cols", w, left, step[1], x.dtype, device)  # (2 cols, W)
    dh = _matrices(band, "rows", h, top, step[0], x.dtype, device)  # (2 R, H)
    planes = x.reshape(b * c, h, w)
    real = x.dtype in LOW_PRECISION
    out = torch.empty(cols, rows, *((2,) if real else ()), b * c, dtype=spectrum_dtype(x.dtype), device=x.device)
    re, im = (out[:, :, 0], out[:, :, 1]) if real else torch.view_as_real(out).unbind(-1)  # (cols, R, BC) each
    for chunk in chunks(b * c, 2 * cols * h * x.element_size()):
        n = chunk.stop - chunk.start
        p1 = dw @ planes[chunk].reshape(n * h, w).t()  # (2 cols, n H): column transform, H made the last axis
        if band.n_h == 1:  # a 1D layer: the one row's transform is the identity
            re[:, 0, chunk], im[:, 0, chunk] = p1[:cols], p1[cols:]
            continue
        # Row transform: a batched GEMM per (part, column) with n wide rows -> (2 cols, 2 R, n).
        p2 = torch.matmul(dh, p1.view(2 * cols, n, h).transpose(1, 2)).view(2, cols, 2, rows, n)
        re_w, im_w = p2[0], p2[1]  # parts of the column transform, each (cols, [cos|sin], R, n)
        # (cos - i sin)(A + iB) = (cos A + sin B) + i (cos B - sin A), written straight into (cols, R, BC).
        torch.add(re_w[:, 0], im_w[:, 1], out=re[:, :, chunk])
        torch.sub(im_w[:, 0], re_w[:, 1], out=im[:, :, chunk])
    return out.view(cols * rows, 2, b, c) if real else out.view(cols * rows, b, c)


# Work in chunks whose intermediate products are about this size: whole-batch intermediates (and
# whole filter spectra, F x Cout x Cin_g) are several times a layer's output, they made the layer's
# peak memory larger than F.conv2d's, and fresh allocations that large cost page faults here
# (26 ms of 29 ms to fill a fresh 37 MB buffer) and miss the caches.
CHUNK_BYTES = 2 << 20


def chunks(count: int, bytes_per_item: int, minimum: int = 1) -> list[slice]:
    """Slices of ``range(count)`` whose items take about :data:`CHUNK_BYTES` together, or
    ``minimum`` items if those take more."""
    step = max(minimum, CHUNK_BYTES // max(1, bytes_per_item))
    return [slice(start, min(start + step, count)) for start in range(0, count, step)]


def band_rfft2_flops(band: Band, planes: int, h: int, w: int, top: int = 0, step: int = 1) -> float:
    """FLOPs of :func:`band_rfft2` on ``planes = B * C`` inputs of size ``(h, w)`` placed ``top``
    rows down, ``step`` rows apart."""
    if not uses_gemm(band):
        return _band_rfft2_fft_flops(band, planes, top + (h - 1) * step + 1)
    rows, cols = band.shape
    column_gemm = 2.0 * (2 * cols) * w * (planes * h)  # (2 cols, W) @ (W, BCH)
    row_gemm = 2.0 * (2 * cols) * (2 * rows) * h * planes if band.n_h > 1 else 0.0  # 2 cols x (2R, H) @ (H, BC)
    return column_gemm + row_gemm


def _band_rfft2_fft(x: torch.Tensor, band: Band, top: int, left: int, step: tuple[int, int]) -> torch.Tensor:
    if step != (1, 1):  # the samples spread out on the grid, zeros between them
        spread = x.new_zeros(*x.shape[:2], (x.shape[2] - 1) * step[0] + 1, (x.shape[3] - 1) * step[1] + 1)
        spread[..., :: step[0], :: step[1]] = x
        return _band_rfft2_fft(spread, band, top, left, (1, 1))
    if top or left:
        x = F.pad(x, (left, 0, top, 0))  # the padding after the input is rfft's own zero fill
    z = torch.fft.rfft(x, n=band.n_w, dim=-1)[..., : band.cols]
    if band.n_h > 1:
        z = torch.fft.fft(z, n=band.n_h, dim=-2)
        z = torch.cat((z[..., band.n_h - band.high :, :], z[..., : band.low, :]), dim=-2)
    # A copy of the band alone: a view would keep the whole spectrum alive while it is saved.
    band_only: torch.Tensor = z.permute(3, 2, 0, 1).clone(memory_format=torch.contiguous_format)
    return band_only.view(-1, *x.shape[:2])


def _band_rfft2_fft_flops(band: Band, planes: int, grid_rows: int) -> float:
    """A real FFT of every grid row up to the last input row, a complex FFT of every kept column."""
    return planes * (grid_rows * _fft_flops(band.n_w) / 2 + band.cols * _fft_flops(band.n_h))


def band_irfft2(
    z: torch.Tensor,
    band: Band,
    out_h: int,
    out_w: int,
    top: int = 0,
    left: int = 0,
    step: tuple[int, int] = (1, 1),
) -> torch.Tensor:
    """Real ``irfft2`` on the grid of a spectrum that is zero outside the band, sampled.

    Args:
        z: complex tensor ``(F, B, C)``, frequency-major, Hermitian-consistent (or real
            ``(F, 2, B, C)`` in bfloat16/float16, see above).
        out_h, out_w: number of output samples per axis.
        top, left: where the samples start on the grid.
        step: grid distance between samples (a strided layer's stride). Only the samples are
            computed (on the ``torch.fft`` path, the grid up to the last one is, then sampled).

    Returns:
        Real tensor ``(B, C, out_h, out_w)``, a tensor of its own (not a view), so callers may
        modify it in place.
    """
    if not uses_gemm(band, z.dtype):
        if not z.is_complex():  # a half-type band (see band_rfft2)
            spectrum = torch.complex(z[:, 0].float(), z[:, 1].float())
            return _band_irfft2_fft(spectrum, band, out_h, out_w, top, left, step).to(z.dtype)
        return _band_irfft2_fft(z, band, out_h, out_w, top, left, step)
    rows, cols = band.shape
    if z.is_complex():
        b, c = z.shape[1:]
        parts = torch.view_as_real(z).view(cols, rows, b * c, 2).permute(0, 3, 1, 2)  # (cols, [re|im], R, BC)
    else:
        b, c = z.shape[2:]
        parts = z.view(cols, rows, 2, b * c).transpose(1, 2)
    device = str(z.device)
    e_rows = _matrices(band, "inverse_rows", out_h, top, step[0], parts.dtype, device)  # (2, 2R, out_h)
    e_cols = _matrices(band, "inverse_cols", out_w, left, step[1], parts.dtype, device).view(cols, 2, out_w)
    y = parts.new_empty(b, c, out_h, out_w)
    flat = y.view(b * c * out_h, out_w)
    for chunk in chunks(b * c, 2 * cols * max(rows, out_h) * parts.element_size()):
        n = chunk.stop - chunk.start
        if band.n_h == 1:  # a 1D layer: the one row's inverse transform is the identity
            re, im = parts[:, 0, 0, chunk], parts[:, 1, 0, chunk]  # (cols, n) each
        else:
            # Real and imaginary planes stacked per column: (cols, [re|im] x R, n), seen as (cols, n, 2R).
            planar = parts[..., chunk].reshape(cols, 2 * rows, n)
            # Rows to output rows, one output part at a time: (cols, n, out_h), output rows last.
            re, im = (torch.matmul(planar.transpose(1, 2), e_rows[part]).view(cols, -1) for part in (0, 1))
        # Columns to output columns, contracting (column, part): lands directly in (B, C, out_h, out_w).
        rows_out = flat[chunk.start * out_h : chunk.stop * out_h]
        torch.mm(re.t(), e_cols[:, 0], out=rows_out)
        rows_out.addmm_(im.t(), e_cols[:, 1])
    return y


def band_irfft2_flops(band: Band, planes: int, out_h: int, out_w: int, step: int = 1) -> float:
    """FLOPs of :func:`band_irfft2` of ``planes = B * C`` spectra to ``(out_h, out_w)`` samples
    ``step`` rows apart."""
    if not uses_gemm(band):
        return _band_irfft2_fft_flops(band, planes, (out_h - 1) * step + 1)
    rows, cols = band.shape
    row_gemms = 2 * (2.0 * (cols * planes) * (2 * rows) * out_h) if band.n_h > 1 else 0.0  # (cols BC, 2R) @ (2R, out_h)
    column_gemms = 2 * (2.0 * (planes * out_h) * cols * out_w)  # per input part: (BC out_h, cols) @ (cols, out_w)
    return row_gemms + column_gemms


def _band_irfft2_fft(
    z: torch.Tensor, band: Band, out_h: int, out_w: int, top: int, left: int, step: tuple[int, int]
) -> torch.Tensor:
    if step != (1, 1):  # the grid up to the last sample, then the samples
        spread = _band_irfft2_fft(z, band, (out_h - 1) * step[0] + 1, (out_w - 1) * step[1] + 1, top, left, (1, 1))
        return spread[..., :: step[0], :: step[1]].contiguous()
    rows, cols = band.shape
    _, b, c = z.shape
    z = z.view(cols, rows, b, c).permute(2, 3, 1, 0)  # (B, C, R, cols)
    if band.n_h > 1:
        # Rows are stored from frequency -high upwards: an inverse FFT of them (zero-filled at the
        # end) is the inverse of the band shifted by +high, undone by a phase ramp on the output.
        z = torch.fft.ifft(z, n=band.n_h, dim=-2)[..., top : top + out_h, :]
        if band.high:
            h = torch.arange(top, top + out_h, device=z.device, dtype=torch.float64)
            ramp = torch.polar(torch.ones_like(h), h * (-2.0 * math.pi * band.high / band.n_h))
            z = z * ramp.to(z.dtype)[:, None]
    y: torch.Tensor = torch.fft.irfft(z, n=band.n_w, dim=-1)  # zero-fills columns beyond the band
    # A crop is copied: no view of a larger tensor is returned (or kept alive).
    return y if (left, out_w) == (0, band.n_w) else y[..., left : left + out_w].contiguous()


def _band_irfft2_fft_flops(band: Band, planes: int, grid_rows: int) -> float:
    """A complex inverse FFT of every kept column, a real inverse FFT of every grid row computed."""
    return planes * (band.cols * _fft_flops(band.n_h) + grid_rows * _fft_flops(band.n_w) / 2)
