import pytest

from bandlimit.compress import BandLimitConfig
from bandlimit.train import TrainConfig


@pytest.fixture
def small_config() -> TrainConfig:
    """A run that takes about a second: a narrow FCN on the synthetic 1D set."""
    return TrainConfig(
        model="fcn",
        data="synthetic1d",
        compression=(BandLimitConfig(rate=0.5),),
        epochs=3,
        batch_size=32,
        lr=1e-2,
        limit=128,
        model_kwargs={"widths": [8, 16, 8]},
    )
