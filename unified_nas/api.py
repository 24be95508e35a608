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
written; unlike it, it raises (:class:`~unified_nas.errors.UserError` for bad
input, :class:`~unified_nas.errors.StoreError` for a store it cannot use)
instead of exiting.

A *suite* is several recipes benchmarked with the same settings, one
benchmark each, compared in one suite report. It is given as a list of
recipes, or as a suite file: YAML with a ``recipes:`` list of recipe paths
(relative to the suite file) and an optional ``name:``.
"""

from __future__ import annotations

import math
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Union

from unified_nas.errors import RecipeError, StoreError, UserError
from unified_nas.limits import MAX_SEED
from unified_nas.recipe import Recipe, _check_name, load_recipe_text
from unified_nas.recipe_text import file_label, parse_recipe_yaml, read_recipe_text, shown
from unified_nas.report.store import DEFAULT_STORE, ResultsStore

if TYPE_CHECKING:
    import pandas as pd

    from unified_nas.bench.orchestrate import BenchSpec
    from unified_nas.report.records import RunReport

RecipeLike = Union[str, "os.PathLike[str]", Recipe]
PathLike = Union[str, "os.PathLike[str]"]
T = TypeVar("T")

# Seeds per backend when none are asked: a table answers a trial in microseconds, so many seeds
# (and a tight confidence band) cost little; a trained recipe pays for every seed in training.
TABLE_SEEDS = 10
TRAINED_SEEDS = 2
SUITE_FIELDS = ("name", "recipes")
MAX_SUITE_RECIPES = 100  # a suite is hand-written; each entry is loaded and checked before anything runs
UNNAMED_SUITE = "suite"  # the name of a suite given as a list of recipes


# -- shared checks and defaults (the CLI uses these too) ----------------------------------------------------------
def default_runs_dir(store: PathLike) -> Path:
    """Where run directories and reports go when not told: ``unas-runs/`` beside the store."""
    return Path(store).resolve().parent / "unas-runs"


def default_seed_count(recipe: Recipe) -> int:
    """Seeds per backend of a benchmark when none are asked: 10 for a table recipe, else 2."""
    return TRAINED_SEEDS if recipe.evaluation.trains else TABLE_SEEDS


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    """Refuses a non-integer or an integer outside ``low..high``.

    Raises:
        UserError: Naming ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{name}: {shown(value)} is not an integer")
    if value < low or (high is not None and value > high):
        raise UserError(f"{name}: {value} is not in {low}..{'' if high is None else high}")


def _check_budget(trials: int | None, time_s: float | None) -> None:
    """The budget overrides a caller may give: a trial count >= 1, a finite time > 0.

    Raises:
        UserError: Naming the argument.
    """
    if trials is not None:
        _check_int("trials", trials, 1)
    if time_s is not None:
        if isinstance(time_s, bool) or not isinstance(time_s, (int, float)):
            raise UserError(f"time_s: {shown(time_s)} is not a number")
        if not time_s > 0 or math.isinf(time_s):  # also refuses nan
            raise UserError(f"time_s: {time_s} is not a finite number > 0")


def bench_seeds(recipe: Recipe, seeds: int | Sequence[int] | None) -> tuple[int, ...]:
    """The seeds of a benchmark of ``recipe``.

    Args:
        recipe: The recipe (its ``seed`` is the first seed).
        seeds: A count (the recipe's seed and the ones after it), explicit seeds,
            or None for :func:`default_seed_count`.

    Returns:
        The seeds, in order.

    Raises:
        UserError: A count below 1, seeds past the 32-bit range, or repeated seeds.
    """
    if seeds is None or isinstance(seeds, int):
        count = default_seed_count(recipe) if seeds is None else seeds
        _check_int("seeds", count, 1)
        if recipe.seed + count - 1 > MAX_SEED:
            raise UserError(f"--seeds: seeds {recipe.seed}..{recipe.seed + count - 1} go past {MAX_SEED}")
        return tuple(recipe.seed + i for i in range(count))
    chosen = tuple(seeds)
    for s in chosen:
        _check_int("seeds", s, 0, MAX_SEED)
    if not chosen or len(set(chosen)) != len(chosen):
        raise UserError(f"seeds: expected distinct seeds, got {list(chosen)}")
    return chosen


