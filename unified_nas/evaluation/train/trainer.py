"""The PyTorch training protocol: one definition for every torch-based backend.

A DataLoader-free loop over seeded permutations (faster than a
DataLoader on small data and bit-for-bit reproducible on CPU).

* Loss: cross entropy. Optimizers: ``adam`` and ``adamw`` (eps 1e-7, as
  Keras), ``sgd`` (momentum 0.9). ``weight_decay`` is passed to the optimizer
  (L2 for adam/sgd, decoupled for adamw).
* Schedule: ``constant`` or ``cosine`` annealing to 0 over the epochs, stepped per epoch.
* Early stopping (``patience``) watches ``val_loss``; the final weights are kept.
"""

from __future__ import annotations

import math
import time

import torch
from torch import nn

from unified_nas.core.errors import TrainingDiverged
from unified_nas.data import Dataset
from unified_nas.evaluation.devices import current_device
from unified_nas.evaluation.train.result import EpochCallback
from unified_nas.models.torch_model import to_tensor
from unified_nas.recipe import Protocol
from unified_nas.space.spaces import TrainingConfig


def make_optimizer(model: nn.Module, hp: TrainingConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if hp.optimizer == "sgd":
        return torch.optim.SGD(params, lr=hp.lr, momentum=0.9, weight_decay=hp.weight_decay)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[hp.optimizer]
    return cls(params, lr=hp.lr, eps=1e-7, weight_decay=hp.weight_decay)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1024) -> tuple[float, float]:
    """Returns (mean cross-entropy loss, accuracy) of ``model`` on ``x, y`` (moved to the model's device if need be)."""
    model.eval()
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    loss_sum, correct = 0.0, 0
    for i in range(0, len(x), batch):
        out = model(x[i : i + batch])
        loss_sum += nn.functional.cross_entropy(out, y[i : i + batch], reduction="sum").item()
        correct += int((out.argmax(1) == y[i : i + batch]).sum())
    return loss_sum / len(x), correct / len(x)


def train(
    model: nn.Module,
    data: Dataset,
    hp: TrainingConfig,
    protocol: Protocol,
    seed: int,
    on_epoch: EpochCallback | None = None,
) -> tuple[list[dict[str, float]], float, str | None]:
    """Trains ``model`` in place under the protocol.

    Args:
        model: An initialised network.
        data: The split data set.
        hp: Resolved training hyperparameters.
        protocol: Epochs, schedule, patience.
        seed: Seeds the batch order.
        on_epoch: Called after each epoch; returning True stops (pruning).

    Returns:
        (per-epoch history, seconds in the loop, why it stopped early or None).

    Raises:
        TrainingDiverged: If the training loss becomes NaN or infinite.
    """
    # The run's device (unified_nas.evaluation.devices): the network and both splits move there once, not per batch.
    device = torch.device(current_device())
    model.to(device)
    xt, yt = to_tensor(data.x_train).to(device), torch.from_numpy(data.y_train).to(device)
    xv, yv = to_tensor(data.x_val).to(device), torch.from_numpy(data.y_val).to(device)
    gen = torch.Generator().manual_seed(seed)  # on the CPU: the batch order is the same on every device
    opt = make_optimizer(model, hp)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, protocol.epochs) if protocol.schedule == "cosine" else None
    history: list[dict[str, float]] = []
    best_val, since_best, stopped = math.inf, 0, None
    t0 = time.perf_counter()
    for epoch in range(protocol.epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        loss_sum = 0.0
        for i in range(0, len(xt), hp.batch_size):
            idx = perm[i : i + hp.batch_size].to(device)
            if len(idx) < 2 and len(xt) > 1:
                continue  # a batch of one breaks BatchNorm; drop the remainder
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"training loss became {loss.item()} in epoch {epoch + 1}")
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
        if sched is not None:
            sched.step()
        val_loss, val_acc = evaluate(model, xv, yv)
        row = {"epoch": epoch, "train_loss": loss_sum / len(xt), "val_loss": val_loss, "val_accuracy": val_acc}
        history.append(row)
        if on_epoch is not None and on_epoch(epoch, row):
            stopped = "pruned"
            break
        if protocol.patience is not None:
            best_val, since_best = (val_loss, 0) if val_loss < best_val else (best_val, since_best + 1)
            if since_best >= protocol.patience:
                stopped = "early_stopping"
                break
    return history, time.perf_counter() - t0, stopped
