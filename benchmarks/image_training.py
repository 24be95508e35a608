"""Training images: one epoch of a fixed Fashion-MNIST CNN, our trainer against a hand loop and Keras's plain fit.

What it measures: the wall time of one epoch (a pass over the training split,
then the validation split scored once) of one fixed network on Fashion-MNIST
(``data: {name: fashion_mnist}``, 48000 training and 12000 validation images,
or a stratified ``--subsample``): conv3x3(32)-BN-ReLU-maxpool,
conv3x3(64)-BN-ReLU-maxpool, global average pooling, linear 10; batch 128,
Adam at 1e-3 (eps 1e-7). The network is built by our own builders from a macro
architecture (``build_model`` in torch, ``build_keras_model`` in Keras), so
every side trains the same network, and every side runs it in turn:

* ``ours``: ``unified_nas.evaluation.train.trainer.train``, what every torch
  backend runs per trial (history, divergence check, validation loss and
  accuracy), under ``--precision``;
* ``hand``: a minimal hand-written torch loop over the same network, the same
  in-memory tensors (those the trainer gets from ``split_tensors``), the same
  precision and memory format: a seeded permutation, index, forward, loss,
  backward, step, then the validation accuracy;
* ``keras ours`` (CPU only): the same network in Keras (``KERAS_BACKEND=tensorflow``,
  as the AutoKeras backend runs), compiled by ``keras_protocol.compile_model``
  and fitted with ``protocol_callbacks``, as the AutoKeras backend fits a trial;
* ``keras plain``: the same Keras network under a plain ``compile`` (same
  optimizer and loss, ``accuracy``) and ``model.fit`` with no callbacks.

Every side builds a fresh network (seeded, outside the timer) for each run,
and the sides take turns (rotating who goes first) for ``--repeats`` rounds
after one untimed warm-up round on a small slice of the data; figures are
medians. Keras traces its training function again for every new network, as
it does for every trial. Threads are set explicitly, as a run sets them
(``unified_nas.runs.threads``: the OpenMP/MKL/TensorFlow variables before any
framework loads, then ``torch.set_num_threads`` and TensorFlow's intra-op and
inter-op settings before any TensorFlow op; one inter-op thread), in one
process per ``--threads`` value (TensorFlow cannot change its pools once
started). On ``--device cuda`` the Keras sides are left out (no TensorFlow
there), and the device is synchronised before each timer is read.

How to read it: ``ours/hand`` is the throughput of our trainer over the hand
loop's (goal >= 0.95 on the CPU, >= 0.9 on a GPU); ``keras ours/plain`` is
the same for the Keras path against its own plain ``fit``. On the CPU, ours
and hand draw the same batch order from the same seed and initial weights, so
their validation accuracies should agree (a check that both did the same work).

Run: ``python benchmarks/image_training.py [--threads 1 2] [--device cpu|cuda] [--precision fp32|bf16]
[--subsample N] [--repeats 3] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEED = 0
BATCH = 128
LR = 1e-3
EVAL_BATCH = 1024  # the trainer's validation batch, and the hand loop's
WARMUP_BATCHES = 4  # the warm-up round trains this many full batches, and the last (partial) one
LAYER = {"op": "conv", "kernel": 3, "activation": "relu", "batchnorm": True, "pool": "max"}
TORCH_SIDES = ("ours", "hand")
KERAS_SIDES = ("keras ours", "keras plain")


def recipe_dict(precision: str, subsample: int | None) -> dict[str, Any]:
    """The fixed network as a macro recipe (every value fixed: the space has one sample)."""
    data: dict[str, Any] = {"name": "fashion_mnist"}
    if subsample:
        data["subsample"] = subsample
    return {
        "name": "fashion_cnn_bench",
        "data": data,
        "space": {"type": "macro", "depth": 2, "layers": [{**LAYER, "width": 32}, {**LAYER, "width": 64}]},
        "training": {"epochs": 1, "batch_size": BATCH, "lr": LR, "optimizer": "adam", "precision": precision},
        "objectives": [{"metric": "val_accuracy", "direction": "maximize"}],
        "budget": {"trials": 1},
        "seed": SEED,
    }


def sync(device: Any) -> None:
    """Waits for the device's queued work (CUDA), so a timer read after it covers that work."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def torch_side(side: str, arch: Any, data: Any, protocol: Any, device: Any) -> tuple[float, float]:
    """One epoch of ``side`` (``ours`` or ``hand``): (seconds, validation accuracy)."""
    import torch
    from torch import nn

    from unified_nas.evaluation.train.evaluate import seed_everything
    from unified_nas.evaluation.train.trainer import channels_last, precision_context, split_tensors, train
    from unified_nas.models.torch_model import build_model

    seed_everything(SEED)
    model = build_model(arch, data.input_shape, data.num_classes)
    if side == "ours":
        sync(device)
        t0 = time.perf_counter()
        history, _, _ = train(model, data, arch.training, protocol, SEED)
        sync(device)
        return time.perf_counter() - t0, history[-1]["val_accuracy"]
    # The hand loop: the same tensors, precision and memory format as the trainer, nothing else.
    xt, yt = split_tensors(data, "train", device)
    xv, yv = split_tensors(data, "val", device)
    model.to(device)
    if channels_last(device, xt.ndim):
        model.to(memory_format=torch.channels_last)
    sync(device)
    t0 = time.perf_counter()
    opt = torch.optim.Adam(model.parameters(), lr=LR, eps=1e-7)
    model.train()
    perm = torch.randperm(len(xt), generator=torch.Generator().manual_seed(SEED)).to(device)
    for i in range(0, len(xt), BATCH):
        idx = perm[i : i + BATCH]
        opt.zero_grad(set_to_none=True)
        with precision_context(device, protocol.precision):
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
        loss.backward()
        opt.step()
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=device)
    with torch.no_grad(), precision_context(device, protocol.precision):
        for i in range(0, len(xv), EVAL_BATCH):
            correct += (model(xv[i : i + EVAL_BATCH]).argmax(1) == yv[i : i + EVAL_BATCH]).sum()
    accuracy = int(correct) / len(xv)  # waits for the device
    return time.perf_counter() - t0, accuracy


