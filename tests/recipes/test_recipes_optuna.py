"""Every shipped recipe runs on the Optuna backend (2 trials each)."""

from __future__ import annotations

import pytest

pytest.importorskip("optuna")

from tests.conftest import ALL_RECIPES, run_on  # noqa: E402
from unified_nas.recipe import load_recipe  # noqa: E402
from unified_nas.space import validate_sample  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("path", ALL_RECIPES, ids=lambda p: p.stem)
def test_recipe_runs_on_optuna(path, store, tmp_path):
    recipe = load_recipe(path)
    report = run_on("optuna", recipe, store, tmp_path, trials=2)
    assert report.status == "complete" and report.budget_spent["complete"] == 2
    for t in report.trials:
        validate_sample(recipe.space.decls(), t.sample)
