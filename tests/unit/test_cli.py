"""CLI exit codes and one-line errors (subprocesses, like a user's shell)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT, unas

BROKEN = ROOT / "tests" / "data" / "broken_recipes"


def test_broken_recipe_exits_2_with_one_line_and_writes_nothing(tmp_path):
    r = unas("run", BROKEN / "bad_kernel.yaml", "--backend", "optuna", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == "unas: error: space.layers[2].kernel: 4 is not one of 3, 5, 7"
    assert list(tmp_path.iterdir()) == []


def test_validate(tmp_path):
    r = unas("validate", ROOT / "recipes" / "digits_cnn.yaml", cwd=tmp_path)
    assert r.returncode == 0 and "ok (macro space" in r.stdout
    assert unas("validate", BROKEN / "bad_dataset.yaml", cwd=tmp_path).returncode == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "recipes/digits_mlp.yaml", "--backend", "nosuch"], "unknown backend 'nosuch'; known:"),
        (
            ["run", "recipes/digits_mlp.yaml", "--backend", "optuna", "--strategy", "rl"],
            "backend 'optuna' cannot run this recipe: strategy 'rl' (toolkit: optuna offers random, tpe",
        ),
        (
            ["run", "recipes/digits_mlp.yaml", "--backend", "optuna", "--trials", "0"],
            "argument --trials: 0 is not >= 1",
        ),
        (
            ["run", "recipes/digits_mlp.yaml", "--backend", "optuna", "--strategy", "grid"],
            "needs a finite space; continuous: lr, dropout",
        ),
        (["run", "missing.yaml", "--backend", "optuna"], "cannot read recipe missing.yaml"),
        (["report", "nope", "--store", "x.sqlite"], "no results store at x.sqlite"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_exits_2_with_a_clear_line(args, message, tmp_path):
    args = [str(ROOT / a) if a.startswith("recipes/") else a for a in args]
    r = unas(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert not (tmp_path / "unas-runs").exists()


def test_backends_lists_optuna(tmp_path):
    r = unas("backends", "--format", "json", cwd=tmp_path)
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["optuna"]["installed"] and "tpe" in rows["optuna"]["strategies"]


@pytest.mark.slow
def test_run_then_report_all_formats(tmp_path):
    r = unas("run", ROOT / "recipes" / "breast_cancer_mlp.yaml", "--backend", "optuna", "--trials", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "run " in r.stdout and "report: unas report" in r.stdout
    rep = json.loads(unas("report", "latest", "--format", "json", cwd=tmp_path).stdout)
    for key in (
        "schema_version",
        "run_id",
        "recipe",
        "backend",
        "strategy",
        "seed",
        "budget_asked",
        "budget_spent",
        "started_at",
        "ended_at",
        "environment",
        "data",
        "incumbent",
        "trials",
    ):
        assert key in rep, key
    trial = rep["trials"][0]
    for key in (
        "index",
        "native_id",
        "status",
        "sample",
        "metrics",
        "objectives",
        "params",
        "flops",
        "start_time",
        "duration_s",
        "train_s",
        "overhead_s",
        "history",
        "error",
        "schema_version",
    ):
        assert key in trial, key
    assert rep["data"]["split"]["sha256"] and rep["environment"]["packages"]["optuna"] == "5.0.0"
    csv = unas("report", "latest", "--format", "csv", cwd=tmp_path).stdout.splitlines()
    assert len(csv) == 3
    assert "incumbent: trial" in unas("report", cwd=tmp_path).stdout


def test_one_line_folds_and_cuts_only_when_asked():
    from unified_nas.cli import one_line

    long = ValueError("gap; " * 200 + "\nsecond line")
    assert "\n" not in one_line(long) and one_line(long).endswith("second line")  # ours: shown whole
    assert one_line(long, 500).endswith(" ...") and len(one_line(long, 500)) == 504  # a toolkit's: cut
