"""The spectral path's contraction in tap form, for real (bfloat16/float16) bands.

The filter band is a sum over the kernel taps, ``W(f) = sum_t D[f, t] w_t`` (``D``: the
filter DFT, :func:`.contraction.filter_dft_matrix`; ``w_t``: the ``(Cout, Cin)`` weights of
tap ``t``). So the per-frequency products need no filter band at all:

- forward: ``Y(f) = X(f) conj(W(f))^T = sum_t (conj(D[f, t]) X(f)) w_t^T``;
- input gradient: ``Xbar(f) = G(f) W(f) = sum_t (D[f, t] G(f)) w_t``;
- weight gradient: ``wbar_t = Re sum_f A[t, f] G(f)^H X(f) = sum_f (a_f D[f, t] G(f))^T . X(f)``
  over real and imaginary parts, with ``A`` the tap adjoint (:func:`.contraction.tap_adjoint_matrix`,
  ``A[t, f] = a_f conj(D[f, t])``).

Each is one real GEMM whose rows are all frequencies, parts and samples (``2 F B``) and whose
inner dimension holds the taps: an im2col in the frequency domain, on the band's ``(F, 2, B, C)``
layout (:mod:`.spectral`) with no copy. It does ``taps / 2`` times the multiply-adds of the
per-frequency complex products, in GEMMs ``2 F`` times taller, and never builds the filter band
(``F x Cout x Cin``), which costs more than the products when the batch is small and the layer
wide: the FCN's 1D layers (:func:`tap_form_pays` decides).
"""

from __future__ import annotations

import math

import torch

from .band import Band
from .shape import ConvShape
from .spectral import chunks

__all__ = ["tap_form_pays", "tap_gradients", "tap_output_band"]

# Measured on the FCN's layers (FiftyWords, batch 16, bf16, 1 thread, AMD EPYC with avx512_bf16):
# bf16 GEMMs with 2 F B rows ran at about 450 GFLOP/s and the per-frequency products at 290;
# building a filter band cost about 0.43 ns per (frequency, Cin Cout) entry, three times a step
# (forward, input gradient, the weight gradient's taps).
_TALL_GEMM_FLOPS_PER_NS = 450.0
_FREQUENCY_GEMM_FLOPS_PER_NS = 290.0
_FILTER_BAND_NS = 1.3


def tap_form_pays(shape: ConvShape, band: Band) -> bool:
    """Whether a training step of a 1D, ungrouped layer in bfloat16/float16 costs less on the
    spectral path in tap form than with a filter band (per frequency and ``Cin Cout`` entry:
    ``12 T B`` FLOPs in tall GEMMs against ``24 B`` in per-frequency ones plus building the band)
    and than on the direct path (the tap form's GEMMs have ``2 F`` rows per sample where the
    direct convolution has ``L_out``; 0.8 leaves room for the transforms). 2D layers keep the
    filter band: their ``T = 9`` taps make the tap form's GEMMs 4.5 times the products."""
    if band.n_h != 1 or shape.groups != 1 or band.is_full:  # 1D (or a 2D layer on one row)
        return False
    taps, batch = math.prod(shape.kernel), shape.batch
    tap_form = 12 * taps * batch / _TALL_GEMM_FLOPS_PER_NS
    filter_band = 24 * batch / _FREQUENCY_GEMM_FLOPS_PER_NS + _FILTER_BAND_NS
    return tap_form < filter_band and 2 * band.cols < 0.8 * shape.output_size[-1]


