"""The PyTorch training protocol: one definition for every torch-based backend.

A DataLoader-free loop over seeded permutations (faster than a
DataLoader on small data and bit-for-bit reproducible on CPU).

* Loss: cross entropy. Optimizers: ``adam`` and ``adamw`` (eps 1e-7, as
  Keras), ``sgd`` (momentum 0.9). ``weight_decay`` is passed to the optimizer
  (L2 for adam/sgd, decoupled for adamw).
* Schedule: ``constant`` or ``cosine`` annealing to 0 over the epochs, stepped per epoch.
* Early stopping (``patience``) watches ``val_loss``; the final weights are kept.
* Precision (``training.precision``): ``fp32``, or ``bf16``: the forward pass and
  the loss under ``torch.autocast(dtype=bfloat16)``, the weights, gradients and
  optimizer state in float32 (meant for CUDA; it runs on the CPU too).

The data: images arrive normalised once, at load (float32, by the data
stage). Each split becomes one tensor on the run's device once per data set
and device (:func:`split_tensors`), not once per trial; a batch is an index
into it (no per-batch copy from the host). The epoch's permutation moves to
the device once per epoch. On CUDA the loop never waits for the device inside
an epoch: the training loss is summed on the device and checked for
divergence once per epoch, and 4-D inputs and the network use the
channels-last memory format. On the CPU every batch's loss is checked as it
comes, and results are bit-for-bit what the loop gave before the cache and
the CUDA paths (same kernels, same sums in the same order).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import weakref
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from unified_nas.core.errors import TrainingDiverged
from unified_nas.data import Dataset
from unified_nas.evaluation.devices import current_device
from unified_nas.evaluation.train.result import EpochCallback
from unified_nas.models.torch_model import to_tensor
from unified_nas.recipe import Protocol
from unified_nas.recipe.sections import PRECISIONS
from unified_nas.space.spaces import TrainingConfig

SPLITS = ("train", "val", "test")


def make_optimizer(model: nn.Module, hp: TrainingConfig) -> torch.optim.Optimizer:
    params = model.parameters()
    if hp.optimizer == "sgd":
        return torch.optim.SGD(params, lr=hp.lr, momentum=0.9, weight_decay=hp.weight_decay)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[hp.optimizer]
    return cls(params, lr=hp.lr, eps=1e-7, weight_decay=hp.weight_decay)


def channels_last(device: torch.device, ndim: int) -> bool:
    """Whether inputs of ``ndim`` dimensions and the network use the channels-last memory format on ``device``.

    Only 4-D inputs (images) on CUDA, where cuDNN's convolutions run natively on
    channels-last (NHWC) data, with tensor cores for bf16 and TF32. Not on the CPU,
    although it is faster there too (measured on 2 cores, 1 thread: 1.56x the
    images/s of NCHW for the CNN of ``benchmarks/image_training.py``): oneDNN
    computes channels-last convolutions with other kernels, whose results differ
    in the last bits, and CPU results must stay bit-for-bit those that earlier runs
    stored (replays, resumed runs and cross-backend comparisons rely on it).

    Args:
        device: Where the network runs.
        ndim: Dimensions of the input batch (4 for images).

    Returns:
        True for 4-D inputs on CUDA.
    """
    return device.type == "cuda" and ndim == 4


def precision_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager[object]:
    """The context a forward pass and its loss run in under ``precision``.

    Args:
        device: Where the network runs.
        precision: ``fp32`` (no autocast) or ``bf16`` (bfloat16 autocast; weights stay float32).

    Returns:
        A fresh context manager (enter it once).

    Raises:
        ValueError: If ``precision`` is not one of :data:`PRECISIONS`.
    """
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    raise ValueError(f"precision: {precision!r} is not one of {', '.join(PRECISIONS)}")


@dataclass
class _SplitCache:
    """The tensors of one data set on one device (the cache holds one such entry)."""

    data: weakref.ReferenceType[Dataset]
    device: torch.device
    tensors: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)


_cache: _SplitCache | None = None
_cache_lock = threading.Lock()


def _forget(ref: weakref.ReferenceType[Dataset]) -> None:
    """Drops the cache entry once its data set is gone (a weakref callback; one assignment, no lock)."""
    global _cache
    if _cache is not None and _cache.data is ref:
        _cache = None


def clear_split_cache() -> None:
    """Drops the cached split tensors (they are rebuilt by the next :func:`split_tensors`)."""
    global _cache
    with _cache_lock:
        _cache = None


def _device_tensor(x: np.ndarray, device: torch.device) -> torch.Tensor:
    if device.type == "cpu":
        return to_tensor(x)  # NCHW; a view, without a copy, of data with one channel
    t = torch.from_numpy(np.ascontiguousarray(x))
    if t.ndim == 4:
        # (N, H, W, C) seen as NCHW is channels-last in memory: one copy to the device and no transpose on the host.
        t = t.permute(0, 3, 1, 2)
        fmt = torch.channels_last if channels_last(device, 4) else torch.contiguous_format
        return t.to(device, memory_format=fmt)
    return t.to(device)


def split_tensors(data: Dataset, split: str, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """The features (NCHW for images) and labels of one split, as tensors on ``device``.

    Made once per data set and device, then returned as the same tensor objects
    to every trial: the cache holds one entry (the last data set and device
    asked for), watches the data set through a weak reference and drops the
    tensors when it is gone, so memory does not grow with the trials or data
    sets of a process. On the CPU the tensors share memory with the arrays of
    ``data`` where the layout allows (images with one channel, tabular data).
    Nothing may write into them.

    Args:
        data: The split data set.
        split: ``train``, ``val`` or ``test``.
        device: Where the tensors live (a torch device or its string).

    Returns:
        (features, int64 labels).

    Raises:
        ValueError: If ``split`` is not one of :data:`SPLITS`.
    """
    global _cache
    if split not in SPLITS:
        raise ValueError(f"split: {split!r} is not one of {', '.join(SPLITS)}")
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())  # one key for "cuda" and "cuda:0"
    with _cache_lock:
        entry = _cache
        if entry is None or entry.data() is not data or entry.device != device:
            entry = _cache = _SplitCache(weakref.ref(data, _forget), device)
        if split not in entry.tensors:
            x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
            entry.tensors[split] = (_device_tensor(x, device), torch.from_numpy(y).to(device))
        return entry.tensors[split]


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 1024, precision: str = "fp32"
) -> tuple[float, float]:
    """The mean cross-entropy loss and the accuracy of ``model`` on ``x, y``.

    Batches are slices of ``x`` (views, no copies); the sums stay on the device
    until the end (one synchronisation on CUDA), in float64, so that the CPU's
    figures are bit-for-bit those of a Python sum of per-batch values.

    Args:
        model: The network (put in eval mode).
        x: Features, moved to the model's device if they are elsewhere.
        y: Integer labels, likewise.
        batch: Examples per forward pass.
        precision: ``fp32``, or ``bf16`` (the forward pass under bfloat16 autocast).

    Returns:
        (mean loss, accuracy).

    Raises:
        ValueError: If ``precision`` is not one of :data:`PRECISIONS`.
    """
    model.eval()
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for i in range(0, len(x), batch):
        with precision_context(device, precision):
            out = model(x[i : i + batch]).float()
        loss_sum += nn.functional.cross_entropy(out, y[i : i + batch], reduction="sum")
        correct += (out.argmax(1) == y[i : i + batch]).sum()
    return loss_sum.item() / len(x), int(correct) / len(x)


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
        protocol: Epochs, schedule, patience, precision.
        seed: Seeds the batch order.
        on_epoch: Called after each epoch; returning True stops (pruning).

    Returns:
        (per-epoch history, seconds in the loop, why it stopped early or None).

    Raises:
        TrainingDiverged: If the training loss becomes NaN or infinite (on CUDA
            found at the end of the epoch, on the CPU at the batch).
        ValueError: If ``protocol.precision`` is not one of :data:`PRECISIONS`.
    """
    if protocol.precision not in PRECISIONS:
        raise ValueError(f"precision: {protocol.precision!r} is not one of {', '.join(PRECISIONS)}")
    # The run's device (unified_nas.evaluation.devices): the network moves there once per trial, the splits once
    # per data set (split_tensors), the batch order once per epoch.
    device = torch.device(current_device())
    cuda = device.type == "cuda"
    model.to(device)
    xt, yt = split_tensors(data, "train", device)
    xv, yv = split_tensors(data, "val", device)
    if channels_last(device, xt.ndim):
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # (torch accepts it; its stubs lack it)
    gen = torch.Generator().manual_seed(seed)  # on the CPU: the batch order is the same on every device
    opt = make_optimizer(model, hp)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, protocol.epochs) if protocol.schedule == "cosine" else None
    history: list[dict[str, float]] = []
    best_val, since_best, stopped = math.inf, 0, None
    n, bs = len(xt), hp.batch_size
    t0 = time.perf_counter()
    for epoch in range(protocol.epochs):
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        loss_sum = 0.0  # on the CPU: a Python sum of per-batch values
        loss_acc = torch.zeros((), dtype=torch.float64, device=device)  # on CUDA: the same sum, kept on the device
        for i in range(0, n, bs):
            size = min(bs, n - i)
            if size < 2 and n > 1:
                continue  # a batch of one breaks BatchNorm; drop the remainder
            idx = perm[i : i + size]
            opt.zero_grad(set_to_none=True)
            with precision_context(device, protocol.precision):
                loss = nn.functional.cross_entropy(model(xt[idx]).float(), yt[idx])
            if cuda:
                loss_acc.add_(loss.detach(), alpha=size)  # no synchronisation: checked once per epoch below
            else:
                value = loss.item()
                if not math.isfinite(value):
                    raise TrainingDiverged(f"training loss became {value} in epoch {epoch + 1}")
                loss_sum += value * size
            loss.backward()
            opt.step()
        if cuda:
            loss_sum = loss_acc.item()  # the epoch's one wait for the device
            if not math.isfinite(loss_sum):
                raise TrainingDiverged(f"training loss became {loss_sum} in epoch {epoch + 1}")
        if sched is not None:
            sched.step()
        val_loss, val_acc = evaluate(model, xv, yv, precision=protocol.precision)
        row = {"epoch": epoch, "train_loss": loss_sum / n, "val_loss": val_loss, "val_accuracy": val_acc}
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
