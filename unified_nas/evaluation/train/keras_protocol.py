"""The training protocol of ``trainer.py``, expressed in Keras.

One definition for everything that trains a Keras model (the AutoKeras
backend, ``unas export --format keras``), matching the torch trainer:

* Loss: categorical cross entropy on one-hot labels (softmax outputs) or on
  logits (models from :func:`~unified_nas.models.keras_model.build_keras_model`).
* Optimizers: ``adam`` (eps 1e-7), ``adamw`` (decoupled decay, like
  ``torch.optim.AdamW``), ``sgd`` (momentum 0.9). Torch's coupled L2 decay of
  ``adam``/``sgd`` has no Keras optimizer: the AutoKeras backend refuses such recipes.
* Schedule: ``constant`` or ``cosine`` annealing to 0 over the epochs, set per epoch.
* Early stopping on ``val_loss`` after ``patience`` epochs without a new
  minimum; the final weights are kept (``restore_best_weights=False``).

Imports Keras: set ``KERAS_BACKEND`` before importing this module.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from unified_nas.recipe import Protocol
from unified_nas.space.spaces import TrainingConfig


def keras_optimizer(hp: TrainingConfig):
    """The Keras optimizer equal to ``trainer.make_optimizer``."""
    if hp.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=hp.lr, momentum=0.9)
    if hp.optimizer == "adamw":
        return keras.optimizers.AdamW(learning_rate=hp.lr, weight_decay=hp.weight_decay, epsilon=1e-7)
    return keras.optimizers.Adam(learning_rate=hp.lr, epsilon=1e-7)


def compile_model(model: Any, hp: TrainingConfig, from_logits: bool) -> None:
    """Compiles with the protocol's loss, optimizer and accuracy metric."""
    model.compile(
        optimizer=keras_optimizer(hp),
        loss=keras.losses.CategoricalCrossentropy(from_logits=from_logits),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


def protocol_callbacks(protocol: Protocol) -> list[Any]:
    """Stop on NaN loss, cosine schedule (if asked), early stopping.

    An EarlyStopping callback is always present: AutoKeras inserts its own
    (patience 10) and then refits on train+val when none is given.
    """
    callbacks: list[Any] = [keras.callbacks.TerminateOnNaN()]  # the caller reports divergence
    if protocol.schedule == "cosine":
        callbacks.append(CosineSchedule(protocol.epochs))
    patience = protocol.patience if protocol.patience is not None else protocol.epochs + 1
    callbacks.append(
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, min_delta=0.0, restore_best_weights=False)
    )
    return callbacks


class CosineSchedule(keras.callbacks.Callback):
    """``CosineAnnealingLR`` stepped per epoch, from the compiled learning rate (searched or not)."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs
        self.base_lr: float | None = None

    def on_train_begin(self, logs: Any = None) -> None:
        self.base_lr = float(self.model.optimizer.learning_rate)

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        assert self.base_lr is not None  # set by on_train_begin, which Keras calls before any epoch
        lr = self.base_lr * (1 + math.cos(math.pi * epoch / self.epochs)) / 2
        self.model.optimizer.learning_rate.assign(lr)


def one_hot(y: np.ndarray, num_classes: int) -> np.ndarray:
    return np.eye(num_classes, dtype=np.float32)[y]


def accuracy(model: Any, x: np.ndarray, y: np.ndarray, batch: int = 1024) -> float:
    """Top-1 accuracy of a Keras model on integer labels ``y``.

    Calls the model eagerly: ``model.predict`` would trace a new predict
    function for every trial's model (~0.1-0.2 s of per-trial overhead on TF).
    """
    correct = 0
    for i in range(0, len(x), batch):
        pred = np.asarray(keras.ops.convert_to_numpy(model(x[i : i + batch], training=False)))
        correct += int((pred.argmax(axis=1) == y[i : i + batch]).sum())
    return correct / len(x)
