"""One epoch of training and one evaluation pass, on in-memory tensors.

Data order and augmentation come from generators seeded by (seed, epoch), so an epoch is
the same whether the run was resumed or not, and the same samples are seen by a single
process with batch ``B * world`` as by ``world`` DDP processes with batch ``B`` each (the
random augmentations of each process differ, and a last global batch smaller than
``world`` samples is skipped so that every process takes the same number of steps).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from ..memory import count_saved_bytes
from .distributed import DistContext, all_reduce_sum

__all__ = ["augment_images", "distillation", "epoch_generator", "evaluate", "shard_batches", "train_epoch"]


# A prime larger than any epoch count: (seed, epoch) pairs give distinct generator seeds.
_EPOCHS_PER_SEED = 100_003


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator that depends only on ``seed`` and ``epoch``."""
    return torch.Generator().manual_seed(seed * _EPOCHS_PER_SEED + epoch)


def shard_batches(
    n: int, batch_size: int, ctx: DistContext, generator: torch.Generator | None
) -> Iterator[torch.Tensor]:
    """Indices of this process's share of each global batch of ``batch_size * world`` samples.

    Global batch ``i`` is split round-robin across processes, so with equal shares the
    DDP-averaged gradient equals the gradient of the whole global batch.
    """
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    step = batch_size * ctx.world_size
    for start in range(0, n, step):
        batch = order[start : start + step]
        if len(batch) < ctx.world_size:  # every process must take the same number of steps
            return
        yield batch[ctx.rank :: ctx.world_size]


def augment_images(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop (zero padding of 1/8 of the size, then crop back) and horizontal flip, per sample.

    Args:
        x: images ``(B, C, H, W)``.
    """
    b, _, h, w = x.shape
    pad = max(1, h // 8)
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    flip = torch.rand(b, generator=generator) < 0.5
    rows = (dy[:, None] + torch.arange(h)).to(x.device)  # (B, H)
    cols = (dx[:, None] + torch.arange(w)).to(x.device)  # (B, W)
    cols = torch.where(flip.to(x.device)[:, None], cols.flip(1), cols)
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def train_epoch(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    *,
    batch_size: int,
    generator: torch.Generator,
    ctx: DistContext,
    augment: bool = False,
    scaler: torch.amp.GradScaler | None = None,
    penalty: Callable[[], torch.Tensor | None] | None = None,
    teacher: nn.Module | None = None,
    distill: tuple[float, float] = (0.5, 4.0),
    progress: bool = False,
) -> dict[str, float]:
    """Train for one epoch.

    Mixed precision is the model's own (a :class:`bandlimit.compress.PrecisionConfig` puts its
    forward under autocast); ``scaler`` scales fp16 losses.

    Args:
        penalty: called each step after the forward; a returned tensor is added to the loss
            (a regulariser of the compression, e.g. a group lasso).
        teacher: a model to distil from (Hinton et al. 2015): the objective becomes
            ``(1 - lambda) CE + lambda T^2 KL(teacher || model)`` on outputs softened by ``T``,
            ``distill = (lambda, T)``. The reported ``loss`` stays the cross-entropy.

    Returns:
        ``loss`` (mean over samples), ``train_acc``, and ``saved_bytes``: bytes saved for
        backward by the first step of this process (counted exactly).
    """
    x_all, y_all = data
    model.train()
    loss_sum = correct = count = 0.0
    saved_bytes = 0
    batches = list(shard_batches(len(x_all), batch_size, ctx, generator))
    bar = _progress(batches, progress and ctx.is_main, "train")
    for step, idx in enumerate(bar):
        x, y = x_all[idx].to(ctx.device), y_all[idx].to(ctx.device)
        if augment:
            x = augment_images(x, generator)
        optimizer.zero_grad(set_to_none=True)
        counter = count_saved_bytes() if step == 0 else nullcontext()
        with counter as saved:
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
            objective = loss
            if teacher is not None:
                with torch.no_grad():
                    target = teacher(x)
                weight, temperature = distill
                objective = (1 - weight) * loss + weight * distillation(logits, target, temperature)
            extra = penalty() if penalty is not None else None
            if extra is not None:
                objective = objective + extra
        if saved is not None:
            saved_bytes = saved.total
        if scaler is not None:
            scaler.scale(objective).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            objective.backward()
            optimizer.step()
        loss_sum += loss.item() * len(y)
        correct += (logits.argmax(1) == y).sum().item()
        count += len(y)
    loss_sum, correct, count = all_reduce_sum([loss_sum, correct, count], ctx)
    return {"loss": loss_sum / count, "train_acc": correct / count, "saved_bytes": saved_bytes}


def distillation(logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 KL(softmax(teacher / T) || softmax(logits / T))``, averaged over the batch; the
    ``T^2`` keeps its gradients' scale independent of ``T`` (Hinton et al. 2015)."""
    student = F.log_softmax(logits.float() / temperature, 1)
    target = F.log_softmax(teacher_logits.detach().float() / temperature, 1)
    return F.kl_div(student, target, log_target=True, reduction="batchmean") * temperature**2


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: tuple[torch.Tensor, torch.Tensor],
    *,
    batch_size: int,
    device: torch.device,
) -> dict[str, float]:
    """Accuracy and mean cross-entropy over a whole split (every process evaluates all of it)."""
    x_all, y_all = data
    model.eval()
    loss_sum = correct = 0.0
    for start in range(0, len(x_all), batch_size):
        x = x_all[start : start + batch_size].to(device)
        y = y_all[start : start + batch_size].to(device)
        logits = model(x).float()
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    n = max(1, len(x_all))
    return {"test_loss": loss_sum / n, "test_acc": correct / n}


def _progress(items: list, enabled: bool, desc: str):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False, total=len(items), mininterval=0.5)
