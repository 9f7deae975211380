"""A whole training run: build, train with per-epoch checkpoints and metrics, resume, evaluate.

Files in the run folder:
    config.json      the TrainConfig
    metrics.jsonl    one record per finished epoch (replaced atomically each epoch)
    checkpoint.pt    the state after the last finished epoch (replaced atomically)
    result.json      written last: the run finished (a sweep skips runs that have it)
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..compress import BandLimitConfig, compress_, summary
from ..data import load_dataset
from ..models import create_model, model_ndim
from .checkpoint import CheckpointError, atomic_write_text, load_checkpoint, read_jsonl, save_checkpoint, write_jsonl
from .config import ConfigError, TrainConfig
from .distributed import DistContext, setup_distributed
from .loop import epoch_generator, evaluate, train_epoch
from .memory import peak_memory_bytes

__all__ = ["Experiment", "build_experiment", "train", "evaluate_checkpoint", "run_is_finished"]

CHECKPOINT, METRICS, RESULT, CONFIG = "checkpoint.pt", "metrics.jsonl", "result.json", "config.json"


@dataclass
class Experiment:
    """A model with its data, ready to train or evaluate."""

    config: TrainConfig
    model: nn.Module
    train_data: tuple[torch.Tensor, torch.Tensor]
    test_data: tuple[torch.Tensor, torch.Tensor]
    input_shape: tuple[int, ...]  # (C, *spatial)
    achieved_rate: float  # mean achieved rate over the band-limited layers
    conv_saved_bytes_per_sample: float  # bytes the convolutions keep for backward, per sample


def build_experiment(config: TrainConfig, device: torch.device | str = "cpu") -> Experiment:
    """Load the data, create the model from ``config.seed`` and band-limit it at ``config.rate``."""
    train_set, test_set, info = load_dataset(config.data, root=config.data_root, limit=config.limit, seed=config.seed)
    if model_ndim(config.model) != info.ndim:
        raise ConfigError(
            f"model {config.model!r} takes {model_ndim(config.model)}D inputs but data {config.data!r} is {info.ndim}D"
        )
    torch.manual_seed(config.seed)
    model = create_model(config.model, info.in_channels, info.num_classes, **config.model_kwargs)
    if config.method == "bandlimit":
        compress_(model, BandLimitConfig(rate=config.rate, overrides=config.rate_overrides))
    model.to(device)
    input_shape = (info.in_channels, *info.input_shape)
    rate, saved = layer_stats(model, input_shape)
    return Experiment(
        config=config,
        model=model,
        train_data=tuple(train_set.tensors),
        test_data=tuple(test_set.tensors),
        input_shape=input_shape,
        achieved_rate=rate,
        conv_saved_bytes_per_sample=saved,
    )


def layer_stats(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[float, float]:
    """Achieved rate averaged over the band-limited layers (the paper's x-axis; 0 if none),
    and the bytes all convolutions keep for backward per sample."""
    rows = summary(model, (2, *input_shape))
    limited = [r.rate for r in rows if r.grid is not None]
    return (sum(limited) / len(limited) if limited else 0.0), sum(r.saved_bytes_per_sample for r in rows)


def _optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def _scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer):
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=5)
    return None


def _seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic)


def _same_run(saved: dict[str, Any], config: TrainConfig) -> None:
    """A checkpoint resumes a run only if everything but the epoch count matches."""
    ours = config.to_dict()
    # A cosine schedule's length is part of its state: more epochs would be another schedule.
    free = () if config.schedule == "cosine" else ("epochs",)
    diffs = [k for k in ours if k not in free and saved.get(k) != ours[k]]
    if diffs:
        k = diffs[0]
        raise CheckpointError(f"checkpoint was written for {k}={saved.get(k)!r}, not {k}={ours[k]!r}")


def train(
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = False,
    ctx: DistContext | None = None,
    log=print,
) -> dict[str, Any]:
    """Train ``config`` and write its run folder; return the final result record.

    Args:
        config: the run.
        out_dir: the run folder (created).
        resume: continue from ``out_dir/checkpoint.pt`` if it exists (exactly where it stopped).
        progress: show progress bars.
        ctx: the distributed context (``setup_distributed()`` under torchrun); single process by default.
        log: called with one line per epoch (on the main process).
    """
    ctx = ctx or setup_distributed()
    out = Path(out_dir)
    if ctx.is_main:
        _prepare_folder(out)
        (out / RESULT).unlink(missing_ok=True)  # the run is not finished until it writes this again
    _seed_everything(config.seed, config.deterministic)
    exp = build_experiment(config, ctx.device)
    model = exp.model
    optimizer = _optimizer(config, model)
    scheduler = _scheduler(config, optimizer)
    scaler = torch.amp.GradScaler(ctx.device.type) if config.precision == "fp16" else None
    metrics: list[dict[str, Any]] = []
    start_epoch = 0
    if resume and (out / CHECKPOINT).exists():
        state = load_checkpoint(out / CHECKPOINT, expect={"model": config.model, "data": config.data})
        _same_run(state["config"], config)
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler_state"])
        if scaler is not None:
            scaler.load_state_dict(state["scaler_state"])
        torch.set_rng_state(state["rng_state"])
        metrics = [dict(m) for m in state["metrics"]]
        start_epoch = int(state["epoch"])
    train_model: nn.Module = model
    if ctx.enabled:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[ctx.device] if ctx.device.type == "cuda" else None
        )
    if ctx.is_main:
        atomic_write_text(out / CONFIG, json.dumps(config.to_dict(), indent=2, sort_keys=True))

    for epoch in range(start_epoch, config.epochs):
        began = time.perf_counter()
        record = train_epoch(
            train_model,
            exp.train_data,
            optimizer,
            batch_size=config.batch_size,
            generator=epoch_generator(config.seed, epoch),
            ctx=ctx,
            precision=config.precision,
            augment=config.augment and len(exp.input_shape) == 3,
            scaler=scaler,
            progress=progress,
        )
        epoch_time = time.perf_counter() - began
        record.update(evaluate(model, exp.test_data, batch_size=256, device=ctx.device, precision=config.precision))
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(record["loss"])
        elif scheduler is not None:
            scheduler.step()
        record.update(
            epoch=epoch + 1,
            epoch_time_s=epoch_time,
            lr=optimizer.param_groups[0]["lr"],
            rate=config.rate,
            achieved_rate=exp.achieved_rate,
            peak_memory_bytes=peak_memory_bytes(ctx.device),
        )
        metrics.append(record)
        if ctx.is_main:
            _save_state(out, config, model, optimizer, scheduler, scaler, epoch + 1, metrics)
            log(
                f"epoch {epoch + 1}/{config.epochs}  loss {record['loss']:.4f}  train {record['train_acc']:.3f}  "
                f"test {record['test_acc']:.3f}  {epoch_time:.1f}s  saved {record['saved_bytes'] / 2**20:.1f} MiB"
            )
        ctx.barrier()

    result = _result(config, metrics, exp)
    if ctx.is_main:
        atomic_write_text(out / RESULT, json.dumps(result, indent=2, sort_keys=True))
    return result


def _prepare_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"output folder {out} cannot be written: {err.strerror}") from None


def _save_state(out, config, model, optimizer, scheduler, scaler, epoch, metrics) -> None:
    save_checkpoint(
        out / CHECKPOINT,
        {
            "model": config.model,
            "data": config.data,
            "config": config.to_dict(),
            "epoch": epoch,
            "model_state": model.state_dict(),
            "optimizer_state": optimizer.state_dict(),
            "scheduler_state": scheduler.state_dict() if scheduler is not None else None,
            "scaler_state": scaler.state_dict() if scaler is not None else None,
            "rng_state": torch.get_rng_state(),
            "metrics": metrics,
        },
    )
    write_jsonl(out / METRICS, metrics)


def _result(config: TrainConfig, metrics: list[dict[str, Any]], exp: Experiment) -> dict[str, Any]:
    last = metrics[-1]
    times = [m["epoch_time_s"] for m in metrics]
    return {
        "config": config.to_dict(),
        "epochs": len(metrics),
        "final_test_acc": last["test_acc"],
        "best_test_acc": max(m["test_acc"] for m in metrics),
        "final_train_loss": last["loss"],
        "median_epoch_time_s": float(np.median(times)),
        "saved_bytes": last["saved_bytes"],
        "peak_memory_bytes": last["peak_memory_bytes"],
        "achieved_rate": exp.achieved_rate,
        "conv_saved_bytes": exp.conv_saved_bytes_per_sample * config.batch_size,
    }


def run_is_finished(out_dir: str | Path) -> bool:
    """A run finished when its result file exists and parses (results, not a ledger, say so)."""
    try:
        json.loads((Path(out_dir) / RESULT).read_text())
        return True
    except (OSError, ValueError):
        return False


def evaluate_checkpoint(path: str | Path, rates: list[float], device: str = "cpu") -> list[dict[str, float]]:
    """Test accuracy of a trained checkpoint at each of ``rates`` (rates other than its training rate too)."""
    state = load_checkpoint(path)
    config = TrainConfig.from_dict(state["config"])
    exp = build_experiment(config, device)
    try:
        exp.model.load_state_dict(state["model_state"])
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} does not match model {config.model!r}: {str(err)[:120]}") from None
    rows = []
    for rate in rates:
        compress_(exp.model, BandLimitConfig(rate=rate))  # converts plain convolutions too
        record = evaluate(exp.model, exp.test_data, batch_size=256, device=torch.device(device))
        rows.append({"rate": rate, "achieved_rate": layer_stats(exp.model, exp.input_shape)[0], **record})
    return rows


def load_metrics(out_dir: str | Path) -> list[dict[str, Any]]:
    return read_jsonl(Path(out_dir) / METRICS)
