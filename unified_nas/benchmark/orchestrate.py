"""``unas bench``: one recipe on several backends and seeds, each run in a process apart from the benchmark.

Every (backend, seed) gets the same data split, protocol and budget. All
runs are stored under one benchmark id. Each run is committed as it ends, so
an interrupted benchmark keeps its finished runs; ``--resume`` continues the
latest unfinished benchmark with the same settings and skips what finished.
"""

from __future__ import annotations

import secrets
import sys
import time
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from unified_nas.benchmark.digests import check_same_bench_data, recipe_digests
from unified_nas.benchmark.executors import Executor, ExecutorLost, LocalExecutor
from unified_nas.benchmark.preflight import check_benches
from unified_nas.benchmark.spec import BenchSpec, check_backends
from unified_nas.core.errors import UserError
from unified_nas.data import Digests
from unified_nas.recipe import Recipe
from unified_nas.report.store import ResultsStore

# Runs one warm process does before a fresh one takes over (``--runs-per-process auto``). A fresh process
# spends 5-10 s importing its toolkit. Reuse paid on both kinds of recipe, measured side by side in
# benchmarks/batched_runs.py: 2.8x on a looked-up benchmark (about a second per run) and 1.8x on a small
# trained one (3 trials of 2 epochs). The cap bounds what a toolkit may leak: a warm AutoKeras process grew
# by about 1 MB per looked-up run. A trained run allocates more (models, optimiser state), so its cap is lower.
LOOKUP_RUNS_PER_PROCESS = 100
TRAINED_RUNS_PER_PROCESS = 20
POLL_S = 0.5  # the longest wait for a run's end, and the live view's update interval


def runs_per_process(recipe: Recipe, given: int | None) -> int:
    """The runs one warm process does for this recipe's benchmark.

    Args:
        recipe: The recipe.
        given: ``--runs-per-process`` (None: ``auto``, by how the recipe evaluates its trials).

    Returns:
        At least 1 (1: a fresh process per run).
    """
    if given is not None:
        return given
    return TRAINED_RUNS_PER_PROCESS if recipe.evaluation.runs_train else LOOKUP_RUNS_PER_PROCESS


def resumable_bench(store: ResultsStore, recipe: Recipe, spec: BenchSpec, data: Digests | None = None) -> str:
    """The latest benchmark in ``store`` with exactly these settings (what ``--resume`` continues).

    The settings include the recipe's text (``recipe_hash``); its data is checked apart, so that a
    changed data file or table is named as such (:func:`~unified_nas.benchmark.digests.check_same_bench_data`).

    Args:
        store: The results store.
        recipe: The recipe, as loaded now.
        spec: The benchmark's settings.
        data: The digests of the recipe's data as it loads now (None: loaded here).

    Returns:
        The benchmark id.

    Raises:
        UserError: There is none; the recipe's text changed since it started (another ``recipe_hash``
            with the same settings otherwise); or its data or table changed since it started.
    """
    config = spec.config(recipe)
    # A benchmark stored before a setting existed ran with that setting's default.
    defaults = {f.name: f.default for f in fields(BenchSpec) if f.default is not MISSING}
    changed: str | None = None
    for bench_id, name, _ in store.list_benches():
        stored = {**defaults, **store.bench(bench_id)[1]}
        recorded = stored.pop("data", None)  # the data digests (headers from before they existed have none)
        if stored == config:
            check_same_bench_data(store, bench_id, recipe, recorded, recipe_digests(recipe) if data is None else data)
            return bench_id
        if changed is None and name == recipe.name and {**stored, "recipe_hash": ""} == {**config, "recipe_hash": ""}:
            changed = bench_id
    if changed is not None:
        raise UserError(
            f"--resume: recipe {recipe.name} changed since benchmark {changed} started (its text differs); "
            "restore it, or start a new benchmark (without --resume)"
        )
    raise UserError(
        f"--resume: no earlier benchmark of recipe {recipe.name} with these backends, seeds "
        f"{list(spec.seeds)}, budget and strategies in the store"
    )


