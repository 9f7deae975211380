"""z-normalisation of series, against SciPy's zscore."""

import numpy as np
import pytest
import scipy.stats
import torch

from bandlimit.data import load_dataset, z_normalize
from bandlimit.train import TrainConfig, build_experiment


def test_every_series_against_scipy():
    x = torch.randn(5, 2, 40, dtype=torch.float64) * torch.tensor([3.0, 0.1])[:, None] + 636.0  # raw, like Chinatown
    expected = scipy.stats.zscore(x.numpy(), axis=-1)  # population std (ddof=0), per sample and channel
    np.testing.assert_allclose(z_normalize(x).numpy(), expected, rtol=1e-10, atol=1e-10)


def test_images_per_channel_and_constant_channels():
    x = torch.rand(3, 2, 4, 5)
    x[1, 0] = 7.0  # a constant channel has nothing to scale: zeros, not NaN or huge values
    out = z_normalize(x)
    flat = x.flatten(2).numpy()
    np.testing.assert_allclose(out[0].flatten(1).numpy(), scipy.stats.zscore(flat[0], axis=-1), atol=1e-5)
    assert torch.equal(out[1, 0], torch.zeros(4, 5))
    assert out.dtype == x.dtype and out.shape == x.shape


def test_a_run_normalises_its_raw_series():
    raw = TrainConfig(data="ucr:Chinatown", limit=20)
    x = build_experiment(raw).train_data[0]
    assert x.mean() > 100  # stored raw: pedestrian counts
    z = build_experiment(raw.with_(normalize="zscore"))
    for data in (z.train_data[0], z.test_data[0]):
        assert data.mean(-1).abs().max() < 1e-5 and data.std(-1, unbiased=False).sub(1).abs().max() < 1e-4
    with pytest.raises(ValueError, match="normalize must be one of"):
        raw.with_(normalize="minmax")
    assert load_dataset("ucr:Chinatown", limit=3)[0].tensors[0].mean() > 100  # the loader itself keeps values