def bench_backends(backends: str | Sequence[str] | None) -> tuple[str, ...]:
    """The backends a benchmark compares.

    Args:
        backends: Names, or one comma-separated string; None: every installed
            backend that benchmarks by default (see ``unas backends``).

    Returns:
        Distinct names, in the order given.

    Raises:
        UserError: No name, or a name repeated.
    """
    if backends is None:
        from unified_nas.registry import default_bench_backends

        backends = default_bench_backends()
    names = backends.split(",") if isinstance(backends, str) else list(backends)
    out = tuple(str(b).strip() for b in names if str(b).strip())
    if not out or len(set(out)) != len(out):
        raise UserError(f"--backends: expected distinct comma-separated names, got {shown(backends)}")
    return out


def _as_recipe(recipe: RecipeLike) -> Recipe:
    """A recipe object, loading it if a path was given.

    Raises:
        RecipeError: The file cannot be read or is not a valid recipe.
    """
    if isinstance(recipe, Recipe):
        return recipe
    from unified_nas.recipe import load_recipe

    return load_recipe(Path(recipe))


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
    threads: int | None = None,
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
        threads: Framework threads (torch, TensorFlow, OpenMP); None: the available cores.
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
    from unified_nas.runner import run_recipe

    _check_budget(trials, time_s)
    if seed is not None:
        _check_int("seed", seed, 0, MAX_SEED)
    if threads is not None:
        _check_int("threads", threads, 1)
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
    )


# -- reading what a benchmark is asked to run -------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchInput:
    """One recipe of a benchmark or suite.

    Attributes:
        recipe: The loaded recipe.
        path: Its file (absolute), which the benchmark's worker processes load;
            None for a recipe given as an object (see :func:`_object_file`).
    """

    recipe: Recipe
    path: str | None


def _read_yaml(path: Path) -> tuple[str, Any]:
    """The text of a recipe or suite file and its parsed YAML (the safe, limited reader of recipes).

    Raises:
        RecipeError: It cannot be read, or is not YAML within the limits.
    """
    text = read_recipe_text(path)
    return text, parse_recipe_yaml(text, path.name)


def _is_suite(raw: Any) -> bool:
    # A recipe has no `recipes` field (it would be refused as unknown), so this tells the two apart.
    return isinstance(raw, Mapping) and "recipes" in raw


def _load_file_recipe(path: Path, text: str) -> BenchInput:
    recipe = load_recipe_text(text, str(path.parent.resolve()), path.stem, path.name)
    return BenchInput(recipe, str(path.resolve()))


def read_suite(path: Path, raw: Mapping[str, Any]) -> tuple[str, list[BenchInput]]:
    """Validates a suite file and loads every recipe it lists.

    A suite file is YAML with ``recipes:``, a list of recipe files (relative to
    the suite file's folder unless absolute), and an optional ``name:`` (default:
    the file's stem; the same rule as a recipe's name).

    Args:
        path: The suite file.
        raw: Its parsed YAML.

    Returns:
        The suite's name and its recipes, in the order listed.

    Raises:
        RecipeError: Naming the field (``name``, ``recipes``, ``recipes[2]``) and,
            for a recipe that cannot be loaded, the recipe's own error.
    """
    from unified_nas.space.parse import reject_unknown

    reject_unknown("", raw, SUITE_FIELDS)
    name = _check_name(raw, path.stem)
    entries = raw["recipes"]
    if not isinstance(entries, list) or len(entries) < 2:  # a suite compares recipes: one is a benchmark
        raise RecipeError("recipes", "expected a list of 2 or more recipe files")
    if len(entries) > MAX_SUITE_RECIPES:
        raise RecipeError("recipes", f"{len(entries)} recipes; a suite has at most {MAX_SUITE_RECIPES}")
    inputs: list[BenchInput] = []
    seen: dict[Path, int] = {}
    for i, entry in enumerate(entries):
        where = f"recipes[{i}]"
        if not isinstance(entry, str) or not entry or "\0" in entry:
            raise RecipeError(where, f"{shown(entry)} is not a file path")
        file = (path.parent / entry).resolve()
        if file in seen:
            raise RecipeError(where, f"{file_label(entry)} is listed already (recipes[{seen[file]}])")
        seen[file] = i
        try:
            text, sub = _read_yaml(file)
            if _is_suite(sub):
                raise RecipeError("", "is a suite file; a suite lists recipe files")
            inputs.append(_load_file_recipe(file, text))
        except RecipeError as e:
            raise RecipeError(where, f"{file_label(entry)}: {e}") from None
    return name, inputs


