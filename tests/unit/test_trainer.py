"""The training protocol: determinism, pruning, divergence, schedules."""

from __future__ import annotations

import pytest

from unified_nas.core.errors import TrainingDiverged
from unified_nas.data import load_dataset
from unified_nas.evaluation.train.evaluate import evaluate_sample
from unified_nas.recipe import Protocol
from unified_nas.recipe.sections import DataSpec
from unified_nas.space.parse import parse_space

SPACE = parse_space({"depth": 2, "layer": {"op": "linear", "width": 32}}, {"lr": 0.01, "dropout": 0.2})


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DataSpec(name="digits"))


def test_same_sample_and_seed_give_identical_metrics(digits):
    a = evaluate_sample(SPACE, {}, digits, Protocol(epochs=3), seed=7)
    b = evaluate_sample(SPACE, {}, digits, Protocol(epochs=3), seed=7)
    assert a.metrics == b.metrics and a.history == b.history and a.test_accuracy == b.test_accuracy


def test_another_seed_gives_other_weights(digits):
    a = evaluate_sample(SPACE, {}, digits, Protocol(epochs=2), seed=1)
    b = evaluate_sample(SPACE, {}, digits, Protocol(epochs=2), seed=2)
    assert a.metrics["val_loss"] != b.metrics["val_loss"]


def test_training_learns_digits(digits):
    r = evaluate_sample(SPACE, {}, digits, Protocol(epochs=8), seed=0)
    assert r.metrics["val_accuracy"] > 0.9
    assert len(r.history) == 8 and r.train_s > 0 and r.params > 0 and r.flops > 0


def test_pruning_callback_stops_training(digits):
    seen = []
    r = evaluate_sample(SPACE, {}, digits, Protocol(epochs=5), seed=0, on_epoch=lambda e, row: seen.append(e) or e == 1)
    assert seen == [0, 1] and len(r.history) == 2 and r.stopped == "pruned"


def test_early_stopping_on_val_loss(digits):
    # lr 0.5 with adam overshoots at once, so val_loss stops improving quickly.
    space = parse_space({"depth": 1, "layer": {"op": "linear", "width": 16}}, {"lr": 0.5})
    r = evaluate_sample(space, {}, digits, Protocol(epochs=30, patience=2), seed=0)
    assert r.stopped == "early_stopping" and len(r.history) < 30


def test_divergence_raises(digits):
    space = parse_space({"depth": 2, "layer": {"op": "linear", "width": 64}}, {"lr": 1.0e6, "optimizer": "sgd"})
    with pytest.raises(TrainingDiverged, match="training loss became"):
        evaluate_sample(space, {}, digits, Protocol(epochs=3), seed=0)


def test_cosine_schedule_runs(digits):
    r = evaluate_sample(SPACE, {}, digits, Protocol(epochs=2, schedule="cosine"), seed=0)
    assert len(r.history) == 2
