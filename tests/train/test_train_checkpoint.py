"""Atomic writes and safe, validated checkpoint loading."""

import io
import os
import zipfile

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


@pytest.fixture
def checkpoint_bytes(tmp_path) -> bytes:
    path = tmp_path / "whole.pt"
    save_checkpoint(path, {"model": "fcn", "weights": torch.randn(64), "bias": torch.randn(4), "epoch": 3})
    return path.read_bytes()


def _without(data: bytes, suffix: str) -> bytes:
    """The checkpoint's archive with the records ending in ``suffix`` left out."""
    source, buffer = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in source.namelist():
            if not name.endswith(suffix):
                archive.writestr(name, source.read(name))
    return buffer.getvalue()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_every_truncation_and_foreign_file_is_a_checkpoint_error(tmp_path, checkpoint_bytes):
    # torch.load raises RuntimeError, OSError, EOFError and UnpicklingError on these (and more
    # kinds on random bytes): each must be the one-line CheckpointError, never a traceback.
    data = checkpoint_bytes
    cases = {f"truncated at {n}": data[:n] for n in range(0, len(data), max(1, len(data) // 97))}
    cases |= {"empty": b"", "text": b"not a checkpoint\n" * 20, "random": bytes(range(256)) * 8}
    cases |= {"no data.pkl": _without(data, "data.pkl"), "no tensor record": _without(data, "data/0")}
    path = tmp_path / "c.pt"
    for name, blob in cases.items():
        path.write_bytes(blob)
        with pytest.raises(CheckpointError, match="corrupted"):
            load_checkpoint(path)
            pytest.fail(f"{name}: loaded")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol", "ignore:TypedStorage is deprecated")
def test_bytes_changed_inside_the_archive_are_a_checkpoint_error(tmp_path, checkpoint_bytes, monkeypatch):
    # Changed pickle bytes can make torch's rebuild functions raise TypeError, AttributeError,
    # AssertionError or ValueError; the archive's failing CRCs say that the file is at fault.
    info = zipfile.ZipFile(io.BytesIO(checkpoint_bytes)).getinfo("archive/data.pkl")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    raised, load = set(), torch.load

    def spy(*args, **kwargs):
        try:
            return load(*args, **kwargs)
        except Exception as err:
            raised.add(type(err))
            raise

    monkeypatch.setattr(torch, "load", spy)
    path = tmp_path / "c.pt"
    for offset in range(start, start + info.compress_size):
        for mask in (1, 2, 4):
            damaged = bytearray(checkpoint_bytes)
            damaged[offset] ^= mask
            path.write_bytes(bytes(damaged))
            try:
                load_checkpoint(path)  # some changes still load: torch.load checks no CRC
            except CheckpointError:
                pass  # any other exception fails the test
    assert raised & {TypeError, AttributeError, AssertionError}, raised  # the case this test is for occurred


def test_an_error_of_torch_load_on_a_whole_file_is_not_hidden(tmp_path, checkpoint_bytes, monkeypatch):
    path = tmp_path / "c.pt"
    path.write_bytes(checkpoint_bytes)

    def broken(*args, **kwargs):
        raise TypeError("a bug, not the file")

    monkeypatch.setattr(torch, "load", broken)
    with pytest.raises(TypeError, match="a bug") as info:
        load_checkpoint(path)
    assert not isinstance(info.value, CheckpointError)


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
