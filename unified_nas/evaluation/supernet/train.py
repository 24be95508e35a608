"""Training a supernet once (SPOS or sandwich paths) and scoring a sample's subnet with inherited weights.

:func:`train_supernet` trains the :class:`~unified_nas.evaluation.supernet.bank.Supernet`'s
bank on the training split: each step draws its paths, runs the batch through
each path's subnet and sums their gradients into the bank, then takes one
optimizer step over the bank. :func:`score` then answers a trial without
training a network of its own: the subnet reads its slices, its BatchNorm
statistics are recalibrated on a fixed set of training batches (as SPOS does:
a cumulative average in train mode, no gradients), and it is evaluated on the
validation and test splits. Scoring copies the slices; the bank is never
changed, finetuning included (it trains a copy).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from unified_nas.core.errors import TrainingDiverged
from unified_nas.data import Dataset
from unified_nas.evaluation.supernet.bank import Supernet
from unified_nas.evaluation.supernet.keys import is_width_label
from unified_nas.evaluation.train.evaluate import isolated_rng, seed_everything
from unified_nas.evaluation.train.trainer import evaluate, make_optimizer, split_tensors, train
from unified_nas.recipe import Protocol
from unified_nas.recipe.sections import SUPERNET_SAMPLINGS
from unified_nas.space import ParamDecl, random_sample
from unified_nas.space.spaces import TrainingConfig

Sample = dict[str, Any]
#: Draws one canonical sample from the given RNG (default: uniform over the space).
Sampler = Callable[[random.Random], Sample]
#: Called after every step with (step index from 0, the samples it trained).
StepCallback = Callable[[int, list[Sample]], None]
#: Called after every epoch with (epoch index from 0, its mean path loss, seconds since training started).
EpochDone = Callable[[int, float, float], None]


def size_labels(decls: Sequence[ParamDecl]) -> set[str]:
    """The labels sandwich sampling sets to an extreme: ``depth`` and every width, where they are choices."""
    return {d.label for d in decls if (d.label == "depth" or is_width_label(d.label)) and len(d.dist.values()) > 1}


def extreme_sample(decls: Sequence[ParamDecl], rng: random.Random, largest: bool) -> Sample:
    """The largest (or smallest) subnet: depth and widths at their extreme, every other choice drawn uniformly.

    Ops are not ordered, so "largest" is about size only (BigNAS's largest child also takes the largest kernel;
    here each kernel is an op of its own, with its own weights).
    """
    sizes = size_labels(decls)
    sample: Sample = {}
    for d in decls:
        if d.active(sample):
            if d.label in sizes:
                values = d.dist.values()
                sample[d.label] = max(values) if largest else min(values)
            else:
                sample[d.label] = d.dist.draw(rng)
    return sample


def shrunk_sample(decls: Sequence[ParamDecl], rng: random.Random, progress: float) -> Sample:
    """A path of progressive shrinking (OFA): depth and widths drawn from their largest values only, more over time.

    Each size choice of ``n`` values is drawn uniformly among its ``ceil(n * progress)`` largest (at least
    one): at the start only the largest subnets train, at the end every size does. Every other choice is
    drawn uniformly. OFA shrinks one dimension after another (kernel, depth, width) in phases; here every
    size dimension opens at once, linearly in the epochs (kernels are ops of their own, not shrunk).

    Args:
        decls: The space's declarations.
        rng: The run of draws of this training.
        progress: The part of training reached, in (0, 1] (the current epoch's end).
    """
    sizes = size_labels(decls)
    sample: Sample = {}
    for d in decls:
        if d.active(sample):
            if d.label in sizes:
                values = sorted(d.dist.values(), reverse=True)
                k = max(1, min(len(values), math.ceil(len(values) * progress - 1e-9)))
                sample[d.label] = values[rng.randrange(k)]
            else:
                sample[d.label] = d.dist.draw(rng)
    return sample


def step_paths(
    decls: Sequence[ParamDecl], rng: random.Random, sampling: str, sampler: Sampler, progress: float = 1.0
) -> list[Sample]:
    """The samples one training step trains.

    Args:
        decls: The space's declarations.
        rng: The run of draws of this training.
        sampling: ``uniform`` (SPOS: one path per step), ``sandwich`` (the largest, the smallest and two
            sampler paths, BigNAS's sandwich rule) or ``progressive`` (one path of progressive shrinking,
            :func:`shrunk_sample`). A space without size choices (a cell or dense cell space with fixed
            channels) has no largest or smallest subnet: sandwich and progressive fall back to uniform there.
        sampler: Draws the uniform paths.
        progress: The part of training reached (progressive shrinking's schedule).

    Raises:
        ValueError: If ``sampling`` is not one of ``SUPERNET_SAMPLINGS``.
    """
    if sampling not in SUPERNET_SAMPLINGS:
        raise ValueError(f"sampling: {sampling!r} is not one of {', '.join(SUPERNET_SAMPLINGS)}")
    if sampling == "uniform" or not size_labels(decls):
        return [sampler(rng)]
    if sampling == "progressive":
        return [shrunk_sample(decls, rng, progress)]
    return [extreme_sample(decls, rng, True), extreme_sample(decls, rng, False), sampler(rng), sampler(rng)]


def _follow_growth(opt: torch.optim.Optimizer, supernet: Supernet, known: set[int]) -> None:
    # New bank tensors join the optimizer; a grown one's state (Adam's moments, SGD's momentum) grows with it.
    new = [p for p in supernet.bank.parameters() if id(p) not in known]
    if new:
        opt.add_param_group({"params": new})
        known.update(id(p) for p in new)
    for p in supernet.bank.grown:
        for name, value in opt.state.get(p, {}).items():
            if isinstance(value, torch.Tensor) and value.dim() == p.dim() and value.shape != p.shape:
                padded = torch.zeros_like(p.data)
                padded[tuple(slice(0, n) for n in value.shape)] = value
                opt.state[p][name] = padded
    supernet.bank.grown.clear()


def train_supernet(
    supernet: Supernet,
    data: Dataset,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    sampling: str = "uniform",
    seed: int = 0,
    sampler: Sampler | None = None,
    on_step: StepCallback | None = None,
    max_steps: int | None = None,
    on_epoch: EpochDone | None = None,
) -> dict[str, float]:
    """Trains the supernet's bank in place on the training split.

    Args:
        supernet: The supernet (its bank may hold earlier training: this continues it).
        data: The split data set.
        epochs: Passes over the training split.
        batch_size, lr, optimizer, weight_decay: As the recipe's protocol (``adam``, ``adamw`` or ``sgd``,
            set up as :func:`~unified_nas.evaluation.train.trainer.make_optimizer` does).
        sampling: ``uniform``, ``sandwich`` or ``progressive`` (see :func:`step_paths`).
        seed: Seeds the batch order, the paths and dropout.
        sampler: Draws uniform paths (default: uniform over the space).
        on_step: Called after each step with the samples it trained.
        max_steps: Stop after this many steps (a short training, e.g. in tests).
        on_epoch: Called after each completed epoch (progress).

    Returns:
        Cost figures: ``wall_s``, ``steps``, ``epochs`` (completed or started), ``paths`` (forward and backward
        passes), ``train_loss`` (mean over the last epoch's paths).

    Raises:
        TrainingDiverged: If a path's loss becomes NaN or infinite.
        ValueError: For an unknown sampling.
    """
    draw: Sampler = sampler or (lambda rng: random_sample(supernet.decls, rng))
    hp = TrainingConfig(lr, optimizer, batch_size, weight_decay, 0.0)
    rng, gen = random.Random(seed), torch.Generator().manual_seed(seed)
    xt, yt = split_tensors(data, "train", supernet.device)
    n = len(xt)
    opt: torch.optim.Optimizer | None = None
    known: set[int] = set()
    steps = paths = epoch = 0
    loss_sum, loss_n = 0.0, 0
    t0 = time.perf_counter()
    with isolated_rng():
        seed_everything(seed)
        for epoch in range(epochs):
            perm = torch.randperm(n, generator=gen).to(supernet.device)
            loss_sum, loss_n = 0.0, 0
            for i in range(0, n, batch_size):
                if max_steps is not None and steps >= max_steps:
                    break
                idx = perm[i : i + batch_size]
                if len(idx) < 2 and n > 1:
                    continue  # a batch of one breaks BatchNorm
                samples = step_paths(supernet.decls, rng, sampling, draw, (epoch + 1) / epochs)
                subnets = [supernet.subnet(s) for s in samples]
                if opt is None:
                    # The first subnets allocated the first tensors; later ones join as they appear.
                    opt = make_optimizer(nn.ParameterList(supernet.bank.parameters()), hp)
                    known = {id(p) for p in supernet.bank.parameters()}
                    supernet.bank.grown.clear()
                _follow_growth(opt, supernet, known)
                opt.zero_grad(set_to_none=True)
                for sub in subnets:
                    sub.train()
                    loss = nn.functional.cross_entropy(sub(xt[idx]), yt[idx])
                    value = loss.item()
                    if not math.isfinite(value):
                        raise TrainingDiverged(f"supernet loss became {value} in epoch {epoch + 1}, step {steps + 1}")
                    loss.backward()  # the paths' gradients add up in the bank (the sandwich rule)
                    loss_sum, loss_n = loss_sum + value, loss_n + 1
                opt.step()
                if on_step is not None:
                    on_step(steps, samples)
                steps, paths = steps + 1, paths + len(subnets)
            if max_steps is not None and steps >= max_steps:
                break
            if on_epoch is not None:
                on_epoch(epoch, loss_sum / loss_n if loss_n else math.nan, time.perf_counter() - t0)
    return {
        "wall_s": time.perf_counter() - t0,
        "steps": steps,
        "epochs": epoch + 1 if epochs else 0,
        "paths": paths,
        "train_loss": loss_sum / loss_n if loss_n else math.nan,
    }


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, x: torch.Tensor, batches: int, batch_size: int, seed: int) -> None:
    """Recomputes every BatchNorm's running statistics on ``batches`` batches of ``x`` (SPOS).

    The statistics are reset and then averaged over the batches (momentum None: a cumulative average), in
    train mode without gradients. The batches are the first of a permutation seeded by ``seed``, so every
    subnet is recalibrated on the same examples.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or batches <= 0:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed)).to(x.device)
    model.train()
    for b in range(batches):
        idx = perm[b * batch_size : (b + 1) * batch_size]
        if len(idx) < 2:
            break
        model(x[idx])
    for m, momentum in zip(norms, momenta, strict=True):
        m.momentum = momentum


