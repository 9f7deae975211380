"""Fixtures shared by the tests of the band-limited operations."""

import pytest


@pytest.fixture
def fft_path(monkeypatch):
    """Force the torch.fft transforms that large grids use (small grids use DFT GEMMs)."""
    from bandlimit.functional import spectral

    monkeypatch.setattr(spectral, "GEMM_MAX_GRID", 0)
