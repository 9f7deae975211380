"""Everything a run carries from one epoch to the next, saved and restored as one object."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..compress.precision import needs_grad_scaler
from .config import TrainConfig

__all__ = ["TrainingState"]

Scheduler = torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau


@dataclass
class TrainingState:
    """The model, optimizer, scheduler and scaler of a run, the epochs done and their metrics.

    :meth:`state_dict` and :meth:`load_state_dict` mirror each other (and the torch RNG), so a
    run restored from a checkpoint continues exactly where it stopped.
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Scheduler | None = None
    scaler: torch.amp.GradScaler | None = None
    epoch: int = 0
    metrics: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def create(cls, config: TrainConfig, model: nn.Module, device: torch.device) -> TrainingState:
        """A fresh state for ``config``: its optimizer and schedule over ``model``'s parameters."""
        optimizer: torch.optim.Optimizer
        if config.optimizer == "sgd":
            optimizer = torch.optim.SGD(
                model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
            )
        else:
            optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        scheduler: Scheduler | None = None
        if config.schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
        elif config.schedule == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, factor=config.plateau_factor, patience=config.plateau_patience, min_lr=config.plateau_min_lr
            )
        scaler = torch.amp.GradScaler(device.type) if needs_grad_scaler(config.compression) else None
        return cls(model, optimizer, scheduler, scaler)

    def end_epoch(self, record: dict[str, Any], **extra: Any) -> None:
        """Step the schedule on the finished epoch's ``record`` and append it to the metrics."""
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(record["loss"])
        elif self.scheduler is not None:
            self.scheduler.step()
        self.epoch += 1
        record.update(epoch=self.epoch, lr=self.optimizer.param_groups[0]["lr"], **extra)
        self.metrics.append(record)

    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "model_state": self.model.state_dict(),
            "optimizer_state": self.optimizer.state_dict(),
            "scheduler_state": self.scheduler.state_dict() if self.scheduler is not None else None,
            "scaler_state": self.scaler.state_dict() if self.scaler is not None else None,
            "rng_state": torch.get_rng_state(),
            "metrics": self.metrics,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.model.load_state_dict(state["model_state"])
        self.optimizer.load_state_dict(state["optimizer_state"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler_state"])
        if self.scaler is not None:
            self.scaler.load_state_dict(state["scaler_state"])
        torch.set_rng_state(state["rng_state"])
        self.metrics = [dict(m) for m in state["metrics"]]
