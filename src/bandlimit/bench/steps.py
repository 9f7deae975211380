"""Whole training steps (forward, backward, optimizer step) of a model, by how it is compressed.

Variants of one model and batch: ``nn.Conv`` (the plain model), ``bandlimit`` at a rate,
``bandlimit+checkpoint`` (spectral checkpoints), ``bandlimit+pays`` (band-limited only where
it pays), ``bandlimit+dct`` (the DCT-II basis), and, as the anchor a user would pick to save
memory, ``torch.utils.checkpoint`` on the plain model at a granularity (``block``: each
residual block; ``stage``: each stage of blocks). Any variant can run under bf16 autocast
(``precision="bf16"``), the paper's main baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..compress import BandLimitConfig, PrecisionConfig, compress_
from ..functional import forced_path
from ..memory import count_saved_bytes
from ..models import create_model
from .memory import cuda_peak_step_bytes, peak_step_bytes
from .timing import time_interleaved

__all__ = ["StepCase", "build_step", "default_step_cases", "run_steps", "saved_activation_bytes", "tradeoff_cases"]

# The band-limiting options of the band-limited variants beyond "bandlimit".
_VARIANT_OPTIONS: dict[str, dict[str, Any]] = {
    "bandlimit+checkpoint": {"checkpoint": True},
    "bandlimit+pays": {"where_it_pays": True},
    "bandlimit+dct": {"basis": "dct"},
}
# (channels, spatial shape, classes) of the data each model is measured on.
_DATA = {  # CIFAR-10; UCR FiftyWords; Fashion-MNIST
    "resnet18": (3, (32, 32), 10),
    "fcn": (1, (270,), 50),
    "small_resnet": (1, (28, 28), 10),
}


@dataclass(frozen=True)
class StepCase:
    """One model, batch and variant.

    Attributes:
        model: ``resnet18`` (CIFAR) or ``fcn`` (UCR FiftyWords shapes).
        batch: samples per step.
        variant: ``nn.Conv``, ``bandlimit``, ``bandlimit+checkpoint`` (spectral checkpoints),
            ``bandlimit+pays`` (the where-it-pays mode), ``bandlimit+dct`` (the DCT-II basis) or
            ``torch.checkpoint:<block|stage>``.
        rate: compression rate of the band-limited variants.
        inference: a forward in eval mode under ``no_grad`` instead of a training step.
        precision: ``fp32``, or ``bf16`` / ``fp16`` for the forward under autocast on the
            case's device (:class:`bandlimit.compress.PrecisionConfig`).
        model_kwargs: extra arguments of the model's factory.
        channels_last: the model's weights and the input in channels_last (oneDNN's fast layout).
        device: ``cpu`` or ``cuda``.
        path: ``auto`` (each band-limited call's cheaper path), or ``spectral`` / ``direct`` to
            force one (:func:`bandlimit.functional.plan.forced_path`); ``spectral`` at rate 0
            is the paper's full-spectrum FFT model, Figure 7's reference.
    """

    model: str
    batch: int
    variant: str
    rate: float = 0.0
    inference: bool = False
    precision: str = "fp32"
    model_kwargs: tuple[tuple[str, Any], ...] = ()
    channels_last: bool = False
    device: str = "cpu"
    path: str = "auto"

    @property
    def name(self) -> str:
        name = self.variant + (f" {self.rate}" if self.variant.startswith("bandlimit") else "")
        name += f"+{self.path}" if self.path != "auto" else ""
        name += f"+{self.precision}" if self.precision != "fp32" else ""
        return name + ("+channels_last" if self.channels_last else "")


class _Checkpointed(nn.Module):
    """Runs ``module`` under ``torch.utils.checkpoint`` (non-reentrant): its activations are recomputed."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = checkpoint(self.module, x, use_reentrant=False)
        return out


def _model(case: StepCase) -> nn.Module:
    channels, _, classes = _DATA[case.model]
    torch.manual_seed(0)
    model = create_model(case.model, channels, classes, **dict(case.model_kwargs))
    if case.variant.startswith("bandlimit"):
        compress_(model, BandLimitConfig(rate=case.rate, **_VARIANT_OPTIONS.get(case.variant, {})))
    elif case.variant.startswith("torch.checkpoint:"):
        stages = model.get_submodule("stages")
        assert isinstance(stages, nn.Sequential)
        if case.variant.endswith("stage"):
            for i, stage in enumerate(stages):
                stages[i] = _Checkpointed(stage)
        else:
            for stage in stages:
                assert isinstance(stage, nn.Sequential)
                for i, block in enumerate(stage):
                    stage[i] = _Checkpointed(block)
    if case.precision != "fp32":
        compress_(model, PrecisionConfig(dtype=case.precision))
    model.to(case.device)
    if case.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs omit it
    return model


def _input(case: StepCase, generator: torch.Generator | None = None) -> torch.Tensor:
    channels, spatial, _ = _DATA[case.model]
    x = torch.randn(case.batch, channels, *spatial, generator=generator).to(case.device)
    return x.to(memory_format=torch.channels_last) if case.channels_last else x


def build_step(case: StepCase) -> Callable[[], None]:
    """A closure running one SGD training step (or one inference forward) of the case on fixed
    random data (module-level, for fresh processes)."""
    classes = _DATA[case.model][2]
    model = _model(case)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    generator = torch.Generator().manual_seed(0)
    x = _input(case, generator)
    y = torch.randint(0, classes, (case.batch,), generator=generator).to(case.device)
    if case.inference:
        model.eval()

        @torch.no_grad()
        def infer() -> None:
            with forced_path(case.path):
                model(x)

        infer()
        return infer

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with forced_path(case.path):  # the backward runs the path its forward chose
            out = model(x)
        F.cross_entropy(out.float(), y).backward()
        optimizer.step()

    step()  # the optimizer's state and the layers' caches exist from here on: steps are alike
    return step


def saved_activation_bytes(case: StepCase) -> int | None:
    """Bytes the forward keeps for backward, parameters excluded (they are alive anyway).

    None for ``torch.utils.checkpoint``: it keeps its inputs outside autograd's saved tensors,
    where the hooks cannot count them (compare its peak memory instead).
    """
    if case.variant.startswith("torch.checkpoint") or case.inference:
        return None
    model = _model(case)
    x = _input(case)
    with count_saved_bytes(exclude=model.parameters()) as saved, forced_path(case.path):
        model(x)
    return saved.total


def default_step_cases() -> list[StepCase]:
    """The whole-step table of the memory issue, with the torch.utils.checkpoint anchors."""
    cases = []
    for batch in (32, 128):
        rates = (0.0, 0.5, 0.85) if batch == 32 else (0.5,)
        cases.append(StepCase("resnet18", batch, "nn.Conv"))
        cases += [StepCase("resnet18", batch, v, r) for r in rates for v in ("bandlimit", "bandlimit+checkpoint")]
        cases += [StepCase("resnet18", batch, f"torch.checkpoint:{g}") for g in ("block", "stage")]
    cases.append(StepCase("fcn", 16, "nn.Conv"))
    cases += [StepCase("fcn", 16, v, 0.5) for v in ("bandlimit", "bandlimit+checkpoint")]
    cases.append(StepCase("resnet18", 32, "nn.Conv", inference=True))
    cases += [StepCase("resnet18", 32, "bandlimit+checkpoint", r, inference=True) for r in (0.0, 0.5, 0.85)]
    return cases


def tradeoff_cases(model: str = "resnet18", batch: int = 32) -> list[StepCase]:
    """Memory against time: spectral checkpoints at rates 0 to 0.9, and torch.utils.checkpoint granularities."""
    cases = [StepCase(model, batch, "nn.Conv")]
    cases += [StepCase(model, batch, "bandlimit+checkpoint", r) for r in (0.0, 0.25, 0.5, 0.75, 0.9)]
    cases += [StepCase(model, batch, "bandlimit", r) for r in (0.0, 0.5, 0.9)]
    cases += [StepCase(model, batch, f"torch.checkpoint:{g}") for g in ("block", "stage")]
    return cases


def run_steps(
    cases: Sequence[StepCase],
    rounds: int = 3,
    min_run_time: float = 0.5,
    memory: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Time (interleaved per model and batch), saved bytes and peak memory of each case.

    Returns:
        ``{"<model> batch <B>": {case name: {median_s, iqr_s, saved_bytes, peak_bytes, ...ratios}}}``,
        ratios relative to the ``nn.Conv`` variant of the same model and batch.
    """
    groups: dict[str, list[StepCase]] = {}
    for case in cases:
        groups.setdefault(f"{case.model} batch {case.batch}" + (" inference" if case.inference else ""), []).append(
            case
        )
    report: dict[str, Any] = {}
    for title, group in groups.items():
        times = time_interleaved({c.name: build_step(c) for c in group}, rounds=rounds, min_run_time=min_run_time)
        section = {}
        for case in group:
            entry: dict[str, Any] = {"case": case.__dict__, "threads": torch.get_num_threads(), **times[case.name]}
            entry["saved_bytes"] = saved_activation_bytes(case)
            if memory:
                peak = cuda_peak_step_bytes if case.device == "cuda" else peak_step_bytes
                entry["peak_bytes"] = peak(build_step, case)
            section[case.name] = entry
        base = section.get("nn.Conv")
        for entry in section.values():
            if base is not None:
                entry["time_vs_plain"] = entry["median_s"] / base["median_s"]
                if entry["saved_bytes"] is not None:
                    entry["saved_vs_plain"] = entry["saved_bytes"] / base["saved_bytes"]
                if memory:
                    entry["peak_vs_plain"] = entry["peak_bytes"] / max(1, base["peak_bytes"])
        for name, entry in section.items():
            if name.startswith("bandlimit+checkpoint"):
                plain_band = section.get(name.replace("bandlimit+checkpoint", "bandlimit"))
                if plain_band is not None:
                    entry["time_vs_bandlimit"] = entry["median_s"] / plain_band["median_s"]
        report[title] = section
        log(f"  {title}: " + ", ".join(f"{k} {v['median_s']:.3f} s" for k, v in section.items()))
    return report
