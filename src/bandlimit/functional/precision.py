"""The dtype a band-limited call computes in.

float32 and float64 calls compute in their own dtype. A bfloat16 or float16 call (an input of
that dtype, or any call under autocast) runs its transforms and contractions as real GEMMs in
that dtype, with float32 accumulation as oneDNN and cuBLAS do, and keeps its band in it, where
the device multiplies that dtype natively: on CUDA, and on CPUs with ``avx512_bf16`` or
``amx_bf16`` (bfloat16) or ``avx512_fp16`` or ``amx_fp16`` (float16). Elsewhere the CPU emulates
the low-precision GEMMs (measured 2.4x slower than float32 with oneDNN limited to AVX-512
without bf16), and the call computes in float32 as it always did. Large grids, whose
transforms are FFTs (there is no half-type FFT), transform in float32, and compute in the low
precision only on the direct path (the plan decides, :mod:`.plan`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

import torch

from ..checks import check_choice

__all__ = [
    "LOW_PRECISION",
    "complex_dtype",
    "compute_dtype",
    "cpu_flags",
    "low_precision",
    "native_low_precision",
    "precision_mode",
    "spectrum_dtype",
]

LOW_PRECISION = (torch.float16, torch.bfloat16)

_CPU_FLAGS = {torch.bfloat16: ("avx512_bf16", "amx_bf16"), torch.float16: ("avx512_fp16", "amx_fp16")}
_MODES = ("auto", "always", "never")
_mode: ContextVar[str] = ContextVar("bandlimit_low_precision", default="auto")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (empty where ``/proc/cpuinfo`` is not readable)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_low_precision(dtype: torch.dtype, device_type: str) -> bool:
    """Whether ``device_type`` multiplies ``dtype`` (bfloat16 or float16) natively."""
    if dtype not in LOW_PRECISION:
        return False
    if device_type == "cuda":
        return True
    return device_type == "cpu" and not cpu_flags().isdisjoint(_CPU_FLAGS[dtype])


@contextmanager
def low_precision(mode: str) -> Iterator[None]:
    """Inside the block, bfloat16 and float16 calls compute in their own dtype ``"always"``,
    ``"never"`` (in float32), or where the device has it natively (``"auto"``, the default).
    For tests and for measuring emulated GEMMs against float32."""
    token = _mode.set(check_choice(mode, "mode", _MODES))
    try:
        yield
    finally:
        _mode.reset(token)


def precision_mode() -> str:
    """The mode :func:`low_precision` set for this context (``"auto"`` by default)."""
    return _mode.get()


def compute_dtype(dtype: torch.dtype, device_type: str, mode: str = "auto") -> torch.dtype:
    """The dtype a call on ``dtype`` inputs computes in; ``mode``: as :func:`low_precision` sets it."""
    if dtype not in LOW_PRECISION:
        return dtype
    native = mode == "always" or (mode == "auto" and native_low_precision(dtype, device_type))
    return dtype if native else torch.float32


def complex_dtype(dtype: torch.dtype) -> torch.dtype:
    """The complex dtype that holds spectra of a real ``dtype`` (complex128 for float64)."""
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def spectrum_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype of a band of ``dtype`` inputs: complex, or ``dtype`` itself for bfloat16/float16."""
    return dtype if dtype in LOW_PRECISION else complex_dtype(dtype)
