"""Training a reproduction's planned runs: every folder checked before the first run trains,
then the unfinished runs trained in order, or several at a time in their own processes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ..data import DatasetNotFoundError, load_dataset
from ..errors import BandlimitError
from ..train import TrainConfig, plan_run, train
from ..train.folder import CHECKPOINT, METRICS, RESULT, discard_run
from .runs import PlannedRun, unique_runs

__all__ = ["absent", "check_folders", "prefixed", "train_all", "train_parallel"]

Log = Callable[[str], None]


def _config(run: PlannedRun, out: Path) -> TrainConfig:
    """The run's config with a relative teacher resolved against ``out``."""
    config = run.config
    if config.teacher is not None and not Path(config.teacher).is_absolute():
        config = config.with_(teacher=str((out / config.teacher).resolve()))
    return config


def check_folders(runs: Sequence[PlannedRun], out: Path, force: bool, log: Log) -> None:
    """Before anything runs: refuse a run folder that cannot continue as the planned run (one of
    other settings, more epochs or an unreadable checkpoint), or with ``force`` discard its run.

    An unfinished run whose checkpoint is gone starts again: a reproduction commits its finished
    runs but not checkpoints, so a session that ends mid-run leaves such folders behind."""
    for run in runs:
        folder = out / run.folder
        if absent(run.config.data, run.config.data_root):
            continue
        if (folder / METRICS).exists() and not (folder / RESULT).exists() and not (folder / CHECKPOINT).exists():
            log(f"{run.folder}: unfinished and its checkpoint is gone: trained again")
            discard_run(folder)
        try:
            plan_run(_config(run, out), folder, resume=True, force=False)
        except BandlimitError as err:
            if not force:
                raise
            log(f"{run.folder}: discarded ({err})")
            discard_run(folder)


def train_all(runs: Sequence[PlannedRun], out: Path, log: Log) -> dict[str, str]:
    """Train the runs not finished yet (their folders checked by :func:`check_folders`);
    returns the runs whose data is not on this machine, with the reason."""
    missing = {}
    for run in runs:
        folder = out / run.folder
        reason = absent(run.config.data, run.config.data_root)
        if reason:
            missing[run.folder] = reason
            continue
        if not _needs_training(run, out):
            continue
        log(f"{run.folder}: training")
        train(_config(run, out), folder, resume=True, log=prefixed(log, run.folder))
    for why in sorted(set(missing.values())):
        log(f"data not on this machine, runs skipped: {why}")
    return missing


def _needs_training(run: PlannedRun, out: Path) -> bool:
    """The run is not finished with its config (a finished run asked for more epochs is extended)."""
    return plan_run(_config(run, out), out / run.folder, resume=True, force=False).action != "finished"


@functools.cache
def absent(data: str, root: str | None) -> str | None:
    """Why ``data`` cannot be loaded here, or None if it can."""
    try:
        load_dataset(data, root=root, limit=1)
    except DatasetNotFoundError as err:
        return " ".join(str(err).split())
    return None


def prefixed(log: Log, name: str) -> Log:
    return lambda line: log(f"  {name}: {line}")


def _train_one(config: TrainConfig, folder: Path) -> str:
    torch.set_num_threads(1)
    train(config, folder, resume=True, log=lambda line: None)
    return folder.name


def train_parallel(
    runs: Sequence[PlannedRun],
    out: Path,
    workers: int,
    log: Log,
    after: Callable[[PlannedRun, Path], object] | None = None,
) -> None:
    """Train the unfinished runs whose data is here, ``workers`` processes at a time; call
    ``after(run, folder)`` in this process as each finishes (e.g. to test it while its checkpoint
    is on disk: a session may end before the last run does)."""
    import concurrent.futures
    import multiprocessing

    todo = [r for r in unique_runs(runs) if not absent(r.config.data, r.config.data_root) and _needs_training(r, out)]
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or state inherited
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = {pool.submit(_train_one, _config(r, out), out / r.folder): r for r in todo}
        try:
            for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                future.result()  # a failed run stops the reproduction with its error
                run = futures[future]
                log(f"{run.folder}: trained ({done}/{len(todo)})")
                if after is not None:
                    after(run, out / run.folder)
        except BaseException:
            pool.shutdown(cancel_futures=True)  # queued runs do not start; the running ones finish
            raise
