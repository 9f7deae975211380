"""Bytes kept alive for backward, counted exactly with saved_tensors_hooks."""

import functools

import pytest
import torch
import torch.nn.functional as F

import bandlimit.functional as BF


def saved_bytes(fn, *tensors) -> int:
    """Bytes of the distinct tensors the autograd graph of ``fn(*tensors)`` saves for backward."""
    seen: dict[tuple[int, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[(t.data_ptr(), t.numel())] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(*tensors)
    return sum(seen.values())


@pytest.fixture(scope="module")
def layer():
    x = torch.randn(32, 64, 32, 32, requires_grad=True)
    w = torch.randn(64, 64, 3, 3, requires_grad=True)
    return x, w


def test_saved_bytes_fall_with_rate(layer):
    counts = [saved_bytes(lambda x, w, r=r: BF.conv2d(x, w, padding=1, rate=r), *layer) for r in (0.0, 0.3, 0.5, 0.85)]
    assert counts == sorted(counts, reverse=True) and len(set(counts)) == 4


def test_rate_half_saves_at_most_six_tenths_of_f_conv2d(layer):
    reference = saved_bytes(lambda x, w: F.conv2d(x, w, padding=1), *layer)
    assert reference == layer[0].numel() * 4 + layer[1].numel() * 4  # input and weight
    ours = saved_bytes(lambda x, w: BF.conv2d(x, w, padding=1, rate=0.5), *layer)
    assert ours <= 0.6 * reference


def test_only_the_band_and_the_weight_are_saved(layer):
    x, w = layer
    band = BF.spectral_band((32, 32), (3, 3), padding=1, rate=0.5)
    rows, cols = band.shape
    expected = x.shape[0] * x.shape[1] * rows * cols * 8 + w.numel() * 4  # complex64 band + weight
    assert saved_bytes(lambda x, w: BF.conv2d(x, w, padding=1, rate=0.5), x, w) == expected


@pytest.mark.parametrize("path", ["gemm", "fft"])
def test_the_saved_band_owns_its_memory_on_both_paths(monkeypatch, path):
    """A saved band that is a view of the whole spectrum would keep all of it alive."""
    from bandlimit.functional import spectral
    from bandlimit.memory import count_saved_bytes

    if path == "fft":
        monkeypatch.setattr(spectral, "GEMM_MAX_GRID", 0)
    x = torch.randn(4, 8, 40, requires_grad=True)
    w = torch.randn(8, 8, 5)
    with count_saved_bytes() as saved:
        BF.conv1d(x, w, padding=2, rate=0.5)
    band = BF.spectral_band((40,), (5,), padding=2, rate=0.5)
    assert saved.total == band.kept * 4 * 8 * 8 + w.numel() * 4  # complex64 band + the weight


@pytest.mark.parametrize(
    ("size", "rate"),
    [((32, 32), 0.0), ((4, 4), 0.5), ((8, 8), 0.3)],  # the band holds more reals than the input plane
)
def test_a_band_larger_than_the_input_is_not_saved_the_input_is(size, rate):
    """Then the layer saves what F.conv2d saves, and after a ReLU that is free: the ReLU saves it too."""
    x = torch.randn(4, 16, *size, requires_grad=True)
    w = torch.randn(16, 16, 3, 3, requires_grad=True)
    assert BF.spectral_band(size, (3, 3), padding=1, rate=rate).outweighs(size)

    def chain(conv):
        return lambda x, w: conv(torch.relu(x * 2), w, padding=1)

    reference = saved_bytes(chain(F.conv2d), x, w)
    assert saved_bytes(chain(functools.partial(BF.conv2d, rate=rate)), x, w) == reference


def test_writing_the_saved_input_in_place_is_refused_as_for_f_conv2d():
    for conv in (F.conv2d, functools.partial(BF.conv2d, rate=0.0)):
        x = torch.randn(2, 3, 8, 8, requires_grad=True)
        h = x * 1
        y = conv(h, torch.randn(4, 3, 3, 3, requires_grad=True), padding=1)
        h.add_(1)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()
