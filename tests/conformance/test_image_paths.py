"""Real 28x28 images through every path besides search: export, tabulate, proxies, constraints, latency, Dask.

Each test runs the real CLI (``python -m unified_nas.cli``) on the shipped
``fashion_cnn`` recipe changed to a 1,000-image subsample of Fashion-MNIST and
one epoch, so every step takes seconds:

* ``unas export`` in torch, Keras and ONNX: each file takes raw channels-last
  float32 pixels (0..255, the uint8 values as stored) of shape (N, 28, 28, 1)
  and predicts the test split as the export's retrained model did;
* ``unas tabulate`` then ``unas proxies``: zero-cost proxies on image minibatches;
* evaluation by proxy on every backend, on non-square images (28x20): the torch
  twin gets the minibatch NCHW, and the score of one sample is the same number
  whether NNI, Optuna or AutoKeras (a Keras, NHWC toolkit) proposed it;
* a ``params`` bound and ``latency_ms`` on every backend, and latency as a second objective;
* ``unas bench --executor dask`` on a local Dask cluster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.conftest import ROOT, require_image_set, unas
from unified_nas.data import Dataset, load_dataset
from unified_nas.recipe import load_recipe
from unified_nas.report.store import ResultsStore
from unified_nas.runs.registry import entries

pytestmark = pytest.mark.slow

BACKENDS = ("nni", "optuna", "autokeras")
SUBSAMPLE = 1000  # 686 train, 171 val, 143 test: the official test split's share of the subsample
MAX_PARAMS = 50_000  # about half of fashion_cnn's samples are larger (4k-110k parameters)


@pytest.fixture(autouse=True)
def _fashion_installed() -> None:
    require_image_set("fashion_mnist")  # skips where it is not installed; fails under .ci/run


def _need(backend: str) -> None:
    if not entries()[backend].installed():
        pytest.skip(f"{backend} toolkit not installed")


def write_recipe(folder: Path, name: str, data: dict[str, Any] | None = None, epochs: int = 1, **top: Any) -> Path:
    """fashion_cnn on a subsample; ``data`` and ``top`` change its data section and top-level fields."""
    raw: dict[str, Any] = yaml.safe_load((ROOT / "recipes" / "fashion_cnn.yaml").read_text())
    raw.update(name=name, **top)
    raw["data"] = {**raw["data"], "subsample": SUBSAMPLE, **(data or {})}
    raw["training"] = {**raw["training"], "epochs": epochs}
    raw = {k: v for k, v in raw.items() if v is not None}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def ok(r: Any) -> str:
    assert r.returncode == 0, r.stderr[-3000:]
    return str(r.stdout)


def last_run(folder: Path) -> Any:
    with ResultsStore(folder / "unas.sqlite", readonly=True) as store:
        return store.load_run(store.list_runs()[0][0])  # newest first


def raw_pixels(data: Dataset) -> np.ndarray:
    """The test split as the data source holds it: uint8 values 0..255, as float32, channels last."""
    raw = data.transform.invert(data.x_test)
    assert raw.dtype == np.float32 and raw.shape[1:] == (28, 28, 1)
    assert raw.min() >= 0 and raw.max() == 255 and np.array_equal(raw, np.round(raw))
    return raw


@pytest.fixture(scope="module")
def image_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One Optuna run of the image recipe: (its folder, the recipe file)."""
    pytest.importorskip("optuna")
    folder = tmp_path_factory.mktemp("images")
    # A model that has learned something (about 0.7 test accuracy), so that predicting as the retrained model did
    # means more than predicting one class everywhere.
    recipe = write_recipe(folder, "fashion_small", {"subsample": 3000}, epochs=2)
    ok(unas("run", recipe, "--backend", "optuna", "--trials", "2", "--seed", "0", cwd=folder))
    return folder, recipe


