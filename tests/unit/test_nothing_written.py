"""Refused input writes nothing: no store, no run row, no run directory; reading commands never write.

Every case runs the real CLI in a fresh working directory and checks the exit
status, the one-line message, and that the directory (or the store file) is
exactly as it was.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conformance.test_kill_and_resume import _need
from tests.conftest import ROOT, unas

RECIPE = ROOT / "recipes" / "digits_mlp.yaml"


def tree(d: Path) -> dict[str, bytes]:
    """Every file below ``d`` with its bytes (folders as empty entries)."""
    return {str(p.relative_to(d)): (p.read_bytes() if p.is_file() else b"") for p in sorted(d.rglob("*"))}


def refused(r: subprocess.CompletedProcess, message: str) -> None:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unas: error: "), r.stderr
    assert message in lines[0], lines[0]


def recipe_with(tmp_path: Path, backend: str, args: dict) -> Path:
    import yaml

    raw = yaml.safe_load(RECIPE.read_text())
    raw["backends"] = {backend: {"strategy": "random", "strategy_args": args}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_unknown_backend_creates_no_store(tmp_path):
    refused(unas("run", RECIPE, "--backend", "nosuch", cwd=tmp_path), "unknown backend 'nosuch'")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", ["4294967296", "-1", "1e3"])
def test_bad_seed_flag_is_refused(seed, tmp_path):
    refused(unas("run", RECIPE, "--backend", "optuna", "--seed", seed, cwd=tmp_path), "--seed")
    assert list(tmp_path.iterdir()) == []


def test_bench_with_an_unsafe_recipe_name_writes_no_bench_row(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.read_text().replace("name: digits_mlp", "name: a/../../escaped"))
    refused(unas("bench", path, "--backends", "optuna", cwd=tmp_path), "name: 'a/../../escaped' must be 1-64")
    assert [p.name for p in tmp_path.iterdir()] == ["r.yaml"]


def test_bench_seeds_past_32_bits_are_refused(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.read_text().replace("seed: 0", "seed: 4294967295"))
    refused(unas("bench", path, "--backends", "optuna", "--seeds", "2", cwd=tmp_path), "--seeds: seeds 4294967295..")
    assert [p.name for p in tmp_path.iterdir()] == ["r.yaml"]


@pytest.mark.parametrize(
    "backend, args, message",
    [
        (
            "optuna",
            {"bogus": 1},
            "backends.optuna.strategy_args: random: RandomSampler.__init__() got an unexpected "
            "keyword argument 'bogus'",
        ),
        ("nni", {"bogus": 1}, "backends.nni.strategy_args.bogus: unknown argument of Random (takes dedup, "),
        (
            "autokeras",
            {"directory": "/tmp/elsewhere"},
            "backends.autokeras.strategy_args.directory: is set by unified-nas",
        ),
        ("autokeras", {"bogus": 1}, "backends.autokeras.strategy_args.bogus: unknown argument of the random tuner"),
    ],
)
@pytest.mark.parametrize("command", ["run", "bench", "validate"])
def test_bad_strategy_arguments_are_refused_before_anything_is_written(command, backend, args, message, tmp_path):
    """A benchmark and `validate --backend` check them too (in a process per backend), not only each run."""
    _need(backend)
    path = recipe_with(tmp_path, backend, args)
    flag = "--backends" if command == "bench" else "--backend"
    refused(unas(command, path, flag, backend, cwd=tmp_path), message)
    assert [p.name for p in tmp_path.iterdir()] == ["recipe.yaml"]  # no store, no unas-runs/


def test_a_suite_names_the_recipe_whose_strategy_arguments_are_refused(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(RECIPE.read_text())
    bad = recipe_with(tmp_path, "optuna", {"bogus": 1})
    bad.write_text(bad.read_text().replace("name: digits_mlp", "name: bad_args"))
    suite = tmp_path / "suite.yaml"
    suite.write_text("recipes: [good.yaml, recipe.yaml]\n")
    before = tree(tmp_path)
    refused(
        unas("bench", suite, "--backends", "optuna", cwd=tmp_path), "recipe bad_args: backends.optuna.strategy_args"
    )
    assert tree(tmp_path) == before


def test_bench_refuses_a_recipes_cuda_device_where_there_is_none(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.read_text() + "device: cuda\n")
    refused(unas("bench", path, "--backends", "optuna", cwd=tmp_path), "device")
    assert [p.name for p in tmp_path.iterdir()] == ["r.yaml"]


def test_a_read_only_store_is_refused_before_the_run_directory(tmp_path):
    """The store on a read-only file system (a bind mount in a private mount namespace)."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("needs unshare -m (a private mount namespace) to make a read-only file system")
    from unified_nas.report.store import ResultsStore

    ro = tmp_path / "ro"
    ro.mkdir()
    ResultsStore(ro / "s.sqlite").close()
    before = tree(tmp_path)
    script = (
        f"mount --bind -o ro {ro} {ro} && exec {sys.executable} -m unified_nas.cli run {RECIPE} "
        f"--backend optuna --trials 1 --store {ro / 's.sqlite'} --runs-dir {tmp_path / 'runs'}"
    )
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    refused(r, f"cannot write results store {ro / 's.sqlite'}")
    assert tree(tmp_path) == before


