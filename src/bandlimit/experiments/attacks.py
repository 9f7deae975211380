"""Robustness of trained models: accuracy under random noise, adversarial attacks with foolbox,
and recovery of adversarial examples by band-limiting the input (paper: Figures 6 and 28).

The data sets are standardized (zero mean, unit variance per data set), so noise levels are in
units of the data's standard deviation, and attacks are bounded by the test set's range.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..functional.band import band_for_size
from ..functional.low_pass import band_low_pass

__all__ = ["ATTACKS", "CONVERGED", "attack", "band_limit_input", "noise_accuracy", "recovery"]

# name -> (foolbox attack class name, its arguments by the scale's ``steps``, fixed-epsilon attack?)
# The minimizing attacks' budgets were set where their medians settle, measured on the
# standard scale's plain Fashion-MNIST model (50 samples): Carlini-Wagner's median moved
# 1.24 -> 0.72 -> 0.67 at 100 / 400 / 1000 steps, the boundary attack's 6.8 -> 1.03 -> 0.88
# -> 0.84 at 1k / 10k / 25k / 50k steps. Each run reports the median at half its budget too.
ATTACKS: dict[str, tuple[str, Any, bool]] = {
    "FGSM (Linf)": ("FGSM", lambda steps: {}, True),
    # Step 2.5 epsilon / steps (Madry et al.): the iterations can cross the whole budget.
    "PGD (Linf)": ("LinfPGD", lambda steps: {"steps": steps, "rel_stepsize": 2.5 / steps}, True),
    "additive uniform noise (L2)": ("L2RepeatedAdditiveUniformNoiseAttack", lambda steps: {"repeats": steps}, True),
    "Carlini-Wagner (L2)": (
        "L2CarliniWagnerAttack",
        lambda steps: {"steps": 10 * steps, "binary_search_steps": 5, "initial_const": 1.0},
        False,
    ),
    "boundary (L2, decision-based)": ("BoundaryAttack", lambda steps: {"steps": 500 * steps}, False),
    "Gaussian blur": ("GaussianBlurAttack", lambda steps: {"steps": steps}, False),
}
CONVERGED = 0.1
"""A minimizing attack's median has converged if it moved by at most this fraction between half
the budget and the whole budget."""


@torch.no_grad()
def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> float:
    correct = sum(int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum()) for i in range(0, len(x), batch))
    return correct / max(1, len(x))


def noise_accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, sigmas: Sequence[float], seed: int = 0
) -> dict[str, list[float]]:
    """Test accuracy with Gaussian noise of standard deviation ``sigma``, and uniform noise of the
    same standard deviation (on ``[-sigma sqrt 3, sigma sqrt 3]``), added to every input.

    Returns:
        ``{"gaussian": [...], "uniform": [...]}``, one accuracy per sigma.
    """
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    out: dict[str, list[float]] = {"gaussian": [], "uniform": []}
    for sigma in sigmas:
        gaussian = torch.randn(x.shape, generator=generator) * sigma
        uniform = (torch.rand(x.shape, generator=generator) * 2 - 1) * sigma * math.sqrt(3)
        out["gaussian"].append(_accuracy(model, x + gaussian, y))
        out["uniform"].append(_accuracy(model, x + uniform, y))
    return out


def attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    name: str,
    epsilons: Sequence[float],
    bounds: tuple[float, float],
    steps: int,
) -> dict[str, Any]:
    """One foolbox attack on the samples ``model`` classifies correctly.

    Fixed-epsilon attacks give the accuracy at each epsilon (an Linf budget; for the L2 noise
    attack, ``epsilon * sqrt(values per sample)``, the L2 norm of an even Linf change), over
    all samples with the misclassified ones counting as wrong, and, per attacked sample, the
    smallest epsilon that fooled it; the
    minimizing attacks give the size of the perturbation they found (L2 norm of the adversarial
    minus the input; for the blur, of the blurred image's difference). ``median_size`` is the
    median over the attacked samples, counting a sample the attack did not fool as infinite;
    ``median_size_half_budget`` the same at half the budget (Carlini-Wagner and boundary: has it
    converged?); ``sizes`` the size per sample of ``x``, None where the model misclassifies it.
    """
    import foolbox

    model.eval()
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    xs, ys = x[correct], y[correct]
    result: dict[str, Any] = {"samples": len(x), "attacked": len(xs), "clean_accuracy": float(correct.float().mean())}
    if len(xs) == 0:
        return {**result, "median_size": None, "accuracy": None}
    fmodel = foolbox.PyTorchModel(model, bounds=bounds)
    cls, arguments, fixed = ATTACKS[name]
    if fixed:
        attack_ = getattr(foolbox.attacks, cls)(**arguments(steps))
        scale = math.sqrt(xs[0].numel()) if name.endswith("(L2)") else 1.0
        _, _, success = attack_(fmodel, xs, ys, epsilons=[e * scale for e in epsilons])
        fooled = success.cpu()  # (epsilons, samples)
        result["accuracy"] = [float(correct.sum() - f.sum()) / len(x) for f in fooled]
        first = torch.where(fooled.any(0), fooled.float().argmax(0), len(epsilons))
        sizes = [epsilons[i] if i < len(epsilons) else math.inf for i in first.tolist()]
    else:
        halfway, sizes = _minimized_sizes(fmodel, model, xs, ys, cls, arguments, steps)
        if halfway is not None:
            result["median_size_half_budget"] = statistics.median(halfway)
    result["median_size"] = statistics.median(sizes)
    result["fooled"] = sum(math.isfinite(s) for s in sizes) / len(sizes)
    # Per test sample, None where the model misclassifies it (pairs models sample by sample).
    each = iter(sizes)
    result["sizes"] = [next(each) if c else None for c in correct.tolist()]
    return result


def _minimized_sizes(
    fmodel: Any, model: nn.Module, xs: torch.Tensor, ys: torch.Tensor, cls: str, arguments: Any, steps: int
) -> tuple[list[float] | None, list[float]]:
    """The L2 size of the perturbation a minimizing attack finds per sample (inf where it fails),
    at half the budget (None for the blur, which searches a fixed grid of blur widths) and at
    the whole budget. The boundary attack goes on from its halfway adversarials (no work is
    repeated); Carlini-Wagner runs at each budget."""
    import foolbox

    budgets = {"GaussianBlurAttack": (steps,), "BoundaryAttack": (steps // 2, steps - steps // 2)}
    runs: list[list[float]] = []
    chosen = torch.arange(len(xs))
    start = None
    if cls == "BoundaryAttack":
        # A decision-based attack starts from an input of another class: the first such
        # attacked sample (foolbox's own start, blended noise, fails on confident models).
        with torch.no_grad():
            predicted = model(xs).argmax(1)
        other = (predicted[None, :] != ys[:, None]).float()
        chosen = torch.nonzero(other.any(1)).flatten()
        start = xs[other[chosen].argmax(1)]
    for budget in budgets.get(cls, (steps // 2, steps)):
        sizes = [math.inf] * len(xs)
        if len(chosen) and budget > 0:
            attack_ = getattr(foolbox.attacks, cls)(**arguments(budget))
            kwargs = {} if start is None else {"starting_points": start}
            _, clipped, success = attack_(fmodel, xs[chosen], ys[chosen], epsilons=None, **kwargs)
            norms = (clipped - xs[chosen]).flatten(1).norm(dim=1).cpu()
            for i, n, s in zip(chosen.tolist(), norms, success.cpu()):
                sizes[i] = float(n) if s else math.inf
            if start is not None:  # the boundary attack's second half goes on from what it found
                start = torch.where(success.view(-1, *[1] * (xs.dim() - 1)), clipped, start)
        runs.append(sizes)
    return (runs[0] if len(runs) > 1 else None), runs[-1]


def band_limit_input(x: torch.Tensor, rate: float) -> torch.Tensor:
    """``x`` ``(B, C, H, W)`` low-passed onto the band a layer would keep of it at ``rate``
    (zero-padded FFT grid of the input's own size): the paper's defence by compression."""
    band = band_for_size(tuple(x.shape[-2:]), rate)
    low: torch.Tensor = band_low_pass(x, band, x.shape[-2], x.shape[-1])
    return low


def recovery(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epsilon: float,
    bounds: tuple[float, float],
    steps: int,
    rates: Sequence[float],
) -> dict[str, Any]:
    """PGD (Linf) adversarial examples at ``epsilon`` against ``model``, then the model's accuracy
    on them and on the clean inputs after band-limiting the inputs at each of ``rates``."""
    import foolbox

    model.eval()
    fmodel = foolbox.PyTorchModel(model, bounds=bounds)
    pgd = foolbox.attacks.LinfPGD(steps=steps, rel_stepsize=2.5 / steps)
    _, adversarial, _ = pgd(fmodel, x, y, epsilons=epsilon)
    return {
        "epsilon": epsilon,
        "rates": list(rates),
        "adversarial": [_accuracy(model, band_limit_input(adversarial, r) if r else adversarial, y) for r in rates],
        "clean": [_accuracy(model, band_limit_input(x, r) if r else x, y) for r in rates],
    }
