"""`unas bench --executor dask`: refused input writes nothing; Ctrl-C keeps what finished and --resume goes on.

Against real Dask clusters on 127.0.0.1 (no mocks). The equivalence with local
runs and the lost-worker re-run are in ``tests/conformance/test_bench_dask.py``.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, start_unas, unas

RECIPE = ROOT / "recipes" / "digits_mlp.yaml"


def refused(r: subprocess.CompletedProcess, message: str, cwd: Path) -> None:
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("unas: error: "), r.stderr
    assert message in lines[0], lines[0]
    assert list(cwd.iterdir()) == []  # nothing written: no store, no runs folder


def bench_args(*extra: object) -> list[object]:
    return ["bench", RECIPE, "--backends", "optuna", "--seeds", "1", "--trials", "2", *extra]


def test_executor_dask_without_dask_installed_is_one_line_naming_the_extra(tmp_path):
    # sys.modules[name] = None makes `import name` raise ImportError, as on a machine without dask.
    r = unas(*bench_args("--executor", "dask"), cwd=tmp_path, prelude="sys.modules['distributed'] = None")
    refused(r, "pip install 'unified-nas[dask]'", tmp_path)


def test_scheduler_needs_executor_dask(tmp_path):
    refused(unas(*bench_args("--scheduler", "tcp://127.0.0.1:1"), cwd=tmp_path), "--executor dask", tmp_path)


distributed = pytest.importorskip(
    "distributed", reason="dask[distributed] is not installed (pip install 'unified-nas[dask]')"
)


def test_unreachable_scheduler_is_refused_fast_and_writes_nothing(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = unas(*bench_args("--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"), cwd=tmp_path)
    refused(r, f"--scheduler tcp://127.0.0.1:{port}: cannot connect", tmp_path)


def test_a_scheduler_that_never_answers_is_refused_and_writes_nothing(tmp_path):
    """A listener that accepts and stays silent: distributed's connect timeout does not cover the handshake."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = unas(*bench_args("--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"), cwd=tmp_path)
    refused(r, f"--scheduler tcp://127.0.0.1:{port}: no answer in ", tmp_path)


def test_a_password_in_the_scheduler_address_is_never_printed(tmp_path):
    r = unas(*bench_args("--executor", "dask", "--scheduler", "tcp://me:s3cret@127.0.0.1:1"), cwd=tmp_path)
    refused(r, "--scheduler tcp://***@127.0.0.1:1", tmp_path)
    assert "s3cret" not in r.stderr


def test_scheduler_without_run_slots_is_refused(tmp_path):
    with distributed.LocalCluster(
        n_workers=1, processes=False, protocol="tcp://", host="127.0.0.1", dashboard_address=None
    ) as cluster:
        r = unas(*bench_args("--executor", "dask", "--scheduler", cluster.scheduler_address), cwd=tmp_path)
    refused(r, "--resources unas_run=1", tmp_path)


def _private_trials(rows: list[dict]) -> int:
    """Trials a running run has stored in its private store on the (local) Dask worker."""
    import sqlite3
    import tempfile

    running = [r["run_id"] for r in rows if r["status"] not in ("complete", "failed", "crashed", "interrupted")]
    found = 0
    for run_id in running:
        for db in Path(tempfile.gettempdir()).glob(f"unas-{run_id}-*/store.sqlite"):
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
                    found += con.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
            except sqlite3.Error:
                continue  # not created yet, or being written
    return found


