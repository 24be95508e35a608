"""The ``local`` executor: a benchmark's runs in processes on this machine, ``--jobs`` at a time.

Runs go to warm processes (:mod:`.pool`): each does up to ``runs_per_process``
runs of one backend, one after the other. A run writes its trials straight
into the results store, so collecting it only reads its status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from unified_nas.benchmark.executors.base import Crash, exit_crash
from unified_nas.benchmark.executors.pool import Pool, WarmProcess, wait_any
from unified_nas.report.store import ResultsStore


class _Run(NamedTuple):
    proc: WarmProcess
    job: dict[str, Any]


class LocalExecutor:
    """Runs in warm processes on this machine; ``jobs`` at a time (each job says its ``runs_per_process``).

    Args:
        jobs: Runs at once.
    """

    started = "started"

    def __init__(self, jobs: int = 1) -> None:
        self.capacity: int | None = jobs
        self.pool = Pool(idle_per_key=jobs)  # as many as may run at once: a freed slot finds one of its backend

    def submit(self, job: dict[str, Any], log: Path) -> _Run:
        return _Run(self.pool.start(job, log), job)

    def done(self, handle: _Run) -> bool:
        return handle.proc.done()

    def wait(self, handles: list[_Run], timeout: float) -> None:
        wait_any([run.proc for run in handles], timeout)

    def collect(self, handle: _Run, store: ResultsStore) -> Crash | None:
        status = handle.proc.wait()  # the run wrote its records into the store itself
        self.pool.release(handle.proc, handle.job)
        return exit_crash(handle.job["run_id"], status)

    def stop(self, handles: dict[str, Any], store: ResultsStore) -> None:
        for run in handles.values():
            run.proc.interrupt()
        for run in handles.values():
            run.proc.close(timeout=30)  # time to store the run as interrupted
        self.pool.close()

    def close(self) -> None:
        self.pool.close()
