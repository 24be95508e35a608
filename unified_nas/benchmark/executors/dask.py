"""The ``dask`` executor: each benchmark run a task on a Dask cluster, its records shipped back to the client's store.

A worker of a cluster cannot write the client's SQLite file, so the task
hands the run to the very same kind of run process as locally (a warm one of
:mod:`.pool`, kept by the Dask worker process for the next run of its backend)
against a private store in a temporary folder, and returns the
run's report, trials, test accuracies, bench status and log; the client
writes them into the one store (:meth:`DaskExecutor.collect`). Everything
downstream (the report, ``unas report BENCH_ID``, ``--resume``) reads the
store as for a local run.

* One run per worker process at a time: every task asks for the resource
  :data:`RUN_RESOURCE`, and the workers of the cluster we start offer one
  each. Workers of an external cluster must be started with
  ``--resources unas_run=1`` (and ``--nthreads 1``); a scheduler without any
  such worker is refused before anything is written.
* A lost worker: the scheduler runs the task again elsewhere (up to
  ``distributed.scheduler.allowed-failures`` times). The new attempt starts
  the run from scratch, with a new private store and the same run id (the
  client has stored nothing of the lost attempt), so nothing is stored twice.
* A run is done by a run process on the worker, as locally: frameworks never
  meet in one process, a crash is one failed run, a process does up to the
  job's ``runs_per_process`` runs of one backend (paying its imports once), and
  the run sets its framework threads before torch or TensorFlow load
  (``run_recipe(threads=..., jobs=...)``).
* A lost scheduler (it stopped, or its machine or the network went away): every
  run it held is lost at once, so the benchmark ends with one line
  (:class:`SchedulerLost`); the runs it held are stored as crashed, finished
  runs are kept, and ``--resume`` goes on once a scheduler is back. distributed's
  own log lines in this process (its reconnection attempts, with their
  tracebacks) are not printed while the executor is open: the scheduler's and
  workers' own logs hold the details.
* The recipe, its data files and ``--runs-dir`` must be at the same absolute
  paths on the workers as on the client (a shared file system): the run
  loads the recipe from its path and keeps its toolkit files in its run
  directory, which its report names. On a :class:`~distributed.LocalCluster`
  (no ``--scheduler``) that holds by construction.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from typing import Any, NamedTuple

from unified_nas.benchmark.executors.base import Crash, ExecutorLost, exit_crash
from unified_nas.benchmark.executors.pool import Pool, WarmProcess
from unified_nas.core.errors import UserError
from unified_nas.report.records import RunReport, TrialRecord
from unified_nas.report.store import ResultsStore

RUN_RESOURCE = "unas_run"  # one per worker process: a worker runs one benchmark run at a time
CONNECT_TIMEOUT_S = 5  # an unreachable --scheduler fails fast rather than after distributed's 30 s
RETRIES = 2  # re-runs of a task that raised (a lost worker is re-run by the scheduler itself)
STOP_WAIT_S = 30  # on interruption: how long interrupted runs get to send their records back
LOG_LIMIT = 1_000_000  # characters of a run's log shipped back (the end of it: where errors are)
INSTALL_HINT = "pip install 'unified-nas[dask]'"
# The Dask worker processes we start: one thread in native pools. The run's own process sets its
# framework threads itself (run_recipe), as locally; this keeps the Dask process, which loads numpy,
# from starting a thread per core beside it.
_WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


class SchedulerLost(ExecutorLost):
    """The Dask scheduler went away during a benchmark (stopped, or unreachable)."""


def require_dask() -> Any:
    """Imports ``distributed`` (the ``[dask]`` extra).

    Returns:
        The ``distributed`` module.

    Raises:
        UserError: It is not installed (the message names the pip command).
    """
    try:
        import distributed
    except ImportError:
        raise UserError(f"--executor dask needs dask.distributed: {INSTALL_HINT}") from None
    return distributed


def task_resources(job: dict[str, Any]) -> dict[str, float]:
    """The Dask resources one run holds while it runs.

    The hook for devices: a run on a GPU (``job["device"]``, ``--device``) also
    asks for a ``GPU``, so a cluster whose workers declare ``--resources GPU=1`` gives
    each GPU to one run at a time.
    """
    resources = {RUN_RESOURCE: 1.0}
    if str(job.get("device") or "").startswith("cuda"):
        resources["GPU"] = 1.0
    return resources


# In a Dask worker process: its warm run processes, and the one doing each run by run id (what stop() interrupts).
# Warm processes end with the Dask worker process (their parent).
_POOL: Pool | None = None
_CHILDREN: dict[str, WarmProcess] = {}


def run_task(job: dict[str, Any]) -> dict[str, Any]:
    """The Dask task: one run on this worker, against a private store; returns its records.

    Args:
        job: The run as ``run_bench`` plans it (``store`` and ``parent_pid`` are replaced here).

    Returns:
        The payload :meth:`DaskExecutor.collect` stores: ``run`` (the report with trials, or None if
        the run stored nothing), ``test_accuracy`` (per trial), ``bench`` (status, error, extra, or
        None), ``returncode``, ``log`` and ``host``.
    """

    tmp = Path(tempfile.mkdtemp(prefix=f"unas-{job['run_id']}-"))
    try:
        # A run directory of this id can only be left by an attempt on a worker that was lost:
        # the client stored nothing of it, and the new attempt starts the run from scratch.
        shutil.rmtree(Path(job["runs_dir"]) / job["run_id"], ignore_errors=True)
        Path(job["runs_dir"]).mkdir(parents=True, exist_ok=True)
        global _POOL
        if _POOL is None:  # the run processes end with this worker process: a lost worker leaves no orphan search
            _POOL = Pool()
        private = {**job, "store": str(tmp / "store.sqlite")}
        log = tmp / "run.log"
        proc = _CHILDREN[job["run_id"]] = _POOL.start(private, log)
        try:
            returncode = proc.wait()
        finally:
            _CHILDREN.pop(job["run_id"], None)
        _POOL.release(proc, private)
        return _payload(private, returncode, log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _payload(job: dict[str, Any], returncode: int, log: Path) -> dict[str, Any]:
    """What a finished run left in its private store and log, as JSON-able data."""
    text = log.read_text(errors="replace") if log.is_file() else ""
    payload: dict[str, Any] = {
        "run": None,
        "test_accuracy": [],
        "bench": None,
        "returncode": returncode,
        "log": text[-LOG_LIMIT:],
        "host": socket.gethostname(),
    }
    if not Path(job["store"]).is_file():  # the process died before opening its store
        return payload
    with ResultsStore(job["store"]) as store:
        if store.trial_count(job["run_id"]) or job["run_id"] in {r[0] for r in store.list_runs()}:
            report = store.load_run(job["run_id"])
            payload["run"] = report.to_dict()
            payload["test_accuracy"] = [t.test_accuracy for t in report.trials]  # to_dict leaves it out
        row = store.latest_bench_runs(job["bench_id"]).get((job["backend"], job["seed"]))
    if row is not None:
        payload["bench"] = {"status": row["status"], "error": row["error"], "extra": row["extra"]}
    return payload


def store_payload(payload: dict[str, Any], job: dict[str, Any], store: ResultsStore, log: Path) -> Crash | None:
    """Writes a run's records from :func:`run_task` into the client's store, as a local run would have.

    Args:
        payload: What the task returned.
        job: The run.
        store: The benchmark's results store.
        log: Where the run's log goes.

    Returns:
        Why the run crashed, if its process exited non-zero.
    """
    log.write_text(payload["log"])
    if payload["run"] is not None:
        d = payload["run"]
        trials = [TrialRecord.from_dict(t, acc) for t, acc in zip(d["trials"], payload["test_accuracy"])]
        report = RunReport.from_dict(d, trials)
        store.save_run(report)
        for t in trials:
            store.add_trial(report.run_id, t)
    b = payload["bench"]
    if b is not None:
        store.set_bench_run(
            job["bench_id"], job["backend"], job["seed"], job["run_id"], b["status"], b["error"], b["extra"]
        )
    return exit_crash(job["run_id"], payload["returncode"])


def _terminate_runs(run_ids: list[str]) -> list[str]:
    """On a Dask worker: SIGTERM to the runs of ``run_ids`` it runs (they store themselves as interrupted)."""
    hit = [r for r in run_ids if r in _CHILDREN]
    for r in hit:
        _CHILDREN[r].interrupt()
    return hit


class _Task(NamedTuple):
    future: Any
    job: dict[str, Any]
    log: Path


def local_cluster(workers: int) -> Any:
    """A Dask ``LocalCluster`` for benchmark runs: loopback only, one single-threaded run slot per worker process.

    Args:
        workers: Worker processes (runs at once).

    Returns:
        The started cluster (a context manager; close it when done).
    """
    distributed = require_dask()
    return distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,  # no port beyond loopback's scheduler and workers
        resources={RUN_RESOURCE: 1},
        env=_WORKER_ENV,
    )


def _without_password(text: str, scheduler: str) -> str:
    """``text`` with the ``user:password@`` of the address ``scheduler`` replaced by ``***@`` (never printed)."""
    userinfo = re.search(r"//([^/@]*@)", scheduler)
    return text.replace(userinfo.group(1), "***@") if userinfo else text


# While a DaskExecutor is open, distributed's (and its tornado's) log records in this process are not printed:
# a lost scheduler makes the client log each reconnection attempt, and a traceback when it is closed while
# still trying, before our one-line error (SchedulerLost). Levels above CRITICAL silence them; close() restores.
_QUIET_LOGGERS = ("distributed", "tornado")
_SILENT = logging.CRITICAL + 1


def _quiet_logs() -> dict[str, int]:
    """Silences distributed's and tornado's loggers in this process.

    The named loggers and every existing descendant are set (distributed sets levels on some
    children, which would otherwise still print); descendants created later inherit the level.

    Returns:
        The levels they had, for :func:`_restore_logs`.
    """
    names = {*_QUIET_LOGGERS}
    names.update(n for n in list(logging.root.manager.loggerDict) if n.split(".", 1)[0] in _QUIET_LOGGERS)
    saved = {}
    for name in names:
        logger = logging.getLogger(name)
        saved[name] = logger.level
        logger.setLevel(_SILENT)
    return saved


def _restore_logs(saved: dict[str, int]) -> None:
    """Gives the loggers silenced by :func:`_quiet_logs` their levels back."""
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def _connect(distributed: Any, scheduler: str) -> Any:
    """A client of ``scheduler``, or a one-line refusal within about :data:`CONNECT_TIMEOUT_S` seconds.

    ``Client(timeout=...)`` bounds the TCP connection only (distributed 2025): a listener that accepts
    and never answers (not a Dask scheduler, or a hung one) blocks the handshake forever. So the client
    is made in a daemon thread that is given up on after a deadline.

    Raises:
        UserError: Naming the scheduler (without any password in it) and why.
    """

    def shown(text: str) -> str:
        return _without_password(text, scheduler)

    box: dict[str, Any] = {}

    def connect() -> None:
        try:
            box["client"] = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except Exception as e:  # noqa: BLE001  (OSError, TimeoutError, ValueError for a bad address, ...)
            box["error"] = e

    thread = threading.Thread(target=connect, name="unas-dask-connect", daemon=True)
    thread.start()
    thread.join(2 * CONNECT_TIMEOUT_S)
    if thread.is_alive():
        raise UserError(
            f"--scheduler {shown(scheduler)}: no answer in {2 * CONNECT_TIMEOUT_S} s (is it a Dask scheduler?)"
        )
    if "error" in box:
        e = box["error"]
        raise UserError(f"--scheduler {shown(scheduler)}: cannot connect ({type(e).__name__}: {shown(str(e))})")
    return box["client"]


class DaskExecutor:
    """Each run a task on a Dask cluster: an existing one (``scheduler``), else a local one.

    Args:
        scheduler: ``tcp://HOST:PORT`` of a running scheduler; None starts a
            :class:`~distributed.LocalCluster` on 127.0.0.1 with ``jobs`` single-threaded worker processes.
        jobs: Worker processes of the local cluster (ignored with ``scheduler``: its workers decide).

    Raises:
        UserError: dask is not installed, the scheduler cannot be reached in
            :data:`CONNECT_TIMEOUT_S` seconds, or none of its workers offers :data:`RUN_RESOURCE`.
    """

    capacity: int | None = None  # every run is submitted at once; the cluster's resources queue them
    started = "submitted"

    def __init__(self, scheduler: str | None = None, jobs: int = 1) -> None:
        distributed = require_dask()
        self.cluster = None
        self.submitted = 0
        self._log_levels = _quiet_logs()
        try:
            if scheduler is None:
                self.cluster = local_cluster(jobs)
                self.client = distributed.Client(self.cluster)
                self.address = str(self.cluster.scheduler_address)
                return
            self.address = _without_password(scheduler, scheduler)  # for messages
            self.client = _connect(distributed, scheduler)
            workers = self.client.scheduler_info(n_workers=-1).get("workers", {}).values()
            if not any(w.get("resources", {}).get(RUN_RESOURCE, 0) >= 1 for w in workers):
                self.client.close()
                raise UserError(
                    f"--scheduler {scheduler}: no worker offers resource {RUN_RESOURCE}; start workers with "
                    f"`dask worker {scheduler} --nthreads 1 --resources {RUN_RESOURCE}=1`"
                )
        except BaseException:
            _restore_logs(self._log_levels)
            raise

    def submit(self, job: dict[str, Any], log: Path) -> _Task:
        self.submitted += 1
        future = self.client.submit(
            run_task,
            job,
            key=f"unas-{job['run_id']}",
            pure=False,
            retries=RETRIES,
            resources=task_resources(job),
            priority=-self.submitted,  # in the planned (seed-major) order, as local runs start
        )
        return _Task(future, job, log)

    def done(self, handle: _Task) -> bool:
        return bool(handle.future.done())

    def wait(self, handles: list[_Task], timeout: float) -> None:
        if not handles:
            return
        with contextlib.suppress(Exception):  # TimeoutError: none ended yet; a lost scheduler shows in collect
            require_dask().wait([h.future for h in handles], timeout=timeout, return_when="FIRST_COMPLETED")

    def collect(self, handle: _Task, store: ResultsStore) -> Crash | None:
        future, job, log = handle
        if future.status == "finished":
            return store_payload(future.result(), job, store, log)
        if future.status == "cancelled" and self.client.status != "running":
            # The client lost its scheduler: distributed cancels every future at once ("connecting", then
            # "closed" once it gives up), and the runs' results will never come.
            raise SchedulerLost(
                f"the Dask scheduler {self.address} was lost during the benchmark (the connection to it closed); "
                "finished runs are kept: continue with --resume once a scheduler is back",
                "Dask scheduler lost",
            )
        # Lost more workers than the scheduler allows (KilledWorker), or the task itself failed.
        e = future.exception() if future.status == "error" else future.status
        return Crash(f"Dask task failed: {type(e).__name__}: {e}", f"Dask task {future.status}")

    def stop(self, handles: dict[str, Any], store: ResultsStore) -> None:
        run_ids = list(handles)
        hit: set[str] = set()
        with contextlib.suppress(Exception):  # a worker may be gone already (Ctrl-C reaches a local cluster too)
            for found in self.client.run(_terminate_runs, run_ids, on_error="ignore").values():
                hit.update(found if isinstance(found, list) else [])
        # A run that finished before Ctrl-C has its records in its task's result only: store them (cancelled,
        # they would be lost, and the run stored as interrupted would be trained again by --resume).
        finished = {r for r, h in handles.items() if r not in hit and h.future.status == "finished"}
        for r in finished:
            with contextlib.suppress(Exception):  # a result that cannot be fetched now: the run is redone
                store_payload(handles[r].future.result(), handles[r].job, store, handles[r].log)
        # Runs that had not started yet are dropped now, or they would start on the freed workers.
        self.client.cancel([h.future for r, h in handles.items() if r not in hit and r not in finished])
        interrupted = [handles[r].future for r in hit]
        with contextlib.suppress(Exception):  # TimeoutError: what came back by then is kept
            require_dask().wait(interrupted, timeout=STOP_WAIT_S)
        for r in hit:
            if handles[r].future.status == "finished":
                store_payload(handles[r].future.result(), handles[r].job, store, handles[r].log)
        self.client.cancel(interrupted)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()
        _restore_logs(self._log_levels)
