"""Training and evaluation: configs, the loop, checkpoints, memory measurement, DDP."""

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import ConfigError, TrainConfig, load_config_file
from .run import Experiment, build_experiment, evaluate_checkpoint, load_metrics, run_is_finished, train

__all__ = [
    "CheckpointError",
    "ConfigError",
    "Experiment",
    "TrainConfig",
    "build_experiment",
    "evaluate_checkpoint",
    "load_checkpoint",
    "load_config_file",
    "load_metrics",
    "run_is_finished",
    "save_checkpoint",
    "train",
]