@pytest.mark.slow
def test_interrupted_dask_bench_keeps_finished_runs_and_resumes(tmp_path):
    from unified_nas.benchmark.executors import local_cluster
    from unified_nas.report.store import ResultsStore

    args = [RECIPE, "--backends", "optuna", "--seeds", "2", "--trials", "10", "--store", tmp_path / "s.sqlite"]
    with (
        local_cluster(1) as cluster,
        ResultsStore(tmp_path / "s.sqlite") as store,
    ):
        dask = ("--executor", "dask", "--scheduler", cluster.scheduler_address)
        cmd = ["bench", *args, *dask]
        proc = start_unas(*cmd, cwd=tmp_path)
        # Ctrl-C once the first run is stored and the second has finished a trial in its private store
        # (on the worker: a temporary folder per run): then it has records to send back.
        deadline = time.time() + 180
        while time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
            benches = store.list_benches()
            rows = store.bench_runs(benches[0][0]) if benches else []
            if any(r["status"] == "complete" for r in rows) and _private_trials(rows) > 0:
                break
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 130, stderr[-3000:]
        bench_id = store.list_benches()[0][0]
        latest = store.latest_bench_runs(bench_id)
        assert sorted(r["status"] for r in latest.values()) == ["complete", "interrupted"], latest
        finished = {r["run_id"] for r in latest.values() if r["status"] == "complete"}
        stopped = next(r["run_id"] for r in latest.values() if r["status"] == "interrupted")
        # The interrupted run sent back what it had: its report and the trials it finished.
        assert store.load_run(stopped).status == "interrupted"

        resumed = unas(*cmd, "--resume", cwd=tmp_path, timeout=300)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        latest = store.latest_bench_runs(bench_id)
        assert all(r["status"] == "complete" for r in latest.values()) and len(latest) == 2
        assert finished <= {r["run_id"] for r in latest.values()}  # the finished run was kept, not redone
        assert len(store.list_benches()) == 1


@pytest.mark.slow
def test_a_scheduler_lost_mid_benchmark_is_one_line_without_a_traceback(tmp_path):
    """The scheduler of a real LocalCluster closed while a run is on its worker: our one line, none of distributed's.

    (distributed's client logged its reconnection attempts, with a traceback when it was closed while still
    trying, before our error.) The run it held is stored as crashed, so --resume runs it again.
    """
    import dask

    from unified_nas.benchmark.executors import local_cluster
    from unified_nas.report.store import ResultsStore

    (tmp_path / "r.yaml").write_text(
        "name: lost\ndata: {name: iris}\nspace: {depth: 1, layer: {op: linear, width: [4, 8], activation: relu}}\n"
        "training: {epochs: 1, batch_size: 32, lr: 0.01}\nseed: 0\n"
    )
    cluster = local_cluster(1)
    try:
        address = cluster.scheduler_address
        args = ["bench", "r.yaml", "--backends", "reference", "--seeds", "1", "--trials", "100000", "--time", "120"]
        proc = start_unas(*args, "--store", "s.sqlite", "--executor", "dask", "--scheduler", address, cwd=tmp_path)
        deadline = time.time() + 120
        runs = tmp_path / "unas-runs"
        while time.time() < deadline and proc.poll() is None:  # the run is searching on the worker: close the scheduler
            if runs.is_dir() and any(p.is_dir() and "-reference-s0-" in p.name for p in runs.iterdir()):
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        cluster.sync(cluster.scheduler.close)
        _, stderr = proc.communicate(timeout=120)
    finally:
        # Without its scheduler the cluster would retry it for distributed's 30 s connect timeout per attempt;
        # the nanny stops its worker (and the worker's run process ends with it).
        with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
            cluster.close(timeout=10)
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr and "distributed" not in stderr, stderr
    *live, last = stderr.strip().splitlines()
    assert all(line.startswith("[") for line in live), stderr  # the live view's lines, then ours
    assert last.startswith(f"unas: bench failed: SchedulerLost: the Dask scheduler {address} was lost"), last
    assert "--resume" in last
    with ResultsStore(tmp_path / "s.sqlite", readonly=True) as store:
        ((bench_id, _, _),) = store.list_benches()
        ((_, row),) = store.latest_bench_runs(bench_id).items()
    assert row["status"] == "crashed" and "scheduler" in row["error"], row  # --resume runs it again
