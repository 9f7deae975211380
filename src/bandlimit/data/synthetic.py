"""Synthetic sinusoids (``synthetic1d``, ``synthetic2d``): the class is the signal's frequency.

Each sample is ``a * sin(2*pi*<f, t> + phase) + noise`` with a random amplitude ``a`` in
[0.5, 1.5], a random phase and Gaussian noise (std 0.5). Its class picks the frequency, in
cycles per window: 2, 4, 8 or 16 over 64 points in 1D; a radius of 1, 2, 4 or 6 in a random
direction over 16x16 pixels in 2D. A small CNN learns either to ~100% in a few epochs, and
since the classes differ only in frequency, discarding high frequencies (a high compression
rate) visibly costs the higher classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .registry import register_dataset
from .types import DatasetInfo, Splits

__all__ = ["FREQUENCIES", "NUM_TEST", "NUM_TRAIN", "load", "make_signals"]

NUM_TRAIN, NUM_TEST = 512, 256
FREQUENCIES = {1: (2.0, 4.0, 8.0, 16.0), 2: (1.0, 2.0, 4.0, 6.0)}
SIZE = {1: 64, 2: 16}
NOISE = 0.5


def make_signals(n: int, ndim: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` labelled signals.

    Args:
        n: Number of samples; classes are balanced (to within one sample).
        ndim: 1 for ``(n, 1, 64)`` signals, 2 for ``(n, 1, 16, 16)`` images.
        rng: Source of all randomness.

    Returns:
        ``(x, y)``: ``x`` float32 ``(n, 1, *shape)``, ``y`` int64 ``(n,)`` in ``0..3``.
    """
    freqs = np.asarray(FREQUENCIES[ndim])
    size = SIZE[ndim]
    y = rng.permutation(np.arange(n) % len(freqs)).astype(np.int64)
    t = np.arange(size) / size
    if ndim == 1:
        phase_arg = freqs[y][:, None] * t  # (n, L): cycles travelled at each point
    else:
        angle = rng.uniform(0.0, np.pi, n)
        fx, fy = freqs[y] * np.cos(angle), freqs[y] * np.sin(angle)
        phase_arg = fx[:, None, None] * t[:, None] + fy[:, None, None] * t[None, :]
    expand = (slice(None),) + (None,) * ndim
    amplitude = rng.uniform(0.5, 1.5, n)[expand]
    phase = rng.uniform(0.0, 2 * np.pi, n)[expand]
    x = amplitude * np.sin(2 * np.pi * phase_arg + phase) + NOISE * rng.standard_normal(phase_arg.shape)
    return x[:, None].astype(np.float32), y


@register_dataset("synthetic1d", "synthetic2d")
def load(name: str, root: Path | None, download: bool, seed: int) -> Splits:
    """Generate ``synthetic1d`` or ``synthetic2d``.

    Args:
        name: ``"synthetic1d"`` or ``"synthetic2d"``.
        root: Unused: generating is faster than reading.
        download: Unused.
        seed: Generator seed: the same seed gives the same tensors; train and test are drawn
            from independent streams.

    Returns:
        Splits with 512 train and 256 test samples, 4 classes, ``x`` of shape ``(N, 1, 64)``
        or ``(N, 1, 16, 16)``.
    """
    ndim = 1 if name == "synthetic1d" else 2
    # Streams (seed, purpose 2, split): distinct from the `limit` shuffle's (purpose 1).
    x_train, y_train = make_signals(NUM_TRAIN, ndim, np.random.default_rng([seed, 2, 0]))
    x_test, y_test = make_signals(NUM_TEST, ndim, np.random.default_rng([seed, 2, 1]))
    info = DatasetInfo(name=name, in_channels=1, num_classes=len(FREQUENCIES[ndim]), input_shape=(SIZE[ndim],) * ndim)
    return Splits(x_train, y_train, x_test, y_test, info)
