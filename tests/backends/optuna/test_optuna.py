"""Real Optuna searches on digits through the Optuna backend."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from tests.conftest import ROOT, run_on, tiny_recipe  # noqa: E402
from unified_nas.core.errors import UnsupportedFeatures  # noqa: E402
from unified_nas.recipe import load_recipe  # noqa: E402
from unified_nas.space import validate_sample  # noqa: E402

pytestmark = pytest.mark.slow
_run = functools.partial(run_on, "optuna")


def test_digits_mlp_tpe_finds_a_good_network(store, tmp_path):
    recipe = load_recipe(ROOT / "recipes" / "digits_mlp.yaml")
    report = _run(recipe, store, tmp_path, trials=8, seed=1)
    assert report.budget_spent["complete"] == 8
    assert report.incumbent["val_accuracy"] >= 0.90
    for t in report.trials:
        validate_sample(recipe.space.decls(), t.sample)


def test_study_is_stored_in_the_run_dir_and_opens_in_optuna(mlp_recipe, store, tmp_path):
    report = _run(mlp_recipe, store, tmp_path, trials=3)
    from optuna.storages.journal import JournalFileBackend

    journal = Path(report.run_dir) / "optuna.journal"
    study = optuna.load_study(
        study_name=report.run_id, storage=optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    )
    assert len(study.trials) == 3
    assert study.trials[0].params == report.trials[0].sample


def test_grid_visits_every_sample_once(store, tmp_path):
    recipe = tiny_recipe({"depth": {"low": 1, "high": 2}, "layer": {"op": "linear", "width": [8, 16]}})
    report = _run(recipe, store, tmp_path, strategy="grid", trials=6)  # 2 + 2*2 = 6 samples
    assert len({str(sorted(t.sample.items())) for t in report.trials}) == 6


def test_median_pruner_prunes(store, tmp_path):
    recipe = tiny_recipe(
        {"depth": 1, "layer": {"op": "linear", "width": [4, 64]}},
        training={"epochs": 4, "lr": {"low": 1e-5, "high": 3e-2, "log": True}},
    )
    report = _run(recipe, store, tmp_path, strategy="random", pruner="median", trials=14, seed=0)
    pruned = [t for t in report.trials if t.status == "pruned"]
    assert pruned, "median pruning never fired"
    assert all(len(t.history) < 4 and t.objectives is None for t in pruned)
    assert report.budget_spent["pruned"] == len(pruned)


def test_multi_objective_nsga2_gives_a_pareto_front(store, tmp_path):
    recipe = load_recipe(ROOT / "recipes" / "breast_cancer_mlp.yaml")
    report = _run(recipe, store, tmp_path, trials=6)
    assert report.strategy == "nsga2" and report.pareto_front
    front = [t for t in report.trials if t.index in report.pareto_front]
    assert all(len(t.objectives) == 2 for t in front)


def test_all_gaps_are_reported_at_once(store, tmp_path):
    recipe = tiny_recipe(
        {"depth": 1, "layer": {"op": "linear", "width": 8}},
        objectives=[{"metric": "val_accuracy"}, {"metric": "params"}],
        training={"lr": {"low": 1e-3, "high": 1e-2}},
    )
    with pytest.raises(UnsupportedFeatures) as info:
        _run(recipe, store, tmp_path, strategy="grid", pruner="median")
    msg = str(info.value)
    assert "needs a finite space; continuous: lr" in msg and "pruning with several objectives" in msg
    assert not (tmp_path / "runs").exists()  # nothing was written
