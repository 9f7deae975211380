"""CIFAR-10/100 loader on tiny pickled batches, and download + safe extraction of a tiny archive."""

import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest
import torch

from bandlimit.data import DatasetNotFoundError, cifar, load_dataset

PER_BATCH = 2


def write_batch(path, labels, label_key, rng):
    data = rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
    # Keys are bytes, as in the official files (pickled by Python 2).
    with open(path, "wb") as f:
        pickle.dump({b"data": data, label_key: list(labels), b"batch_label": b"tiny"}, f)
    return data


def write_cifar10(folder):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    first = write_batch(folder / "data_batch_1", [0, 9], b"labels", rng)
    for i in range(2, 6):
        write_batch(folder / f"data_batch_{i}", [i, i], b"labels", rng)
    write_batch(folder / "test_batch", [1, 2, 3], b"labels", rng)
    return first


def write_cifar100(folder):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    first = write_batch(folder / "train", [0, 99, 50], b"fine_labels", rng)
    write_batch(folder / "test", [7], b"fine_labels", rng)
    return first


def test_cifar10_shapes_labels_and_normalisation(tmp_path):
    raw = write_cifar10(tmp_path / "cifar-10-batches-py")
    train, test, info = load_dataset("cifar10", root=tmp_path)
    assert (info.name, info.in_channels, info.num_classes, info.input_shape) == ("cifar10", 3, 10, (32, 32))
    x, y = train.tensors
    assert x.shape == (5 * PER_BATCH, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert y.tolist() == [0, 9, 2, 2, 3, 3, 4, 4, 5, 5]
    assert test.tensors[0].shape == (3, 3, 32, 32) and test.tensors[1].tolist() == [1, 2, 3]
    # Row-major 3072 values are 1024 red, then green, then blue, each 32x32 row by row.
    images = raw.reshape(2, 3, 32, 32) / 255.0
    mean = np.array(cifar.SPECS["cifar10"].mean)[:, None, None]
    std = np.array(cifar.SPECS["cifar10"].std)[:, None, None]
    np.testing.assert_allclose(x[:2].numpy(), (images - mean) / std, rtol=1e-5, atol=1e-5)


def test_cifar100_fine_labels(tmp_path):
    write_cifar100(tmp_path / "cifar-100-python")
    train, test, info = load_dataset("cifar100", root=tmp_path)
    assert info.num_classes == 100 and info.input_shape == (32, 32)
    assert train.tensors[0].shape == (3, 3, 32, 32)
    assert train.tensors[1].tolist() == [0, 99, 50] and test.tensors[1].tolist() == [7]


def test_root_may_be_the_batches_folder_itself(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py")
    assert len(load_dataset("cifar10", root=tmp_path / "cifar-10-batches-py")[1]) == 3


def test_labels_out_of_range_are_rejected(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(0)
    write_batch(folder / "train", [100], b"fine_labels", rng)
    write_batch(folder / "test", [0], b"fine_labels", rng)
    with pytest.raises(ValueError, match="labels must be in 0..99"):
        load_dataset("cifar100", root=tmp_path)


def test_missing_names_the_folders_and_the_way_out(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("cifar10", root=tmp_path)
    text = str(err.value)
    assert "\n" not in text and "'cifar10'" in text
    assert str(tmp_path / "cifar-10-batches-py") in text
    assert "--data-root" in text and "download=True" in text and "cifar-10-python.tar.gz" in text


def test_missing_without_root():
    with pytest.raises(DatasetNotFoundError, match="no root given"):
        load_dataset("cifar100")


def make_archive(source_dir, archive):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source_dir, arcname=source_dir.name)


def test_download_and_extract(tmp_path, monkeypatch):
    write_cifar100(tmp_path / "build" / "cifar-100-python")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    make_archive(tmp_path / "build" / "cifar-100-python", mirror / "cifar-100-python.tar.gz")
    md5 = hashlib.md5((mirror / "cifar-100-python.tar.gz").read_bytes()).hexdigest()
    monkeypatch.setattr(cifar, "URL", mirror.as_uri() + "/")
    monkeypatch.setitem(cifar.SPECS, "cifar100", cifar.SPECS["cifar100"]._replace(md5=md5))

    train, _, _ = load_dataset("cifar100", root=tmp_path / "root", download=True)
    assert len(train) == 3
    assert (tmp_path / "root" / "cifar-100-python" / "train").is_file()


def test_failed_download_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar, "URL", (tmp_path / "no-mirror").as_uri() + "/")
    with pytest.raises(DatasetNotFoundError, match="download failed") as err:
        load_dataset("cifar10", root=tmp_path / "root", download=True)
    assert "\n" not in str(err.value)


def test_extraction_refuses_paths_outside_the_destination(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        payload = b"gotcha"
        member = tarfile.TarInfo("../escaped.txt")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    (tmp_path / "dest").mkdir()
    with pytest.raises((tarfile.TarError, ValueError)):
        cifar.extract_safely(archive, tmp_path / "dest")
    assert not (tmp_path / "escaped.txt").exists()
