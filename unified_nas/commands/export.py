"""``unas export``: a stored trial's architecture as a trained model file, whichever backend found it.

Trials keep canonical samples, not weights, so the export retrains the
architecture under the recipe's protocol and the run's seed in the chosen
framework (torch models on the torch trainer: the same metrics as the trial
when a torch backend ran it). Written to the output folder:

* ``model.pt`` (TorchScript: ``torch.jit.load``), ``model.keras``
  (``import unified_nas.models.keras_model`` for its layers, then
  ``keras.saving.load_model``) or ``model.onnx`` (any ONNX runtime);
* ``sample.json``: the canonical sample, where it came from, the input
  layout and transform, and the trial's and the retrained model's metrics.

Models take **raw** input, as the data source holds it, channels last
(``(N, H, W, C)`` or ``(N, F)``), and output logits. Training standardises
tabular features and scales pixels (:class:`~unified_nas.data.InputTransform`);
every format carries that transform as its first layer, so a user feeds the
file's values, not the training features. ``sample.json`` records it too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np

from unified_nas.core.errors import UserError
from unified_nas.data import Dataset, check_same_data, recorded_digests
from unified_nas.models.onnx import channels_last, write_onnx
from unified_nas.recipe import load_recipe_text
from unified_nas.report.records import RunReport, TrialRecord, pick_trial
from unified_nas.space.spaces import ArchConfig
from unified_nas.tables.recipes import load_recipe_data

FORMATS = ("torch", "keras", "onnx")


def _torch_model(recipe: Any, sample: dict[str, Any], data: Any, seed: int) -> tuple[Any, dict[str, float]]:
    from unified_nas.evaluation.train.evaluate import train_sample  # deferred: imports torch

    model, result = train_sample(recipe.space, sample, data, recipe.protocol, seed)
    # A trained (not looked-up) result always has a test accuracy; the file holds CPU weights whatever
    # device trained them (--device), so it loads anywhere.
    return model.cpu().eval(), {
        "val_accuracy": result.metrics["val_accuracy"],
        "test_accuracy": cast(float, result.test_accuracy),
    }


def _keras_model(arch: ArchConfig, data: Dataset, recipe: Any, seed: int) -> tuple[Any, dict[str, float]]:
    import os

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    from unified_nas.evaluation.train.keras_protocol import (  # deferred: imports Keras and TensorFlow
        accuracy,
        compile_model,
        one_hot,
        protocol_callbacks,
    )
    from unified_nas.models.keras_model import (  # deferred: imports Keras and TensorFlow
        build_keras_model,
        with_keras_transform,
    )

    keras.utils.set_random_seed(seed)
    model = build_keras_model(arch, data.input_shape, data.num_classes)
    compile_model(model, arch.training, from_logits=True)
    hist = model.fit(
        data.x_train,
        one_hot(data.y_train, data.num_classes),
        batch_size=arch.training.batch_size,
        epochs=recipe.protocol.epochs,
        verbose=0,
        callbacks=protocol_callbacks(recipe.protocol),
        validation_data=(data.x_val, one_hot(data.y_val, data.num_classes)),
    )
    metrics = {
        "val_accuracy": float(hist.history["val_accuracy"][-1]),
        "test_accuracy": accuracy(model, data.x_test, data.y_test),
    }
    return with_keras_transform(model, data.input_shape, data.transform), metrics


def _output_folder(out_dir: Path) -> None:
    """Creates the output folder, or refuses it before any training (one line naming it).

    Raises:
        UserError: It is a file, or cannot be created or written.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--output: {out_dir} exists and is not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"--output: cannot create {out_dir}: {e.strerror or e}") from None
    if not os.access(out_dir, os.W_OK):
        raise UserError(f"--output: cannot write into {out_dir}")


def export_trial(
    report: RunReport,
    trial: str,
    fmt: str,
    out_dir: Path,
    on_start: Callable[[TrialRecord], None] | None = None,
) -> dict[str, Any]:
    """Retrains and writes one trial's architecture; returns what ``sample.json`` holds.

    Args:
        report: A stored run (with trials).
        trial: ``best`` or a trial index.
        fmt: ``torch``, ``keras`` or ``onnx``.
        out_dir: Output folder (created once everything else is checked).
        on_start: Called with the trial once every check passed, before retraining (progress output).

    Raises:
        UserError: Unknown format, a trial that cannot be exported, or an output folder that
            cannot be written (all before any training).
    """
    if fmt not in FORMATS:
        raise UserError(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    record = pick_trial(report, trial, complete_to="export")
    text = report.recipe["text"]
    recipe = load_recipe_text(text, report.recipe.get("base_dir", "."), report.recipe["name"], f"run {report.run_id}")
    if not recipe.evaluation.has_data:
        raise UserError(
            f"run {report.run_id} was evaluated by table {recipe.evaluation.table}: there is no data to "
            f"train the architecture on; its canonical sample is in the run's records"
        )
    data = load_recipe_data(recipe)
    # Retraining on other data would export another model under this trial's name and metrics.
    check_same_data(
        recorded_digests(report.data),
        data,
        f"data of run {report.run_id} changed since it ran (the export would train on other data)",
    )
    arch = recipe.space.resolve(record.sample)
    _output_folder(out_dir)
    if on_start is not None:
        on_start(record)
    example = np.zeros((1, *data.input_shape), dtype=np.float32)
    if fmt == "keras":
        model, metrics = _keras_model(arch, data, recipe, report.seed)
        path = out_dir / "model.keras"
        model.save(path)
    else:
        import torch

        model, metrics = _torch_model(recipe, record.sample, data, report.seed)
        wrapped = channels_last(model, data.transform)
        if fmt == "torch":
            path = out_dir / "model.pt"
            torch.jit.trace(wrapped, torch.from_numpy(example)).save(str(path))
        else:
            path = out_dir / "model.onnx"
            write_onnx(wrapped, (torch.from_numpy(example),), str(path))
    info = {
        "format": fmt,
        "file": path.name,
        "run_id": report.run_id,
        "backend": report.backend["name"],
        "trial": record.index,
        "sample": record.sample,
        "recipe": recipe.name,
        "seed": report.seed,
        "input_shape": list(data.input_shape),
        "input_layout": "channels last, float32",
        # The model's first layer applies it: feed raw values (as the data source holds them).
        "input": "raw",
        "input_transform": data.transform.describe(),
        "num_classes": data.num_classes,
        "output": "logits",
        "trial_metrics": {"val_accuracy": record.metrics.get("val_accuracy"), "test_accuracy": record.test_accuracy},
        "exported_metrics": metrics,
        "params": record.params,
        "flops": record.flops,
    }
    (out_dir / "sample.json").write_text(json.dumps(info, indent=1))
    return info