def plan(
    store: ResultsStore, recipe: Recipe, spec: BenchSpec, resume: bool, data: Digests
) -> tuple[str, list[tuple[str, int]]]:
    """The benchmark id and the (backend, seed) runs still to do.

    Args:
        store: The results store.
        recipe: The recipe.
        spec: The benchmark's settings.
        resume: Continue the latest benchmark of these settings.
        data: The digests of the recipe's data now: stored in a new benchmark's header, checked
            against a resumed one's.

    Returns:
        The benchmark id and the runs to do, in order.

    Raises:
        UserError: ``resume`` with no earlier benchmark of these settings, or with other data.
    """
    todo = [(b, s) for s in spec.seeds for b in spec.backends]  # seed-major: machine noise hits backends alike
    if resume:
        bench_id = resumable_bench(store, recipe, spec, data)
        done = {k for k, r in store.latest_bench_runs(bench_id).items() if r["status"] == "complete"}
        return bench_id, [t for t in todo if t not in done]
    bench_id = f"bench-{time.strftime('%Y%m%d-%H%M%S')}-{recipe.name}-{secrets.token_hex(2)}"
    store.save_bench(bench_id, recipe.name, {**spec.config(recipe), "data": data}, time.time())
    return bench_id, todo


class LiveView:
    """One line per change of a run: started, trials done with best-so-far, finished or failed."""

    def __init__(
        self, store: ResultsStore, total_trials: int | None, metric: str, direction: str, enabled: bool = True
    ) -> None:
        self.store, self.total, self.metric = store, total_trials, metric
        self.sign = 1 if direction == "maximize" else -1
        self.seen: dict[str, int] = {}
        self.enabled = enabled  # False: silent (the Python API's progress=False)

    def line(self, tag: str, text: str) -> None:
        if self.enabled:
            print(f"[{time.strftime('%H:%M:%S')}] {tag:<22} {text}", file=sys.stderr, flush=True)

    def poll(self, tag: str, run_id: str) -> None:
        # Polled twice a second per running run: count first, parse the records only when one was added.
        if self.store.trial_count(run_id) == self.seen.get(run_id, 0):
            return
        trials = self.store.trials(run_id)
        self.seen[run_id] = len(trials)
        scores = [t.objectives[0] for t in trials if t.status == "complete" and t.objectives]
        best = f"{max(scores, key=lambda v: self.sign * v):.4g}" if scores else "-"
        failed = sum(t.status == "failed" for t in trials)
        self.line(
            tag,
            f"{len(trials)}/{self.total or '?'} trials, best {self.metric}={best}"
            + (f", {failed} failed" if failed else ""),
        )


