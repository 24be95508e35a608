"""One Optuna study shared by `unas run --storage` and `unas worker` processes, on real databases.

The run's first process and two workers search one study in PostgreSQL (a
real server started for the session) or SQLite; every finished trial
reaches the unified store once, and the workers together run exactly the
budget. A worker killed with SIGKILL in the middle of a trial loses that
attempt only: Optuna's heartbeat fails it and its retry runs elsewhere.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from tests.conftest import ROOT, start_unas, unas  # noqa: E402
from unified_nas.core.errors import StoreError  # noqa: E402
from unified_nas.report.store import ResultsStore  # noqa: E402

# Long enough trials (about 1 s) that a worker can be killed in the middle of one.
RECIPE = """name: shared
data: {name: digits}
space:
  depth: 1
  layer: {op: linear, width: [16, 32, 64, 128], activation: [relu, tanh]}
training: {epochs: 40, batch_size: 32, lr: [0.001, 0.003, 0.01], optimizer: adam}
budget: {trials: 10}
backends: {optuna: {strategy: random}}
"""


def _run_id(proc: subprocess.Popen, timeout: float = 60) -> str:
    """The run id the first process prints as soon as the shared study exists."""
    deadline = time.time() + timeout
    assert proc.stderr is not None
    while time.time() < deadline:
        line = proc.stderr.readline()
        if "other processes join with: unas worker " in line:
            return line.split("unas worker ")[1].split()[0]
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"no run id printed (exit {proc.poll()})")


@pytest.fixture(params=["sqlite", "postgres"])
def storage_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'optuna.db'}"
    return request.getfixturevalue("postgres_url")


def _check_store(store_path: Path, run_id: str, budget: int) -> list:
    with ResultsStore(store_path) as store:
        report = store.load_run(run_id)
    numbers = [int(t.native_id) for t in report.trials]
    assert len(numbers) == len(set(numbers)), f"a trial stored twice: {numbers}"
    complete = [t for t in report.trials if t.status == "complete"]
    assert len(complete) == budget, [(t.native_id, t.status, t.error) for t in report.trials]
    assert report.status == "complete" and report.budget_spent["complete"] == budget
    return report.trials


@pytest.mark.slow
def test_two_workers_and_the_run_share_one_study(storage_url, tmp_path):
    (tmp_path / "r.yaml").write_text(RECIPE)
    store = tmp_path / "unas.sqlite"
    run = start_unas(
        "run", "r.yaml", "--backend", "optuna", "--storage", storage_url, "--store", store, "--quiet", cwd=tmp_path
    )
    run_id = _run_id(run)
    workers = [start_unas("worker", run_id, "--storage", storage_url, "--quiet", cwd=tmp_path) for _ in range(2)]
    for w in workers:
        out, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    trials = _check_store(store, run_id, 10)
    hosts = {(t.extra.get("worker") or {}).get("pid") for t in trials}
    assert len(hosts) >= 2, f"trials from one process only: {hosts}"  # the workers did take trials


@pytest.mark.slow
def test_a_killed_workers_trial_is_retried_and_the_budget_completes(postgres_url, tmp_path):
    storage_url = postgres_url
    (tmp_path / "r.yaml").write_text(RECIPE)
    store = tmp_path / "unas.sqlite"
    run = start_unas(
        "run", "r.yaml", "--backend", "optuna", "--storage", storage_url, "--store", store, "--quiet", cwd=tmp_path
    )
    run_id = _run_id(run)
    victim = start_unas("worker", run_id, "--storage", storage_url, "--quiet", cwd=tmp_path)
    storage = optuna.storages.RDBStorage(storage_url.replace("postgresql://", "postgresql+psycopg://"))
    study = optuna.load_study(study_name=run_id, storage=storage)
    deadline, killed = time.time() + 120, None
    while time.time() < deadline and killed is None:
        for t in study.get_trials(deepcopy=False):
            if (
                t.state == optuna.trial.TrialState.RUNNING
                and t.user_attrs.get("unas_worker", {}).get("pid") == victim.pid
                and "sample" in t.user_attrs  # within the budget and training (a trial is tagged before that check)
            ):
                os.kill(victim.pid, signal.SIGKILL)  # in the middle of its trial
                killed = t.number
                break
        time.sleep(0.05)
    assert killed is not None, "the worker never ran a trial"
    victim.wait(timeout=30)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    trials = _check_store(store, run_id, 10)
    lost = next(t for t in trials if int(t.native_id) == killed)
    assert lost.status == "failed" and f":{victim.pid} stopped during the trial" in (lost.error or "")
    retries = [
        t
        for t in optuna.load_study(study_name=run_id, storage=storage).get_trials()
        if killed in t.system_attrs.get("retry_history", ())
    ]
    assert retries and retries[0].state == optuna.trial.TrialState.COMPLETE  # re-run by a live process
    assert retries[0].params == next(
        t.params for t in optuna.load_study(study_name=run_id, storage=storage).get_trials() if t.number == killed
    )


def test_worker_refuses_an_unknown_run_and_a_bad_storage(tmp_path):
    db = f"sqlite:///{tmp_path / 'empty.db'}"
    optuna.create_study(study_name="another", storage=db)  # a worker needs an Optuna database: it creates none
    proc = unas("worker", "nope", "--storage", db, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("unas: error: worker: no run nope in the storage"), (
        proc.stderr
    )
    recipe = ROOT / "recipes" / "digits_mlp.yaml"
    proc = unas("run", recipe, "--backend", "nni", "--storage", db, "--store", tmp_path / "s.sqlite", cwd=tmp_path)
    assert proc.returncode == 2 and "storage" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert not (tmp_path / "s.sqlite").exists()


def _description() -> dict:
    """A run description of the shape ``RunContext.describe_for_workers`` writes."""
    return {
        "run_id": "r1",
        "recipe": {"text": (ROOT / "recipes" / "digits_mlp.yaml").read_text(), "name": "m", "base_dir": str(ROOT)},
        "seed": 0,
        "options": {"strategy": "random"},
        "budget": {"trials": 3, "time_s": None},
        "data": {"split_sha256": "a", "content_sha256": "b"},
        "started": 1.0,
        "packages": {"optuna": optuna.__version__},
    }


def test_a_well_formed_run_description_passes_the_check():
    from unified_nas.backends.optuna.shared import check_run_description

    assert check_run_description(_description(), "r1", "x") == _description()


def _broken(key: str, value: object) -> dict:
    desc = _description()
    target, _, leaf = key.rpartition(".")
    if value is KeyError:
        del (desc[target] if target else desc)[leaf]
    else:
        (desc[target] if target else desc)[leaf] = value
    return desc


@pytest.mark.parametrize(
    ("desc", "problem"),
    [
        (["not", "a", "mapping"], "not a mapping"),
        (_broken("recipe", KeyError), "no recipe"),
        (_broken("recipe.text", KeyError), "no recipe.text"),
        (_broken("recipe.text", 5), "recipe.text is not a string"),
        (_broken("recipe", "text"), "recipe is not a mapping"),
        (_broken("seed", "0"), "seed is not an integer"),
        (_broken("seed", True), "seed is not an integer"),
        (_broken("budget.trials", "3"), "budget.trials is not a positive number or null"),
        (_broken("budget.time_s", KeyError), "no budget.time_s"),
        (_broken("data", None), "data is not a mapping"),
        (_broken("options", ["strategy"]), "options is not a mapping"),
        (_broken("started", "now"), "started is not a time"),
        (_broken("packages", {"optuna": 5}), "packages is not a mapping"),
        (_broken("run_id", "r2"), "run_id is 'r2'"),
    ],
)
def test_worker_refuses_a_malformed_run_description(tmp_path, desc, problem):
    """The study is shared storage: a description that is not ours ends the worker with one line, exit 2."""
    db = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna.create_study(study_name="r1", storage=db).set_user_attr("unas.run", desc)
    proc = unas("worker", "r1", "--storage", db, cwd=tmp_path)
    expected = f"unas: error: worker: the run description of r1 in {db} is malformed ({problem}"
    assert proc.returncode == 2 and proc.stderr.startswith(expected), proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr


@pytest.mark.slow
def test_with_a_time_budget_every_workers_trial_is_stored(tmp_path):
    """The run's clock is every process's: the first process waits for the workers' last trials."""
    (tmp_path / "r.yaml").write_text(RECIPE.replace("budget: {trials: 10}", "budget: {time_s: 15}"))
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    store = tmp_path / "unas.sqlite"
    run = start_unas(
        "run", "r.yaml", "--backend", "optuna", "--storage", url, "--store", store, "--quiet", cwd=tmp_path
    )
    run_id = _run_id(run)
    worker = start_unas("worker", run_id, "--storage", url, "--quiet", cwd=tmp_path)
    _, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    _, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    study = optuna.load_study(study_name=run_id, storage=url)
    finished = {t.number for t in study.get_trials() if t.state.is_finished() and not t.user_attrs.get("unas_surplus")}
    with ResultsStore(store) as s:
        stored = [int(t.native_id) for t in s.load_run(run_id).trials]
    assert sorted(stored) == sorted(finished) and len(stored) == len(set(stored))
    assert not [t for t in study.get_trials() if t.state == optuna.trial.TrialState.RUNNING]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://me:secret@127.0.0.1:1/db", "put the password in PGPASSWORD or ~/.pgpass"),
        ("sqlite:////nonexistent/folder/x.db", "cannot open sqlite:////nonexistent/folder/x.db"),
        ("/nonexistent/folder/study.journal", "the folder of /nonexistent/folder/study.journal does not exist"),
        ("/etc/passwd", "/etc/passwd is not an Optuna journal file"),
        ("/dev/null", "/dev/null is not a regular file"),
        ("sqlite:///:memory:", "an in-memory SQLite database cannot be shared between processes"),
        ("sqlite://", "an in-memory SQLite database cannot be shared between processes"),
        ("", "'' is not a database URL or journal file path"),
    ],
)
def test_a_bad_storage_is_refused_before_anything_is_written(url, message, tmp_path):
    places = ("--store", tmp_path / "s.sqlite", "--runs-dir", tmp_path / "runs")
    proc = unas(
        "run", ROOT / "recipes" / "digits_mlp.yaml", "--backend", "optuna", "--storage", url, *places, cwd=tmp_path
    )
    assert proc.returncode == 2 and proc.stderr.startswith(f"unas: error: --storage: {message}"), proc.stderr
    assert proc.stderr.count("\n") == 1 and "secret" not in proc.stderr
    assert not (tmp_path / "s.sqlite").exists() and not (tmp_path / "runs").exists()