def keras_side(side: str, arch: Any, data: Any, protocol: Any) -> tuple[float, float]:
    """One epoch of ``side`` (``keras ours`` or ``keras plain``): (seconds of ``fit``, validation accuracy)."""
    import keras

    from unified_nas.evaluation.train.keras_protocol import compile_model, one_hot, protocol_callbacks
    from unified_nas.models.keras_model import build_keras_model

    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    model = build_keras_model(arch, data.input_shape, data.num_classes)
    callbacks: list[Any] = []
    if side == "keras ours":
        compile_model(model, arch.training, from_logits=True)
        callbacks = protocol_callbacks(protocol)
    else:
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=LR, epsilon=1e-7),
            loss=keras.losses.CategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    y_train, y_val = one_hot(data.y_train, data.num_classes), one_hot(data.y_val, data.num_classes)
    t0 = time.perf_counter()
    hist = model.fit(
        data.x_train,
        y_train,
        validation_data=(data.x_val, y_val),
        epochs=1,
        batch_size=BATCH,
        callbacks=callbacks,
        verbose=0,
    ).history
    return time.perf_counter() - t0, float(hist["val_accuracy"][-1])


def worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """One process: threads as ``cfg`` says, then the warm-up round and ``cfg['repeats']`` timed rounds."""
    import dataclasses

    from unified_nas.evaluation.devices import resolve_device, use_device
    from unified_nas.runs.threads import apply_threads, set_thread_environment

    threads = cfg["threads"]
    set_thread_environment(threads)  # before torch and TensorFlow load
    use_device(resolve_device(cfg["device"]))
    import torch

    keras_on = cfg["keras"]
    versions = {"torch": torch.__version__}
    if keras_on:
        from unified_nas.backends.autokeras.keras_env import select_keras_backend
        from unified_nas.backends.autokeras.workarounds import quiet_native_stderr

        select_keras_backend("tensorflow")  # as the AutoKeras backend runs
        with quiet_native_stderr():  # TensorFlow's import banner
            import keras
            import tensorflow as tf
        versions |= {"tensorflow": tf.__version__, "keras": keras.__version__}
    record = apply_threads(threads, "--threads")  # torch, and TensorFlow before any op
    from unified_nas.data import load_dataset
    from unified_nas.evaluation.devices import current_device
    from unified_nas.evaluation.train.trainer import split_tensors
    from unified_nas.models.torch_model import build_model, count_params
    from unified_nas.recipe import parse_recipe

    recipe = parse_recipe(recipe_dict(cfg["precision"], cfg["subsample"]), base_dir=str(ROOT))
    assert recipe.data is not None
    arch = recipe.space.resolve({})
    data = load_dataset(recipe.data)
    device = torch.device(current_device())
    params = {"torch": count_params(build_model(arch, data.input_shape, data.num_classes))}
    sides = [*TORCH_SIDES, *(KERAS_SIDES if keras_on else ())]
    if keras_on:
        from unified_nas.models.keras_model import build_keras_model, count_trainable

        params["keras"] = count_trainable(build_keras_model(arch, data.input_shape, data.num_classes))

    def run(side: str, d: Any) -> tuple[float, float]:
        if side in TORCH_SIDES:
            return torch_side(side, arch, d, recipe.protocol, device)
        return keras_side(side, arch, d, recipe.protocol)

    # The warm-up round: lazy imports, allocators, TensorFlow's runtime, and the kernels of every batch shape of
    # the timed rounds (oneDNN makes its primitives per shape: the partial last batch of each split is a shape).
    n_train = min(len(data.x_train), WARMUP_BATCHES * BATCH + len(data.x_train) % BATCH)
    n_val = min(len(data.x_val), EVAL_BATCH + len(data.x_val) % EVAL_BATCH)
    small = dataclasses.replace(
        data,
        x_train=data.x_train[:n_train],
        y_train=data.y_train[:n_train],
        x_val=data.x_val[:n_val],
        y_val=data.y_val[:n_val],
    )
    for side in sides:
        run(side, small)
    del small
    for split in ("train", "val"):
        split_tensors(data, split, device)  # the trainer's data on the device, once, as in a run
    times: dict[str, list[float]] = {side: [] for side in sides}
    accuracy: dict[str, list[float]] = {side: [] for side in sides}
    for r in range(cfg["repeats"]):
        for side in sides[r % len(sides) :] + sides[: r % len(sides)]:  # rotate who goes first
            seconds, acc = run(side, data)
            times[side].append(seconds)
            accuracy[side].append(acc)
        print(f"threads {threads}: round {r + 1}/{cfg['repeats']} done", file=sys.stderr, flush=True)
    return {
        "threads": threads,
        "framework_threads": {k: record[k] for k in ("torch", "tensorflow") if k in record},
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "versions": versions,
        "params": params,
        "sizes": {"train": len(data.x_train), "val": len(data.x_val)},
        "times": times,
        "val_accuracy": accuracy,
    }


