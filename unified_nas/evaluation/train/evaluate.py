"""Sample -> trained metrics: the one trial evaluation the torch-based backends share."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from unified_nas.data import Dataset
from unified_nas.evaluation.train.result import EpochCallback, TrialResult
from unified_nas.evaluation.train.trainer import evaluate, split_tensors, train
from unified_nas.models.torch_model import build_model, count_params, init_weights
from unified_nas.network.flops import count_flops
from unified_nas.recipe import Protocol
from unified_nas.space import SearchSpace
from unified_nas.space.spaces import ArchConfig


def seed_everything(seed: int) -> None:
    """Seeds every RNG a torch trial touches (weights, dropout, batch order)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


@contextlib.contextmanager
def isolated_rng() -> Iterator[None]:
    """Restores the global torch, numpy and random states after a trial.

    A trial seeds and draws from the global RNGs; some strategies sample from
    them too (NNI's PolicyBasedRL from torch's). Without this, the strategy's
    next proposal would depend on how much randomness training consumed, and
    a resumed run, which answers finished trials from the store without
    training, would propose other samples than the first attempt did.
    """
    states = torch.get_rng_state(), np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        torch.set_rng_state(states[0])
        np.random.set_state(states[1])
        random.setstate(states[2])


def evaluate_sample(
    space: SearchSpace,
    sample: Mapping[str, Any],
    data: Dataset,
    protocol: Protocol,
    seed: int,
    on_epoch: EpochCallback | None = None,
) -> TrialResult:
    """Builds, trains and scores one canonical sample.

    The same (sample, data, protocol, seed) gives the same result on CPU: the
    weights are initialised right here under ``seed``, never inherited from
    whatever RNG state a toolkit left behind.

    Args:
        space: The recipe's search space.
        sample: A canonical sample of ``space``.
        data: The split data set.
        protocol: The recipe's training protocol.
        seed: The run seed.
        on_epoch: Per-epoch callback for pruning (return True to stop).

    Returns:
        The trial's metrics, history, size and timing.

    Raises:
        SampleError: If ``sample`` is not in ``space``.
        TrainingDiverged: If the loss becomes NaN.
        ValueError: If the architecture does not fit the data.
    """
    return train_sample(space, sample, data, protocol, seed, on_epoch)[1]


def train_sample(
    space: SearchSpace,
    sample: Mapping[str, Any],
    data: Dataset,
    protocol: Protocol,
    seed: int,
    on_epoch: EpochCallback | None = None,
) -> tuple[torch.nn.Module, TrialResult]:
    """:func:`evaluate_sample` that also returns the trained network (for export).

    Returns:
        (the trained model, its result).
    """
    arch = space.resolve(sample)
    with isolated_rng():
        seed_everything(seed)
        model = build_model(arch, data.input_shape, data.num_classes)
        return model, train_model(model, arch, data, protocol, seed, on_epoch, reinit=False)


def train_model(
    model: torch.nn.Module,
    arch: ArchConfig,
    data: Dataset,
    protocol: Protocol,
    seed: int,
    on_epoch: EpochCallback | None = None,
    reinit: bool = True,
) -> TrialResult:
    """Trains and scores an already built network of ``arch``.

    Args:
        model: The network (e.g. one a toolkit built from its own space).
        arch: Its resolved architecture (for the hyperparameters and FLOPs).
        data, protocol, seed, on_epoch: As in :func:`evaluate_sample`.
        reinit: Re-initialise the weights under ``seed`` first. Toolkits
            such as NNI build the model from an unseeded global RNG, so the
            same architecture would otherwise score differently run to run.

    Returns:
        The trial's metrics, history, size and timing.
    """
    with isolated_rng():
        if reinit:
            seed_everything(seed)
            init_weights(model)
        params = count_params(model)
        flops = count_flops(arch, data.input_shape, data.num_classes)
        history, train_s, stopped = train(model, data, arch.training, protocol, seed, on_epoch)
        last = history[-1]
        x_test, y_test = split_tensors(data, "test", next(model.parameters()).device)  # on the device once per data set
        _, test_acc = evaluate(model, x_test, y_test, precision=protocol.precision)
    metrics = {k: last[k] for k in ("val_accuracy", "val_loss", "train_loss")}
    return TrialResult(metrics, test_acc, history, params, flops, train_s, stopped)
