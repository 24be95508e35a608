"""``unas tabulate`` of a supernet recipe: one supernet per table and seed, its score a column beside the proxies.

A real tabulation of ``recipes/digits_nb201_supernet.yaml``: every row holds
the architecture's score with inherited weights (``proxy_supernet``) and its
stand-alone training; the supernet is stored beside the table and reloaded,
not retrained, when the tabulation resumes; a damaged one is refused before
anything is written; ``unas proxies`` ranks the column as kind ``supernet``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, unas
from unified_nas.commands import tabulate as tabulate_module
from unified_nas.commands.tabulate import supernet_folder, tabulate
from unified_nas.core.errors import UserError
from unified_nas.evaluation.supernet import evaluator as supernet_evaluator
from unified_nas.evaluation.supernet.evaluator import SupernetScore
from unified_nas.evaluation.supernet.store import RECORD, WEIGHTS
from unified_nas.recipe import load_recipe
from unified_nas.tables.correlation import correlations_text, proxy_correlations
from unified_nas.tables.own import OwnTable
from unified_nas.tables.recipes import load_recipe_data

RECIPE = ROOT / "recipes" / "digits_nb201_supernet.yaml"


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_supernet_column_stored_reused_and_ranked(tmp_path, monkeypatch):
    recipe = load_recipe(RECIPE)
    path = tmp_path / "t.sqlite"
    first = tabulate(recipe, path, sample=4, progress=False)
    assert first.trained == 4 and first.failed == 0
    folder = supernet_folder(path)
    record = json.loads((folder / RECORD).read_text())
    assert record["kind"] == "supernet" and record["supernet_epochs"] == 5

    # The column is the supernet's score of each architecture, as a run with this recipe would score it.
    assert recipe.evaluation.supernet is not None
    scorer = SupernetScore(recipe.evaluation.supernet, recipe.space, load_recipe_data(recipe), recipe.seed)
    scorer.prepare(None)
    assert scorer.supernet is not None and scorer.supernet.digest() == record["bank_sha256"]
    with OwnTable.open(path) as table:
        assert "supernet" in table.meta.proxies
        rows = table.rows(complete_only=True)
        for r in rows:
            assert r.proxies["supernet"] == scorer(r.sample, 0).metrics["val_accuracy"]
            assert r.val_accuracy is not None  # trained stand-alone as well

    def no_training(*a, **kw):
        raise AssertionError("the resumed tabulation trained its supernet again")

    monkeypatch.setattr(supernet_evaluator, "train_supernet", no_training)
    more = tabulate(recipe, path, sample=6, progress=False)
    assert more.skipped == 4 and more.trained == 2 and more.rows == 6
    with OwnTable.open(path) as table:
        correlations = proxy_correlations(table)
        text = correlations_text(table, correlations)
    row = next(c for c in correlations if c["metric"] == "supernet")
    assert row["kind"] == "supernet" and row["n"] == 6 and row["spearman"] is not None
    assert [c["metric"] for c in correlations][-3:] == ["supernet", "params", "flops"]
    assert any(line.split()[:2] == ["supernet", "supernet"] for line in text.splitlines())


@pytest.mark.slow
def test_damaged_table_supernet_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    recipe = load_recipe(RECIPE)
    path = tmp_path / "t.sqlite"
    tabulate(recipe, path, sample=2, progress=False)
    weights = supernet_folder(path) / WEIGHTS
    good = weights.read_bytes()
    middle = len(good) // 2
    weights.write_bytes(good[:middle] + bytes([good[middle] ^ 1]) + good[middle + 1 :])  # one bit flipped
    trained = []
    monkeypatch.setattr(tabulate_module, "_train_one", lambda *a, **kw: trained.append(a) or {})
    with pytest.raises(UserError, match=r"supernet\.pt"):
        tabulate(recipe, path, sample=3, progress=False)
    assert not trained
    with OwnTable.open(path) as table:
        assert len(table.rows()) == 2


@pytest.mark.slow
def test_cli_proxies_shows_the_supernet_column(tmp_path):
    r = unas("tabulate", RECIPE, "--sample", "3", "--out", "t.sqlite", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "supernet: epoch 5/5" in r.stderr  # progress of its one training
    assert Path(tmp_path / "t.sqlite.supernet" / WEIGHTS).is_file()
    r = unas("proxies", "t.sqlite", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert any(line.split()[:3] == ["supernet", "supernet", "3"] for line in r.stdout.splitlines()), r.stdout


def test_a_benchmark_says_once_that_its_runs_were_scored_by_supernets():
    from unified_nas.benchmark.summary import budget_warnings

    def run(backend: str, seed: int, wall: float, bank: str = "a" * 64) -> dict:
        return {
            "backend": backend,
            "seed": seed,
            "status": "complete",
            "error": None,
            "budget_asked": {"trials": 4},
            "budget_spent": {"trials": 4, "epochs": 4},
            "search_cost": {"kind": "supernet", "supernet_wall_s": wall, "bank_sha256": bank},
        }

    out = budget_warnings([run("nni", 0, 1.0), run("nni", 1, 3.0), run("optuna", 0, 2.0)])
    assert out == [
        "trials scored by a supernet each run trained before its search (in the runs' wall time), mean: "
        "nni 2.0s over 2 run(s), optuna 2.0s over 1 run(s)"
    ]
    # Backends of one seed scored by different supernets (a GPU's nondeterminism): said, per seed.
    out = budget_warnings([run("nni", 0, 1.0), run("optuna", 0, 1.0, "b" * 64), run("autokeras", 0, 1.0)])
    assert out[1] == (
        "seed 0: the backends trained different supernets (autokeras, nni; optuna): their scores differ by "
        "the supernet as well as by the search"
    )
