"""Tables and plots of results."""

from .plots import plot_memory_time, plot_rate_tradeoff
from .table import format_table

__all__ = ["format_table", "plot_memory_time", "plot_rate_tradeoff"]