@pytest.mark.parametrize("fmt", ["torch", "keras", "onnx"])
def test_export_carries_the_input_shape_and_predicts_raw_pixels(fmt, image_run):
    folder, recipe = image_run
    out = folder / f"export-{fmt}"
    ok(unas("export", "latest", "--format", fmt, "-o", out, cwd=folder))
    info = json.loads((out / "sample.json").read_text())
    assert info["input_shape"] == [28, 28, 1] and info["input"] == "raw" and info["num_classes"] == 10
    assert info["input_transform"]["scale"] == [255.0] and info["input_transform"]["shift"] == [0.0]
    data = load_dataset(load_recipe(recipe).data)
    raw = raw_pixels(data)
    if fmt == "torch":
        import torch

        model = torch.jit.load(str(out / "model.pt"))
        with torch.no_grad():
            logits = model(torch.from_numpy(raw)).numpy()
    elif fmt == "keras":
        import keras

        import unified_nas.models.keras_model  # noqa: F401  (registers the layers the file uses)

        model = keras.saving.load_model(out / "model.keras")
        assert tuple(model.input_shape) == (None, 28, 28, 1)
        logits = np.asarray(model.predict(raw, verbose=0))
    else:
        ort = pytest.importorskip("onnxruntime")
        sess = ort.InferenceSession(str(out / "model.onnx"))
        assert sess.get_inputs()[0].shape[1:] == [28, 28, 1]
        logits = sess.run(None, {"x": raw})[0]
    assert logits.shape == (len(raw), 10)
    assert info["exported_metrics"]["test_accuracy"] > 0.5
    accuracy = float((logits.argmax(1) == data.y_test).mean())
    # The file on raw pixels predicts what the retrained model predicted on the scaled ones
    # (one example's argmax may flip on float rounding between the two input paths).
    assert accuracy == pytest.approx(info["exported_metrics"]["test_accuracy"], abs=1.01 / len(raw))


def test_tabulate_and_proxies_on_images(image_run):
    folder, recipe = image_run
    table = folder / "fashion.sqlite"
    ok(unas("tabulate", recipe, "--sample", "3", "--out", table, "--quiet", cwd=folder))
    report = json.loads(ok(unas("proxies", table, "--json", cwd=folder)))
    assert report["data"]["input_shape"] == [28, 28, 1] and report["data"]["num_classes"] == 10
    by_metric = {c["metric"]: c for c in report["correlations"]}
    assert {"synflow", "snip", "grad_norm", "jacov", "naswot", "params", "flops"} <= set(by_metric)
    assert all(c["n"] == 3 for c in by_metric.values())
    from unified_nas.tables.own import OwnTable

    with OwnTable.open(table) as t:
        assert t.input_shape == (28, 28, 1) and t.num_classes == 10
        rows = t.rows()
    assert len(rows) == 3 and all(r.status == "complete" for r in rows)
    assert all(np.isfinite(r.proxies["synflow"]) and r.proxies["synflow"] > 0 for r in rows)


