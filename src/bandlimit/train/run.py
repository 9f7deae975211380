"""A whole training run: build, train with per-epoch checkpoints and metrics, resume, evaluate.

Files in the run folder:
    config.json      the TrainConfig as requested (before calibration): the run's identity
    metrics.jsonl    one record per finished epoch (replaced atomically each epoch)
    checkpoint.pt    the state after the last finished epoch (replaced atomically), with the
                     config as trained (calibrated per-layer rates included)
    result.json      written last: the run finished

Nothing is written until every check has passed (:func:`.folder.plan_run`): a refused or failed
command leaves a finished run's folder as it was.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..compress import BandLimitConfig, compress_
from ..io import atomic_write_text, write_jsonl
from ..memory import peak_memory_bytes
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import ConfigError, TrainConfig
from .distributed import DistContext, all_reduce_sum, setup_distributed
from .experiment import Experiment, build_experiment, layer_stats
from .folder import CHECKPOINT, CONFIG, METRICS, RESULT, RunPlan, check_out_dir, discard_run, plan_run
from .loop import epoch_generator, evaluate, train_epoch
from .results import EpochRecord, RunResult
from .state import TrainingState

__all__ = ["CHECKPOINT", "CONFIG", "METRICS", "RESULT", "check_run", "evaluate_checkpoint", "evaluate_settings"]
__all__ += ["load_trained", "train"]

# Evaluation keeps no autograd graph, so a batch larger than training's costs little memory
# and amortises the per-call overhead of small layers.
EVAL_BATCH_SIZE = 256


def train(
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    progress: bool = False,
    ctx: DistContext | None = None,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Train ``config`` into the run folder ``out_dir``; return its result.

    Args:
        config: the run.
        out_dir: the run folder (created). A folder that holds a run of other settings is
            refused; one that holds this run finished is returned as it is.
        resume: continue the folder's run of the same config from its checkpoint; more
            ``epochs`` than it ran extend it.
        force: discard the folder's run, whatever its settings, and train from scratch.
        progress: show progress bars.
        ctx: the distributed context (``setup_distributed()`` under torchrun); single process by default.
        log: called with one line per epoch (on the main process).

    Raises:
        ConfigError: an invalid config, data or folder, or a folder whose run this is not
            (see :func:`.folder.plan_run`); raised before anything is written.
    """
    ctx = ctx or setup_distributed()
    out = check_out_dir(out_dir)
    teacher = _teacher(config, ctx.device)  # before the folder: a wrong teacher leaves nothing behind
    _seed_everything(config.seed, config.deterministic)
    exp = build_experiment(config, ctx.device)
    plan = plan_run(config, out, resume=resume, force=force)
    if plan.result is not None:
        log(f"finished already ({out / RESULT})")
        return RunResult.from_dict(plan.result)
    saved = plan.checkpoint
    trained_config = _prepared(config, exp, saved["config"] if saved else None)
    state = TrainingState.create(trained_config, exp.model, ctx.device)
    if saved is not None:
        state.load_state_dict(saved)
    # Every check has passed (on every process: none may read the folder after it changes).
    ctx.barrier()
    failed: Exception | None = None
    if ctx.is_main:
        try:
            _prepare_folder(out, fresh=saved is None)
            atomic_write_text(out / CONFIG, json.dumps(config.to_dict(), indent=2, sort_keys=True))
        except Exception as err:  # noqa: BLE001 - re-raised below, after the other processes know
            failed = err
    if all_reduce_sum([float(failed is not None)], ctx)[0]:  # no process trains into a folder not prepared
        raise failed or ConfigError(f"output folder {out} could not be prepared by the main process")
    config = trained_config
    train_model = ctx.wrap(exp.model)

    def penalty() -> torch.Tensor | None:
        terms = [t for t in (c.penalty(exp.model) for c in config.compression) if t is not None]
        return sum(terms[1:], terms[0]) if terms else None

    for epoch in range(state.epoch, config.epochs):
        for c in config.compression:
            c.begin_epoch(exp.model, epoch, config.epochs)
        began = time.perf_counter()
        record = train_epoch(
            train_model,
            exp.train_data,
            state.optimizer,
            batch_size=config.batch_size,
            generator=epoch_generator(config.seed, epoch),
            ctx=ctx,
            augment=config.augment and len(exp.input_shape) == 3,
            scaler=state.scaler,
            penalty=penalty,
            teacher=teacher,
            distill=(config.distill_weight, config.distill_temperature),
            progress=progress,
        )
        record["epoch_time_s"] = time.perf_counter() - began
        extra: dict[str, Any] = {"rate": 0.0, "achieved_rate": 0.0}  # the plain model's
        for c in config.compression:  # measured after the training batches, before evaluation
            extra.update(c.epoch_metrics(exp.model, exp.input_shape))
        if (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs:
            record.update(evaluate(exp.model, exp.test_data, batch_size=EVAL_BATCH_SIZE, device=ctx.device))
            if exp.val_data is not None:
                held_out = evaluate(exp.model, exp.val_data, batch_size=EVAL_BATCH_SIZE, device=ctx.device)
                record.update(val_loss=held_out["test_loss"], val_acc=held_out["test_acc"])
        state.end_epoch(record, peak_memory_bytes=peak_memory_bytes(ctx.device), **extra)
        if ctx.is_main:
            save_checkpoint(
                out / CHECKPOINT,
                {"model": config.model, "data": config.data, "config": config.to_dict(), **state.state_dict()},
            )
            write_jsonl(out / METRICS, [EpochRecord.from_dict(m).to_dict() for m in state.metrics])
            log(_epoch_line(config, record))
        ctx.barrier()

    result = _result(config, state.metrics, exp)
    if ctx.is_main:
        atomic_write_text(out / RESULT, json.dumps(result.to_dict(), indent=2, sort_keys=True))
    return result


def check_run(config: TrainConfig, out_dir: str | Path, *, resume: bool = False, force: bool = False) -> RunPlan:
    """Every check :func:`train` makes before it writes, without training: the folder, the
    teacher, the model on the data (two samples of each split) and the folder's run.

    A sweep checks all its runs so before it trains the first.
    """
    out = check_out_dir(out_dir)
    _teacher(config, torch.device("cpu"))
    build_experiment(config.with_(limit=min(config.limit or 2, 2)))
    return plan_run(config, out, resume=resume, force=force)


def _teacher(config: TrainConfig, device: torch.device) -> torch.nn.Module | None:
    """The distillation teacher: the model of ``config.teacher``'s checkpoint, frozen, in eval mode."""
    if config.teacher is None:
        return None
    theirs = TrainConfig.from_dict(load_checkpoint(config.teacher)["config"])
    # The same samples, split the same way: a teacher that trained on this run's validation
    # (or test) samples would leak them into the epoch this run selects.
    fields = ["data", "limit", "validation", "data_root"] + (["seed"] if config.validation else [])
    for name in fields:
        if getattr(theirs, name) != getattr(config, name):
            raise ConfigError(
                f"teacher {config.teacher} was trained with {name}={getattr(theirs, name)!r}, "
                f"not {name}={getattr(config, name)!r} as this run"
            )
    model = load_trained(config.teacher, str(device)).model
    return model.requires_grad_(False)


def _prepared(config: TrainConfig, exp: Experiment, saved: dict[str, Any] | None) -> TrainConfig:
    """The run's config as trained: each compression config's :meth:`prepare` on the model and
    the training inputs (in order), or on a resumed run what it returned then (the checkpoint's)."""
    theirs = TrainConfig.from_dict(saved).compression if saved else (None,) * len(config.compression)
    device = next(exp.model.parameters()).device
    trained = []
    for c, before in zip(config.compression, theirs):
        batches = (x.to(device) for x in exp.train_data[0].split(config.batch_size))
        trained.append(c.prepare(exp.model, batches, before))
    return config.with_(compression=tuple(trained))


def _epoch_line(config: TrainConfig, r: dict[str, Any]) -> str:
    return (
        f"epoch {r['epoch']}/{config.epochs}  loss {r['loss']:.4f}  train {r['train_acc']:.3f}  "
        + (f"val {r['val_acc']:.3f}  " if "val_acc" in r else "")
        + (f"test {r['test_acc']:.3f}  " if "test_acc" in r else "")
        + f"{r['epoch_time_s']:.1f}s  saved {r['saved_bytes'] / 2**20:.1f} MiB"
    )


def _seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic)


