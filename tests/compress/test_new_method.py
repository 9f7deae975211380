"""A compression method is one module: a config and a transform. This test is that module for a
toy method (swap ReLU for LeakyReLU) and drives it through compress_, the CLI's help, a training
run and a sweep, touching no other file."""

import dataclasses
import json
from typing import ClassVar

import pytest
import torch
from torch import nn

import bandlimit as bl
from bandlimit.checks import check_float
from bandlimit.cli import main
from bandlimit.compress import CompressionConfig, register_transform
from bandlimit.settings import setting


@dataclasses.dataclass(frozen=True)
class LeakyConfig(CompressionConfig):
    """Replace every nn.ReLU with nn.LeakyReLU(slope)."""

    method: ClassVar[str] = "leaky"
    OVERRIDE_FIELD: ClassVar[str | None] = "slope"

    slope: float = setting(0.1, help="negative slope of the LeakyReLU", check=lambda v, n: check_float(v, n, minimum=0))


@register_transform(LeakyConfig, targets=(nn.ReLU,))
def _leaky(module: nn.ReLU, config: LeakyConfig) -> nn.Module:
    return nn.LeakyReLU(config.slope, inplace=module.inplace)


SMALL = ["--model", "fcn", "--data", "synthetic1d", "--limit", "64", "--model-arg", "widths=[4,8,4]", "--no-progress"]


def _model() -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(1, 4, 3), nn.ReLU(), nn.Sequential(nn.Conv1d(4, 4, 3), nn.ReLU()))


def test_compress_applies_the_toy_method_with_overrides_and_composes():
    model = bl.compress_(_model(), LeakyConfig(slope=0.2, overrides={"2.1": 0.3}))
    assert [type(m) for m in (model[1], model[2][1])] == [nn.LeakyReLU, nn.LeakyReLU]
    assert (model[1].negative_slope, model[2][1].negative_slope) == (0.2, 0.3)
    both = bl.compress_(_model(), [bl.BandLimitConfig(rate=0.5), LeakyConfig()])
    assert len(bl.band_limited_layers(both)) == 2 and isinstance(both[1], nn.LeakyReLU)
    negative = -torch.rand(2, 1, 16) - 0.1
    torch.testing.assert_close(both[1](negative), 0.1 * negative)


def test_the_toy_config_round_trips_and_validates():
    config = LeakyConfig(slope=0.05, overrides={"a": 0.2})
    assert bl.config_from_json(config.to_json()) == config
    assert config.to_dict()["version"] == 1
    with pytest.raises(ValueError, match=r"slope must be >= 0"):
        LeakyConfig(slope=-1.0)
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
