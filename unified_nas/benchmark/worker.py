"""One (backend, seed) run of a benchmark, in its own process.

Started by :mod:`unified_nas.benchmark.orchestrate` as
``python -m unified_nas.benchmark.worker '<json job>'``. A process per run bounds
memory, keeps frameworks apart (TensorFlow never meets NNI) and turns a crash
into one failed run. The worker exits when its parent dies, so a killed
benchmark leaves no orphan searches behind.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, cast

from unified_nas.data import check_same_data
from unified_nas.recipe import load_recipe
from unified_nas.report.store import ResultsStore
from unified_nas.runs.lifecycle import handle_sigterm
from unified_nas.runs.runner import run_recipe
from unified_nas.tables.recipes import load_recipe_data


def spawn(job: dict[str, Any], log: Path) -> subprocess.Popen:
    """Starts one run of a benchmark in its own process (the only way a run is started).

    Both executors use it: ``local`` on this machine, ``dask`` on the Dask worker
    that took the run (:mod:`unified_nas.benchmark.executors`), so a run is the same
    process with the same thread settings wherever it runs.

    Args:
        job: The run (see ``orchestrate.run_bench``); ``job["parent_pid"]`` is the process whose
            death ends the run.
        log: The run's log file (stdout and stderr), created or truncated.

    Returns:
        The started process.
    """
    with open(log, "w") as f:  # the child keeps its own handle
        return subprocess.Popen(
            [sys.executable, "-m", "unified_nas.benchmark.worker", json.dumps(job)], stdout=f, stderr=subprocess.STDOUT
        )


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


def main(job: dict[str, Any]) -> int:
    handle_sigterm()  # the benchmark stops its workers with SIGTERM: store the run as interrupted, not lost
    _exit_with_parent(job["parent_pid"])
    store = ResultsStore(job["store"])
    bench, backend, seed, run_id = job["bench_id"], job["backend"], job["seed"], job["run_id"]
    store.set_bench_run(bench, backend, seed, run_id, "running")
    try:
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


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
