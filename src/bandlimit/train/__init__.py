"""Training and evaluation: configs, the loop, checkpoints, DDP, runs."""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import ConfigError, TrainConfig
from .config_file import load_config_file
from .describe import OperationCounts, operation_counts, summarize
from .experiment import Experiment, build_experiment
from .folder import RunPlan, check_out_dir, check_out_file, plan_run, run_is_finished
from .named_settings import apply_settings, setting_names
from .results import EpochRecord, RunResult, load_metrics, load_result
from .run import check_run, evaluate_checkpoint, train
from .state import TrainingState

__all__ = [
    "CheckpointError",
    "ConfigError",
    "EpochRecord",
    "Experiment",
    "OperationCounts",
    "RunPlan",
    "RunResult",
    "TrainConfig",
    "TrainingState",
    "apply_settings",
    "build_experiment",
    "check_out_dir",
    "check_run",
    "check_out_file",
    "evaluate_checkpoint",
    "load_checkpoint",
    "load_config_file",
    "load_metrics",
    "load_result",
    "operation_counts",
    "plan_run",
    "run_is_finished",
    "save_checkpoint",
    "setting_names",
    "summarize",
    "train",
]
