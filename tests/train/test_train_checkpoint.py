"""Atomic writes and safe, validated checkpoint loading."""

import os

import pytest
import torch

from bandlimit.io import atomic_write_text, read_jsonl, write_jsonl
from bandlimit.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint


def test_round_trip_and_expectations(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"model": "fcn", "weights": torch.arange(3.0)})
    state = load_checkpoint(path, expect={"model": "fcn"})
    assert torch.equal(state["weights"], torch.arange(3.0))
    with pytest.raises(CheckpointError, match="written for model='fcn', not model='lenet'"):
        load_checkpoint(path, expect={"model": "lenet"})


def test_truncated_corrupted_missing_and_foreign_files(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"model": "fcn", "weights": torch.randn(1000)})
    data = path.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint at all")
    torch.save({"something": 1}, tmp_path / "foreign.pt")
    for name in ("truncated.pt", "garbage.pt"):
        with pytest.raises(CheckpointError, match="corrupted or truncated"):
            load_checkpoint(tmp_path / name)
    with pytest.raises(CheckpointError, match="not a bandlimit checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "absent.pt")


def test_code_in_a_checkpoint_is_not_run(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    torch.save({"format_version": 1, "x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()


def test_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    write_jsonl(path, [{"epoch": 1}])

    def crash(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_jsonl(path, [{"epoch": 1}, {"epoch": 2}])
    with pytest.raises(OSError):
        atomic_write_text(tmp_path / "new.txt", "x")
    monkeypatch.undo()
    assert read_jsonl(path) == [{"epoch": 1}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]  # no temporary files left


def test_cached_json_recomputes_only_when_its_source_or_question_changes(tmp_path):
    from bandlimit.io import cached_json

    source, cache = tmp_path / "result.json", tmp_path / "cache.json"
    source.write_text('{"epochs": 1}')
    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    assert cached_json(cache, source, [0.5], compute) == {"value": 1}
    assert cached_json(cache, source, [0.5], compute) == {"value": 1} and len(calls) == 1
    assert cached_json(cache, source, [0.5, 0.9], compute) == {"value": 2}  # another question
    source.write_text('{"epochs": 2}')  # the run was trained again
    assert cached_json(cache, source, [0.5, 0.9], compute) == {"value": 3}
