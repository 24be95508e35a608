"""The Fashion-MNIST recipes on real images: one short search per backend, and their suite file.

Each run reads the real Fashion-MNIST (the Debian package's IDX files), takes a
stratified subsample of 2,000 images and trains one epoch per trial, so a
backend's run costs seconds; the report must still describe the whole data
set: its 10 named classes, its 70,000 examples and the subsample's split.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT, edited_recipe, require_image_set, run_on
from unified_nas.benchmark.inputs import read_bench_inputs
from unified_nas.recipe import Recipe
from unified_nas.runs.registry import entries
from unified_nas.space import validate_sample

RECIPES = ROOT / "recipes"
FASHION = ("fashion_cnn", "fashion_cell", "fashion_nb201")
SUITE = RECIPES / "suites" / "fashion.yaml"
# As Fashion-MNIST's README names its labels 0-9 (written out here, not read from the code under test).
CLASSES = "T-shirt/top|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle boot".split("|")
SUBSAMPLE = 2000
# 2,000 of 70,000 in proportion: 1,714 from the official training part (val 20% of it), 286 from the test part.
SPLIT = {"train": 1371, "val": 343, "test": 286}


def _installed(name: str) -> None:
    if not entries()[name].installed():
        pytest.skip(f"{name} toolkit not installed")


def _fashion_installed() -> None:
    require_image_set("fashion_mnist")  # skips where it is not installed; fails under .ci/run


def short(name: str, subsample: int = SUBSAMPLE, epochs: int = 1) -> Recipe:
    """A shipped recipe on a subsample, for a few epochs: its text is the changed YAML, so a report's copy matches.

    Args:
        name: The recipe's file stem in ``recipes/``.
        subsample: Examples kept (stratified, seeded).
        epochs: Epochs per trial.

    Returns:
        The recipe, parsed from the changed text.
    """
    return edited_recipe(RECIPES / f"{name}.yaml", data={"subsample": subsample}, training={"epochs": epochs})


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["nni", "optuna", "autokeras"])
def test_fashion_cnn_on_real_images_records_the_data_set(backend, store, tmp_path):
    _installed(backend)
    _fashion_installed()
    recipe = short("fashion_cnn")
    report = run_on(backend, recipe, store, tmp_path, trials=2, seed=0)
    assert report.status == "complete" and report.budget_spent["complete"] == 2
    for t in report.trials:
        validate_sample(recipe.space.decls(), t.sample)
        assert 0.0 <= t.metrics["val_accuracy"] <= 1.0
    assert report.incumbent is not None and report.incumbent["test_accuracy"] is not None
    data = store.load_run(report.run_id).data  # as stored, not only as returned
    assert data["name"] == "fashion_mnist" and data["kind"] == "image"
    assert data["input_shape"] == [28, 28, 1]
    assert data["num_classes"] == 10 and data["classes"] == CLASSES
    assert data["examples"] == 70000 and data["subsample"] == SUBSAMPLE
    assert data["split"]["sizes"] == SPLIT
    assert data["split"]["test"] is None  # the official test split, not a carved fraction


def test_the_full_recipes_record_70000_examples_split_48000_12000_10000():
    """Loading only (no training): the full data set's split, as fashion_cnn runs it."""
    _fashion_installed()
    from unified_nas.data import load_dataset
    from unified_nas.recipe import load_recipe

    recipe = load_recipe(RECIPES / "fashion_cnn.yaml")
    assert recipe.data.subsample is None  # full data by default
    d = load_dataset(recipe.data).describe()
    assert d["examples"] == 70000 and d["classes"] == CLASSES
    assert d["split"]["sizes"] == {"train": 48000, "val": 12000, "test": 10000}


def test_the_suite_file_lists_the_three_fashion_recipes():
    suite, inputs = read_bench_inputs(SUITE)
    assert suite == "fashion"
    assert [i.recipe.name for i in inputs] == list(FASHION)
    assert [Path(str(i.path)) for i in inputs] == [RECIPES / f"{n}.yaml" for n in FASHION]
    assert all(i.recipe.data.name == "fashion_mnist" for i in inputs)


@pytest.mark.parametrize("name", FASHION)
def test_each_recipe_header_states_its_measured_cost_and_accuracy(name):
    header = [line for line in (RECIPES / f"{name}.yaml").read_text().splitlines() if line.startswith("#")]
    text = " ".join(header)
    assert "unas run recipes/" in text and "s per trial" in text and "test_accuracy" in text, name
