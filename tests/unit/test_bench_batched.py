"""Many runs per process: the same records as a process per run, on every backend; kill and resume lose one run.

A warm benchmark process (``--runs-per-process N``) does runs of one backend
one after the other. Each run must be as isolated as in a process of its own:
global RNGs, Keras's session, NNI's and Optuna's module state must not carry
from one run into the next. The test runs the same benchmark both ways and
compares every stored trial. Table recipes check the strategies' own state
(proposals), trained recipes the frameworks' (weights, hence scores).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import start_unas, unas
from unified_nas import bench
from unified_nas.report.store import ResultsStore

ROOT = Path(__file__).resolve().parents[2]
NB201 = ROOT / "recipes" / "nb201_cifar10.yaml"
BACKENDS = ("nni", "optuna", "autokeras", "reference")

TRAINED = """
name: iris_batched
data: {name: iris}
space:
  type: macro
  depth: [1, 2]
  layer: {op: linear, width: [4, 8, 16], activation: [relu, tanh]}
training: {epochs: 2, batch_size: 16, lr: [0.01, 0.05]}
seed: 0
"""


def trials_by_seed(store: Path, bench_id: str) -> dict[int, list[dict[str, Any]]]:
    """Each seed's stored trials, with what a run's search decided (not its timings or ids)."""
    out = {}
    with ResultsStore(store, readonly=True) as s:
        for (_, seed), row in s.latest_bench_runs(bench_id).items():
            assert row["status"] == "complete", row
            report = s.load_run(row["run_id"])
            out[seed] = [
                {
                    "status": t.status,
                    "sample": t.sample,
                    "objectives": t.objectives,
                    "metrics": t.metrics,
                    "params": t.params,
                    "flops": t.flops,
                    "true_accuracy": t.true_accuracy,
                    "simulated_s": t.simulated_s,
                    "test_accuracy": t.test_accuracy,
                }
                for t in report.trials
            ] + [{"incumbent": {k: v for k, v in (report.incumbent or {}).items()}}]
    return out


def pids_of(store: Path, bench_id: str) -> set[int]:
    """The processes that did the benchmark's runs (each report records its owner)."""
    with ResultsStore(store, readonly=True) as s:
        return {s.load_run(r["run_id"]).process["pid"] for r in s.latest_bench_runs(bench_id).values()}


def both_ways(recipe: Path, backend: str, tmp: Path, seeds: int, trials: int) -> None:
    """The benchmark with a process per run and with one process for all runs stores the same trials."""
    found = {}
    for per_process in (1, seeds):
        b = bench(
            recipe,
            backends=backend,
            seeds=seeds,
            trials=trials,
            runs_per_process=per_process,
            store=tmp / f"s{per_process}.sqlite",
            runs_dir=tmp / f"runs{per_process}",
            progress=False,
        )
        found[per_process] = trials_by_seed(tmp / f"s{per_process}.sqlite", b.id)
        assert len(pids_of(tmp / f"s{per_process}.sqlite", b.id)) == (seeds if per_process == 1 else 1)
    assert found[1] == found[seeds]
    assert len({json.dumps(v, sort_keys=True) for v in found[1].values()}) == seeds  # seeds differ: a real check


@pytest.mark.parametrize("backend", BACKENDS)
def test_runs_in_one_process_store_what_runs_in_their_own_do_on_a_table(backend, tmp_path):
    both_ways(NB201, backend, tmp_path, seeds=3, trials=30)


@pytest.mark.parametrize("backend", BACKENDS)
def test_trained_runs_in_one_process_store_what_runs_in_their_own_do(backend, tmp_path):
    (tmp_path / "r.yaml").write_text(TRAINED)
    both_ways(tmp_path / "r.yaml", backend, tmp_path, seeds=2, trials=3)


def test_dask_tasks_share_a_warm_process_with_the_same_records(tmp_path):
    pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    found = {}
    for executor, per_process in (("local", 1), ("dask", 3)):
        b = bench(
            NB201,
            backends="nni",
            seeds=3,
            trials=30,
            runs_per_process=per_process,
            executor=executor,
            store=tmp_path / f"{executor}.sqlite",
            runs_dir=tmp_path / f"runs-{executor}",
            progress=False,
        )
        found[executor] = trials_by_seed(tmp_path / f"{executor}.sqlite", b.id)
        # One Dask worker process: its one warm run process did every run.
        assert len(pids_of(tmp_path / f"{executor}.sqlite", b.id)) == (3 if executor == "local" else 1)
    assert found["local"] == found["dask"]


def _bench_rows(store: Path) -> list[tuple[str, int, str, str]]:
    """(backend, seed, run id, status) of every bench row, read without locking out the writers."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30) as db:
        return list(db.execute("SELECT backend, seed, run_id, status FROM bench_runs ORDER BY rowid"))


def test_a_killed_batched_worker_loses_only_its_run_in_flight_and_resume_redoes_only_that(tmp_path):
    # One warm process does every run, one after the other; it is killed (-9) in the middle of the third.
    args = (NB201, "--backends", "optuna", "--seeds", "5", "--trials", "600", "--runs-per-process", "5")
    proc = start_unas("bench", *args, "--store", "s.sqlite", cwd=tmp_path)
    store = tmp_path / "s.sqlite"
    deadline = time.time() + 300
    victim = None
    while victim is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
        if not store.is_file():
            continue
        try:
            rows = _bench_rows(store)
            latest = {(b, s): (r, st) for b, s, r, st in rows}
            running = [r for (_, s), (r, st) in latest.items() if s == 2 and st == "running"]
            with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30) as db:
                if running and db.execute("SELECT COUNT(*) FROM trials WHERE run_id=?", running).fetchone()[0]:
                    (report,) = db.execute("SELECT report FROM runs WHERE run_id=?", running).fetchone()
                    victim = json.loads(report)["process"]["pid"]
        except sqlite3.OperationalError:  # the store is being created
            continue
    assert victim is not None, "seed 2's run never started"
    done_before = {s for b, s, r, st in _bench_rows(store) if st == "complete"}
    assert done_before == {0, 1}  # the same process did seeds 0 and 1 and is in the middle of seed 2
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode != 0  # one run crashed: the benchmark says so
    latest = {s: (r, st) for b, s, r, st in _bench_rows(store)}
    assert {s: st for s, (r, st) in latest.items()} == {
        0: "complete",
        1: "complete",
        2: "crashed",
        3: "complete",
        4: "complete",
    }
    assert "seed 2" in err and "exit code -9" in err, err
    kept = {s: r for s, (r, st) in latest.items() if st == "complete"}

    resumed = unas("bench", *args, "--store", "s.sqlite", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "1 run(s) to do of 5" in resumed.stderr
    latest = {s: (r, st) for b, s, r, st in _bench_rows(store)}
    assert all(st == "complete" for r, st in latest.values())
    assert {s: r for s, (r, st) in latest.items() if s != 2} == kept  # finished runs are kept, not redone
    with ResultsStore(store, readonly=True) as s:
        assert len(s.load_run(latest[2][0]).trials) == 600
