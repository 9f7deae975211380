"""Plots of trade-off curves (accuracy, time and memory against the compression rate)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..io import atomic_write_bytes
from .render import plt as _plt

__all__ = ["critical_difference", "heatmap", "plot_memory_time", "plot_rate_tradeoff"]


def plot_rate_tradeoff(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Test accuracy, epoch time and bytes saved for backward against the achieved rate.

    Args:
        rows: one dict per band-limited run with ``achieved_rate``, ``test_acc``,
            ``epoch_time_s``, ``saved_mib``, ``conv_saved_mib`` and optionally ``ckpt_saved_mib``
            (with spectral checkpoints); an optional baseline row has ``baseline=True``
            and is drawn as a horizontal line.
        path: the PNG to write (atomically).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = sorted((r for r in rows if not r.get("baseline")), key=lambda r: r["achieved_rate"])
    base = next((r for r in rows if r.get("baseline")), None)
    panels = [
        ("test accuracy", [("test_acc", "")]),
        ("epoch time (s)", [("epoch_time_s", "")]),
        (
            "saved for backward (MiB)",
            [
                ("saved_mib", "whole step"),
                ("ckpt_saved_mib", "whole step, spectral checkpoints"),
                ("conv_saved_mib", "convolutions"),
            ],
        ),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (label, series) in zip(axes, panels):
        for (key, part), color in zip(series, ("C0", "C2", "C1")):
            if any(r.get(key) is None for r in curve):  # a column this sweep did not measure
                continue
            x = [r["achieved_rate"] for r in curve]
            ax.plot(x, [r[key] for r in curve], "o-", color=color, label=f"band-limited {part}".strip())
            if base is not None and base.get(key) is not None:
                ax.axhline(
                    base[key],
                    color=color,
                    linestyle="--",
                    alpha=0.6,
                    label=f"{base.get('label', 'baseline')} {part}".strip(),
                )
        ax.set_xlabel("achieved compression rate (mean over layers)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=7)
    axes[0].legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_memory_time(section: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Peak memory against step time, one point per variant of a model (``bench.steps.run_steps`` output).

    Band-limited variants are joined by rate; ``torch.utils.checkpoint`` granularities and the
    plain model are single points.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    series: dict[str, list[tuple[float, float, float]]] = {}
    for name, e in section.items():
        variant, rate = e["case"]["variant"], e["case"]["rate"]
        point = (e["median_s"], e["peak_bytes"] / 2**20, rate)
        if variant.startswith("bandlimit"):
            series.setdefault(variant, []).append(point)
        else:
            ax.plot(point[0], point[1], "s" if variant == "nn.Conv" else "^", markersize=9, label=name)
    for variant, points in series.items():
        points.sort(key=lambda p: p[2])
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=f"{variant} (rate labelled)")
        for t, m, r in points:
            ax.annotate(f"{r:g}", (t, m), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("training step time (s, 1 thread)")
    ax.set_ylabel("peak memory of the step (MiB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


def heatmap(matrix: Any, labels: Sequence[str], path: str | Path, title: str, axis: str = "setting") -> Path:
    """Accuracy ``(n, n)`` (fractions, shown in %) of models trained at each row's ``axis`` and
    tested at each column's."""
    fig, ax = _plt().subplots(figsize=(5.2, 4.2))
    image = ax.imshow(matrix, cmap="viridis")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{100 * matrix[i][j]:.1f}", ha="center", va="center", color="w", fontsize=9)
    ax.set_xticks(range(len(labels)), labels, rotation=20)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel(f"inference {axis}")
    ax.set_ylabel(f"training {axis}")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image)
    return _save(fig, path)


def critical_difference(
    ranks: Mapping[str, float],
    p_values: Sequence[Sequence[float]],
    cd: float,
    alpha: float,
    path: str | Path,
    title: str,
) -> Path:
    """The critical-difference diagram: methods on the average-rank axis (``ranks``), joined by
    bars where the pairwise Nemenyi ``p_values`` (in the order of ``ranks``) are at least ``alpha``."""
    import pandas as pd
    import scikit_posthocs

    names = list(ranks)
    fig, ax = _plt().subplots(figsize=(7, 1.2 + 0.35 * len(names)))
    frame = pd.DataFrame([list(row) for row in p_values], index=names, columns=names)
    scikit_posthocs.critical_difference_diagram(pd.Series(ranks), frame, ax=ax, alpha=alpha, cd=cd)
    ax.set_xlabel(title)  # below the diagram: above it sit the rank axis and the CD bar
    return _save(fig, path)


def _save(fig: Any, path: str | Path) -> Path:
    """Write ``fig`` as a PNG atomically and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
