"""The executor contract: what ``orchestrate.run_bench`` asks of whatever runs a benchmark's runs.

An :class:`Executor` starts a run, says when it has ended, puts its records
into the results store and tells why it crashed (:class:`Crash`), stops the
running ones on interruption, and raises :class:`ExecutorLost` when the
cluster it ran them on is gone. :mod:`.local` and :mod:`.dask` implement it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple, Protocol

from unified_nas.core.errors import UnasError
from unified_nas.report.store import ResultsStore


class ExecutorLost(UnasError):
    """The executor lost the cluster its runs were on: nothing more comes back from it.

    Args:
        message: The one-line error (what was lost, what to do).
        short: Why, for the runs it held (their stored error).
    """

    def __init__(self, message: str, short: str) -> None:
        super().__init__(message)
        self.short = short


class Crash(NamedTuple):
    """Why a run ended without recording its own status: for the store, and shorter for the live view."""

    error: str
    short: str


class Executor(Protocol):
    """Starts runs and reports when they end (``orchestrate.run_bench`` drives it)."""

    capacity: int | None  # runs handed over at once; None: all (the cluster queues them)
    started: str  # the live view's word for a handed-over run

    def submit(self, job: dict[str, Any], log: Path) -> Any:
        """Starts ``job`` (its output goes to ``log``); returns a handle for the other methods."""

    def done(self, handle: Any) -> bool:
        """Whether the run has ended."""

    def wait(self, handles: list[Any], timeout: float) -> None:
        """Returns once one of ``handles`` may have ended, or after ``timeout`` seconds (at once if empty)."""

    def collect(self, handle: Any, store: ResultsStore) -> Crash | None:
        """After :meth:`done`: the run's records are in ``store``; returns why it crashed, if it did.

        Raises:
            ExecutorLost: The run ended because the executor lost its cluster (so did every other run).
        """

    def stop(self, handles: dict[str, Any], store: ResultsStore) -> None:
        """Interrupts the running runs (``{run_id: handle}``), keeping what they send back.

        A run that ended before it was interrupted has its records stored too (they may
        not have reached ``store`` yet: a Dask task's come with its result).
        """

    def close(self) -> None:
        """Releases what the executor holds (a cluster, a connection)."""


def exit_crash(run_id: str, returncode: int) -> Crash | None:
    """A run process that exited non-zero (its status row tells whether it recorded why)."""
    if returncode == 0:
        return None
    return Crash(f"worker exited with code {returncode} (see {run_id}.log)", f"exit code {returncode}")
