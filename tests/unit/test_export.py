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
    import unified_nas.models.keras_model  # noqa: F401  (registers its layers for loading)

    model = keras.saving.load_model(out / "model.keras")
    data = load_dataset(recipe.data)
    pred = np.asarray(model.predict(data.transform.invert(data.x_test), verbose=0))  # raw pixels in
    assert pred.shape == (len(data.x_test), data.num_classes)
    assert (pred.argmax(1) == data.y_test).mean() == pytest.approx(info["exported_metrics"]["test_accuracy"])


def test_best_autokeras_trial_to_torch_and_onnx_load_and_predict(store, tmp_path):
    pytest.importorskip("autokeras")
    import torch

    recipe, report = _run("autokeras", store, tmp_path)
    data = load_dataset(recipe.data)
    raw = data.transform.invert(data.x_test)  # the exported model takes raw pixels (0..16 for digits)
    info, out = _export(report, "torch", tmp_path)
    assert info["sample"] == report.incumbent["sample"] and info["backend"] == "autokeras"
    model = torch.jit.load(str(out / "model.pt"))
    with torch.no_grad():
        pred = model(torch.from_numpy(raw)).numpy()
    acc = (pred.argmax(1) == data.y_test).mean()
    assert acc == pytest.approx(info["exported_metrics"]["test_accuracy"])
    ort = pytest.importorskip("onnxruntime")
    info, out = _export(report, "onnx", tmp_path)
    sess = ort.InferenceSession(str(out / "model.onnx"))
    logits = sess.run(None, {"x": raw})[0]
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


def test_exported_tabular_models_predict_right_on_raw_features(store, tmp_path):
    """Every format carries the training standardisation: raw breast_cancer rows in, the trial's accuracy out.

    Before the transform travelled with the model, the ONNX file predicted one class for every raw
    row (accuracy 0.37 against 0.97 on the standardised split).
    """
    import torch
    from sklearn.datasets import load_breast_cancer

    ort = pytest.importorskip("onnxruntime")
    keras = pytest.importorskip("keras")
    recipe = tiny_recipe(
        {"depth": {"low": 1, "high": 2}, "layer": {"op": "linear", "width": [16, 32]}},
        data="breast_cancer",
        training={"lr": 0.01, "epochs": 5, "batch_size": 32},
    )
    report = run_on("optuna", recipe, store, tmp_path, trials=2, seed=0)
    data = load_dataset(recipe.data)
    raw = data.transform.invert(data.x_test)
    # The raw rows really are the file's rows (the test does not check the transform against itself).
    source = load_breast_cancer().data.astype(np.float32)
    nearest = np.abs(raw[:, None, :] - source[None, :, :]).max(axis=2).min(axis=1)
    assert (nearest <= 1e-3 * np.abs(source).max()).all()
    trial_acc = report.incumbent["test_accuracy"]
    accs = {}
    for fmt in ("onnx", "torch", "keras"):
        info, out = _export(report, fmt, tmp_path)
        assert info["input"] == "raw" and len(info["input_transform"]["shift"]) == 30
        if fmt == "onnx":
            logits = ort.InferenceSession(str(out / "model.onnx")).run(None, {"x": raw})[0]
        elif fmt == "torch":
            with torch.no_grad():
                logits = torch.jit.load(str(out / "model.pt"))(torch.from_numpy(raw)).numpy()
        else:
            logits = np.asarray(keras.saving.load_model(out / "model.keras").predict(raw, verbose=0))
        accs[fmt] = (logits.argmax(1) == data.y_test).mean()
        assert accs[fmt] == pytest.approx(info["exported_metrics"]["test_accuracy"], abs=1.5 / len(raw)), fmt
    # torch and ONNX retrain on the trial's own trainer and seed: the trial's accuracy exactly.
    assert accs["onnx"] == pytest.approx(trial_acc) and accs["torch"] == pytest.approx(trial_acc)
    assert accs["keras"] >= 0.9  # Keras's twin of the protocol: as good, not bit-equal


def test_export_refuses_a_data_file_that_changed_since_the_run(store, tmp_path, capsys):
    """Retraining on other data would export another model under the trial's name and metrics."""
    from sklearn.datasets import load_iris

    d = load_iris()
    file = tmp_path / "iris.npz"
    np.savez(file, x=d.data, y=d.target)
    from unified_nas.recipe import parse_recipe

    raw = {
        "name": "irisfile",
        "data": {"path": str(file)},
        "space": {"depth": 1, "layer": {"op": "linear", "width": [8, 16]}},
        "training": {"epochs": 1},
    }
    recipe = parse_recipe(raw, source=repr(raw))
    report = run_on("reference", recipe, store, tmp_path, trials=1, seed=0)
    np.savez(file, x=d.data[::-1], y=d.target[::-1])  # the same file name, other content
    out = tmp_path / "exp"
    capsys.readouterr()
    code = main(
        ["export", report.run_id, "--format", "torch", "-o", str(out), "--store", str(tmp_path / "unas.sqlite")]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "changed since it ran" in err[0], err
    assert not out.exists()
