"""What `bandlimit bench` runs, as library functions, on tiny cases (speed itself is not asserted)."""

import json

import matplotlib.image
import pytest
import torch

from bandlimit.bench import LayerCase, bench_cases, default_cases, format_bench, measure_tradeoff, run_bench
from bandlimit.bench.steps import StepCase
from bandlimit.errors import BandlimitError, ConfigError

TINY = [LayerCase(2, 2, 4, 8, 3, 0.0), LayerCase(2, 2, 4, 8, 3, 0.85)]
FAST = {"threads": [1], "rounds": 1, "min_run_time": 0.01}


def _refuse(line: str) -> None:
    raise AssertionError(f"measured before refusing: {line}")


def test_quick_cases_are_the_3x3_layers():
    assert bench_cases() == default_cases()
    quick = bench_cases(quick=True)
    assert [c.rate for c in quick] == [0.0, 0.5, 0.85]
    assert all(c.kernel == 3 and c.batch == 32 for c in quick)


def test_run_writes_the_report_it_returns(tmp_path):
    out = tmp_path / "bench.json"
    report = run_bench(cases=TINY, steps=False, memory=False, out=out, log=lambda _: None, **FAST)
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert set(report) == {"machine", "method", "threads"}  # no steps, memory or trade-off asked for
    layers = report["threads"]["1"]["layers"]
    assert list(layers) == [c.name for c in TINY]
    assert layers[TINY[1].name]["results"]["bandlimit"]["median_s"] > 0
    assert "time(rate 0.85) / time(rate 0)" in format_bench(report)


def test_quick_takes_two_rounds_and_no_steps_or_memory(tmp_path):
    report = run_bench(cases=TINY[:1], threads=[1], rounds=7, min_run_time=0.01, quick=True, log=lambda _: None)
    assert report["method"]["rounds"] == 2
    assert "steps" not in report and "memory" not in report
    assert not list(tmp_path.iterdir())  # no out, no plot: nothing written


@pytest.mark.parametrize(
    ("files", "flag"),
    [({"out": "missing/r.json"}, "--out"), ({"plot": "."}, "--plot"), ({"out": ""}, "--out")],
    ids=["out-in-missing-folder", "plot-is-a-folder", "empty-out"],
)
def test_paths_are_refused_before_measuring(tmp_path, monkeypatch, files, flag):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=flag):
        run_bench(cases=TINY, log=_refuse, **FAST, **files)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("options", "name"),
    [({"threads": [0]}, "threads"), ({"threads": []}, "threads"), ({"rounds": 0}, "rounds")],
    ids=["zero-threads", "no-threads", "zero-rounds"],
)
def test_bad_arguments_name_themselves(options, name):
    with pytest.raises(BandlimitError, match=name):
        run_bench(**{**FAST, "cases": TINY, **options, "log": _refuse})


@pytest.mark.slow
def test_tradeoff_measures_memory_and_time_at_one_thread_and_plots(tmp_path):
    cases = [StepCase("fcn", 2, "nn.Conv"), StepCase("fcn", 2, "bandlimit+checkpoint", 0.5)]
    previous = torch.get_num_threads()
    section = measure_tradeoff(tmp_path / "m.png", cases=cases, rounds=1, min_run_time=0.01, log=lambda _: None)
    assert torch.get_num_threads() == previous
    assert list(section) == ["nn.Conv", "bandlimit+checkpoint 0.5"]
    for entry in section.values():
        assert entry["threads"] == 1 and entry["median_s"] > 0 and entry["peak_bytes"] >= 0
    assert section["nn.Conv"]["peak_vs_plain"] == 1.0
    assert matplotlib.image.imread(tmp_path / "m.png").shape[1] > 400


@pytest.mark.parametrize(
    "cases",
    [
        [],
        [StepCase("fcn", 2, "nn.Conv"), StepCase("fcn", 4, "nn.Conv")],
        [StepCase("fcn", 2, "nn.Conv", inference=True)],
    ],
    ids=["none", "two-batches", "inference"],
)
def test_tradeoff_refuses_cases_that_are_not_one_training_section(tmp_path, cases):
    with pytest.raises(ConfigError, match="cases"):
        measure_tradeoff(tmp_path / "m.png", cases=cases, log=_refuse)
    assert not list(tmp_path.iterdir())
