"""The benchmark harness runs end to end on a tiny case (speed itself is not asserted)."""

import json

from bandlimit.bench import LayerCase, format_bench, run_benchmarks
from bandlimit.bench.layers import make_step, training_flops
from bandlimit.functional.cost import direct_conv_flops


def test_flop_counts():
    case = LayerCase(2, 4, 8, 16, 3, 0.5)
    assert training_flops(case, "direct") == 3 * 4 * direct_conv_flops(8, 8, 1, (3, 3), (16, 16))
    assert training_flops(case, "bandlimit") < training_flops(LayerCase(2, 4, 8, 16, 3, 0.0), "bandlimit")
    assert training_flops(case, "fft-conv-pytorch") is None


def test_steps_compute_gradients():
    for impl in ("direct", "bandlimit"):
        make_step(LayerCase(1, 2, 4, 32, 5, 0.3), impl)()


def test_suite_runs_and_reports(tmp_path):
    cases = [LayerCase(2, 2, 4, 8, 3, r) for r in (0.0, 0.85)]
    report = run_benchmarks(
        threads=[1], cases=cases, rounds=1, min_run_time=0.01, resnet=False, memory=False, log=lambda _: None
    )
    json.dumps(report)  # JSON-ready
    layer = report["threads"]["1"]["layers"][cases[1].name]
    assert layer["target_ratio"] == 0.5
    assert layer["results"]["bandlimit"]["ratio_vs_direct"] > 0
    text = format_bench(report)
    assert "time(rate 0.85) / time(rate 0)" in text and "measured peak" in text
