"""A compression method is one module: a config and a transform. This test defines that module
for a toy method (swap ReLU for LeakyReLU) and drives it through compress_, the CLI's help, a
training run and a sweep, touching no other file. The method is registered for each test only
(the fixture ``leaky``), so that no other test sees it."""

import dataclasses
import json
from typing import ClassVar

import pytest
import torch
from torch import nn

import bandlimit as bl
from bandlimit.checks import check_float
from bandlimit.cli import main
from bandlimit.compress import CompressionConfig, config_types, register_transform, unregister_method
from bandlimit.compress.costs import LayerCost, LayerCount
from bandlimit.compress.counting import count_operations
from bandlimit.compress.transform import retype
from bandlimit.settings import setting


def _define_the_method() -> type[CompressionConfig]:
    """The toy method's module: defining the config and the transform registers them."""

    @dataclasses.dataclass(frozen=True)
    class LeakyConfig(CompressionConfig):
        """Replace every nn.ReLU with nn.LeakyReLU(slope)."""

        method: ClassVar[str] = "leaky"
        OVERRIDE_FIELD: ClassVar[str | None] = "slope"

        slope: float = setting(
            0.1, help="negative slope of the LeakyReLU", check=lambda v, n: check_float(v, n, minimum=0)
        )

    @register_transform(LeakyConfig, targets=(nn.ReLU,))
    def _leaky(module: nn.ReLU, config: LeakyConfig) -> nn.Module:
        return nn.LeakyReLU(config.slope, inplace=module.inplace)

    return LeakyConfig


@pytest.fixture(autouse=True)
def leaky():
    """The toy method's config class, registered for the test and unregistered after it."""
    assert "leaky" not in config_types()
    config_type = _define_the_method()
    yield config_type
    unregister_method(config_type)
    assert "leaky" not in config_types()


SMALL = ["--model", "fcn", "--data", "synthetic1d", "--limit", "64", "--model-arg", "widths=[4,8,4]", "--no-progress"]


def _model() -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(1, 4, 3), nn.ReLU(), nn.Sequential(nn.Conv1d(4, 4, 3), nn.ReLU()))


def test_compress_applies_the_toy_method_with_overrides_and_composes(leaky):
    model = bl.compress_(_model(), leaky(slope=0.2, overrides={"2.1": 0.3}))
    assert [type(m) for m in (model[1], model[2][1])] == [nn.LeakyReLU, nn.LeakyReLU]
    assert (model[1].negative_slope, model[2][1].negative_slope) == (0.2, 0.3)
    both = bl.compress_(_model(), [bl.BandLimitConfig(rate=0.5), leaky()])
    assert len(bl.band_limited_layers(both)) == 2 and isinstance(both[1], nn.LeakyReLU)
    negative = -torch.rand(2, 1, 16) - 0.1
    torch.testing.assert_close(both[1](negative), 0.1 * negative)


def test_the_toy_config_round_trips_and_validates(leaky):
    config = leaky(slope=0.05, overrides={"a": 0.2})
    assert bl.config_from_json(config.to_json()) == config
    assert config.to_dict()["version"] == 1
    with pytest.raises(ValueError, match=r"slope must be >= 0"):
        leaky(slope=-1.0)
    with pytest.raises(ValueError, match="version 2 is not supported"):
        bl.compress.config_from_dict({"method": "leaky", "version": 2})


def test_the_toy_method_has_flags(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "--leaky-slope SLOPE" in text and "negative slope of the LeakyReLU (default: 0.1)" in text
    assert "leaky" in text.split("--method")[1].split("\n")[0]


def test_a_training_run_and_a_sweep_use_the_toy_method(tmp_path, capsys):
    argv = ["train", *SMALL, "--epochs", "1", "--method", "bandlimit", "leaky", "--leaky-slope", "0.2"]
    assert main([*argv, "--rate", "0.5", "--out", str(tmp_path / "run")]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["compression"]
    assert [(c["method"], c.get("rate"), c.get("slope")) for c in saved] == [
        ("bandlimit", 0.5, None),
        ("leaky", None, 0.2),
    ]
    sweep = ["sweep", *SMALL, "--epochs", "1", "--method", "leaky", "--grid", "leaky.slope=[0.1,0.3]"]
    assert main([*sweep, "--out", str(tmp_path / "sweep")]) == 0
    folders = sorted(p.name for p in (tmp_path / "sweep").iterdir())
    assert folders == ["leaky.slope=0.1", "leaky.slope=0.3"]
    result = json.loads((tmp_path / "sweep" / folders[1] / "result.json").read_text())
    assert result["config"]["compression"] == [{"method": "leaky", "version": 1, "slope": 0.3, "overrides": {}}]


def test_a_method_field_without_its_method_is_a_user_error(capsys, tmp_path):
    assert main(["train", *SMALL, "--method", "bandlimit", "--leaky-slope", "0.2", "--out", str(tmp_path)]) == 2
    assert "slope of method 'leaky' need it in the compression" in capsys.readouterr().err


def test_unregistering_the_method_frees_its_name_its_transform_and_its_flags(leaky, capsys):
    assert config_types()["leaky"] is leaky
    unregister_method(leaky)
    assert "leaky" not in config_types()
    with pytest.raises(TypeError, match="no transform is registered for LeakyConfig"):
        bl.compress_(_model(), leaky())
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--leaky-slope" not in capsys.readouterr().out
    unregister_method(leaky)  # again: nothing to undo


def test_a_method_prices_and_counts_its_own_layers():
    """summary and count_operations ask each method for the layers it made (its layer_cost and
    layer_count hooks) and price every other convolution as a direct one."""

    class ScaledConv1d(nn.Conv1d):
        pass

    @dataclasses.dataclass(frozen=True)
    class ScaledConfig(CompressionConfig):
        method: ClassVar[str] = "scaled_test"

        @classmethod
        def layer_cost(cls, module, in_spatial, out_spatial, batch):
            return LayerCost(flops=1.0, path="scaled") if isinstance(module, ScaledConv1d) else None

        @classmethod
        def layer_count(cls, name, module, out_shape):
            return LayerCount(name, "scaled", 7, 0, 0, 0) if isinstance(module, ScaledConv1d) else None

    register_transform(ScaledConfig, targets=(nn.Conv1d,))(lambda module, config: retype(module, ScaledConv1d))
    try:
        model = nn.Sequential(nn.Conv1d(1, 4, 3), nn.ReLU(), nn.Conv1d(4, 2, 3))
        bl.compress_(model, ScaledConfig(), lambda module, name: name == "2")
        rows = bl.summary(model, (2, 1, 16))
        assert [(r.path, r.flops) for r in rows] == [("-", 2.0 * 4 * 1 * 3 * 14), ("scaled", 1.0)]
        counts = count_operations(model, torch.zeros(1, 1, 16))
        assert [(c.kind, c.multiplications) for c in counts] == [("Conv1d", 4 * 3 * 14), ("scaled", 7)]
    finally:
        unregister_method(ScaledConfig)