def _phased(z: torch.Tensor, phases: torch.Tensor) -> torch.Tensor:
    """``phases[f, t] * Z[f]`` for every tap: ``z`` ``(f, 2, B, C)`` real parts, ``phases``
    ``(f, T)`` complex -> ``(f, 2, B, T, C)`` real parts (``2 f B`` rows of ``T C``)."""
    pr, pi = (p.to(z.dtype)[:, None, :, None] for p in (phases.real, phases.imag))  # (f, 1, T, 1)
    zr, zi = z[:, 0, :, None, :], z[:, 1, :, None, :]  # (f, B, 1, C)
    out = z.new_empty(z.shape[0], 2, z.shape[2], phases.shape[1], z.shape[3])
    torch.mul(zr, pr, out=out[:, 0]).addcmul_(zi, pi, value=-1)  # (pr + i pi)(zr + i zi)
    torch.mul(zi, pr, out=out[:, 1]).addcmul_(zr, pi)
    return out


def _tap_major(weight: torch.Tensor, transposed: bool) -> torch.Tensor:
    """The weight ``(Cout, Cin, kh, kw)`` as ``(Cout, T Cin)`` (or ``(T Cout, Cin)`` if ``transposed``)."""
    if transposed:
        return weight.flatten(2).permute(2, 0, 1).reshape(-1, weight.shape[1])
    return weight.flatten(2).transpose(1, 2).reshape(weight.shape[0], -1)


def _frequency_chunks(band: torch.Tensor, taps: int) -> list[slice]:
    """Frequencies in chunks whose phased band (``taps`` times the band's) is about ``CHUNK_BYTES``."""
    return chunks(band.shape[0], 2 * band.shape[2] * band.shape[3] * taps * band.element_size())


def tap_output_band(x_band: torch.Tensor, weight: torch.Tensor, dft: torch.Tensor) -> torch.Tensor:
    """``Y(f) = X(f) conj(W(f))^T``: ``x_band`` ``(F, 2, B, Cin)``, ``weight`` ``(Cout, Cin, kh, kw)``
    in the band's dtype, ``dft`` ``(F, kh kw)`` complex -> ``(F, 2, B, Cout)``."""
    f_all, _, b, _ = x_band.shape
    w = _tap_major(weight, transposed=False).t()  # (T Cin, Cout), read transposed in place
    y = x_band.new_empty(f_all, 2, b, weight.shape[0])
    for f in _frequency_chunks(x_band, dft.shape[1]):
        phased = _phased(x_band[f], dft[f].conj())
        torch.mm(phased.view(-1, w.shape[0]), w, out=y[f].view(-1, w.shape[1]))
    return y


def tap_gradients(
    g_band: torch.Tensor,
    x_band: torch.Tensor | None,
    weight: torch.Tensor,
    dft: torch.Tensor,
    scale: torch.Tensor,
    need_x: bool,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The input gradient's band ``Xbar(f) = G(f) W(f)`` ``(F, 2, B, Cin)`` if ``need_x``, and
    with ``x_band`` the weight gradient ``(Cout, Cin, kh, kw)`` in float32, from one phased
    ``G`` per chunk.

    ``g_band`` ``(F, 2, B, Cout)``; ``scale`` ``(F,)``: the tap adjoint's frequency weights
    ``a_f`` (:func:`.contraction.adjoint_weights`).
    """
    taps = dft.shape[1]
    scale = scale.to(g_band.device, g_band.dtype)
    w = _tap_major(weight, transposed=True)  # (T Cout, Cin)
    x_bar = g_band.new_empty(*g_band.shape[:3], weight.shape[1]) if need_x else None
    grad = torch.zeros(w.shape, dtype=torch.float32, device=w.device) if x_band is not None else None
    for f in _frequency_chunks(g_band, taps):
        phased = _phased(g_band[f], dft[f]).view(-1, w.shape[0])  # (2 f B, T Cout)
        if x_bar is not None:
            torch.mm(phased, w, out=x_bar[f].view(-1, w.shape[1]))
        if grad is not None and x_band is not None:
            x = x_band[f] * scale[f, None, None, None]
            grad += phased.t() @ x.view(-1, w.shape[1])  # one GEMM in the band's dtype, float32 accumulation
    if grad is None:
        return x_bar, None
    grad_w = grad.view(taps, weight.shape[0], weight.shape[1]).permute(1, 2, 0)
    return x_bar, grad_w.reshape(weight.shape)