def _stored_trials(store_path: Path, run_id: str) -> int:
    """Trials the run has stored so far (0 while the store or the run row does not exist yet, or is locked)."""
    if not store_path.exists():
        return 0
    try:
        with ResultsStore(store_path) as store:
            return len(store.load_run(run_id).trials)
    except (sqlite3.OperationalError, StoreError):  # the run holds the write lock, or has not saved its row yet
        return 0


@pytest.mark.slow
def test_a_killed_first_process_is_resumed_and_keeps_every_workers_trial(tmp_path):
    """SIGKILL of `unas run --storage` while a worker goes on; `unas run --resume` stores what was missed."""
    (tmp_path / "r.yaml").write_text(RECIPE)
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    store = tmp_path / "unas.sqlite"
    run = start_unas(
        "run", "r.yaml", "--backend", "optuna", "--storage", url, "--store", store, "--quiet", cwd=tmp_path
    )
    run_id = _run_id(run)
    worker = start_unas("worker", run_id, "--storage", url, "--quiet", cwd=tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline and _stored_trials(store, run_id) < 2:
        time.sleep(0.1)
    run.kill()
    run.wait(timeout=30)
    _, err = worker.communicate(timeout=300)  # the worker finishes the budget alone
    assert worker.returncode == 0, err
    before = _stored_trials(store, run_id)
    listed = unas("runs", "--store", store, cwd=tmp_path)
    assert "died" in listed.stdout, listed.stdout
    resumed = start_unas("run", "--resume", run_id, "--store", store, "--quiet", cwd=tmp_path)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    trials = _check_store(store, run_id, 10)  # every trial once, the budget complete
    assert len(trials) > before  # the worker's trials finished after the kill were stored by the resume
    study = optuna.load_study(study_name=run_id, storage=url)
    finished = {t.number for t in study.get_trials() if t.state.is_finished() and not t.user_attrs.get("unas_surplus")}
    assert sorted(int(t.native_id) for t in trials) == sorted(finished)
