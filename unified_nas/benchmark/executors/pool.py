"""Warm run processes: many runs of one backend in one process, so its toolkit is imported once.

A :class:`WarmProcess` is ``python -m unified_nas.benchmark.worker --serve``
(:func:`unified_nas.benchmark.worker.serve`): it takes one job at a time and
answers when the run has stored its end. A :class:`Pool` hands out warm
processes by :func:`pool_key` (the backend and the process-wide settings a run
applies: threads, concurrent runs, device) and retires each after its job's
``runs_per_process`` runs, so a leak in a toolkit is bounded. With
``runs_per_process: 1`` every run gets a fresh process that ends with it.

Both executors use it: ``local`` in the benchmark's process, ``dask`` in each
Dask worker process (:mod:`.dask`).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Hashable
from pathlib import Path
from typing import Any


def pool_key(job: dict[str, Any]) -> Hashable:
    """The runs that may share a warm process: same backend, same process-wide settings.

    A run sets its framework threads and training device for the whole process (TensorFlow's cannot
    change once set), so runs differing in them never share one.
    """
    return (job["backend"], json.dumps(job.get("threads")), job.get("jobs", 1), job.get("device"))


class WarmProcess:
    """One warm run process and the run it is doing, if any.

    Args:
        parent_pid: The process whose death ends it (the benchmark, or the Dask worker process).
        first_log: Where its output goes until its first run takes over (startup errors land there).
    """

    def __init__(self, parent_pid: int, first_log: Path) -> None:
        with open(first_log, "w") as log:  # the child keeps its own handle
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "unified_nas.benchmark.worker", "--serve", str(parent_pid)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        self.runs = 0
        self.run_id: str | None = None  # the run it is doing
        self.status: int | None = None  # that run's answer, once it came

    def send(self, job: dict[str, Any]) -> bool:
        """Hands over one run.

        Returns:
            False if the process has ended (it took nothing).
        """
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return False
        self.run_id, self.status = job["run_id"], None
        self.runs += 1
        return True

    def done(self, timeout: float = 0.0) -> bool:
        """Whether its run has ended: answered, or the process died (waits up to ``timeout`` seconds)."""
        if self.status is not None:
            return True
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if ready:
            line = self.proc.stdout.readline()  # the answer is written whole, or not at all (EOF: it died)
            if line:
                self.status = int(json.loads(line)["status"])
                return True
        if self.proc.poll() is not None:
            self.status = self.proc.wait()
            return True
        return False

    def wait(self) -> int:
        """Waits for its run to end.

        Returns:
            The run's status (0 complete, 1 failed, 130 interrupted), or the exit code of a process that
            died during the run (negative: the signal).
        """
        while not self.done(timeout=1.0):
            pass
        assert self.status is not None
        return self.status

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def interrupt(self) -> None:
        """SIGTERM: the run stores itself as interrupted and the process ends."""
        with contextlib.suppress(OSError):
            self.proc.send_signal(signal.SIGTERM)

    def close(self, timeout: float = 10.0) -> None:
        """Ends an idle process (its stdin closes, it exits), or one still busy after ``timeout`` s by force."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def wait_any(procs: list[WarmProcess], timeout: float) -> None:
    """Returns once one of ``procs`` has answered or ended, or after ``timeout`` seconds."""
    if not procs:
        return
    if any(p.status is not None for p in procs):
        return
    pipes = [p.proc.stdout for p in procs if p.proc.stdout is not None]
    select.select(pipes, [], [], timeout)  # an answer, or EOF when a process dies


class Pool:
    """Warm run processes, handed out by :func:`pool_key`; each reused up to its jobs' ``runs_per_process`` runs.

    Args:
        idle_per_key: Idle processes kept per key. As many as runs at once: in a seed-major benchmark each
            freed slot takes the next backend's run, and two slots may free from runs of one backend. More
            would only hold memory (a process with TensorFlow holds about 1 GB).
        parent_pid: The process whose death ends the warm processes (default: this one).
    """

    def __init__(self, idle_per_key: int = 1, parent_pid: int | None = None) -> None:
        self.idle_per_key = idle_per_key
        self.parent_pid = os.getpid() if parent_pid is None else parent_pid
        self.idle: dict[Hashable, list[WarmProcess]] = {}

    def start(self, job: dict[str, Any], log: Path) -> WarmProcess:
        """Hands ``job`` to an idle process of its key, or to a new one.

        Args:
            job: The run (its ``log`` is set here).
            log: The run's log file.

        Returns:
            The process doing it.

        Raises:
            OSError: A new process ended before it took the run (its log says why).
        """
        job = {**job, "log": str(log)}
        idle = self.idle.get(pool_key(job), [])
        while idle:
            proc = idle.pop()
            if proc.send(job):
                return proc
            proc.close()  # it died while idle (killed, or out of memory): a new one takes the run
        proc = WarmProcess(self.parent_pid, log)
        if not proc.send(job):
            raise OSError(f"the run process for {job['run_id']} ended before it took its run (see {log})")
        return proc

    def release(self, proc: WarmProcess, job: dict[str, Any]) -> None:
        """Takes back a process whose run has ended: kept for the next run of its key, or retired.

        Only after a complete run: a run that failed or was interrupted may have left the toolkit in a
        state no later run should inherit.
        """
        idle = self.idle.setdefault(pool_key(job), [])
        if (
            proc.alive
            and proc.status == 0
            and proc.runs < job.get("runs_per_process", 1)
            and len(idle) < self.idle_per_key
        ):
            idle.append(proc)
        else:
            proc.close()

    def close(self) -> None:
        """Ends every idle process."""
        for procs in self.idle.values():
            for proc in procs:
                proc.close()
        self.idle.clear()
