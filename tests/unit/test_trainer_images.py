"""The torch trainer on real images: split tensors made once, bf16 autocast, divergence (Fashion-MNIST, subsampled)."""

from __future__ import annotations

import dataclasses
import gc
import math
import weakref

import pytest
import torch

from tests.conftest import require_image_set
from unified_nas.core.errors import TrainingDiverged
from unified_nas.data import load_dataset
from unified_nas.evaluation.train.evaluate import evaluate_sample
from unified_nas.evaluation.train.trainer import clear_split_cache, evaluate, split_tensors, train
from unified_nas.models.torch_model import build_model, to_tensor
from unified_nas.recipe import Protocol
from unified_nas.recipe.parse import _parse_data
from unified_nas.space.parse import parse_space

CNN = parse_space(
    {"depth": 2, "layer": {"op": "conv", "width": 8, "kernel": 3, "batchnorm": True, "pool": "max"}},
    {"lr": 0.01, "batch_size": 64},
)
HAS_CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def fashion():
    """1500 Fashion-MNIST images (1028 train, 258 val, 214 test), 28x28x1 float32."""
    require_image_set("fashion_mnist")  # skips where it is not installed; fails under .ci/run
    return load_dataset(_parse_data({"name": "fashion_mnist", "subsample": 1500}))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread, as a run's default: a second one only contends on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_split_cache()
    yield
    clear_split_cache()


