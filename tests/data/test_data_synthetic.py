"""Synthetic sinusoids: shapes, determinism, balance, and learnable by a small CNN."""

import pytest
import torch
from torch import nn

from bandlimit.data import load_dataset


@pytest.mark.parametrize(("name", "shape"), [("synthetic1d", (64,)), ("synthetic2d", (16, 16))])
def test_shapes_and_balance(name, shape):
    train, test, info = load_dataset(name)
    assert (info.name, info.in_channels, info.num_classes, info.input_shape) == (name, 1, 4, shape)
    assert train.tensors[0].shape == (512, 1, *shape) and test.tensors[0].shape == (256, 1, *shape)
    assert train.tensors[1].bincount().tolist() == [128] * 4
    assert test.tensors[1].bincount().tolist() == [64] * 4


@pytest.mark.parametrize("name", ["synthetic1d", "synthetic2d"])
def test_same_seed_same_tensors(name):
    a_train, a_test, _ = load_dataset(name, seed=3)
    b_train, b_test, _ = load_dataset(name, seed=3)
    c_train, _, _ = load_dataset(name, seed=4)
    for a, b in ((a_train, b_train), (a_test, b_test)):
        assert all(torch.equal(s, t) for s, t in zip(a.tensors, b.tensors))
    assert not torch.equal(a_train.tensors[0], c_train.tensors[0])
    assert not torch.equal(a_train.tensors[0][: len(a_test)], a_test.tensors[0])


def test_the_class_is_the_dominant_frequency():
    train, _, _ = load_dataset("synthetic1d")
    x, y = train.tensors
    peak = torch.fft.rfft(x[:, 0]).abs()[:, 1:].argmax(dim=1) + 1
    expected = torch.tensor([2, 4, 8, 16])[y]
    assert (peak == expected).float().mean() > 0.95


@pytest.mark.slow
@pytest.mark.parametrize("name", ["synthetic1d", "synthetic2d"])
def test_a_small_cnn_learns_it(name):
    train, test, info = load_dataset(name)
    conv, pool = (nn.Conv1d, nn.AdaptiveAvgPool1d) if info.ndim == 1 else (nn.Conv2d, nn.AdaptiveAvgPool2d)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny convolutions are slower with more threads
    try:
        torch.manual_seed(0)
        model = nn.Sequential(
            conv(1, 16, 5, padding=2),
            nn.ReLU(),
            conv(16, 32, 5, padding=2),
            nn.ReLU(),
            pool(1),
            nn.Flatten(),
            nn.Linear(32, info.num_classes),
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        x, y = train.tensors
        for _ in range(4):
            for batch in torch.randperm(len(y)).split(32):
                loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        with torch.no_grad():
            accuracy = (model(test.tensors[0]).argmax(1) == test.tensors[1]).float().mean().item()
    finally:
        torch.set_num_threads(threads)
    assert accuracy > 0.9
