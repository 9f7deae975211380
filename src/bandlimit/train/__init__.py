"""Training and evaluation: configs, the loop, checkpoints, DDP, runs."""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import ConfigError, TrainConfig, apply_settings, load_config_file, setting_names
from .experiment import Experiment, build_experiment
from .run import evaluate_checkpoint, load_metrics, run_is_finished, train
from .state import TrainingState

__all__ = [
    "CheckpointError",
    "ConfigError",
    "Experiment",
    "TrainConfig",
    "TrainingState",
    "apply_settings",
    "build_experiment",
    "evaluate_checkpoint",
    "load_checkpoint",
    "load_config_file",
    "load_metrics",
    "run_is_finished",
    "save_checkpoint",
    "setting_names",
    "train",
]
