"""`unas export`: any backend's trial as a torch, Keras or ONNX model that loads and predicts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import run_on, tiny_recipe
from unified_nas.cli import main
from unified_nas.data import load_dataset

pytestmark = pytest.mark.slow

SPACE = {
    "depth": {"low": 1, "high": 2},
    "layer": {"op": "conv", "kernel": [3, 5], "width": [4, 8], "pool": ["none", "max"]},
}


def _run(backend, store, tmp_path):
    recipe = tiny_recipe(SPACE, training={"lr": 0.01})
    return recipe, run_on(backend, recipe, store, tmp_path, trials=2, seed=0)


def _export(report, fmt, tmp_path) -> tuple[dict, np.ndarray]:
    out = tmp_path / f"exp-{fmt}"
    assert (
        main(["export", report.run_id, "--format", fmt, "-o", str(out), "--store", str(tmp_path / "unas.sqlite")]) == 0
    )
    return json.loads((out / "sample.json").read_text()), out


def test_best_nni_trial_to_keras_loads_and_predicts(store, tmp_path):
    pytest.importorskip("nni")
    keras = pytest.importorskip("keras")
    recipe, report = _run("nni", store, tmp_path)
    info, out = _export(report, "keras", tmp_path)
    assert info["sample"] == report.incumbent["sample"] and info["backend"] == "nni"
    import unified_nas.keras_model  # noqa: F401  (registers its layers for loading)

    model = keras.saving.load_model(out / "model.keras")
    data = load_dataset(recipe.data)
    pred = np.asarray(model.predict(data.x_test, verbose=0))
    assert pred.shape == (len(data.x_test), data.num_classes)
    assert (pred.argmax(1) == data.y_test).mean() == pytest.approx(info["exported_metrics"]["test_accuracy"])


def test_best_autokeras_trial_to_torch_and_onnx_load_and_predict(store, tmp_path):
    pytest.importorskip("autokeras")
    import torch

    recipe, report = _run("autokeras", store, tmp_path)
    data = load_dataset(recipe.data)
    info, out = _export(report, "torch", tmp_path)
    assert info["sample"] == report.incumbent["sample"] and info["backend"] == "autokeras"
    model = torch.jit.load(str(out / "model.pt"))
    with torch.no_grad():
        pred = model(torch.from_numpy(data.x_test)).numpy()
    acc = (pred.argmax(1) == data.y_test).mean()
    assert acc == pytest.approx(info["exported_metrics"]["test_accuracy"])
    ort = pytest.importorskip("onnxruntime")
    info, out = _export(report, "onnx", tmp_path)
    sess = ort.InferenceSession(str(out / "model.onnx"))
    logits = sess.run(None, {"x": data.x_test})[0]
    assert (logits.argmax(1) == data.y_test).mean() == pytest.approx(info["exported_metrics"]["test_accuracy"])


def test_export_refuses_a_failed_or_missing_trial(store, tmp_path, capsys):
    recipe, report = _run("optuna", store, tmp_path)
    code = main(
        ["export", report.run_id, "--trial", "7", "--format", "torch", "--store", str(tmp_path / "unas.sqlite")]
    )
    assert code == 2 and f"run {report.run_id} has no trial 7" in capsys.readouterr().err


def test_export_refuses_an_output_that_is_a_file_before_retraining(store, tmp_path, capsys):
    """Checked before any training, in one line, and no 'retraining' line printed first."""
    recipe, report = _run("optuna", store, tmp_path)
    target = tmp_path / "a_file"
    target.write_text("keep")
    capsys.readouterr()
    code = main(
        ["export", report.run_id, "--format", "torch", "-o", str(target), "--store", str(tmp_path / "unas.sqlite")]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.strip().splitlines() == [f"unas: error: --output: {target} exists and is not a folder"]
    assert target.read_text() == "keep"
    code = main(
        ["export", report.run_id, "--trial", "-1", "--format", "torch", "--store", str(tmp_path / "unas.sqlite")]
    )
    assert code == 2 and len(capsys.readouterr().err.strip().splitlines()) == 1
