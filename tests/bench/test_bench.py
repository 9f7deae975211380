"""The benchmark harness runs end to end on a tiny case (speed itself is not asserted)."""

import json

import pytest
import torch

from bandlimit.bench import LayerCase, format_bench, run_benchmarks
from bandlimit.bench.layers import layer_inputs, make_step, training_flops
from bandlimit.functional.band import band_for_size
from bandlimit.functional.cost import direct_conv_flops, preferred_path
from bandlimit.functional.cost import training_flops as layer_training_flops
from bandlimit.functional.shape import ConvShape


def test_flop_counts():
    case = LayerCase(2, 4, 8, 16, 3, 0.5)
    assert training_flops(case, "direct") == 3 * 4 * direct_conv_flops(8, 8, 1, (3, 3), (16, 16))
    # A full band takes the direct path with nothing to low-pass: the direct convolution's count.
    assert training_flops(LayerCase(2, 4, 8, 16, 3, 0.0), "bandlimit") == training_flops(case, "direct")
    assert training_flops(LayerCase(2, 4, 8, 16, 3, 0.85), "bandlimit") < training_flops(case, "bandlimit")
    assert training_flops(case, "fft-conv-pytorch") is None


@pytest.mark.parametrize("ndim, kernel", [(2, 3), (2, 4), (1, 5)])
def test_bandlimit_flops_describe_the_layer_run(ndim, kernel):
    """The padding is folded into the transforms, and an even kernel grows the output by one."""
    case = LayerCase(ndim, 2, 4, 12, kernel, 0.5)
    p = kernel // 2
    padded, out = (12 + 2 * p,) * ndim, (12 + 2 * p - kernel + 1,) * ndim
    shape = ConvShape(4, 4, 1, (kernel,) * ndim, (12,) * ndim, ((p, p),) * ndim, (1,) * ndim, (1,) * ndim, 2)
    assert (shape.padded, shape.output_size) == (padded, out)
    band = band_for_size(padded, 0.5)
    path = preferred_path(shape, band, training=True, cached_filter=False)
    assert training_flops(case, "bandlimit") == layer_training_flops(shape, band, path=path)


def _step_gradients(case: LayerCase, impl: str) -> tuple[torch.Tensor, torch.Tensor]:
    x, w = layer_inputs(case)
    make_step(case, impl, inputs=(x, w))()
    return x.grad, w.grad


@pytest.mark.parametrize("ndim", [1, 2])
def test_steps_compute_the_gradients_of_the_layer(ndim):
    """At rate 0 the band-limited step's gradients are those of the direct convolution; at a
    positive rate they have the same shapes, are finite, and differ."""
    exact = LayerCase(ndim, 2, 4, 12, 5, 0.0)
    direct = _step_gradients(exact, "direct")
    for ours, ref in zip(_step_gradients(exact, "bandlimit"), direct):
        torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-4)
    compressed = _step_gradients(LayerCase(ndim, 2, 4, 12, 5, 0.5), "bandlimit")
    for ours, ref in zip(compressed, direct):
        assert ours.shape == ref.shape and ours.isfinite().all()
        assert not torch.allclose(ours, ref, rtol=1e-2, atol=1e-2)


def test_suite_runs_and_reports(tmp_path):
    cases = [LayerCase(2, 2, 4, 8, 3, r) for r in (0.0, 0.85)]
    report = run_benchmarks(
        threads=[1], cases=cases, rounds=1, min_run_time=0.01, steps=False, memory=False, log=lambda _: None
    )
    json.dumps(report)  # JSON-ready
    layer = report["threads"]["1"]["layers"][cases[1].name]
    assert layer["target_ratio"] == 0.5
    assert layer["results"]["bandlimit"]["ratio_vs_direct"] > 0
    text = format_bench(report)
    assert "time(rate 0.85) / time(rate 0)" in text and "measured peak" in text


def test_interleaved_timing_runs_at_the_callers_thread_count():
    """torch.utils.benchmark.Timer defaults to 1 thread; a 2-thread benchmark must not silently run at 1."""
    from bandlimit.bench.timing import time_interleaved

    seen = []
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        probe = {"probe": lambda: seen.append(torch.get_num_threads())}
        time_interleaved(probe, rounds=1, min_run_time=0.001, warmup=0)
    finally:
        torch.set_num_threads(previous)
    assert seen and set(seen) == {2}
