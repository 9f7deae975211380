"""Registry behaviour: listing, ndim, argument validation and registration."""

import pytest
from torch import nn

import bandlimit.models as models
from bandlimit.errors import ConfigError
from bandlimit.models import create_model, list_models, model_ndim, register_model, registry

EXPECTED_NDIM = {"densenet121": 2, "fcn": 1, "lenet": 2, "resnet18": 2, "small_resnet": 2}


def test_list_models_is_sorted_and_complete():
    assert list_models() == sorted(EXPECTED_NDIM)


@pytest.mark.parametrize("name", sorted(EXPECTED_NDIM))
def test_model_ndim(name):
    assert model_ndim(name) == EXPECTED_NDIM[name]


def test_public_api():
    assert set(models.__all__) == {"create_model", "list_models", "model_ndim", "register_model"}


@pytest.mark.parametrize("lookup", [lambda n: create_model(n, 3, 10), model_ndim])
def test_unknown_name_lists_known_models(lookup):
    with pytest.raises(ValueError, match="resnet19") as info:
        lookup("resnet19")
    for name in list_models():
        assert name in str(info.value)


@pytest.mark.parametrize("argument", ["in_channels", "num_classes"])
@pytest.mark.parametrize("value", [0, -1])
def test_non_positive_sizes_rejected(argument, value):
    sizes = {"in_channels": 3, "num_classes": 10, argument: value}
    with pytest.raises(ValueError, match=argument):
        create_model("lenet", **sizes)


@pytest.mark.parametrize("value", [2.0, "3", True])
def test_non_integer_in_channels_rejected(value):
    with pytest.raises(TypeError, match="in_channels"):
        create_model("lenet", value, 10)


def test_unknown_kwarg_rejected():
    with pytest.raises(ConfigError, match="model 'lenet': .*width"):
        create_model("lenet", 3, 10, width=8)


@pytest.mark.parametrize(
    ("name", "kwarg"), [("resnet18", "width"), ("small_resnet", "width"), ("densenet121", "growth_rate")]
)
def test_bad_width_kwargs_rejected(name, kwarg):
    with pytest.raises(ValueError, match=kwarg):
        create_model(name, 3, 10, **{kwarg: 0})


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry, so test registrations do not leak into other tests."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


@pytest.mark.usefixtures("scratch_registry")
def test_register_model_roundtrip():
    @register_model("tiny", ndim=1)
    def tiny(in_channels, num_classes, hidden=4):
        return nn.Sequential(
            nn.Conv1d(in_channels, hidden, 3), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(hidden, num_classes)
        )

    assert "tiny" in list_models()
    assert model_ndim("tiny") == 1
    model = create_model("tiny", 2, 5, hidden=7)
    assert model[0].in_channels == 2 and model[0].out_channels == 7 and model[3].out_features == 5


@pytest.mark.usefixtures("scratch_registry")
def test_register_model_rejects_duplicates_and_bad_ndim():
    with pytest.raises(ValueError, match="already registered"):
        register_model("lenet", ndim=2)(lambda in_channels, num_classes: nn.Identity())
    with pytest.raises(ValueError, match="ndim"):
        register_model("volumetric", ndim=3)
    with pytest.raises(ValueError, match="name"):
        register_model("", ndim=2)
