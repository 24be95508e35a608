"""`unas bench --executor dask` on a real Dask LocalCluster (127.0.0.1): same results as local runs, lost workers.

* The same benchmark run by local processes and by Dask tasks stores the same
  samples and scores per (backend, seed), each run once, complete, with its
  test accuracy and one framework thread, as a local run stores them.
* A Dask worker process killed (SIGKILL) while it runs a benchmark run: the
  scheduler runs the task again on the restarted worker, the run starts again
  from scratch and is stored once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed", reason="dask[distributed] is not installed (pip install 'unified-nas[dask]')")

from distributed import Client

from unified_nas.benchmark.executors import local_cluster
from unified_nas.report.store import ResultsStore

pytestmark = pytest.mark.slow
UNAS = os.path.join(os.path.dirname(sys.executable), "unas")
RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "digits_mlp.yaml"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def _bench(tmp: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [UNAS, "bench", str(RECIPE), "--store", str(tmp / "s.sqlite"), "--runs-dir", str(tmp / "runs"), *extra],
        cwd=tmp,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen, timeout: float = 300) -> None:
    stdout, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, stderr[-3000:]


def _results(tmp: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """Per (backend, seed): the stored run's status, samples, scores and what a report reads from it."""
    with ResultsStore(tmp / "s.sqlite", readonly=True) as store:
        (bench_id, _, _), *others = store.list_benches()
        assert not others
        rows = store.bench_runs(bench_id)
        out = {}
        for r in rows:
            run = store.load_run(r["run_id"])
            out[(r["backend"], r["seed"])] = {
                "bench_status": r["status"],
                "status": run.status,
                "samples": [t.sample for t in run.trials],
                "scores": [t.objectives for t in run.trials],
                "trial_status": [t.status for t in run.trials],
                "incumbent": (run.incumbent or {}).get("index"),
                "test_accuracy": (run.incumbent or {}).get("test_accuracy"),
                "threads": run.environment["threads"]["threads"],
                "torch_threads": run.environment["threads"].get("torch", {}).get("intra_op"),
                "started_at": run.started_at,
                "run_id": r["run_id"],
            }
        assert len(rows) == len(out)  # one attempt per (backend, seed): nothing stored twice
        return out


def test_dask_executor_gives_the_same_samples_and_scores_as_local_processes(tmp_path):
    flags = ("--backends", "optuna,nni", "--seeds", "2", "--trials", "3", "--jobs", "2")
    (tmp_path / "local").mkdir()
    (tmp_path / "dask").mkdir()
    local, dask = _bench(tmp_path / "local", *flags), _bench(tmp_path / "dask", *flags, "--executor", "dask")
    _finish(local)
    _finish(dask)
    a, b = _results(tmp_path / "local"), _results(tmp_path / "dask")
    assert set(a) == set(b) == {(x, s) for x in ("optuna", "nni") for s in (0, 1)}
    keys = ("bench_status", "status", "samples", "scores", "trial_status", "incumbent", "test_accuracy", "threads")
    for k in a:
        assert {f: a[k][f] for f in keys} == {f: b[k][f] for f in keys}, k
        assert b[k]["status"] == "complete" and len(b[k]["samples"]) == 3
        assert b[k]["test_accuracy"] is not None  # kept across the trip from the worker's store
        assert b[k]["threads"] == 1 and b[k]["torch_threads"] == 1
    run_id = b[("optuna", 0)]["run_id"]
    assert (tmp_path / "dask" / "runs" / f"{run_id}.log").is_file()  # the log came back from the worker
    assert (tmp_path / "dask" / "runs" / run_id).is_dir()  # the run directory its report names
    bench_dirs = [p for p in (tmp_path / "dask" / "runs").iterdir() if p.name.startswith("bench-")]
    assert (bench_dirs[0] / "report.html").is_file()


def test_a_killed_dask_worker_run_is_run_again_and_stored_once(tmp_path):
    with (
        local_cluster(1) as cluster,
        Client(cluster) as client,
    ):
        (first_pid,) = client.run(os.getpid).values()
        proc = _bench(
            tmp_path,
            *("--backends", "optuna", "--seeds", "1", "--trials", "6"),
            *("--executor", "dask", "--scheduler", cluster.scheduler_address),
        )
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:  # the run has started on the worker: kill it
            runs = tmp_path / "runs"
            if runs.is_dir() and any(p.is_dir() and "-optuna-s0-" in p.name for p in runs.iterdir()):
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        os.kill(first_pid, signal.SIGKILL)
        killed_at = time.time()
        _finish(proc)
        (second_pid,) = client.run(os.getpid).values()
    assert second_pid != first_pid  # the nanny started a new worker process, which ran the task again
    ((key, run),) = _results(tmp_path).items()
    assert key == ("optuna", 0)
    assert run["bench_status"] == "complete" and run["status"] == "complete" and len(run["samples"]) == 6
    assert run["started_at"] > killed_at  # the stored run is the re-run, started after the kill
    with ResultsStore(tmp_path / "s.sqlite", readonly=True) as store:
        assert len(store.list_runs()) == 1
