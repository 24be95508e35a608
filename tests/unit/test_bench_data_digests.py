"""A benchmark never silently mixes data: its data digests are recorded, checked by every run and on ``--resume``.

Issue 20, case 2. Real benchmarks of the ``reference`` backend (seconds) on a
CSV file or on a table of your own; the data file or table is replaced between
two runs of a benchmark by a :class:`~unified_nas.benchmark.executors.LocalExecutor`
that replaces it right before it starts the second run (so the first run has
certainly loaded the old data), which is what a user replacing the file while
the benchmark runs does.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import unas
from unified_nas.benchmark.executors import LocalExecutor
from unified_nas.benchmark.orchestrate import run_bench
from unified_nas.benchmark.spec import BenchSpec
from unified_nas.benchmark.summary import bench_data
from unified_nas.core.errors import UserError
from unified_nas.recipe import load_recipe
from unified_nas.report.store import ResultsStore

SPACE = """space:
  type: macro
  depth: 1
  layer: {op: linear, width: [4, 8], activation: relu}
"""
TRAINING = "training: {epochs: 1, batch_size: 32, lr: 0.01, optimizer: adam}\n"
CSV_RECIPE = "name: digest_csv\ndata: {path: data.csv, target: target}\n" + SPACE + TRAINING + "seed: 0\n"


def write_csv(path: Path, changed: bool = False) -> None:
    """Iris as a CSV file; ``changed``: one feature value differs (same rows, same split sizes)."""
    from sklearn.datasets import load_iris

    d = load_iris()
    rows = [",".join(f"{v:g}" for v in x) + f",{y}" for x, y in zip(d.data, d.target)]
    if changed:
        rows[0] = "9.9" + rows[0][rows[0].index(",") :]
    path.write_text("a,b,c,d,target\n" + "\n".join(rows) + "\n")


class ReplacesBeforeSecondRun(LocalExecutor):
    """Local processes, one at a time; calls ``replace`` right before the benchmark starts its seed-1 run."""

    def __init__(self, replace: Callable[[], None]) -> None:
        super().__init__(1)
        self.replace = replace

    def submit(self, job: dict[str, Any], log: Path) -> Any:
        if job["seed"] == 1:
            self.replace()
        return super().submit(job, log)


def bench(recipe_path: Path, tmp: Path, *, resume: bool = False, executor: Any = None) -> str:
    """A benchmark of the recipe on ``reference``, seeds 0 and 1, two trials per run; returns its id."""
    spec = BenchSpec(str(recipe_path), ("reference",), (0, 1), 2, None)
    return run_bench(
        load_recipe(recipe_path), spec, tmp / "s.sqlite", tmp / "runs", resume=resume, progress=False, executor=executor
    )


def written(tmp: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``tmp`` with its size and modification time: equal before and after means nothing written."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(tmp.rglob("*")) if p.is_file()}


def check_refused_resume(tmp: Path, recipe: Path, bench_id: str, what: str) -> None:
    """``unas bench --resume`` refuses in one line naming the recipe and what changed, and writes nothing."""
    before = written(tmp)
    with ResultsStore(tmp / "s.sqlite", readonly=True) as store:
        rows = store.bench_runs(bench_id)
    r = unas(
        *("bench", recipe, "--backends", "reference", "--seeds", "2", "--trials", "2"),
        *("--store", tmp / "s.sqlite", "--runs-dir", tmp / "runs", "--resume"),
        cwd=tmp,
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unas: error: --resume: "), r.stderr
    name = load_recipe(recipe).name
    assert f"{what} of recipe {name} changed since benchmark {bench_id} started" in lines[0], lines[0]
    assert written(tmp) == before  # nothing written: no run, no report, no store change
    with ResultsStore(tmp / "s.sqlite", readonly=True) as store:
        assert store.bench_runs(bench_id) == rows


def check_second_run_refused(tmp: Path, bench_id: str) -> None:
    """The run started after the replacement failed with the reason; the first one is complete; nothing mixed."""
    with ResultsStore(tmp / "s.sqlite", readonly=True) as store:
        latest = store.latest_bench_runs(bench_id)
        assert latest[("reference", 0)]["status"] == "complete"
        second = latest[("reference", 1)]
        assert second["status"] == "failed", second
        assert "changed since the benchmark started" in second["error"], second["error"]
        first_run = latest[("reference", 0)]["run_id"]
        assert [r[0] for r in store.list_runs()] == [first_run]  # the refused run stored nothing
        assert not (tmp / "runs" / second["run_id"]).exists()
        config = store.bench(bench_id)[1]
        assert set(config["data"]) == {"split_sha256", "content_sha256"}  # the benchmark's digests, in its header
        data = bench_data(store, bench_id)
    assert not any("different data" in w for w in data["warnings"])
    assert any("reference seed 1: run failed" in w and "changed" in w for w in data["warnings"])


def test_a_data_file_replaced_during_a_benchmark_fails_the_later_run_and_resume_is_refused(tmp_path):
    write_csv(tmp_path / "data.csv")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(CSV_RECIPE)
    bench_id = bench(recipe, tmp_path, executor=ReplacesBeforeSecondRun(lambda: write_csv(tmp_path / "data.csv", True)))
    check_second_run_refused(tmp_path, bench_id)
    check_refused_resume(tmp_path, recipe, bench_id, "data")
    # The data as it was: the benchmark resumes and redoes the failed run only.
    write_csv(tmp_path / "data.csv")
    assert bench(recipe, tmp_path, resume=True) == bench_id
    with ResultsStore(tmp_path / "s.sqlite", readonly=True) as store:
        assert {r["status"] for r in store.latest_bench_runs(bench_id).values()} == {"complete"}


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> tuple[Path, Path]:
    """Two tables of the same 2-architecture space, tabulated with seeds 0 and 1 (other numbers)."""
    from unified_nas.commands.tabulate import tabulate

    folder = tmp_path_factory.mktemp("tables")
    (folder / "tabulate.yaml").write_text("name: digest_table\ndata: {name: digits}\n" + SPACE + TRAINING)
    recipe = load_recipe(folder / "tabulate.yaml")
    for seed in (0, 1):
        tabulate(recipe, folder / f"t{seed}.sqlite", all=True, seed=seed, progress=False)
    return folder / "t0.sqlite", folder / "t1.sqlite"


def test_an_own_table_replaced_during_a_benchmark_fails_the_later_run_and_resume_is_refused(tmp_path, tables):
    first, second = tables
    shutil.copy(first, tmp_path / "table.sqlite")
    recipe = tmp_path / "replay.yaml"
    recipe.write_text("name: digest_replay\nevaluation: {table: table.sqlite}\n" + SPACE + TRAINING + "seed: 0\n")

    def replace() -> None:  # as a user would: a new file moved over the old one
        shutil.copy(second, tmp_path / "new.sqlite")
        os.replace(tmp_path / "new.sqlite", tmp_path / "table.sqlite")

    bench_id = bench(recipe, tmp_path, executor=ReplacesBeforeSecondRun(replace))
    check_second_run_refused(tmp_path, bench_id)
    check_refused_resume(tmp_path, recipe, bench_id, "table table.sqlite")


def test_a_changed_recipe_is_named_when_resume_is_refused(tmp_path):
    write_csv(tmp_path / "data.csv")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(CSV_RECIPE)
    spec = BenchSpec(str(recipe), ("reference",), (0, 1), 2, None)
    with ResultsStore(tmp_path / "s.sqlite") as store:  # a benchmark's header, as one that was interrupted at once
        store.save_bench("bench-old", "digest_csv", spec.config(load_recipe(recipe)), 1.0)
    recipe.write_text(CSV_RECIPE.replace("lr: 0.01", "lr: 0.02"))
    r = unas(
        *("bench", recipe, "--backends", "reference", "--seeds", "2", "--trials", "2"),
        *("--store", tmp_path / "s.sqlite", "--resume"),
        cwd=tmp_path,
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "--resume: recipe digest_csv changed since benchmark bench-old started" in lines[0], lines[0]


def test_a_benchmark_stored_without_digests_resumes_and_its_runs_data_are_checked(tmp_path):
    """A header from before digests were recorded: it still resumes, checked against its finished runs' data."""
    from unified_nas.runs.runner import run_recipe

    write_csv(tmp_path / "data.csv")
    recipe_path = tmp_path / "r.yaml"
    recipe_path.write_text(CSV_RECIPE)
    recipe = load_recipe(recipe_path)
    spec = BenchSpec(str(recipe_path), ("reference",), (0, 1), 2, None)
    store = ResultsStore(tmp_path / "s.sqlite")
    store.save_bench("bench-old", recipe.name, spec.config(recipe), 1.0)  # as older versions stored it: no "data"
    run_recipe(
        recipe, "reference", trials=2, seed=0, store=store, runs_dir=tmp_path / "runs", progress=False, run_id="r0"
    )
    store.set_bench_run("bench-old", "reference", 0, "r0", "complete")
    store.close()

    write_csv(tmp_path / "data.csv", changed=True)
    with pytest.raises(UserError, match=r"data of recipe digest_csv changed since benchmark bench-old started"):
        bench(recipe_path, tmp_path, resume=True)
    write_csv(tmp_path / "data.csv")
    assert bench(recipe_path, tmp_path, resume=True) == "bench-old"
    with ResultsStore(tmp_path / "s.sqlite", readonly=True) as s:
        latest = s.latest_bench_runs("bench-old")
        assert {k: r["status"] for k, r in latest.items()} == {
            ("reference", 0): "complete",
            ("reference", 1): "complete",
        }
        assert latest[("reference", 0)]["run_id"] == "r0"  # kept, not redone