def test_a_proxy_scores_non_square_images_alike_on_every_backend(tmp_path):
    """28x20 images: H and W must not be swapped anywhere (a square image could not tell)."""
    for backend in BACKENDS:
        _need(backend)
    recipe = write_recipe(tmp_path, "fashion_proxy", {"image_size": [28, 20]}, evaluation={"proxy": "naswot"})
    raw = yaml.safe_load(recipe.read_text())
    del raw["objectives"]  # a proxy recipe's objective is its proxy
    recipe.write_text(yaml.safe_dump(raw, sort_keys=False))
    from unified_nas.evaluation.proxies import compute_proxies, minibatch
    from unified_nas.space import start_sample

    loaded = load_recipe(recipe)
    start = start_sample(loaded.space.decls())
    first: dict[str, float] = {}
    for backend in BACKENDS:
        ok(unas("run", recipe, "--backend", backend, "--trials", "2", "--default-first", cwd=tmp_path))
        run = last_run(tmp_path)
        assert run.backend["name"] == backend and run.data["input_shape"] == [28, 20, 1]
        assert run.evaluation == {"mode": "proxy", "proxy": "naswot"}
        assert [t.status for t in run.trials] == ["complete", "complete"]
        assert all(t.history == [] and "val_accuracy" not in t.metrics for t in run.trials)  # nothing trained
        assert run.trials[0].sample == start  # --default-first: the same sample on every backend
        first[backend] = run.trials[0].metrics["naswot"]
    data = load_dataset(loaded.data)
    x, _ = minibatch(data, 0)
    assert tuple(x.shape) == (64, 1, 28, 20)  # NCHW for the torch twin
    want = compute_proxies(loaded.space, start, data, 0, names=["naswot"])["naswot"]
    assert first == {b: pytest.approx(want) for b in BACKENDS}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_params_bound_and_latency_on_images(backend, tmp_path):
    """Nothing above the bound is trained; every sample's latency is measured on a 28x28x1 input."""
    _need(backend)
    recipe = write_recipe(
        tmp_path, "fashion_bound", constraints={"params": {"max": MAX_PARAMS}, "latency_ms": {"max": 1e4}}
    )
    ok(unas("run", recipe, "--backend", backend, "--trials", "4", "--seed", "0", cwd=tmp_path))
    run = last_run(tmp_path)
    assert run.data["input_shape"] == [28, 28, 1]
    for t in run.trials:
        assert t.params is not None and t.metrics["latency_ms"] > 0
        if t.params > MAX_PARAMS:
            assert t.status == "infeasible" and t.train_s == 0 and t.history == []
            assert t.violations == [f"params {t.params} > max {MAX_PARAMS}"]
        else:
            assert t.status == "complete" and t.history and "val_accuracy" in t.metrics


def test_latency_as_a_second_objective_on_images(tmp_path):
    _need("optuna")
    objectives = ["val_accuracy", {"metric": "latency_ms", "direction": "minimize"}]
    recipe = write_recipe(tmp_path, "fashion_latency", objectives=objectives)
    ok(unas("run", recipe, "--backend", "optuna", "--strategy", "nsga2", "--trials", "3", cwd=tmp_path))
    run = last_run(tmp_path)
    assert run.status == "complete" and run.pareto_front
    for t in run.trials:
        assert t.status == "complete" and len(t.objectives) == 2 and t.objectives[1] == t.metrics["latency_ms"] > 0


def test_bench_on_a_dask_cluster_with_images(tmp_path):
    pytest.importorskip("distributed", reason="dask[distributed] is not installed (pip install 'unified-nas[dask]')")
    for backend in ("optuna", "autokeras"):
        _need(backend)
    recipe = write_recipe(tmp_path, "fashion_dask")
    args = ("--backends", "optuna,autokeras", "--seeds", "1", "--trials", "2", "--jobs", "2", "--executor", "dask")
    ok(unas("bench", recipe, *args, "--store", tmp_path / "s.sqlite", "--runs-dir", tmp_path / "runs", cwd=tmp_path))
    with ResultsStore(tmp_path / "s.sqlite", readonly=True) as store:
        ((bench_id, _, _),) = store.list_benches()
        rows = store.bench_runs(bench_id)
        runs = [store.load_run(r["run_id"]) for r in rows]
    assert sorted(r.backend["name"] for r in runs) == ["autokeras", "optuna"]
    for run in runs:
        assert run.status == "complete" and len(run.trials) == 2
        assert run.data["input_shape"] == [28, 28, 1] and run.data["num_classes"] == 10
        assert run.data["examples"] == 70000 and run.data["subsample"] == SUBSAMPLE
        assert run.incumbent is not None and run.incumbent["test_accuracy"] is not None
    assert len({json.dumps(r.data["split"], sort_keys=True) for r in runs}) == 1  # one split for both backends