def test_a_new_store_in_a_read_only_folder_is_named_as_such(tmp_path):
    """Before, it was reported as 'not a unified-nas results store (unable to open database file)'."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        pytest.skip("needs unshare -m (a private mount namespace) to make a read-only file system")
    ro = tmp_path / "ro"
    ro.mkdir()
    before = tree(tmp_path)
    script = (
        f"mount --bind -o ro {ro} {ro} && exec {sys.executable} -m unified_nas.cli run {RECIPE} "
        f"--backend reference --trials 1 --store {ro / 's.sqlite'} --runs-dir {tmp_path / 'runs'}"
    )
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    refused(r, f"cannot create results store {ro / 's.sqlite'}")
    assert tree(tmp_path) == before


def test_reading_commands_refuse_a_foreign_database_and_leave_it_unchanged(tmp_path):
    study = tmp_path / "optuna.sqlite3"  # stands for any SQLite file that is not ours, e.g. an Optuna study
    db = sqlite3.connect(study)
    db.execute("CREATE TABLE studies (study_id INTEGER PRIMARY KEY, study_name TEXT)")
    db.execute("INSERT INTO studies VALUES (1, 'mine')")
    db.commit()
    db.close()
    before = tree(tmp_path)
    for args in (["runs"], ["report", "latest"], ["export", "latest", "--format", "torch"]):
        refused(unas(*args, "--store", study, cwd=tmp_path), f"{study} is not a unified-nas results store")
    refused(
        unas("run", RECIPE, "--backend", "optuna", "--store", study, cwd=tmp_path), "is not a unified-nas results store"
    )
    assert tree(tmp_path) == before


def test_reading_commands_leave_an_empty_file_empty(tmp_path):
    (tmp_path / "empty.sqlite").touch()
    refused(unas("runs", "--store", "empty.sqlite", cwd=tmp_path), "is not a unified-nas results store")
    assert tree(tmp_path) == {"empty.sqlite": b""}
    refused(unas("runs", "--store", "nothere.sqlite", cwd=tmp_path), "no results store at nothere.sqlite")
    assert tree(tmp_path) == {"empty.sqlite": b""}


def test_reading_commands_do_not_write_to_our_store(tmp_path):
    from unified_nas.report.store import ResultsStore

    ResultsStore(tmp_path / "s.sqlite").close()
    before = tree(tmp_path)
    assert unas("runs", "--store", "s.sqlite", cwd=tmp_path).returncode == 0
    refused(unas("report", "nope", "--store", "s.sqlite", cwd=tmp_path), "no run 'nope'")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("command", ["run", "bench"])
def test_an_empty_device_is_refused_not_taken_as_the_default(command, tmp_path):
    flag = "--backend" if command == "run" else "--backends"
    refused(unas(command, RECIPE, flag, "optuna", "--device", "", cwd=tmp_path), "--device: '' is not one of")
    assert list(tmp_path.iterdir()) == []