def _prepare_folder(out: Path, fresh: bool) -> None:
    """Create ``out``; the run is unfinished until it writes its result again, and a fresh run
    discards the run files it replaces (a stale checkpoint must never be resumed)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"output folder {out} cannot be written: {err.strerror}") from None
    if fresh:
        discard_run(out)
    else:
        (out / RESULT).unlink(missing_ok=True)


def _result(config: TrainConfig, metrics: list[dict[str, Any]], exp: Experiment) -> RunResult:
    records = [EpochRecord.from_dict(m) for m in metrics]
    last = records[-1]
    tested = [m for m in records if m.test_acc is not None]  # every eval_every-th epoch and the last
    # Model selection on the validation split: the first epoch with the best validation accuracy.
    selected = max(tested, key=lambda m: m.val_acc or 0.0) if last.val_acc is not None else None
    assert last.test_acc is not None  # the last epoch is always evaluated
    return RunResult(
        config=config.to_dict(),
        epochs=len(records),
        final_test_acc=last.test_acc,
        best_test_acc=max(m.test_acc or 0.0 for m in tested),
        selected_epoch=selected.epoch if selected else None,
        selected_val_acc=selected.val_acc if selected else None,
        selected_test_acc=selected.test_acc if selected else None,
        final_train_loss=last.loss,
        median_epoch_time_s=float(np.median([m.epoch_time_s for m in records])),
        saved_bytes=last.saved_bytes,
        peak_memory_bytes=last.peak_memory_bytes,
        # As metrics.jsonl has it: the layers' mean rate (energy mode: over the last epoch's batches).
        achieved_rate=last.achieved_rate,
        conv_saved_bytes=exp.conv_saved_bytes_per_sample * config.batch_size,
    )


def load_trained(path: str | Path, device: str = "cpu") -> Experiment:
    """The experiment of a run's checkpoint with its weights, in eval mode."""
    state = load_checkpoint(path)
    try:
        config = TrainConfig.from_dict(state["config"])
    except ConfigError as err:
        raise CheckpointError(f"checkpoint {path} holds a config this bandlimit cannot read: {err}") from None
    exp = build_experiment(config, device)
    try:
        exp.model.load_state_dict(state["model_state"])
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint {path} does not match model {config.model!r}: {str(err)[:120]}") from None
    exp.model.eval()
    return exp


def evaluate_checkpoint(path: str | Path, rates: list[float], device: str = "cpu") -> list[dict[str, float]]:
    """Test accuracy of a trained checkpoint at each of ``rates`` (rates other than its training rate too)."""
    configs = [BandLimitConfig(rate=rate) for rate in rates]  # validated before the model is built
    return evaluate_settings(path, configs, device)


def evaluate_settings(path: str | Path, configs: list[BandLimitConfig], device: str = "cpu") -> list[dict[str, float]]:
    """Test accuracy of a trained checkpoint with each band-limiting config applied (a rate, or an
    energy chosen per test batch); rows as :func:`evaluate_checkpoint`'s."""
    exp = load_trained(path, device)
    rows = []
    for band in configs:
        compress_(exp.model, band)  # converts plain convolutions too
        record = evaluate(exp.model, exp.test_data, batch_size=EVAL_BATCH_SIZE, device=torch.device(device))
        rows.append({"rate": band.rate, "achieved_rate": layer_stats(exp.model, exp.input_shape)[0], **record})
    return rows
