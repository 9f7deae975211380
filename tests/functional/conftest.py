"""Fixtures shared by the tests of the band-limited operations."""

import pytest


@pytest.fixture
def fft_path(monkeypatch):
    """Force the torch.fft transforms that large grids use (small grids use DFT GEMMs)."""
    from bandlimit.functional import spectral

    monkeypatch.setattr(spectral, "GEMM_MAX_GRID", 0)


@pytest.fixture(params=["spectral", "direct"])
def conv_path(request):
    """Run the test on each of the layer's two paths (each call otherwise takes the cheaper one)."""
    import bandlimit.functional as BF

    with BF.forced_path(request.param):
        yield request.param
