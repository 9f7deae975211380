"""The typed, versioned run records: metrics.jsonl lines and result.json read back as written,
older files (no version) read as version 1, a newer version refused with a clear error."""

import json

import pytest

from bandlimit.errors import ConfigError
from bandlimit.train import EpochRecord, RunResult, load_metrics, load_result


def test_an_epoch_record_round_trips_with_its_method_entries_and_without_unmeasured_ones():
    record = EpochRecord(
        epoch=2,
        loss=0.5,
        train_acc=0.8,
        epoch_time_s=1.5,
        saved_bytes=100,
        lr=1e-3,
        extra={"layer_rates": {"conv": 0.4}},
    )
    data = record.to_dict()
    assert data["version"] == 1 and data["layer_rates"] == {"conv": 0.4}
    assert "test_acc" not in data and "val_acc" not in data  # an epoch without evaluation
    assert EpochRecord.from_dict(json.loads(json.dumps(data))) == record


def test_files_of_before_versions_read_and_newer_ones_are_refused(tmp_path):
    old = {
        "epoch": 1,
        "loss": 1.0,
        "train_acc": 0.5,
        "epoch_time_s": 2.0,
        "saved_bytes": 10,
        "lr": 0.1,
        "rate": 0.5,
        "achieved_rate": 0.51,
        "peak_memory_bytes": None,
        "test_acc": 0.4,
        "test_loss": 1.2,
    }
    (tmp_path / "metrics.jsonl").write_text(json.dumps(old) + "\n")
    (record,) = load_metrics(tmp_path)
    assert record.test_acc == 0.4 and record.achieved_rate == 0.51 and record.extra == {}
    result = {
        "config": {},
        "epochs": 1,
        "final_test_acc": 0.4,
        "best_test_acc": 0.4,
        "final_train_loss": 1.0,
        "median_epoch_time_s": 2.0,
        "saved_bytes": 10,
        "achieved_rate": 0.51,
        "selected_test_acc": None,
    }
    (tmp_path / "result.json").write_text(json.dumps(result))
    loaded = load_result(tmp_path)
    assert loaded.final_test_acc == 0.4 and loaded.selected_test_acc is None
    assert loaded.to_dict()["selected_test_acc"] is None  # a result keeps its nulls: readers look them up
    with pytest.raises(ConfigError, match="RunResult of version 2 cannot be read by this bandlimit"):
        RunResult.from_dict({**result, "version": 2})
