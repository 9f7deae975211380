"""Ternary quantisation with straight-through gradients (StrassenNets' W_b and W_c).

``ternary(w, "fixed", threshold)`` maps each weight to -1, 0 or +1 (0 where ``|w| <=
threshold``); ``ternary(w, "twn")`` uses the threshold of Ternary Weight Networks (Li et al.
2016), ``0.7 * mean(|w|)``. The forward is the quantised tensor; the backward passes the
gradient through unchanged (the straight-through estimator of Bengio et al. 2013), so the
full-precision weights keep learning. The TWN scale ``mean(|w| : |w| > threshold)`` is
returned separately by :func:`twn_scale`: StrassenNets folds it into the full-precision vector
that follows, so the quantised values themselves stay in {-1, 0, 1}.
"""

from __future__ import annotations

import torch

__all__ = ["MODES", "ternary", "ternary_threshold", "twn_scale"]

MODES = ("fixed", "twn")


def ternary_threshold(weight: torch.Tensor, mode: str, threshold: float = 0.5) -> torch.Tensor:
    """The threshold below which ``|weight|`` becomes 0: ``threshold`` (fixed) or
    ``0.7 * mean(|weight|)`` (TWN), as a 0-dimensional tensor."""
    if mode == "fixed":
        return weight.new_tensor(threshold)
    if mode == "twn":
        return 0.7 * weight.detach().abs().mean()
    raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")


def ternary(weight: torch.Tensor, mode: str = "fixed", threshold: float = 0.5) -> torch.Tensor:
    """``sign(weight)`` where ``|weight| > threshold``, else 0; the gradient passes straight through.

    Args:
        weight: any shape.
        mode: ``fixed`` (``threshold``) or ``twn`` (``0.7 * mean(|weight|)``).
    """
    delta = ternary_threshold(weight, mode, threshold)
    quantised = torch.sign(weight) * (weight.abs() > delta)
    return weight + (quantised - weight).detach()


def twn_scale(weight: torch.Tensor, mode: str = "twn", threshold: float = 0.5) -> torch.Tensor:
    """The mean magnitude of the weights that :func:`ternary` keeps (1 if none): the scale that
    makes ``scale * ternary(weight)`` the best ternary approximation of ``weight`` (TWN)."""
    magnitude = weight.detach().abs()
    kept = magnitude > ternary_threshold(weight, mode, threshold)
    return magnitude[kept].mean() if bool(kept.any()) else weight.new_tensor(1.0)
