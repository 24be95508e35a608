"""Every shipped recipe runs on the Optuna backend (2 trials each).

Recipes on a built-in image set (Fashion-MNIST, MNIST: 70,000 images) run here on a
stratified subsample of :data:`IMAGE_SUBSAMPLE` images, their protocol unchanged: on the
full data two trials cost minutes each on 2 CPU cores (each recipe's header says how many),
which CI cannot pay for every recipe. tests/recipes/test_fashion_recipes.py checks the full
data set's split without training.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("optuna")

from tests.conftest import ALL_RECIPES, edited_recipe, require_image_set, run_on  # noqa: E402
from unified_nas.data.builtin import IMAGE_SETS  # noqa: E402
from unified_nas.recipe import Recipe, load_recipe  # noqa: E402
from unified_nas.space import validate_sample  # noqa: E402

IMAGE_SUBSAMPLE = 2000


def recipe_for_ci(path: Path) -> Recipe:
    """The recipe, on at most :data:`IMAGE_SUBSAMPLE` examples of a built-in image set.

    The changed recipe is parsed from its changed text, so the stored run's copy of the
    recipe is the one that ran.
    """
    recipe = load_recipe(path)
    data = recipe.data
    if data is None or data.name not in IMAGE_SETS:
        return recipe
    require_image_set(data.name)  # skips where it is not installed; fails under .ci/run
    if data.subsample is not None and data.subsample <= IMAGE_SUBSAMPLE:
        return recipe
    return edited_recipe(path, data={"subsample": IMAGE_SUBSAMPLE})


@pytest.mark.slow
@pytest.mark.parametrize("path", ALL_RECIPES, ids=lambda p: p.stem)
def test_recipe_runs_on_optuna(path, store, tmp_path):
    recipe = recipe_for_ci(path)
    report = run_on("optuna", recipe, store, tmp_path, trials=2)
    assert report.status == "complete" and report.budget_spent["complete"] == 2
    for t in report.trials:
        validate_sample(recipe.space.decls(), t.sample)
    if recipe.data is not None and recipe.data.name in IMAGE_SETS:
        assert report.data["examples"] == 70000 and report.data["subsample"] == recipe.data.subsample


def test_image_recipes_run_here_on_a_subsample_with_their_own_protocol():
    images = [p for p in ALL_RECIPES if getattr(load_recipe(p).data, "name", None) in IMAGE_SETS]
    assert {"fashion_cnn", "fashion_cell", "fashion_nb201"} <= {p.stem for p in images}
    for path in images:
        full, ci = load_recipe(path), recipe_for_ci(path)
        assert ci.data is not None and full.data is not None
        assert ci.data.subsample == IMAGE_SUBSAMPLE
        assert (ci.space, ci.protocol, ci.objectives, ci.name) == (
            full.space,
            full.protocol,
            full.objectives,
            full.name,
        )
        assert ci.source != full.source  # the text that ran is stored, not the file's
