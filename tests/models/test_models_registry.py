"""Registry behaviour: listing, ndim, argument validation and registration."""

import pytest
from torch import nn

import bandlimit.models as models
from bandlimit.errors import ArgumentError, BandlimitError, ConfigError
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
    with pytest.raises(ConfigError, match="model 'lenet': .*width.*it takes no model arguments"):
        create_model("lenet", 3, 10, width=8)
    with pytest.raises(ConfigError, match="model 'resnet18': .*'widht'.*its arguments: width"):
        create_model("resnet18", 3, 10, widht=8)


@pytest.mark.parametrize("widths", [[4, 8], 4, "448", [4, 0, 4]])
def test_bad_fcn_widths_are_a_user_error(widths):
    with pytest.raises(ArgumentError, match="widths"):
        create_model("fcn", 1, 3, widths=widths)


@pytest.mark.parametrize(
    ("name", "kwarg"), [("resnet18", "width"), ("small_resnet", "width"), ("densenet121", "growth_rate")]
)
def test_bad_width_kwargs_rejected(name, kwarg):
    # The factory's argument check: a ValueError, and a project error (one line on the command line).
    with pytest.raises(ArgumentError, match=kwarg) as info:
        create_model(name, 3, 10, **{kwarg: 0})
    assert isinstance(info.value, ValueError) and isinstance(info.value, BandlimitError)


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
def test_a_missing_factory_argument_is_named():
    @register_model("needs_depth", ndim=1)
    def needs_depth(in_channels, num_classes, depth, width=4):
        return nn.Identity()

    with pytest.raises(ConfigError, match="model 'needs_depth': .*'depth'.*its arguments: depth, width"):
        create_model("needs_depth", 1, 2, width=3)
    assert isinstance(create_model("needs_depth", 1, 2, depth=3), nn.Identity)


@pytest.mark.usefixtures("scratch_registry")
def test_a_bug_inside_a_factory_is_not_a_user_error():
    @register_model("buggy", ndim=1)
    def buggy(in_channels, num_classes, width=4):
        raise ValueError("an internal inconsistency")

    with pytest.raises(ValueError, match="internal") as info:
        create_model("buggy", 1, 2, width=3)
    assert not isinstance(info.value, BandlimitError)


@pytest.mark.usefixtures("scratch_registry")
def test_register_model_rejects_duplicates_and_bad_ndim():
    with pytest.raises(ValueError, match="already registered"):
        register_model("lenet", ndim=2)(lambda in_channels, num_classes: nn.Identity())
    with pytest.raises(ValueError, match="ndim"):
        register_model("volumetric", ndim=3)
    with pytest.raises(ValueError, match="name"):
        register_model("", ndim=2)
