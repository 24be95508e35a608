"""The ``local`` executor: each benchmark run a process on this machine, ``--jobs`` at a time.

The run process (:func:`unified_nas.benchmark.worker.spawn`) writes its
trials straight into the results store, so collecting a run only reads its
exit code.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from unified_nas.benchmark.executors.base import Crash, exit_crash
from unified_nas.benchmark.worker import spawn
from unified_nas.report.store import ResultsStore


class LocalExecutor:
    """Each run a process on this machine; ``jobs`` at a time.

    Args:
        jobs: Runs at once.
    """

    started = "started"

    def __init__(self, jobs: int = 1) -> None:
        self.capacity: int | None = jobs

    def submit(self, job: dict[str, Any], log: Path) -> tuple[subprocess.Popen, str]:
        return spawn(job, log), job["run_id"]

    def done(self, handle: tuple[subprocess.Popen, str]) -> bool:
        return handle[0].poll() is not None

    def collect(self, handle: tuple[subprocess.Popen, str], store: ResultsStore) -> Crash | None:
        proc, run_id = handle  # the run wrote its records into the store itself
        return exit_crash(run_id, proc.returncode)

    def stop(self, handles: dict[str, Any], store: ResultsStore) -> None:
        for proc, _ in handles.values():
            proc.terminate()
        for proc, _ in handles.values():
            proc.wait(timeout=30)

    def close(self) -> None:
        pass