def read_bench_inputs(recipes: RecipeLike | Sequence[RecipeLike]) -> tuple[str | None, list[BenchInput]]:
    """What :func:`bench` is asked to run: one recipe, or a suite.

    Args:
        recipes: A recipe (file or object), a suite file, or a list of recipes.

    Returns:
        The suite's name (None for a single recipe; ``suite`` for an unnamed
        list) and the recipes.

    Raises:
        RecipeError: A file cannot be read, a recipe or the suite file is invalid,
            or a list holds a suite file.
        UserError: An empty list, or two recipes of one name.
    """
    items: list[RecipeLike] = [recipes] if isinstance(recipes, (str, os.PathLike, Recipe)) else list(recipes)
    if not items:
        raise UserError("bench needs at least one recipe")
    suite: str | None = None if len(items) == 1 else UNNAMED_SUITE
    inputs: list[BenchInput] = []
    for item in items:
        if isinstance(item, Recipe):
            inputs.append(BenchInput(item, None))
            continue
        path = Path(item)
        try:
            text, raw = _read_yaml(path)
            if _is_suite(raw):
                if len(items) > 1:
                    raise RecipeError("", "is a suite file; give one suite file, or recipe files")
                suite, listed = read_suite(path, raw)
                inputs.extend(listed)
            else:
                inputs.append(_load_file_recipe(path, text))
        except RecipeError as e:
            if len(items) == 1:
                raise
            raise RecipeError("", f"{file_label(path)}: {e}") from None
    _refuse_same_names(inputs)
    return suite, inputs


def _refuse_same_names(inputs: Sequence[BenchInput]) -> None:
    """Two recipes of one name would be one row of a suite report.

    Raises:
        UserError: Naming the recipe.
    """
    names = [i.recipe.name for i in inputs]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        raise UserError(f"recipes: two recipes are named {twice}; the recipes of a suite need distinct names")


def _object_file(recipe: Recipe, runs_dir: Path) -> Path:
    """Where a recipe given as an object is written for the benchmark's workers, which load a file.

    In a folder named by the recipe's content, so ``resume`` finds the same file (and benchmark)
    again; the file is named by the recipe, which is its name when it has no ``name:`` field.
    """
    return (runs_dir / "recipes" / recipe.content_hash / f"{recipe.name}.yaml").resolve()