def run_bench(
    recipe: Recipe,
    spec: BenchSpec,
    store_path: Path,
    runs_dir: Path,
    jobs: int = 1,
    resume: bool = False,
    progress: bool = True,
    threads: int | str | None = None,
    checked: bool = False,
    device: str | None = None,
    executor: Executor | None = None,
    per_process: int | None = None,
) -> str:
    """Runs (or resumes) a benchmark; the caller writes the report (``bench_data`` rendered by ``bench.render``).

    Args:
        recipe: The loaded recipe (``spec.recipe_path`` is what workers load).
        spec: Backends, seeds, budget, strategies, retraining.
        store_path: The results store shared by all runs.
        runs_dir: Where run directories and the benchmark's report files go.
        jobs: Runs at once (each run is a process; 2 cores suit 1-2).
        resume: Continue the latest benchmark with the same settings.
        progress: Print the live view on stderr.
        threads: Framework threads per run (``--threads``: a count, ``"auto"``, None for one).
        checked: The caller ran :func:`check_backends` on this recipe and spec already (a suite
            checks every recipe before its first benchmark starts): do not load the data again.
        device: Every run's ``--device`` (None: each recipe's ``device:``, else the CPU).
        executor: Where runs execute (:mod:`unified_nas.benchmark.executors`, opened and closed by the
            caller); None: local processes, ``jobs`` at a time.
        per_process: Runs one process does, one after the other (``--runs-per-process``; None: auto,
            :func:`runs_per_process`). Each run is isolated all the same: same records either way.

    Returns:
        The benchmark id.

    Raises:
        UserError: Bad input, before any run starts (``resume``: also a recipe whose data or table
            changed since the benchmark started).
        ExecutorLost: The executor lost its cluster (runs it held are stored as crashed; finished runs are kept).
        KeyboardInterrupt: After stopping the running workers (finished runs are kept).
    """
    if not checked:
        check_backends(recipe, spec)
        check_benches([(recipe, spec)])
    if resume and not Path(store_path).is_file():
        raise UserError(f"--resume: no results store at {store_path}")
    # The data as the benchmark starts (or resumes): every run must find the same (job["data"]).
    data = recipe_digests(recipe)
    if resume:  # refused (another recipe text, other data) before the store is opened for writing
        with ResultsStore(store_path, readonly=True, create=False) as existing:
            resumable_bench(existing, recipe, spec, data)
    executor = executor or LocalExecutor(jobs)
    store = ResultsStore(store_path)  # after the checks: refused input creates nothing
    runs_dir.mkdir(parents=True, exist_ok=True)
    bench_id, todo = plan(store, recipe, spec, resume, data)
    view = LiveView(
        store,
        spec.trials or recipe.budget.trials,
        recipe.objectives[0].metric,
        recipe.objectives[0].direction,
        enabled=progress,
    )
    view.line(
        bench_id,
        f"{len(todo)} run(s) to do of {len(spec.backends) * len(spec.seeds)}" + (" (resumed)" if resume else ""),
    )
    reuse = runs_per_process(recipe, per_process)
    polled = 0.0  # when the live view last read the running runs' trial counts
    running: dict[str, tuple[Any, str, int, float]] = {}  # run_id -> (executor's handle, backend, seed, start)
    queue = list(todo)
    try:
        while queue or running:
            while queue and (executor.capacity is None or len(running) < executor.capacity):
                backend, seed = queue.pop(0)
                run_id = f"{bench_id.removeprefix('bench-')}-{backend}-s{seed}-{secrets.token_hex(2)}"
                job = {
                    "bench_id": bench_id,
                    "backend": backend,
                    "seed": seed,
                    "run_id": run_id,
                    "recipe": str(Path(spec.recipe_path).resolve()),
                    "trials": spec.trials,
                    "time_s": spec.time_s,
                    "strategy": spec.strategies.get(backend),
                    "store": str(store_path),
                    "runs_dir": str(Path(runs_dir).resolve()),  # absolute: a Dask worker has another cwd
                    "retrain": spec.retrain,
                    "default_first": spec.default_first,
                    "threads": threads,
                    "device": device,
                    "jobs": jobs,
                    "runs_per_process": reuse,
                    "data": data,  # the run refuses other data: a file or table replaced since the start
                }
                store.set_bench_run(bench_id, backend, seed, run_id, "starting")
                log = Path(runs_dir) / f"{run_id}.log"
                running[run_id] = (executor.submit(job, log), backend, seed, time.time())
                view.line(f"{backend} seed {seed}", f"{executor.started} (run {run_id}, log {log.name})")
            # Woken as soon as a run ends: a looked-up run takes about a second, and a fixed sleep per
            # round would leave a core idle for part of each.
            executor.wait([handle for handle, *_ in running.values()], POLL_S)
            watch = progress and time.monotonic() - polled >= POLL_S
            if watch:
                polled = time.monotonic()
            for run_id, (handle, backend, seed, t0) in list(running.items()):
                tag = f"{backend} seed {seed}"
                if watch:
                    view.poll(tag, run_id)
                if not executor.done(handle):
                    continue
                crash = executor.collect(handle, store)  # a Dask run's records reach the store here
                del running[run_id]  # (after: a run whose executor was lost is still running for the handler)
                status = store.latest_bench_runs(bench_id)[(backend, seed)]
                if crash is not None and status["status"] in ("starting", "running"):
                    store.set_bench_run(bench_id, backend, seed, run_id, "crashed", crash.error)
                    status = {"status": "crashed", "error": crash.short}
                view.line(
                    tag,
                    f"{status['status']} in {time.time() - t0:.1f}s"
                    + (f": {status['error']}" if status.get("error") else ""),
                )
    except KeyboardInterrupt:
        executor.stop({run_id: handle for run_id, (handle, *_) in running.items()}, store)
        _mark_unfinished(store, bench_id, running, "interrupted", "benchmark interrupted")
        view.line(bench_id, "interrupted; finished runs are kept. Continue with the same command plus --resume")
        raise
    except ExecutorLost as e:
        # Nothing more comes back from the cluster: the runs it held are lost, and --resume runs them again.
        _mark_unfinished(store, bench_id, running, "crashed", e.short)
        raise
    finally:
        store.close()
    return bench_id


def _mark_unfinished(
    store: ResultsStore, bench_id: str, running: dict[str, tuple[Any, str, int, float]], status: str, error: str
) -> None:
    """Stores ``status`` for the handed-over runs that had not ended, when the benchmark stops early.

    A run that ended before (its worker stored it complete, failed or interrupted; for Dask, once
    :meth:`~unified_nas.benchmark.executors.Executor.stop` stored what its task returned) keeps its own
    status: a complete run marked interrupted would be trained again by ``--resume``.

    Args:
        store: The results store.
        bench_id: The benchmark.
        running: The runs the benchmark had handed over and not collected, by run id.
        status: What they become (``interrupted``, ``crashed``).
        error: Why.
    """
    latest = store.latest_bench_runs(bench_id)
    for run_id, (_, backend, seed, _) in running.items():
        row = latest.get((backend, seed))
        if row is not None and row["run_id"] == run_id and row["status"] not in ("starting", "running"):
            continue
        store.set_bench_run(bench_id, backend, seed, run_id, status, error)
