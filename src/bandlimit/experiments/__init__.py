"""The paper's experiments as functions: sweeps over configurations and the demo."""

from .demo import DEMO, DEMO_RATES, run_demo
from .sweep import expand_grid, run_name, run_sweep

__all__ = ["DEMO", "DEMO_RATES", "expand_grid", "run_demo", "run_name", "run_sweep"]
