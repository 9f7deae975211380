"""Whole-step benchmarks run end to end on small batches (speed itself is not asserted)."""

import json

import pytest
import torch

from bandlimit.bench.report import format_steps
from bandlimit.bench.steps import StepCase, build_step, run_steps, saved_activation_bytes
from bandlimit.functional import fft_conv
from bandlimit.report import plot_memory_time


def test_steps_report_ratios_targets_and_plot(tmp_path):
    variants = ("bandlimit", "bandlimit+checkpoint")
    cases = [StepCase("fcn", 2, "nn.Conv")] + [StepCase("fcn", 2, v, 0.5) for v in variants]
    report = run_steps(cases, rounds=1, min_run_time=0.01, memory=False, log=lambda _: None)
    json.dumps(report)
    section = report["fcn batch 2"]
    checkpointed = section["bandlimit+checkpoint 0.5"]
    assert checkpointed["saved_bytes"] < section["bandlimit 0.5"]["saved_bytes"]
    assert checkpointed["time_vs_bandlimit"] > 0 and section["nn.Conv"]["saved_vs_plain"] == 1.0
    text = format_steps(report)
    assert "saved vs plain" in text and "(<= 0.5:" not in text  # targets are for batch 16
    for entry in section.values():
        entry["peak_bytes"] = 2**20  # the plot needs the peak, measured in fresh processes otherwise
    assert plot_memory_time(section, tmp_path / "m.png").stat().st_size > 1000


def test_torch_checkpoint_variants_train_and_are_not_counted_by_hooks():
    for granularity in ("block", "stage"):
        case = StepCase("resnet18", 2, f"torch.checkpoint:{granularity}")
        build_step(case)()
        assert saved_activation_bytes(case) is None


def test_inference_steps_are_timed_apart_and_keep_nothing():
    cases = [
        StepCase("fcn", 2, "nn.Conv", inference=True),
        StepCase("fcn", 2, "bandlimit+checkpoint", 0.5, inference=True),
    ]
    report = run_steps(cases, rounds=1, min_run_time=0.01, memory=False, log=lambda _: None)
    section = report["fcn batch 2 inference"]
    assert all(entry["saved_bytes"] is None for entry in section.values())
    assert "eval mode under no_grad" in format_steps(report)


@pytest.mark.parametrize(
    "device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA"))]
)
def test_steps_run_on_the_device_in_bf16_and_channels_last(device):
    case = StepCase("small_resnet", 2, "bandlimit", 0.5, precision="bf16", channels_last=True, device=device)
    assert case.name == "bandlimit 0.5+bf16+channels_last"
    build_step(case)()
    assert saved_activation_bytes(case) < saved_activation_bytes(StepCase("small_resnet", 2, "bandlimit", 0.5))


def test_a_forced_path_runs_the_whole_step_on_it(monkeypatch):
    """At rate 0 the cheaper path of the FCN's layers is the direct one; forcing the spectral path
    (the paper's full-spectrum FFT model) runs every call there, in forward and backward."""
    calls = {"spectral": 0, "direct": 0}
    for path, function in (("spectral", fft_conv.SpectralConv2d), ("direct", fft_conv.DirectConv2d)):

        def counted(ctx, *args, _forward=function.forward, _path=path):
            calls[_path] += 1
            return _forward(ctx, *args)

        monkeypatch.setattr(function, "forward", staticmethod(counted))
    spectral = StepCase("fcn", 2, "bandlimit", 0.0, path="spectral")
    assert spectral.name == "bandlimit 0.0+spectral"
    build_step(StepCase("fcn", 2, "bandlimit", 0.0))()
    assert calls["direct"] > 0 and calls["spectral"] == 0
    calls["direct"] = 0
    build_step(spectral)()
    assert calls["spectral"] > 0 and calls["direct"] == 0
