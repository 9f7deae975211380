"""summarize and operation_counts: a run's model described without training (`bandlimit summary`, `count`)."""

import math

import pytest
import torch

from bandlimit.compress import BandLimitConfig, StrassenConfig, compress_, summary
from bandlimit.compress.counting import count_operations
from bandlimit.data import load_dataset
from bandlimit.errors import BandlimitError, ConfigError
from bandlimit.models import create_model
from bandlimit.train import OperationCounts, TrainConfig, operation_counts, summarize

FCN = TrainConfig(model="fcn", data="synthetic1d", model_kwargs={"widths": [4, 8, 4]})
HALF = (BandLimitConfig(rate=0.5),)


def test_summary_for_an_input_shape_is_that_of_the_compressed_model():
    rows = summarize(FCN.with_(compression=HALF), input_shape=(2, 100), num_classes=3)
    model = compress_(create_model("fcn", 2, 3, widths=[4, 8, 4]), HALF)
    assert rows == summary(model, (1, 2, 100))
    assert rows[0].input_shape == (2, 100) and all(r.grid is not None for r in rows)


def test_summary_without_an_input_shape_takes_the_data_sets():
    rows = summarize(FCN)
    assert rows[0].input_shape[0] == 1 and len(rows) == 3 and all(r.rate == 0 for r in rows)


def test_num_classes_needs_an_input_shape():
    with pytest.raises(ConfigError, match="num_classes goes with input_shape"):
        summarize(FCN, num_classes=5)


@pytest.mark.parametrize(
    ("model", "shape", "message"),
    [("fcn", (1, 32, 32), "input_shape must be C,L for model 'fcn'"), ("lenet", (1, 28), "must be C,H,W")],
)
def test_input_shape_must_fit_the_model(model, shape, message):
    with pytest.raises(ConfigError, match=message):
        summarize(FCN.with_(model=model, model_kwargs={}), input_shape=shape)


@pytest.mark.parametrize("shape", [(0, 100), (1, -5), (1, 2.5), "1,100"])
def test_input_shape_entries_are_positive_ints(shape):
    with pytest.raises(BandlimitError, match="input_shape"):
        summarize(FCN, input_shape=shape)


def test_operation_counts_compare_the_model_with_and_without_its_compression():
    config = TrainConfig(model="lenet", data="synthetic2d", compression=(StrassenConfig(hidden=0.5),))
    counts = operation_counts(config)
    assert {r.kind for r in counts.original} <= {"Conv2d", "Linear"}
    assert any(r.kind.startswith("Strassen") for r in counts.compressed)
    totals = {k: sum(getattr(r, k) for r in counts.original) for k in ("multiplications", "additions", "bytes")}
    compressed = {k: sum(getattr(r, k) for r in counts.compressed) for k in totals}
    assert counts.ratios() == {k: compressed[k] / totals[k] for k in totals}
    assert counts.ratios()["multiplications"] < 1


def test_operation_counts_without_compression_are_equal():
    counts = operation_counts(FCN.with_(compression=()))
    assert counts.original == counts.compressed
    assert counts.ratios() == {"multiplications": 1.0, "additions": 1.0, "bytes": 1.0}


def test_a_ratio_without_an_original_count_is_nan():
    assert math.isnan(OperationCounts([], []).ratios()["bytes"])


def test_counts_are_count_operations_on_one_sample_of_the_data():
    info = load_dataset("synthetic1d", limit=2)[2]
    counts = operation_counts(FCN.with_(compression=()))
    model = create_model("fcn", info.in_channels, info.num_classes, widths=[4, 8, 4])
    assert counts.original == count_operations(model, torch.zeros(1, info.in_channels, *info.input_shape))


def test_model_kwargs_may_not_set_what_the_data_gives():
    import pytest

    from bandlimit.errors import ConfigError
    from bandlimit.train import TrainConfig

    with pytest.raises(ConfigError, match="model_kwargs may not set in_channels: the data set gives it"):
        TrainConfig(model_kwargs={"in_channels": 3})