def score(
    supernet: Supernet,
    sample: Mapping[str, Any],
    data: Dataset,
    recalibration_batches: int = 4,
    recalibration_batch_size: int = 128,
    finetune_epochs: int = 0,
    seed: int = 0,
) -> dict[str, float]:
    """Scores a sample's subnet with weights inherited from the bank; the bank is not changed.

    Args:
        supernet: A trained supernet.
        sample: A canonical sample of its space.
        data: The split data set.
        recalibration_batches: Training batches the BatchNorm statistics are recalibrated on (0: keep the
            subnet's own, which depend on what this process built and trained before; recipes require 1+).
        recalibration_batch_size: Examples per recalibration batch.
        finetune_epochs: Epochs to train a copy of the subnet first, under the sample's own training
            hyperparameters (0: none).
        seed: Seeds the recalibration batches, dropout and the finetuning's batch order.

    Returns:
        ``val_accuracy``, ``val_loss``, ``test_accuracy`` and ``score_s`` (seconds, recalibration included).

    Raises:
        SampleError: If ``sample`` is not in the space.
        TrainingDiverged: If finetuning diverges.
    """
    t0 = time.perf_counter()
    with isolated_rng():
        seed_everything(seed)
        if finetune_epochs > 0:
            model = supernet.materialize(sample)
            hp = supernet.space.resolve(sample).training
            train(model, data, hp, Protocol(epochs=finetune_epochs), seed)
        else:
            model = supernet.subnet(sample, scratch=True).inherit()  # copies of the slices: the bank is only read
        xt, _ = split_tensors(data, "train", supernet.device)
        recalibrate_batchnorm(model, xt, recalibration_batches, recalibration_batch_size, seed)
        val_loss, val_acc = evaluate(model, *split_tensors(data, "val", supernet.device))
        _, test_acc = evaluate(model, *split_tensors(data, "test", supernet.device))
    return {
        "val_accuracy": val_acc,
        "val_loss": val_loss,
        "test_accuracy": test_acc,
        "score_s": time.perf_counter() - t0,
    }
