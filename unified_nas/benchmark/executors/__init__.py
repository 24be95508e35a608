"""Where a benchmark's runs execute: ``local`` processes, or tasks on a Dask cluster.

``local`` (the default, :mod:`.local`) starts each (backend, seed) run as a
process on this machine, ``--jobs`` at a time; the run writes its trials
straight into the results store. ``dask`` (:mod:`.dask`) makes each run a
Dask task and writes what the task returns into the one store. Both keep the
contract of :mod:`.base`; this module checks ``--executor``/``--scheduler``,
opens the executor they name, and re-exports the names of the modules.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from unified_nas.benchmark.executors.base import Crash, Executor, ExecutorLost
from unified_nas.benchmark.executors.dask import (
    CONNECT_TIMEOUT_S,
    INSTALL_HINT,
    LOG_LIMIT,
    RETRIES,
    RUN_RESOURCE,
    STOP_WAIT_S,
    DaskExecutor,
    SchedulerLost,
    local_cluster,
    require_dask,
    run_task,
    store_payload,
    task_resources,
)
from unified_nas.benchmark.executors.local import LocalExecutor
from unified_nas.core.errors import UserError

__all__ = [
    "CONNECT_TIMEOUT_S",
    "EXECUTORS",
    "INSTALL_HINT",
    "LOG_LIMIT",
    "RETRIES",
    "RUN_RESOURCE",
    "STOP_WAIT_S",
    "Crash",
    "DaskExecutor",
    "Executor",
    "ExecutorLost",
    "LocalExecutor",
    "SchedulerLost",
    "check_executor",
    "local_cluster",
    "open_executor",
    "require_dask",
    "run_task",
    "store_payload",
    "task_resources",
]

EXECUTORS = ("local", "dask")


def check_executor(executor: str, scheduler: str | None) -> None:
    """Refuses a bad ``--executor``/``--scheduler`` pair before anything is written.

    Raises:
        UserError: An unknown executor, ``scheduler`` without ``dask``, or dask not installed.
    """
    if executor not in EXECUTORS:
        raise UserError(f"--executor: expected one of {', '.join(EXECUTORS)}, got {executor!r}")
    if scheduler is not None and executor != "dask":
        raise UserError("--scheduler needs --executor dask")
    if executor == "dask":
        require_dask()


@contextlib.contextmanager
def open_executor(executor: str = "local", scheduler: str | None = None, jobs: int = 1) -> Iterator[Executor]:
    """The executor for ``--executor``/``--scheduler``, closed on leaving the block.

    Args:
        executor: ``local`` or ``dask``.
        scheduler: A Dask scheduler address (``dask`` only); None starts a local cluster.
        jobs: Runs at once (local processes, or the local cluster's worker processes).

    Raises:
        UserError: As :func:`check_executor` and :class:`DaskExecutor`.
    """
    check_executor(executor, scheduler)
    ex: Executor = DaskExecutor(scheduler, jobs) if executor == "dask" else LocalExecutor(jobs)
    try:
        yield ex
    finally:
        ex.close()