def _write_object_file(recipe: Recipe, file: Path) -> None:
    """Writes a recipe object's text for the workers (only once every input is checked)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(recipe.source)


def _check_recipe_object(recipe: Recipe) -> None:
    """A Recipe object can be benchmarked if its text alone gives it back (workers load it from a file).

    Raises:
        UserError: It was built without its YAML text, or reads data from a path
            relative to its folder (the workers would look elsewhere).
    """
    try:
        again = load_recipe_text(recipe.source, recipe.base_dir, recipe.name, f"recipe {recipe.name}")
    except RecipeError:
        again = None
    if again != recipe:
        raise UserError(
            f"bench: recipe {recipe.name} was not made from its YAML text (parse_recipe(..., source=text)); "
            "pass the recipe's file path"
        )
    if recipe.data is not None and recipe.data.path and not Path(recipe.data.path).is_absolute():
        raise UserError(
            f"bench: recipe {recipe.name} reads data.path {recipe.data.path!r} relative to its folder; "
            "pass the recipe's file path"
        )


# -- bench ------------------------------------------------------------------------------------------------------------
@dataclass
class Benchmark:
    """A benchmark, or a suite of benchmarks (one per recipe), stored in a results store.

    Attributes:
        store: The results store file.
        bench_ids: The benchmark ids, in recipe order (one unless a suite).
        reports: Each benchmark's report files (report.html, .md, .json).
        suite_id: The suite's id (None for a single benchmark).
        suite_reports: The suite report's files.
    """

    store: Path
    bench_ids: list[str]
    reports: dict[str, list[str]] = field(default_factory=dict)
    suite_id: str | None = None
    suite_reports: list[str] = field(default_factory=list)
    _data: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def id(self) -> str:
        """The suite id of a suite, else the benchmark id (what ``unas report`` takes)."""
        return self.suite_id or self.bench_ids[0]

    @property
    def data(self) -> dict[str, Any]:
        """The report's numbers, JSON-ready (read from the store on first use).

        For one benchmark: :func:`unified_nas.bench.summary.bench_data`. For a
        suite: ``{"suite_id", "suite": <the suite report's data>, "benchmarks":
        {bench_id: bench_data}}``.
        """
        if self._data is None:
            self._data = _read_store(self.store, self._collect)
        return self._data

    def _collect(self, store: ResultsStore) -> dict[str, Any]:
        from unified_nas.bench.summary import bench_data

        benches = {b: bench_data(store, b) for b in self.bench_ids}
        if self.suite_id is None:
            return benches[self.bench_ids[0]]
        from unified_nas.bench.suite import suite_data

        return {"suite_id": self.suite_id, "suite": suite_data(store, self.bench_ids), "benchmarks": benches}

    def to_pandas(self) -> pd.DataFrame:
        """One row per run (the last attempt of each recipe, backend and seed).

        Columns: ``bench_id``, ``recipe``, ``backend``, ``seed``, ``run_id``,
        ``status``, ``strategy``, ``metric`` (the first objective), ``score``
        (the incumbent's value of it, chosen on validation), the incumbent's
        ``val_accuracy``, ``test_accuracy`` (trained recipes), ``true_accuracy``
        (table recipes: the table's mean accuracy over its recorded seeds),
        ``retrain_test_accuracy`` (``retrain``), ``params`` and ``flops``; the
        run's ``trials``, ``complete``, ``pruned``, ``failed``, ``wall_s``,
        ``simulated_s`` (table recipes), ``time_to_target_s``, ``error``.

        Returns:
            A ``pandas.DataFrame``.

        Raises:
            UserError: pandas is not installed (``pip install 'unified-nas[pandas]'``).
        """
        from unified_nas.report.records import require_pandas

        pd = require_pandas()
        benches = self.data["benchmarks"] if self.suite_id else {self.bench_ids[0]: self.data}
        rows = [_run_row(d, r) for d in benches.values() for r in d["runs"]]
        return pd.DataFrame(rows, columns=list(_run_row({}, {})))

    def incomplete(self) -> list[str]:
        """The runs that did not complete (``recipe backend seed N: status``), read from the store."""

        def collect(store: ResultsStore) -> list[str]:
            recipes = {bid: recipe for bid, recipe, _ in store.list_benches()}
            return [
                f"{recipes.get(b, b)} {backend} seed {seed}: {r['status']}"
                for b in self.bench_ids
                for (backend, seed), r in store.latest_bench_runs(b).items()
                if r["status"] != "complete"
            ]

        return _read_store(self.store, collect)


def _run_row(d: Mapping[str, Any], r: Mapping[str, Any]) -> dict[str, Any]:
    """One run of a benchmark's data as a flat row (:meth:`Benchmark.to_pandas`)."""
    inc = r.get("incumbent") or {}
    spent = r.get("budget_spent") or {}
    retrain = r.get("retrain") or {}
    return {
        "bench_id": d.get("bench_id"),
        "recipe": (d.get("recipe") or {}).get("name"),
        "backend": r.get("backend"),
        "seed": r.get("seed"),
        "run_id": r.get("run_id"),
        "status": r.get("status"),
        "strategy": r.get("strategy"),
        "metric": d.get("metric"),
        "score": (inc.get("objectives") or [None])[0],
        "val_accuracy": inc.get("val_accuracy"),
        "test_accuracy": inc.get("test_accuracy"),
        "true_accuracy": inc.get("true_accuracy"),
        "retrain_test_accuracy": retrain.get("mean"),
        "params": inc.get("params"),
        "flops": inc.get("flops"),
        "trials": spent.get("trials"),
        "complete": spent.get("complete"),
        "pruned": spent.get("pruned"),
        "failed": spent.get("failed"),
        "wall_s": spent.get("wall_s"),
        "simulated_s": spent.get("simulated_s"),
        "time_to_target_s": r.get("time_to_target_s"),
        "error": r.get("error"),
    }


def _read_store(path: Path, read: Callable[[ResultsStore], T]) -> T:
    """``read(store)`` on the store opened read-only, closed after."""
    store = ResultsStore(path, readonly=True, create=False)
    try:
        return read(store)
    finally:
        store.close()


@dataclass(frozen=True)
class _Planned:
    """A benchmark checked and ready to start."""

    item: BenchInput
    spec: BenchSpec


def _plan_benches(
    inputs: Sequence[BenchInput],
    runs_dir: Path,
    backends: tuple[str, ...],
    seeds: int | Sequence[int] | None,
    trials: int | None,
    time_s: float | None,
    strategies: Mapping[str, str],
    retrain: int,
    default_first: bool = False,
) -> list[_Planned]:
    """Checks every recipe with every backend and builds each benchmark's spec, before anything runs.

    Raises:
        UserError: The first problem; for a suite, naming the recipe.
    """
    from unified_nas.bench.orchestrate import BenchSpec, check_backends

    planned = []
    for item in inputs:
        try:
            if item.path is None:
                _check_recipe_object(item.recipe)
            spec = BenchSpec(
                item.path or str(_object_file(item.recipe, runs_dir)),
                backends,
                bench_seeds(item.recipe, seeds),
                trials,
                time_s,
                dict(strategies),
                retrain,
                default_first,
            )
            check_backends(item.recipe, spec)
        except UserError as e:
            if len(inputs) == 1:
                raise
            raise UserError(f"recipe {item.recipe.name}: {e}") from None
        planned.append(_Planned(item, spec))
    return planned


def _check_resumable(store: Path, planned: Sequence[_Planned]) -> None:
    """With ``resume``, every benchmark must have an earlier one to continue, checked before any starts.

    Raises:
        UserError: No store, or no earlier benchmark of some recipe with these settings.
    """
    from unified_nas.bench.orchestrate import resumable_bench

    if not store.is_file():
        raise UserError(f"--resume: no results store at {store}")

    def check(s: ResultsStore) -> None:
        for p in planned:
            resumable_bench(s, p.item.recipe, p.spec)

    _read_store(store, check)


def bench(
    recipes: RecipeLike | Sequence[RecipeLike],
    *,
    backends: str | Sequence[str] | None = None,
    seeds: int | Sequence[int] | None = None,
    trials: int | None = None,
    time_s: float | None = None,
    strategies: Mapping[str, str] | None = None,
    jobs: int = 1,
    threads: int | None = None,
    retrain: int = 0,
    default_first: bool = False,
    resume: bool = False,
    store: PathLike = DEFAULT_STORE,
    runs_dir: PathLike | None = None,
    progress: bool = True,
) -> Benchmark:
    """Benchmarks recipes across backends and seeds (``unas bench``) and writes the reports.

    One recipe gives one benchmark. Several recipes, or a suite file, give a
    suite: one benchmark per recipe with the same settings, then a suite report
    comparing them, in ``<runs_dir>/<suite id>/``. Every recipe is loaded and
    every backend checked against every recipe before the first run starts, so
    bad input writes nothing. Each run is its own process.

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
        threads: Framework threads per run; None: the available cores divided by ``jobs``.
        retrain: Retrain each incumbent this many times from scratch for its test accuracy.
        default_first: Every run evaluates the recipe's start point first (each parameter's
            ``default:``, else its neutral value), so all backends start at the same place.
        resume: Continue the latest benchmark(s) with the same settings; finished runs are kept.
        store: The results store file (created if missing, unless resuming).
        runs_dir: Where run directories and reports go; default ``unas-runs/`` beside the store.
        progress: Print the live view of the runs on stderr.

    Returns:
        The :class:`Benchmark`: ids, report files, ``data`` and ``to_pandas()``.
        Runs that failed are kept in it: see :meth:`Benchmark.incomplete`.

    Raises:
        RecipeError: A recipe or suite file cannot be read or is invalid (nothing is written).
        UserError: Other bad input: backends, seeds, budget, strategies, a backend that
            cannot serve a recipe, ``resume`` with nothing to resume (nothing is written).
        StoreError: The store cannot be created or written.
        KeyboardInterrupt: The benchmark was interrupted (finished runs are kept).
    """
    from unified_nas.bench.orchestrate import run_bench
    from unified_nas.runner import check_creatable

    _check_budget(trials, time_s)
    _check_int("jobs", jobs, 1)
    _check_int("retrain", retrain, 0)
    if threads is not None:
        _check_int("threads", threads, 1)
    suite, inputs = read_bench_inputs(recipes)
    store_path = Path(store)
    runs = Path(runs_dir) if runs_dir is not None else default_runs_dir(store_path)
    planned = _plan_benches(
        inputs, runs, bench_backends(backends), seeds, trials, time_s, strategies or {}, retrain, default_first
    )
    check_creatable(runs)
    if resume:
        _check_resumable(store_path, planned)
    # Everything is checked: from here on files are written.
    result = Benchmark(store_path, [])
    for p in planned:
        if p.item.path is None:
            _write_object_file(p.item.recipe, Path(p.spec.recipe_path))
        bench_id = run_bench(
            p.item.recipe, p.spec, store_path, runs, jobs, resume, progress, threads=threads, checked=True
        )
        result.bench_ids.append(bench_id)
        result.reports[bench_id] = _write_bench_reports(store_path, bench_id, runs / bench_id)
    if suite is not None:
        result.suite_id, result.suite_reports = _save_suite(store_path, runs, suite, planned, result.bench_ids)
    return result


def _write_bench_reports(store: Path, bench_id: str, out_dir: Path) -> list[str]:
    """Writes a benchmark's report.html, .md and .json into ``out_dir``; returns their paths."""
    # Imported here, after the input is checked: the report's statistics import scipy (about a second).
    from unified_nas.bench.render import write_reports

    return _write_with(store, lambda s: write_reports(s, bench_id, out_dir))


def _write_with(store: Path, write: Callable[[ResultsStore], T]) -> T:
    """``write(store)`` on the store opened for writing, closed after."""
    s = ResultsStore(store)
    try:
        return write(s)
    finally:
        s.close()


def new_suite_id(name: str) -> str:
    return f"suite-{time.strftime('%Y%m%d-%H%M%S')}-{name}-{secrets.token_hex(2)}"


def _save_suite(
    store: Path, runs_dir: Path, name: str, planned: Sequence[_Planned], bench_ids: list[str]
) -> tuple[str, list[str]]:
    """Stores the suite and writes its report into ``<runs_dir>/<suite id>/``.

    Returns:
        The suite id and the report files.
    """
    from unified_nas.bench.suite import write_suite_reports

    suite_id = new_suite_id(name)
    out = runs_dir / suite_id
    config = {
        "recipes": [p.item.recipe.name for p in planned],
        "specs": [p.spec.config(p.item.recipe) for p in planned],
        "out_dir": str(out),
    }

    def write(s: ResultsStore) -> list[str]:
        s.save_suite(suite_id, name, bench_ids, config, time.time())
        return write_suite_reports(s, bench_ids, out)

    return suite_id, _write_with(store, write)


# -- load -------------------------------------------------------------------------------------------------------------
class Results:
    """A results store opened read-only: runs, benchmarks and suites as Python objects.

    Nothing here writes to the store; use it as a context manager (or call
    :meth:`close`) to release the file.
    """

    def __init__(self, store: ResultsStore) -> None:
        self._store = store
        self.path = store.path

    def __enter__(self) -> Results:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Results({str(self.path)!r})"

    def close(self) -> None:
        self._store.close()

    def runs(self) -> list[dict[str, Any]]:
        """Every stored run, newest first: ``run_id``, ``recipe``, ``backend``, ``status``, ``started_at``.

        ``status`` is ``died`` for a run marked running whose process is gone (as ``unas runs`` shows).
        """
        from unified_nas.lifecycle import shown_status

        return [
            {
                "run_id": rid,
                "recipe": recipe,
                "backend": backend,
                "status": shown_status(status, owner),
                "started_at": t,
            }
            for rid, recipe, backend, status, t, owner in self._store.list_runs()
        ]

    def benchmarks(self) -> list[dict[str, Any]]:
        """Every stored benchmark, newest first: ``bench_id``, ``recipe``, ``created_at``, ``backends``, ``seeds``."""
        out = []
        for bid, recipe, created in self._store.list_benches():
            config = self._store.bench(bid)[1]
            out.append(
                {
                    "bench_id": bid,
                    "recipe": recipe,
                    "created_at": created,
                    "backends": config.get("backends"),
                    "seeds": config.get("seeds"),
                }
            )
        return out

    def suites(self) -> list[dict[str, Any]]:
        """Every stored suite, newest first: ``suite_id``, ``name``, ``created_at``, ``bench_ids``."""
        out = []
        for sid, name, created in self._store.list_suites():
            out.append(
                {"suite_id": sid, "name": name, "created_at": created, "bench_ids": self._store.suite(sid)["bench_ids"]}
            )
        return out

    def run(self, run_id: str = "latest") -> RunReport:
        """A stored run's full report.

        Args:
            run_id: A run id, a unique prefix, or ``latest``.

        Raises:
            StoreError: Nothing or more than one run matches.
        """
        from unified_nas.lifecycle import shown_status

        report = self._store.load_run(run_id)
        report.status = shown_status(report.status, report.process)
        return report

    def bench(self, bench_id: str = "latest") -> Benchmark:
        """A stored benchmark, or suite (ids starting ``suite-``).

        Args:
            bench_id: A benchmark or suite id, a unique prefix, or ``latest`` (benchmark).

        Raises:
            StoreError: Nothing or more than one matches.
        """
        if bench_id.startswith("suite-"):
            return self.suite(bench_id)
        bid = self._store.bench(bench_id)[0]
        return Benchmark(self.path, [bid], {bid: self._report_files(bid)})

    def suite(self, suite_id: str = "latest") -> Benchmark:
        """A stored suite (its benchmarks and report files).

        Raises:
            StoreError: Nothing or more than one matches, or the store holds no suites.
        """
        s = self._store.suite(suite_id)
        out = Path(s["config"].get("out_dir", ""))
        return Benchmark(
            self.path,
            list(s["bench_ids"]),
            {b: self._report_files(b) for b in s["bench_ids"]},
            s["suite_id"],
            _existing(out),
        )

    def _report_files(self, bench_id: str) -> list[str]:
        """The benchmark's report files where ``bench`` wrote them (beside its runs' directories), if still there."""
        for r in self._store.bench_runs(bench_id):
            try:
                run_dir = Path(self._store.load_run(r["run_id"]).run_dir)
            except StoreError:
                continue
            return _existing(run_dir.parent / bench_id)
        return []


def _existing(folder: Path) -> list[str]:
    return [str(p) for p in (folder / f"report.{x}" for x in ("html", "md", "json")) if p.is_file()]


def load(store: PathLike = DEFAULT_STORE) -> Results:
    """Opens an existing results store read-only.

    Args:
        store: The store file.

    Returns:
        A :class:`Results` (``runs()``, ``benchmarks()``, ``suites()``, ``run(id)``, ``bench(id)``).

    Raises:
        StoreError: There is no store at ``store`` (none is created), or the file is not a
            unified-nas store.
    """
    return Results(ResultsStore(Path(store), readonly=True, create=False))
