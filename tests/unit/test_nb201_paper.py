"""NAS-Bench-201's search protocol as shipped recipes: the budget of simulated training, and REA's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from unified_nas import run

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("recipe", "backend", "strategy"), [("nb201_paper_rea", "nni", None), ("nb201_paper", "optuna", "tpe")]
)
def test_a_paper_run_spends_the_papers_simulated_budget_and_no_more(recipe, backend, strategy, tmp_path):
    report = run(
        ROOT / "recipes" / f"{recipe}.yaml",
        backend,
        strategy=strategy,
        seed=3,
        store=tmp_path / "s.sqlite",
        progress=False,
    )
    spent = [t.simulated_s for t in report.trials]
    # 12,000 s of 12-epoch training on the paper's clock is 200,000 s of this table's 200-epoch clock: about
    # 100 lookups. The trial that crosses the budget is the last one.
    assert sum(spent) >= 200_000 > sum(spent[:-1])
    assert 60 <= len(spent) <= 160
    assert report.stopped_early is None  # a time budget ended it: nothing left unexplained
    if recipe == "nb201_paper_rea":  # the paper's REA: population 10, tournament 3
        assert report.strategy == "evolution"
        assert report.options["strategy_args"] == {"population_size": 10, "sample_size": 3}
