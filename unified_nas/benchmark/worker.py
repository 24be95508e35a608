"""The process side of a benchmark's runs: one (backend, seed) run, or many one after the other.

Started by the executors (:mod:`unified_nas.benchmark.executors.pool`) as
``python -m unified_nas.benchmark.worker --serve PARENT_PID`` (:func:`serve`):
a *warm* process that takes jobs one JSON line at a time on stdin and runs
each to its end before it takes the next, answering one line per run on its
stdout. A benchmark of a table recipe spends most of a fresh process's time
importing its toolkit (5-10 s against about a second of search), so a warm
process pays that once for many runs of one backend; with
``runs_per_process: 1`` it does one run and ends.

:func:`run_job` does one run: it stores its status, its trials go
straight into the results store, its output goes to its own log, and a crash
costs that run only. Between runs a warm process drops what a run left in
process-wide state (Keras's session, collected garbage); everything a run draws
from is seeded by the run itself, which the equivalence test
(``tests/unit/test_bench_batched.py``) checks on every backend. A process
exits when its parent dies, so a killed benchmark leaves no orphan searches.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any, cast

from unified_nas.data import check_same_data
from unified_nas.recipe import load_recipe
from unified_nas.report.store import ResultsStore
from unified_nas.runs.lifecycle import handle_sigterm
from unified_nas.runs.runner import run_recipe
from unified_nas.tables.recipes import load_recipe_data


def _exit_with_parent(parent: int) -> None:
    """Ends this process when the benchmark that started it is gone (killed, not just interrupted)."""

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, daemon=True).start()


def retrain(run_report: Any, recipe: Any, times: int, expect_data: dict[str, str] | None = None) -> dict[str, Any]:
    """Retrains the run's incumbent from scratch ``times`` times under the torch protocol.

    Every backend's incumbent is retrained by the same trainer with the same
    seeds (1000, 1001, ...), so backends are compared on what they found.

    Args:
        run_report: The finished run.
        recipe: Its recipe.
        times: Retrainings.
        expect_data: The benchmark's data digests (None: not checked).

    Returns:
        ``seeds``, ``test_accuracy`` per seed, ``mean`` and ``std``.

    Raises:
        UserError: The data is not the benchmark's (its file or table was replaced during the search).
    """
    from unified_nas.evaluation.train.evaluate import evaluate_sample  # deferred: imports torch

    data = load_recipe_data(recipe)  # loaded again: the search may have been long
    if expect_data is not None:
        check_same_data(
            expect_data, data, f"--retrain: the data of recipe {recipe.name} changed since the benchmark started"
        )
    seeds = [1000 + i for i in range(times)]
    accs = [  # a trained (not looked-up) result always has a test accuracy
        cast(
            float, evaluate_sample(recipe.space, run_report.incumbent["sample"], data, recipe.protocol, s).test_accuracy
        )
        for s in seeds
    ]
    return {
        "seeds": seeds,
        "test_accuracy": accs,
        "mean": statistics.fmean(accs),
        "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
    }


def run_job(job: dict[str, Any]) -> int:
    """One run of a benchmark in this process: its status kept in the store from start to end.

    Args:
        job: The run (see ``orchestrate.run_bench``).

    Returns:
        The run's exit status: 0 complete, 1 failed (the reason stored), 130 interrupted.
    """
    store = ResultsStore(job["store"])
    bench, backend, seed, run_id = job["bench_id"], job["backend"], job["seed"], job["run_id"]
    try:
        store.set_bench_run(bench, backend, seed, run_id, "running")
        recipe = load_recipe(job["recipe"])
        report = run_recipe(
            recipe,
            backend,
            strategy=job.get("strategy"),
            trials=job.get("trials"),
            time_s=job.get("time_s"),
            seed=seed,
            store=store,
            runs_dir=Path(job["runs_dir"]),
            progress=False,
            run_id=run_id,
            threads=job.get("threads"),
            device=job.get("device"),
            extra_options={"default_first": True} if job.get("default_first") else None,
            jobs=job.get("jobs", 1),
            # The benchmark's data digests: a data file or table replaced since it started is refused
            # (a failed run with the reason) rather than searched and compared with runs on the old data.
            expect_data=job.get("data"),
        )
        extra = {}
        if job.get("retrain") and report.incumbent is not None:
            extra["retrain"] = retrain(report, recipe, job["retrain"], job.get("data"))
        store.set_bench_run(bench, backend, seed, run_id, "complete", extra=extra)
        return 0
    except KeyboardInterrupt:
        store.set_bench_run(bench, backend, seed, run_id, "interrupted", "interrupted by the user")
        return 130
    except BaseException as e:  # noqa: BLE001  (recorded, then reported by the parent)
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        store.set_bench_run(bench, backend, seed, run_id, "failed", f"{type(e).__name__}: {msg}")
        traceback.print_exc()
        return 1
    finally:
        store.close()


def _forget_run() -> None:
    """Drops what a finished run left in process-wide state, before a warm process takes the next run.

    Keras keeps every layer ever built in its global session (memory, and layer names that count up);
    the rest is what the run left for the garbage collector. What a run *draws* from (global RNGs,
    samplers, oracles) is seeded by the run itself and needs nothing here.
    """
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session()
    gc.collect()


class _Output:
    """Points this process's stdout and stderr (file descriptors 1 and 2) at one run's log, then back."""

    def __init__(self) -> None:
        self.idle = os.open(os.devnull, os.O_WRONLY)

    def to(self, log: str) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)

    def back(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self.idle, 1)
        os.dup2(self.idle, 2)


def serve(parent_pid: int, jobs: IO[str], answers: IO[str]) -> int:
    """A warm process: runs the jobs read from ``jobs`` one after the other, answering each on ``answers``.

    Each job is a JSON line naming its ``log``; the answer is a JSON line ``{"run_id", "status"}`` once
    the run has stored its end (``status`` as :func:`run_job` returns it). The process ends when ``jobs``
    closes, or after a run was interrupted (SIGTERM: the benchmark is stopping).

    Args:
        parent_pid: The process whose death ends this one.
        jobs: Where jobs come from (stdin).
        answers: Where answers go (the stdout the process started with).

    Returns:
        The exit status: 0, or 130 after an interrupted run.
    """
    handle_sigterm()
    _exit_with_parent(parent_pid)
    output = _Output()
    try:
        for line in jobs:
            job = json.loads(line)
            output.to(job["log"])
            try:
                status = run_job(job)
            finally:
                output.back()
            answers.write(json.dumps({"run_id": job["run_id"], "status": status}) + "\n")
            answers.flush()
            if status == 130:
                return 130
            _forget_run()
    except KeyboardInterrupt:  # SIGTERM while waiting for a job: nothing was running
        return 130
    return 0


def _serve_main(parent_pid: int) -> int:
    # Answers go through a copy of the stdout we started with: fd 1 itself is each run's log while it runs.
    answers = os.fdopen(os.dup(1), "w")
    return serve(parent_pid, sys.stdin, answers)


if __name__ == "__main__":
    if sys.argv[1:2] != ["--serve"] or len(sys.argv) != 3:
        sys.exit("usage: python -m unified_nas.benchmark.worker --serve PARENT_PID (started by a benchmark)")
    sys.exit(_serve_main(int(sys.argv[2])))