def measure(cfg: dict[str, Any]) -> dict[str, Any]:
    """Runs one worker process for ``cfg`` and returns what it printed."""
    out = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(cfg)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    if out.returncode:
        raise SystemExit(f"the worker for {cfg} failed (exit {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="intra-op threads, one process each")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where torch trains (default cpu)")
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="training.precision")
    ap.add_argument("--subsample", type=int, help="a stratified subset of this many images (default: all 70000)")
    ap.add_argument("--repeats", type=int, default=3, help="timed epochs per side and thread count (default 3)")
    ap.add_argument("--no-keras", action="store_true", help="leave out the Keras sides (always on cuda)")
    ap.add_argument("--json", type=Path, help="also write every figure here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(json.loads(a.worker))))
        return
    if a.repeats < 1 or any(t < 1 for t in a.threads):
        ap.error("--repeats and --threads must be >= 1")
    keras_on = a.device == "cpu" and not a.no_keras
    results = []
    for threads in a.threads:
        cfg = {
            "threads": threads,
            "device": a.device,
            "precision": a.precision,
            "subsample": a.subsample,
            "repeats": a.repeats,
            "keras": keras_on,
        }
        results.append(measure(cfg))
    first = results[0]
    print(
        f"device {first['device']}, {len(os.sched_getaffinity(0))} cores, precision {a.precision}; "
        f"Fashion-MNIST train {first['sizes']['train']} / val {first['sizes']['val']} images, batch {BATCH}; "
        f"params {first['params']}; median of {a.repeats} epochs per side; "
        + ", ".join(f"{k} {v}" for k, v in first["versions"].items())
    )
    print(f"{'threads':>7} {'side':<12} {'s/epoch':>8} {'images/s':>9} {'val acc':>8}")
    for res in results:
        med = {side: statistics.median(ts) for side, ts in res["times"].items()}
        rate = {side: res["sizes"]["train"] / s for side, s in med.items()}
        res["median_s"], res["images_per_s"] = med, rate
        for side in med:
            acc = statistics.median(res["val_accuracy"][side])
            print(f"{res['threads']:>7} {side:<12} {med[side]:>8.2f} {rate[side]:>9.0f} {acc:>8.4f}")
    goal = 0.95 if a.device == "cpu" else 0.9
    for res in results:
        rate = res["images_per_s"]
        line = f"threads {res['threads']}: ours/hand {rate['ours'] / rate['hand']:.3f}x (goal >= {goal})"
        if "keras ours" in rate:
            line += f", keras ours/plain fit {rate['keras ours'] / rate['keras plain']:.3f}x"
        print(line)
    command = "python benchmarks/image_training.py " + " ".join(shlex.quote(arg) for arg in sys.argv[1:])
    print(f"command: {command.strip()}")
    if a.json:
        a.json.write_text(json.dumps({"command": command, "results": results}, indent=2))


if __name__ == "__main__":
    main()
