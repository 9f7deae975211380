"""The speed and memory benchmark suite behind ``bandlimit bench`` (method: benchmarks/README.md)."""

from .cases import LayerCase, default_cases
from .report import format_bench
from .run import run_benchmarks

__all__ = ["LayerCase", "default_cases", "format_bench", "run_benchmarks"]
