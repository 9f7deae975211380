"""MNIST-1D: generated offline by the mnist1d package, cached on disk only when root is given."""

import random

import numpy as np
import pytest
import torch

from bandlimit.data import DatasetNotFoundError, load_dataset
from bandlimit.data import mnist1d as mnist1d_source


@pytest.fixture(scope="module")
def generated():
    """One real generation for the whole module (it takes seconds), with the global RNG draws after it."""
    pytest.importorskip("mnist1d")
    mnist1d_source._generate.cache_clear()
    random.seed(123)
    np.random.seed(123)
    splits = load_dataset("mnist1d")
    return splits, (random.random(), np.random.rand())


@pytest.mark.slow
def test_shapes_and_classes(generated):
    (train, test, info), _ = generated
    assert (info.name, info.in_channels, info.num_classes, info.input_shape) == ("mnist1d", 1, 10, (40,))
    assert train.tensors[0].shape == (4000, 1, 40) and test.tensors[0].shape == (1000, 1, 40)
    assert train.tensors[0].dtype == torch.float32 and train.tensors[1].dtype == torch.int64
    assert set(train.tensors[1].tolist()) == set(range(10))
    # The generator standardises the whole set, so train alone is close to N(0, 1).
    assert abs(train.tensors[0].mean().item()) < 0.1 and abs(train.tensors[0].std().item() - 1) < 0.1


@pytest.mark.slow
def test_generation_is_the_seeded_benchmark(generated):
    (train, test, _), _ = generated
    # Fixed by the package's own seed (42), whatever the caller's RNG state.
    assert train.tensors[1][:8].tolist() == [2, 6, 4, 5, 6, 6, 6, 0]
    assert test.tensors[1][:8].tolist() == [2, 6, 3, 9, 4, 3, 1, 9]


@pytest.mark.slow
def test_generation_leaves_global_rngs_alone(generated):
    _, draws_after = generated
    random.seed(123)
    np.random.seed(123)
    assert draws_after == (random.random(), np.random.rand())


@pytest.mark.slow
def test_cache_in_root(generated, tmp_path, monkeypatch):
    load_dataset("mnist1d", root=tmp_path)
    cache = tmp_path / "mnist1d" / "mnist1d.npz"
    assert cache.is_file()

    def no_generation():
        raise AssertionError("should have read the cache")

    monkeypatch.setattr(mnist1d_source, "_generate", no_generation)
    train, test, _ = load_dataset("mnist1d", root=tmp_path, limit=7)
    assert len(train) == 7 and len(test) == 7


@pytest.mark.slow
def test_tensors_do_not_share_memory_with_the_cache(generated):
    train, _, _ = load_dataset("mnist1d")  # from the in-process cache
    train.tensors[1][0] = 99  # must not leak into the next call
    again, _, _ = load_dataset("mnist1d")
    assert again.tensors[1][0] != 99


def test_missing_package(tmp_path, monkeypatch):
    def missing():
        raise ImportError("No module named 'mnist1d'")

    monkeypatch.setattr(mnist1d_source, "_generate", missing)
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("mnist1d", root=tmp_path)
    text = str(err.value)
    assert "\n" not in text and "pip install mnist1d" in text
    assert str(tmp_path / "mnist1d" / "mnist1d.npz") in text
