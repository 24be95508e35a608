"""Constraints, objectives known before training and evaluation by proxy, on every backend.

Real searches of every registered backend on digits. Checks, from the stored
records: a sample above a ``params`` bound is never trained (status
``infeasible``, no history, the violated bound named) and every trained one is
within it; a proxy-scored run trains nothing and each record's score is the
proxy of its sample, the same number whichever backend proposed it; a
measured ``latency_ms`` objective is stored per trial beside accuracy.
"""

from __future__ import annotations

import math

import pytest

from tests.conftest import run_on, tiny_recipe
from unified_nas.runs.registry import entries

BACKENDS = sorted(entries())
# One dense layer of 4 or 64 units on digits (64 features, 10 classes): 310 or 4,810 parameters.
SPACE = {"depth": 1, "layer": {"op": "linear", "width": [4, 64], "activation": ["relu", "tanh"]}}
MAX_PARAMS = 1000


def _need(name: str) -> None:
    if not entries()[name].installed():
        pytest.skip(f"{name} toolkit not installed")


@pytest.mark.parametrize("name", BACKENDS)
def test_no_sample_above_a_params_bound_is_trained(name, store, tmp_path):
    _need(name)
    recipe = tiny_recipe(SPACE, constraints={"params": {"max": MAX_PARAMS}}, seed=1)
    report = run_on(name, recipe, store, tmp_path, trials=8)
    stored = store.load_run(report.run_id).trials
    assert 4 <= len(stored) <= 8  # keras-tuner's oracles stop once the 4 samples of the space are tried
    statuses = {t.status for t in stored}
    assert statuses <= {"complete", "infeasible"}, statuses
    for t in stored:
        assert t.params is not None
        if t.params > MAX_PARAMS:
            assert t.status == "infeasible", f"trial {t.index} with {t.params} params was {t.status}"
            assert t.history == [] and t.train_s == 0 and "val_accuracy" not in t.metrics
            assert t.violations == [f"params {t.params} > max {MAX_PARAMS}"]
            assert t.objectives is None
        else:
            assert t.status == "complete" and t.history and t.violations is None
    # Eight draws from two widths: both sides of the bound occur with this seed on every backend.
    assert "infeasible" in statuses and "complete" in statuses, statuses
    assert report.incumbent is not None and report.incumbent["params"] <= MAX_PARAMS
    assert report.budget_spent["infeasible"] == sum(t.status == "infeasible" for t in stored)


def test_optuna_trials_carry_the_violations_as_optuna_constraints(store, tmp_path):
    _need("optuna")
    import optuna

    from unified_nas.backends.optuna.run import study_storage

    recipe = tiny_recipe(SPACE, constraints={"params": {"max": MAX_PARAMS}}, seed=1)
    report = run_on("optuna", recipe, store, tmp_path, trials=6)
    ctx = type("Ctx", (), {"run_dir": tmp_path / "runs" / report.run_id})
    study = optuna.load_study(study_name=report.run_id, storage=study_storage(ctx))
    for frozen, record in zip(study.trials, report.trials, strict=True):
        assert frozen.constraints == {"params": record.params - MAX_PARAMS}  # <= 0: feasible, as Optuna reads it


def test_infeasible_trials_are_told_as_worst_scores():
    from unified_nas.evaluation.train.result import TrialResult

    r = TrialResult({"synflow": 3.0}, None, params=5000, flops=10, violations=["params 5000 > max 1000"])
    objectives = [("val_accuracy", "maximize"), ("params", "minimize"), ("synflow", "maximize")]
    assert r.objective_values(objectives) == [0.0, 5000.0, 3.0]  # untrained: worst; known before training: real
    assert r.objective_values([("val_loss", "minimize")]) == [1e9]
    with pytest.raises(KeyError):  # a feasible result must have its objectives
        TrialResult({}, None).objective_values([("val_accuracy", "maximize")])


def test_a_nan_objective_fails_the_trial_and_an_infeasible_one_is_told_the_worst():
    from unified_nas.evaluation.train.result import TrialResult

    with pytest.raises(ValueError, match="objective jacov is NaN"):  # the same on every backend
        TrialResult({"jacov": math.nan}, None).objective_values([("jacov", "maximize")])
    infeasible = TrialResult({"jacov": math.nan}, None, violations=["jacov nan > max 1"])
    assert infeasible.objective_values([("jacov", "maximize")]) == [-1e9]


@pytest.mark.parametrize("name", BACKENDS)
def test_evaluation_by_proxy_trains_nothing_and_scores_the_same_on_every_backend(name, store, tmp_path):
    _need(name)
    from unified_nas.evaluation.proxies import compute_proxies
    from unified_nas.tables.recipes import load_recipe_data

    recipe = tiny_recipe(SPACE, evaluation={"proxy": "synflow"}, seed=2)
    assert [(o.metric, o.direction) for o in recipe.objectives] == [("synflow", "maximize")]
    report = run_on(name, recipe, store, tmp_path, trials=4)
    data = load_recipe_data(recipe)
    assert report.evaluation == {"mode": "proxy", "proxy": "synflow"}
    assert report.budget_spent["complete"] == 4
    for t in report.trials:
        assert t.history == [] and t.test_accuracy is None and "val_accuracy" not in t.metrics
        expected = compute_proxies(recipe.space, t.sample, data, 2, names=["synflow"])["synflow"]
        assert t.metrics["synflow"] == pytest.approx(expected, rel=1e-9)
        assert t.objectives == [t.metrics["synflow"]]


def test_measured_latency_is_an_objective_beside_accuracy(store, tmp_path):
    _need("optuna")
    recipe = tiny_recipe(
        SPACE,
        objectives=[{"metric": "val_accuracy"}, {"metric": "latency_ms"}],
        backends={"optuna": {"strategy": "nsga2"}},
    )
    report = run_on("optuna", recipe, store, tmp_path, trials=4)
    assert report.environment["latency"]["batch_size"] == 1 and report.environment["latency"]["runtime"] == "torch"
    for t in report.trials:
        assert t.status == "complete"
        assert math.isfinite(t.metrics["latency_ms"]) and t.metrics["latency_ms"] > 0
        assert t.objectives == [t.metrics["val_accuracy"], t.metrics["latency_ms"]]
    front = [t for t in report.trials if t.index in report.pareto_front]
    assert front, "a two-objective run has a Pareto front"
