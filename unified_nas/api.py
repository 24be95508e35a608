"""The Python API: run, benchmark and read results from a script or a notebook.

``import unified_nas as unas`` gives :func:`run`, :func:`bench` and
:func:`load` (imported on first use, so importing the package stays free of
toolkits and pandas)::

    r = unas.run("recipes/digits_mlp.yaml", backend="optuna", trials=5)
    r.to_pandas()                                  # one row per trial
    b = unas.bench("recipes/nb201_cifar10.yaml", backends=["reference", "optuna"], trials=20)
    b.to_pandas()                                  # one row per run
    unas.load("unas.sqlite").runs()

The ``unas`` command is a thin layer over this module: ``unas run`` calls
:func:`run` and ``unas bench`` calls :func:`bench`, so both check input the
same way. Like the command, the API refuses bad input before anything is
written; unlike it, it raises (:class:`~unified_nas.core.errors.UserError` for bad
input, :class:`~unified_nas.core.errors.StoreError` for a store it cannot use)
instead of exiting.

A *suite* is several recipes benchmarked with the same settings, one
benchmark each, compared in one suite report. It is given as a list of
recipes, or as a suite file: YAML with a ``recipes:`` list of recipe paths
(relative to the suite file) and an optional ``name:``.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from unified_nas.benchmark.executors import check_executor, open_executor
from unified_nas.benchmark.inputs import (
    RecipeLike,
    bench_backends,
    check_budget,
    check_int,
    read_bench_inputs,
    write_object_file,
)
from unified_nas.benchmark.orchestrate import run_bench
from unified_nas.benchmark.plan import Planned, check_resumable, plan_benches
from unified_nas.core.errors import UserError
from unified_nas.core.limits import MAX_SEED
from unified_nas.core.text import shown
from unified_nas.evaluation.devices import check_spec, resolve_device
from unified_nas.recipe import Recipe, check_unaltered, load_recipe
from unified_nas.report.store import DEFAULT_STORE, ResultsStore
from unified_nas.results import Benchmark, Results
from unified_nas.runs.runner import check_creatable, run_recipe
from unified_nas.runs.threads import threads_per_run

if TYPE_CHECKING:
    from unified_nas.report.records import RunReport

PathLike = Union[str, "os.PathLike[str]"]


def default_runs_dir(store: PathLike) -> Path:
    """Where run directories and reports go when not told: ``unas-runs/`` beside the store.

    Args:
        store: The results store file.

    Returns:
        The folder (not created).
    """
    return Path(store).resolve().parent / "unas-runs"


def _as_recipe(recipe: RecipeLike) -> Recipe:
    """A recipe object, loading it if a path was given.

    Raises:
        RecipeError: The file cannot be read or is not a valid recipe.
        UserError: Neither a path nor a Recipe, or a Recipe that is not what its text says
            (:func:`~unified_nas.recipe.check_unaltered`: the run stores the text).
    """
    if isinstance(recipe, Recipe):
        check_unaltered(recipe, "run")
        return recipe
    _check_path("recipe", recipe)

    return load_recipe(Path(recipe))


# -- argument types: the API's callers get the one-line UserError the CLI gives, never a TypeError --------------------
def _check_path(name: str, value: Any) -> None:
    """Refuses what is not a file path.

    Raises:
        UserError: Naming the argument.
    """
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise UserError(f"{name}: expected a file path, got {shown(value)}")


def _check_text_map(name: str, value: Any) -> None:
    """Refuses what is not a mapping with text keys (``options``, ``option_texts``, ``strategies``).

    Raises:
        UserError: Naming the argument.
    """
    if value is not None and not (isinstance(value, Mapping) and all(isinstance(k, str) for k in value)):
        raise UserError(f"{name}: expected a mapping of names to values, got {shown(value)}")


def _check_texts(name: str, value: Any) -> None:
    """Refuses what is not None, a string, or a list of strings (``backends``).

    Raises:
        UserError: Naming the argument.
    """
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise UserError(f"{name}: expected a comma-separated string or a list of names, got {shown(value)}")


# -- run --------------------------------------------------------------------------------------------------------------
def run(
    recipe: RecipeLike,
    backend: str,
    *,
    strategy: str | None = None,
    trials: int | None = None,
    time_s: float | None = None,
    seed: int | None = None,
    pruner: str | None = None,
    options: Mapping[str, Any] | None = None,
    option_texts: Mapping[str, str] | None = None,
    threads: int | str | None = None,
    device: str | None = None,
    store: PathLike = DEFAULT_STORE,
    runs_dir: PathLike | None = None,
    progress: bool = False,
) -> RunReport:
    """Runs a recipe on one backend (``unas run``) and returns its stored report.

    Args:
        recipe: A recipe file, or a :class:`~unified_nas.recipe.Recipe`.
        backend: Backend name (see ``unas backends``).
        strategy: Unified strategy name (default: the recipe's, else the backend's).
        trials: Trial budget (overrides the recipe's).
        time_s: Wall-clock budget in seconds (overrides the recipe's).
        seed: Run seed (overrides the recipe's).
        pruner: Early stopping of bad trials (one of the backend's pruners).
        options: Backend options, typed (``{"engine": "web"}``); see ``unas backends``.
        option_texts: Backend options as ``--option KEY=VALUE`` texts, converted to
            each option's declared type (what the command line gives).
        threads: Framework threads (torch, TensorFlow, OpenMP): a count, ``"auto"`` (the available
            cores) or None (one; see :mod:`unified_nas.runs.threads`).
        device: Where torch trains: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; None: the recipe's
            ``device:``, else the CPU (see :mod:`unified_nas.evaluation.devices`).
        store: The results store file (created if missing).
        runs_dir: Where the run directory goes; default ``unas-runs/`` beside the store.
        progress: Show progress on stderr (and let the toolkit log).

    Returns:
        The finished run's :class:`~unified_nas.report.records.RunReport`
        (``to_pandas()`` gives its trials). A run in which no trial completed is
        returned too: check ``report.budget_spent["complete"]``.

    Raises:
        UserError: Bad input (recipe, backend, strategy, options, budget, seed, threads),
            before anything is written.
        StoreError: The store cannot be created, opened or written.
        KeyboardInterrupt: The run was interrupted (it is stored as ``interrupted``;
            continue it with ``unas run --resume``).
        Exception: The run failed; the report with its finished trials is stored as ``failed``.
    """

    check_budget(trials, time_s)
    if seed is not None:
        check_int("seed", seed, 0, MAX_SEED)
    _check_text_map("options", options)
    _check_text_map("option_texts", option_texts)
    if option_texts is not None and not all(isinstance(v, str) for v in option_texts.values()):
        raise UserError("option_texts: expected texts as --option gives them (use options= for typed values)")
    _check_path("store", store)
    if runs_dir is not None:
        _check_path("runs_dir", runs_dir)
    return run_recipe(
        _as_recipe(recipe),
        backend,
        strategy=strategy,
        trials=trials,
        time_s=time_s,
        seed=seed,
        pruner=pruner,
        store=Path(store),
        runs_dir=Path(runs_dir) if runs_dir is not None else default_runs_dir(store),
        progress=progress,
        extra_options=options,
        option_texts=option_texts,
        threads=threads,
        device=device,
    )


# -- bench ------------------------------------------------------------------------------------------------------------
def bench(
    recipes: RecipeLike | Sequence[RecipeLike],
    *,
    backends: str | Sequence[str] | None = None,
    seeds: int | Sequence[int] | None = None,
    trials: int | None = None,
    time_s: float | None = None,
    strategies: Mapping[str, str] | None = None,
    jobs: int = 1,
    threads: int | str | None = None,
    retrain: int = 0,
    default_first: bool = False,
    resume: bool = False,
    store: PathLike = DEFAULT_STORE,
    runs_dir: PathLike | None = None,
    progress: bool = True,
    executor: str = "local",
    scheduler: str | None = None,
    device: str | None = None,
    runs_per_process: int | None = None,
) -> Benchmark:
    """Benchmarks recipes across backends and seeds (``unas bench``) and writes the reports.

    One recipe gives one benchmark. Several recipes, or a suite file, give a
    suite: one benchmark per recipe with the same settings, then a suite report
    comparing them, in ``<runs_dir>/<suite id>/``. Every recipe is loaded and
    every backend checked against every recipe before the first run starts, so
    bad input writes nothing. Runs execute in processes apart from this one; a process does
    several runs of one backend one after the other (``runs_per_process``), each as isolated as
    in a process of its own.

    Args:
        recipes: A recipe file or :class:`~unified_nas.recipe.Recipe`, a list of them, or a suite file.
        backends: Backend names (or one comma-separated string); None: every installed
            NAS toolkit (see ``unas backends``).
        seeds: Seeds per backend: a count (from the recipe's seed up), explicit seeds, or
            None: 10 for a recipe evaluated by a table, else 2 (per recipe in a suite).
        trials: Trial budget per run (overrides the recipes').
        time_s: Wall-clock budget per run in seconds.
        strategies: A strategy per backend, e.g. ``{"nni": "random"}``.
        jobs: Runs at once, each in its own process.
        threads: Framework threads per run: a count, ``"auto"`` (the available cores divided by
            ``jobs``) or None (one per run; see :mod:`unified_nas.runs.threads`).
        retrain: Retrain each incumbent this many times from scratch for its test accuracy.
        default_first: Every run evaluates the recipe's start point first (each parameter's
            ``default:``, else its neutral value), so all backends start at the same place.
        resume: Continue the latest benchmark(s) with the same settings; finished runs are kept.
        store: The results store file (created if missing, unless resuming).
        runs_dir: Where run directories and reports go; default ``unas-runs/`` beside the store.
        progress: Print the live view of the runs on stderr.
        executor: ``local`` (each run a process here, ``jobs`` at a time) or ``dask`` (each run a
            Dask task; needs ``pip install 'unified-nas[dask]'``, see :mod:`unified_nas.benchmark.executors`).
        device: Where each run's torch training runs (``auto``, ``cpu``, ``cuda``, ``cuda:N``; None: each
            recipe's ``device:``, else the CPU). Checked here; a Dask task of a CUDA run asks for a GPU.
        scheduler: ``dask`` only: the address of a running Dask scheduler (``tcp://HOST:PORT``);
            None starts a local cluster on 127.0.0.1 with ``jobs`` worker processes.
        runs_per_process: Runs one process does before a fresh one takes over, paying the toolkit's
            imports once (1: a process per run). None: 100 for recipes evaluated by a table or a
            proxy, 20 for trained ones (see ``docs/benchmarks.md`` for the measurement).

    Returns:
        The :class:`~unified_nas.results.Benchmark`: ids, report files, ``data`` and ``to_pandas()``.
        Runs that failed are kept in it: see :meth:`~unified_nas.results.Benchmark.incomplete`.

    Raises:
        RecipeError: A recipe or suite file cannot be read or is invalid (nothing is written).
        UserError: Other bad input: backends, seeds, budget, strategies, a backend that
            cannot serve a recipe, ``resume`` with nothing to resume, ``executor="dask"`` without
            dask installed or an unreachable ``scheduler`` (nothing is written).
        StoreError: The store cannot be created or written.
        SchedulerLost: ``executor="dask"``: the scheduler went away during the benchmark (finished runs
            are kept; the runs it held are stored as crashed and ``resume=True`` runs them again).
        KeyboardInterrupt: The benchmark was interrupted (finished runs are kept).
    """

    given = (
        [recipes] if isinstance(recipes, (str, os.PathLike, Recipe)) or not isinstance(recipes, Sequence) else recipes
    )
    for one in given:
        if not isinstance(one, Recipe):
            _check_path("recipes", one)
    _check_texts("backends", backends)
    _check_text_map("strategies", strategies)
    _check_path("store", store)
    if runs_dir is not None:
        _check_path("runs_dir", runs_dir)
    if scheduler is not None and not isinstance(scheduler, str):
        raise UserError(f"scheduler: expected an address such as tcp://HOST:PORT, got {shown(scheduler)}")
    check_executor(executor, scheduler)
    if device is not None:
        _check_bench_device(device, executor)
    if scheduler is not None and threads == "auto":  # --jobs says nothing about a remote worker's cores
        raise UserError("--threads auto with --scheduler: give a count (the workers' machines are not this one)")
    check_budget(trials, time_s)
    check_int("jobs", jobs, 1)
    check_int("retrain", retrain, 0)
    if runs_per_process is not None:
        check_int("runs_per_process", runs_per_process, 1)
    threads_per_run(jobs, threads)  # refused here, before anything is written
    suite, inputs = read_bench_inputs(recipes)
    if device is None:  # each recipe's own device: (the flag overrides them all)
        for item in inputs:
            if item.recipe.device is not None:
                _check_bench_device(item.recipe.device, executor, f"recipe {item.recipe.name}: ")
    store_path = Path(store)
    runs = Path(runs_dir) if runs_dir is not None else default_runs_dir(store_path)
    planned = plan_benches(
        inputs, runs, bench_backends(backends), seeds, trials, time_s, strategies or {}, retrain, default_first
    )
    check_creatable(runs)
    if resume:
        check_resumable(store_path, planned)
    # Connecting to the scheduler is the last check (one cluster serves every benchmark of a suite).
    with open_executor(executor, scheduler, jobs) as ex:
        # Everything is checked: from here on files are written.
        result = Benchmark(store_path, [])
        data: dict[
            str, dict[str, Any]
        ] = {}  # each benchmark's report numbers, computed once for its report and the suite's
        for p in planned:
            if p.item.path is None:
                write_object_file(p.item.recipe, Path(p.spec.recipe_path))
            bench_id = run_bench(
                p.item.recipe,
                p.spec,
                store_path,
                runs,
                jobs,
                resume,
                progress,
                threads=threads,
                checked=True,
                executor=ex,
                device=device,
                per_process=runs_per_process,
            )
            result.bench_ids.append(bench_id)
            result.reports[bench_id], data[bench_id] = _write_bench_reports(store_path, bench_id, runs / bench_id)
    if suite is not None:
        result.suite_id, result.suite_reports = _save_suite(store_path, runs, suite, planned, data)
    return result


def _check_bench_device(device: str, executor: str, prefix: str = "") -> None:
    """A benchmark's device, refused before anything is written if its runs cannot have it.

    Args:
        device: ``--device``, or a recipe's ``device:``.
        executor: ``local`` or ``dask``.
        prefix: Names the recipe the device comes from (``recipe NAME: ``), empty for the flag.

    Raises:
        UserError: CUDA where there is none (local runs), a malformed spec, or ``auto`` on Dask
            (each worker machine would decide for itself: one benchmark on different hardware).
    """
    try:
        if executor == "local":
            resolve_device(device)  # CUDA where there is none
        elif check_spec(device) == "auto":  # the Dask workers' machines decide whether they have CUDA
            raise UserError("--device auto with --executor dask: say cpu or cuda, so every run gets the same hardware")
    except UserError as e:
        raise UserError(f"{prefix}{e}") from None


# -- writing a benchmark's reports ------------------------------------------------------------------------------------
def _write_bench_reports(store: Path, bench_id: str, out_dir: Path) -> tuple[list[str], dict[str, Any]]:
    """Writes a benchmark's report.html, .md and .json into ``out_dir``.

    Returns:
        Their paths, and the report's numbers (``bench_data``, which a suite report reuses).
    """
    # Imported here, after the input is checked: the report's statistics import scipy (about a second).
    from unified_nas.benchmark.render import BENCH_RENDERERS, write_rendered  # deferred: imports scipy
    from unified_nas.benchmark.summary import bench_data  # deferred: imports scipy

    with ResultsStore(store) as s:
        data = bench_data(s, bench_id)
    return write_rendered(data, BENCH_RENDERERS, out_dir), data


def new_suite_id(name: str) -> str:
    """A new suite's id: ``suite-<date>-<time>-<name>-<4 hex digits>``."""
    return f"suite-{time.strftime('%Y%m%d-%H%M%S')}-{name}-{secrets.token_hex(2)}"


def _save_suite(
    store: Path, runs_dir: Path, name: str, planned: Sequence[Planned], benches: Mapping[str, dict[str, Any]]
) -> tuple[str, list[str]]:
    """Stores the suite and writes its report into ``<runs_dir>/<suite id>/``.

    Args:
        store: The results store.
        runs_dir: Where the suite's folder goes.
        name: The suite's name.
        planned: Its benchmarks as planned (recipe and spec each), in order.
        benches: Each benchmark's ``bench_data`` by id, in the same order (already computed for its report).

    Returns:
        The suite id and the report files.
    """
    from unified_nas.benchmark.suite import write_suite_reports  # deferred: imports scipy

    suite_id = new_suite_id(name)
    out = runs_dir / suite_id
    config = {
        "recipes": [p.item.recipe.name for p in planned],
        "specs": [p.spec.config(p.item.recipe) for p in planned],
        "out_dir": str(out),
    }
    created = time.time()
    bench_ids = list(benches)
    with ResultsStore(store) as s:
        s.save_suite(suite_id, name, bench_ids, config, created)
        return suite_id, write_suite_reports(s, bench_ids, out, created_at=created, benches=benches)


# -- load -------------------------------------------------------------------------------------------------------------
def load(store: PathLike = DEFAULT_STORE) -> Results:
    """Opens an existing results store read-only.

    Args:
        store: The store file.

    Returns:
        A :class:`~unified_nas.results.Results` (``runs()``, ``benchmarks()``, ``suites()``,
        ``run(id)``, ``bench(id)``).

    Raises:
        StoreError: There is no store at ``store`` (none is created), or the file is not a
            unified-nas store.
    """
    _check_path("store", store)
    return Results(ResultsStore(Path(store), readonly=True, create=False))