def test_the_report_warns_when_its_runs_were_made_on_different_data(tmp_path):
    """Runs of one benchmark on two data sets (as older versions stored a resume on changed data): a warning."""
    from unified_nas.runs.runner import run_recipe

    write_csv(tmp_path / "data.csv")
    recipe_path = tmp_path / "r.yaml"
    recipe_path.write_text(CSV_RECIPE)
    spec = BenchSpec(str(recipe_path), ("reference",), (0, 1), 2, None)
    store = ResultsStore(tmp_path / "s.sqlite")
    store.save_bench("bench-mixed", "digest_csv", spec.config(load_recipe(recipe_path)), 1.0)
    for seed in (0, 1):
        write_csv(tmp_path / "data.csv", changed=seed == 1)
        run_id = f"r{seed}"
        run_recipe(
            load_recipe(recipe_path),
            "reference",
            trials=2,
            seed=seed,
            store=store,
            runs_dir=tmp_path / "runs",
            progress=False,
            run_id=run_id,
        )
        store.set_bench_run("bench-mixed", "reference", seed, run_id, "complete")
    warnings = [w for w in bench_data(store, "bench-mixed")["warnings"] if "different data" in w]
    assert len(warnings) == 1 and "reference seed 0" in warnings[0] and "reference seed 1" in warnings[0], warnings
    store.close()
    md = unas("report", "bench-mixed", "--format", "md", "--store", tmp_path / "s.sqlite", cwd=tmp_path)
    assert md.returncode == 0, md.stderr
    assert "different data" in md.stdout


def test_run_recipe_refuses_other_data_than_expected_and_writes_nothing(tmp_path):
    from unified_nas.runs.runner import run_recipe

    write_csv(tmp_path / "data.csv")
    (tmp_path / "r.yaml").write_text(CSV_RECIPE)
    recipe = load_recipe(tmp_path / "r.yaml")
    expected = {"split_sha256": "0" * 16, "content_sha256": "1" * 16}
    with pytest.raises(UserError, match=r"^data of recipe digest_csv is not the data expected") as e:
        run_recipe(recipe, "reference", store=tmp_path / "s.sqlite", runs_dir=tmp_path / "runs", expect_data=expected)
    assert "\n" not in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "r.yaml"]
