"""Training knows no method: a compression config's hooks (prepare before the first epoch,
begin_epoch, epoch_metrics after the training batches) are all it calls. A toy method measures
the data in ``prepare`` and reports per epoch; a resumed run gets back what ``prepare``
returned instead of measuring again."""

import dataclasses
import json
from typing import Any, ClassVar

import pytest
import torch
from torch import nn

from bandlimit.compress import CompressionConfig, config_types, register_transform, unregister_method
from bandlimit.settings import setting
from bandlimit.train import TrainConfig, train

CALLS: list[str] = []


def _define_the_method() -> type[CompressionConfig]:
    @dataclasses.dataclass(frozen=True)
    class ProbeConfig(CompressionConfig):
        """Scales every ReLU's output by the first training batch's mean absolute input (measured once)."""

        method: ClassVar[str] = "probe"

        measured: float | None = setting(None, help="set by prepare: the first batch's mean absolute value")

        def prepare(self, model, batches, trained=None):
            if trained is not None:
                CALLS.append("prepare: resumed")
                return trained
            CALLS.append("prepare: measured")
            return dataclasses.replace(self, measured=float(next(iter(batches)).abs().mean()))

        def begin_epoch(self, model, epoch, epochs):
            CALLS.append(f"begin {epoch}")

        def epoch_metrics(self, model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, Any]:
            return {"probe_measured": self.measured, "probe_input_shape": list(input_shape)}

    @register_transform(ProbeConfig, targets=(nn.ReLU,))
    def _probe(module: nn.ReLU, config: ProbeConfig) -> nn.Module:
        return nn.ReLU()

    return ProbeConfig


@pytest.fixture()
def probe():
    config_type = _define_the_method()
    CALLS.clear()
    yield config_type
    unregister_method(config_type)
    assert "probe" not in config_types()


def test_training_calls_the_hooks_and_records_what_they_return(probe, tmp_path):
    config = TrainConfig(
        model="fcn", data="synthetic1d", limit=32, epochs=2, batch_size=8, compression=(probe(),),
        model_kwargs={"widths": [4, 8, 4]},
    )  # fmt: skip
    result = train(config, tmp_path / "run", log=lambda line: None)
    assert CALLS == ["prepare: measured", "begin 0", "begin 1"]
    trained = TrainConfig.from_dict(result.config).compression[0]
    assert trained.measured is not None and trained.measured > 0
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["probe_measured"] for m in metrics] == [trained.measured] * 2
    assert all(m["achieved_rate"] == 0.0 and m["rate"] == 0.0 for m in metrics)  # no band-limiting here
    # config.json keeps the request; the checkpoint and result.json the config as trained
    assert json.loads((tmp_path / "run" / "config.json").read_text())["compression"][0]["measured"] is None

    CALLS.clear()
    longer = train(config.with_(epochs=3), tmp_path / "run", resume=True, log=lambda line: None)
    assert CALLS == ["prepare: resumed", "begin 2"]
    assert TrainConfig.from_dict(longer.config).compression[0].measured == trained.measured


def test_the_band_limiting_hooks_report_the_rate_and_the_achieved_rate(tmp_path):
    from bandlimit.compress import BandLimitConfig

    model = nn.Sequential(nn.Conv1d(1, 4, 5, padding=2), nn.ReLU(), nn.Conv1d(4, 2, 3, padding=1))
    from bandlimit import compress_

    static = BandLimitConfig(rate=0.5)
    compress_(model, static)
    metrics = static.epoch_metrics(model, (1, 40))
    assert metrics["rate"] == 0.5 and 0.4 < metrics["achieved_rate"] < 0.6
    dynamic = BandLimitConfig(rate=0.0, energy=0.9)
    compress_(model, dynamic)
    dynamic.begin_epoch(model, 0, 1)
    model(torch.randn(4, 1, 40).cumsum(-1))  # smooth series: most energy at low frequencies
    metrics = dynamic.epoch_metrics(model, (1, 40))
    assert set(metrics["layer_rates"]) == {"0", "2"} and metrics["achieved_rate"] > 0
    assert dynamic.epoch_metrics(model, (1, 40))["layer_rates"] == {}  # read and reset: no calls since
