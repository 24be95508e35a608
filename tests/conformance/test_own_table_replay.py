"""Searches replayed on a table of your own (``unas tabulate --all``, then ``evaluation: {table: PATH}``).

Every backend searches the tabulated space; each trial is answered from the
table (its one recorded training: metrics, size, training time as simulated
cost) and nothing is trained. A table that holds only part of the space, or
was made for another space, is refused before any work.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_on
from unified_nas.commands.tabulate import tabulate
from unified_nas.core.errors import RecipeError
from unified_nas.recipe import load_recipe
from unified_nas.runs.registry import entries
from unified_nas.tables.own import OwnTable

BACKENDS = sorted(entries())
SPACE = """space:
  type: macro
  depth: 1
  layer: {op: conv, kernel: [3, 5, 7], width: [4, 8], activation: relu}
"""
TRAINING = "training: {epochs: 1, batch_size: 64, lr: 0.003, optimizer: adam}\n"


@pytest.fixture(scope="module")
def tabulated(tmp_path_factory) -> Path:
    """A folder with the whole 6-architecture space tabulated (``table.sqlite``) and a replay recipe."""
    folder = tmp_path_factory.mktemp("own")
    (folder / "tabulate.yaml").write_text("name: tiny\ndata: {name: digits}\n" + SPACE + TRAINING)
    tabulate(load_recipe(folder / "tabulate.yaml"), folder / "table.sqlite", all=True, progress=False)
    (folder / "replay.yaml").write_text("name: tiny\nevaluation: {table: table.sqlite}\n" + SPACE + TRAINING)
    return folder


@pytest.mark.parametrize("name", BACKENDS)
def test_every_trial_is_answered_by_the_table(name, tabulated, store, tmp_path):
    if not entries()[name].installed():
        pytest.skip(f"{name} toolkit not installed")
    recipe = load_recipe(tabulated / "replay.yaml")
    report = run_on(name, recipe, store, tmp_path, trials=5)
    assert report.evaluation["mode"] == "table" and report.evaluation["own"] is True
    assert report.budget_spent["complete"] == 5
    with OwnTable.open(tabulated / "table.sqlite") as table:
        for t in report.trials:
            row = table.lookup(t.sample)
            assert row is not None and row.complete
            assert t.metrics["val_accuracy"] == row.val_accuracy and t.metrics["val_loss"] == row.val_loss
            assert (t.params, t.flops, t.simulated_s) == (row.params, row.flops, row.train_s)
            assert t.train_s == 0 and len(t.history) == 1  # looked up: one final row, no training loop
    assert report.budget_spent["simulated_s"] > 0


def test_a_partial_table_is_refused_before_any_work(tmp_path):
    from unified_nas.tables.recipes import load_recipe_data

    (tmp_path / "tabulate.yaml").write_text("name: tiny\ndata: {name: digits}\n" + SPACE + TRAINING)
    tabulate(load_recipe(tmp_path / "tabulate.yaml"), tmp_path / "part.sqlite", sample=2, progress=False)
    (tmp_path / "replay.yaml").write_text("name: tiny\nevaluation: {table: part.sqlite}\n" + SPACE + TRAINING)
    with pytest.raises(RecipeError, match=r"evaluation.table: table .*part.sqlite holds 2 of 6 architectures"):
        load_recipe_data(load_recipe(tmp_path / "replay.yaml"))
    other = SPACE.replace("[3, 5, 7]", "[3, 5]")
    (tmp_path / "other.yaml").write_text("name: tiny\nevaluation: {table: part.sqlite}\n" + other)
    with pytest.raises(RecipeError, match="tabulated for another space"):
        load_recipe_data(load_recipe(tmp_path / "other.yaml"))
    (tmp_path / "missing.yaml").write_text("name: tiny\nevaluation: {table: none.sqlite}\n" + SPACE)
    with pytest.raises(RecipeError, match="evaluation.table: no table at"):
        load_recipe_data(load_recipe(tmp_path / "missing.yaml"))


def test_a_replay_with_other_training_is_refused(tabulated):
    from unified_nas.tables.recipes import load_recipe_data

    longer = tabulated / "longer.yaml"
    longer.write_text("name: tiny\nevaluation: {table: table.sqlite}\n" + SPACE + TRAINING.replace("1,", "3,"))
    with pytest.raises(RecipeError, match="training.epochs: table .* was tabulated with epochs 1, not 3"):
        load_recipe_data(load_recipe(longer))


def test_a_table_file_has_no_dataset_field(tmp_path):
    (tmp_path / "r.yaml").write_text("name: t\nevaluation: {table: t.sqlite, dataset: cifar10}\n" + SPACE)
    with pytest.raises(RecipeError, match="evaluation.dataset: table file 't.sqlite' records its own data"):
        load_recipe(tmp_path / "r.yaml")
