"""The speed and memory benchmark suite behind ``bandlimit bench`` (method: benchmarks/README.md)."""

from .cases import LayerCase, default_cases
from .report import format_bench
from .run import run_benchmarks
from .suite import bench_cases, measure_tradeoff, run_bench

__all__ = [
    "LayerCase",
    "bench_cases",
    "default_cases",
    "format_bench",
    "measure_tradeoff",
    "run_bench",
    "run_benchmarks",
]
