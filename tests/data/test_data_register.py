"""Sources registering themselves: the decorator, name resolution, errors and import structure."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bandlimit.data as data
from bandlimit.data import DatasetNotFoundError, list_datasets, load_dataset, register_dataset, registry
from bandlimit.data.types import DatasetInfo, Splits
from bandlimit.errors import BandlimitError, ConfigError

SOURCES = ("cifar", "fashion_mnist", "mnist1d", "synthetic", "ucr")


@pytest.fixture
def scratch_registry(monkeypatch):
    """Copies of the registry dicts, so whatever a test registers is gone afterwards."""
    monkeypatch.setattr(registry, "_LOADERS", dict(registry._LOADERS))
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))


calls = []  # the arguments toy_load was called with


def toy_load(name: str, root: Path | None, download: bool, seed: int) -> Splits:
    """Six train and two test samples of shape (1, 3), two classes."""
    calls.append((name, root, download, seed))
    x = np.arange(18, dtype=np.float64).reshape(6, 1, 3)
    y = np.array([0, 1, 0, 1, 0, 1])
    return Splits(x, y, x[:2], y[:2], DatasetInfo(name, in_channels=1, num_classes=2, input_shape=(3,)))


def test_public_api():
    assert set(data.__all__) == {
        "DatasetInfo",
        "DatasetNotFoundError",
        "list_datasets",
        "load_dataset",
        "register_dataset",
        "z_normalize",
    }


@pytest.mark.usefixtures("scratch_registry")
def test_a_registered_source_loads_and_is_listed(tmp_path, monkeypatch):
    assert register_dataset("toy-set", "toy-set-2")(toy_load) is toy_load
    calls.clear()
    train, test, info = load_dataset(" Toy_Set ", root=tmp_path, download=1, limit=4, seed=3)
    # The loader gets the canonical name and normalised arguments.
    assert calls == [("toy-set", tmp_path, True, 3)]
    assert info.name == "toy-set" and (len(train), len(test)) == (4, 2)
    assert load_dataset("TOYSET2")[2].name == "toy-set-2"
    assert {"toy-set", "toy-set-2"} <= set(list_datasets())
    monkeypatch.undo()
    assert "toy-set" not in list_datasets()


@pytest.mark.usefixtures("scratch_registry")
def test_a_prefix_family_lists_its_names_and_loads_any_member():
    register_dataset(prefix="toy", listed=lambda: ["b", "a"], example="a")(toy_load)
    names = list_datasets()
    assert [n for n in names if n.startswith("toy:")] == ["toy:a", "toy:b"]  # sorted
    assert names.index("toy:a") > names.index("synthetic2d")  # after the plain names
    assert load_dataset("TOY:Other")[2].name == "toy:Other"  # any member, prefix in any case
    with pytest.raises(ConfigError, match=r"invalid TOY dataset name 'toy:\.\.'; expected toy:<Name>, e.g. toy:a"):
        load_dataset("toy:..")
    with pytest.raises(ConfigError, match=r"toy:<Name> \(any TOY archive data set, e.g. toy:a\)"):
        load_dataset("nothing")


@pytest.mark.usefixtures("scratch_registry")
@pytest.mark.parametrize(
    ("names", "kwargs"),
    [
        (("cifar10",), {}),
        (("CIFAR_10",), {}),  # the same name to a user
        (("fresh", "Fresh"), {}),  # within one call
        (("fresh",), {"prefix": "ucr", "example": "X"}),
    ],
)
def test_registering_a_taken_name_raises_and_registers_nothing(names, kwargs):
    before = list_datasets()
    with pytest.raises(ValueError, match="already registered"):
        register_dataset(*names, **kwargs)(toy_load)
    assert list_datasets() == before


@pytest.mark.parametrize(
    ("names", "kwargs"),
    [
        ((), {}),
        (("",), {}),
        (("a:b",), {}),
        ((" toy",), {}),
        ((), {"prefix": "Toy", "example": "a"}),
        ((), {"prefix": "to:y", "example": "a"}),
        ((), {"prefix": "toy"}),  # no example for the error messages
    ],
)
def test_malformed_registration_raises(names, kwargs):
    with pytest.raises(ValueError):
        register_dataset(*names, **kwargs)


def test_errors_are_bandlimit_errors():
    assert issubclass(DatasetNotFoundError, BandlimitError) and issubclass(DatasetNotFoundError, FileNotFoundError)
    for name in ("imagenet", "ucr:a/b"):
        with pytest.raises(ConfigError) as err:
            load_dataset(name)
        assert isinstance(err.value, BandlimitError) and isinstance(err.value, ValueError)


@pytest.mark.slow
def test_the_registry_imports_no_source_module():
    # `import bandlimit.data.registry` first runs bandlimit/data/__init__.py, which imports every
    # source on purpose; an empty stand-in for the package shows what registry.py pulls in itself.
    code = (
        "import sys, types, bandlimit; package = types.ModuleType('bandlimit.data');"
        f"package.__path__ = [{str(Path(data.__file__).parent)!r}]; sys.modules['bandlimit.data'] = package;"
        "import bandlimit.data.registry;"
        "print(*(m for m in sys.modules if m.startswith('bandlimit.data.')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert "bandlimit.data.registry" in loaded
    assert not [m for m in loaded if m.rsplit(".", 1)[1] in SOURCES]