def test_split_tensors_are_made_once_per_data_set_and_device(fashion):
    x, y = split_tensors(fashion, "train", "cpu")
    assert x.shape == (len(fashion.x_train), 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(x, to_tensor(fashion.x_train)) and torch.equal(y, torch.from_numpy(fashion.y_train))
    evaluate_sample(CNN, {}, fashion, Protocol(epochs=1), seed=0)
    evaluate_sample(CNN, {}, fashion, Protocol(epochs=1), seed=1)
    again = split_tensors(fashion, "train", torch.device("cpu"))
    assert again[0] is x and again[1] is y  # two trials later: the same objects, no new copy
    # One channel: NCHW is a view of the channels-last array, not even one copy of the images.
    assert x.data_ptr() == fashion.x_train.__array_interface__["data"][0]


def test_the_cache_holds_one_data_set_and_lets_it_go(fashion):
    other = dataclasses.replace(fashion, x_train=fashion.x_train.copy())
    x_other = split_tensors(other, "train", "cpu")[0]
    gone = weakref.ref(x_other)
    del x_other, other
    gc.collect()
    assert gone() is None  # the data set is gone, and its tensors with it

    other = dataclasses.replace(fashion, x_train=fashion.x_train.copy())
    x_other = split_tensors(other, "train", "cpu")[0]
    gone = weakref.ref(x_other)
    x = split_tensors(fashion, "train", "cpu")[0]  # another data set takes the one entry
    assert x is not x_other and split_tensors(fashion, "train", "cpu")[0] is x
    del x_other
    gc.collect()
    assert gone() is None and other is not None  # not held for a data set still alive but no longer asked for
    held = weakref.ref(x)
    del x
    gc.collect()
    assert held() is not None  # the tensors of the data set in use stay


def test_split_tensors_refuse_an_unknown_split(fashion):
    with pytest.raises(ValueError, match="split: 'dev' is not one of train, val, test"):
        split_tensors(fashion, "dev", "cpu")


def test_cached_tensors_give_the_result_of_a_fresh_trial(fashion):
    first = evaluate_sample(CNN, {}, fashion, Protocol(epochs=2), seed=3)  # fills the cache
    cached = evaluate_sample(CNN, {}, fashion, Protocol(epochs=2), seed=3)  # reads it
    clear_split_cache()
    fresh = evaluate_sample(CNN, {}, fashion, Protocol(epochs=2), seed=3)  # as in a new process
    copy = evaluate_sample(CNN, {}, dataclasses.replace(fashion), Protocol(epochs=2), seed=3)  # another object
    for r in (cached, fresh, copy):
        assert r.history == first.history and r.test_accuracy == first.test_accuracy and r.metrics == first.metrics


def test_bf16_trains_on_the_cpu_close_to_fp32_but_not_equal(fashion):
    fp32 = evaluate_sample(CNN, {}, fashion, Protocol(epochs=2), seed=1)
    bf16 = evaluate_sample(CNN, {}, fashion, Protocol(epochs=2, precision="bf16"), seed=1)
    assert all(math.isfinite(v) for row in bf16.history for v in row.values())
    assert bf16.history != fp32.history  # the forward pass really ran in bfloat16
    for a, b in zip(fp32.history, bf16.history, strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.02)
        assert b["val_loss"] == pytest.approx(a["val_loss"], abs=0.05)
    assert bf16.history[-1]["train_loss"] < bf16.history[0]["train_loss"]  # it learns


def test_bf16_keeps_the_weights_in_float32(fashion):
    model = build_model(CNN.resolve({}), fashion.input_shape, fashion.num_classes)
    train(model, fashion, CNN.resolve({}).training, Protocol(epochs=1, precision="bf16"), seed=0)
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_evaluate_under_bf16_scores_close_to_fp32(fashion):
    torch.manual_seed(0)
    model = build_model(CNN.resolve({}), fashion.input_shape, fashion.num_classes)
    x, y = split_tensors(fashion, "val", "cpu")
    loss32, acc32 = evaluate(model, x, y)
    loss16, acc16 = evaluate(model, x, y, precision="bf16")
    assert loss16 != loss32 and loss16 == pytest.approx(loss32, rel=0.02) and abs(acc16 - acc32) < 0.05


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_divergence_is_reported(fashion, precision):
    space = parse_space(
        {"depth": 1, "layer": {"op": "conv", "width": 8, "kernel": 3}}, {"lr": 1.0e30, "optimizer": "sgd"}
    )
    with pytest.raises(TrainingDiverged, match=r"^training loss became (nan|inf) in epoch 1$"):
        evaluate_sample(space, {}, fashion, Protocol(epochs=2, precision=precision), seed=0)


def test_an_unknown_precision_is_refused(fashion):
    model = build_model(CNN.resolve({}), fashion.input_shape, fashion.num_classes)
    with pytest.raises(ValueError, match="precision: 'fp16' is not one of fp32, bf16"):
        train(model, fashion, CNN.resolve({}).training, Protocol(epochs=1, precision="fp16"), seed=0)


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_moves_the_data_once_channels_last_and_trains(fashion, precision, monkeypatch):
    monkeypatch.setenv("UNAS_DEVICE", "cuda")
    x, _ = split_tensors(fashion, "train", "cuda")
    assert x.is_cuda and x.is_contiguous(memory_format=torch.channels_last)
    gpu = evaluate_sample(CNN, {}, fashion, Protocol(epochs=2, precision=precision), seed=1)
    assert split_tensors(fashion, "train", "cuda:0")[0] is x
    monkeypatch.setenv("UNAS_DEVICE", "cpu")
    cpu_ref = evaluate_sample(CNN, {}, dataclasses.replace(fashion), Protocol(epochs=2), seed=1)
    assert gpu.history[-1]["train_loss"] == pytest.approx(cpu_ref.history[-1]["train_loss"], rel=0.05)


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_cuda_divergence_is_reported_at_the_end_of_the_epoch(fashion, monkeypatch):
    monkeypatch.setenv("UNAS_DEVICE", "cuda")
    space = parse_space(
        {"depth": 1, "layer": {"op": "conv", "width": 8, "kernel": 3}}, {"lr": 1.0e30, "optimizer": "sgd"}
    )
    with pytest.raises(TrainingDiverged, match=r"^training loss became (nan|inf) in epoch 1$"):
        evaluate_sample(space, {}, fashion, Protocol(epochs=2), seed=0)
