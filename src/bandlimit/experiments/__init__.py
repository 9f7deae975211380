"""The paper's experiments as functions: sweeps over configurations and the demo."""

from .demo import DemoSpec, run_demo
from .sweep import expand_grid, run_name, run_sweep

__all__ = ["DemoSpec", "expand_grid", "run_demo", "run_name", "run_sweep"]
