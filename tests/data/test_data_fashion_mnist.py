"""Fashion-MNIST loader on tiny IDX files (gzipped or not), the system folder and downloads."""

import gzip
import hashlib
import struct

import numpy as np
import pytest
import torch

from bandlimit.data import DatasetNotFoundError, load_dataset
from bandlimit.data import fashion_mnist as fm

N_TRAIN, N_TEST = 5, 3


def idx_bytes(array):
    """Serialise a uint8 array in the IDX format: zero, zero, type 0x08, ndim, big-endian dims."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion(folder, gz=True):
    """Write the four files into ``folder``; returns the raw arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (N_TRAIN, 28, 28)),
        "train-labels-idx1-ubyte": np.array([0, 9, 3, 3, 1]),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (N_TEST, 28, 28)),
        "t10k-labels-idx1-ubyte": np.array([2, 9, 0]),
    }
    for stem, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return arrays


@pytest.fixture(autouse=True)
def no_system_copy(tmp_path, monkeypatch):
    # A machine with Debian's dataset-fashion-mnist must not change what these tests see.
    monkeypatch.setattr(fm, "SYSTEM_DIR", tmp_path / "system" / "fashion-mnist")


@pytest.mark.parametrize("gz", [True, False])
def test_loads_and_normalises(tmp_path, gz):
    arrays = write_fashion(tmp_path / "root", gz=gz)
    train, test, info = load_dataset("fashion-mnist", root=tmp_path / "root")
    assert (info.name, info.in_channels, info.num_classes, info.input_shape) == ("fashion-mnist", 1, 10, (28, 28))
    x, y = train.tensors
    assert x.shape == (N_TRAIN, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert test.tensors[0].shape == (N_TEST, 1, 28, 28)
    assert y.tolist() == [0, 9, 3, 3, 1] and test.tensors[1].tolist() == [2, 9, 0]
    expected = (arrays["train-images-idx3-ubyte"] / 255.0 - 0.2860) / 0.3530
    np.testing.assert_allclose(x[:, 0].numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("sub", ["fashion-mnist", "FashionMNIST/raw"])
def test_subfolders_of_root(tmp_path, sub):
    write_fashion(tmp_path / sub)
    assert len(load_dataset("fashion-mnist", root=tmp_path)[0]) == N_TRAIN


def test_system_folder_without_root(tmp_path):
    write_fashion(fm.SYSTEM_DIR)
    assert len(load_dataset("fashion-mnist")[1]) == N_TEST


def test_missing_names_every_folder(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("fashion-mnist", root=tmp_path / "root")
    text = str(err.value)
    assert "\n" not in text and "'fashion-mnist'" in text
    for folder in (tmp_path / "root", tmp_path / "root" / "fashion-mnist", fm.SYSTEM_DIR):
        assert str(folder) in text
    assert "apt-get install dataset-fashion-mnist" in text and "--data-root" in text and "download=True" in text


def test_an_incomplete_folder_is_skipped(tmp_path):
    write_fashion(tmp_path / "root")
    (tmp_path / "root" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError):
        load_dataset("fashion-mnist", root=tmp_path / "root")


def test_download_without_root_says_so():
    with pytest.raises(DatasetNotFoundError, match="download=True needs a root"):
        load_dataset("fashion-mnist", download=True)


def serve_from(monkeypatch, folder):
    """Point the downloader at local copies (file:// URLs) with their real checksums."""
    monkeypatch.setattr(fm, "URL", folder.as_uri() + "/")
    md5s = {stem: hashlib.md5((folder / f"{stem}.gz").read_bytes()).hexdigest() for stem in fm.FILES}
    monkeypatch.setattr(fm, "FILES", md5s)


def test_download_into_root(tmp_path, monkeypatch):
    write_fashion(tmp_path / "mirror")
    serve_from(monkeypatch, tmp_path / "mirror")
    train, _, _ = load_dataset("fashion-mnist", root=tmp_path / "root", download=True)
    assert len(train) == N_TRAIN
    assert sorted(p.name for p in (tmp_path / "root" / "fashion-mnist").iterdir()) == sorted(
        f"{stem}.gz" for stem in fm.FILES
    )


def test_download_checksum_mismatch_is_reported(tmp_path, monkeypatch):
    write_fashion(tmp_path / "mirror")
    serve_from(monkeypatch, tmp_path / "mirror")
    monkeypatch.setitem(fm.FILES, "train-images-idx3-ubyte", "0" * 32)
    with pytest.raises(DatasetNotFoundError, match="checksum mismatch") as err:
        load_dataset("fashion-mnist", root=tmp_path / "root", download=True)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "root" / "fashion-mnist" / "train-images-idx3-ubyte.gz").exists()
    assert not list((tmp_path / "root" / "fashion-mnist").glob("*.part"))


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01" + struct.pack(">I", 3) + b"abc")
    with pytest.raises(ValueError, match="magic"):
        fm.read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(idx_bytes(np.zeros((2, 3)))[:-1])
    with pytest.raises(ValueError, match="do not match"):
        fm.read_idx(tmp_path / "short")
    (tmp_path / "good.gz").write_bytes(gzip.compress(idx_bytes(np.arange(6).reshape(2, 3))))
    assert fm.read_idx(tmp_path / "good.gz").tolist() == [[0, 1, 2], [3, 4, 5]]
