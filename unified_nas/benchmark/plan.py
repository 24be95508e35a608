"""A benchmark's plan: every recipe checked against every backend, and each benchmark's spec, before anything runs.

:func:`plan_benches` turns the checked input of :mod:`unified_nas.benchmark.inputs` into one
:class:`Planned` benchmark per recipe; :func:`check_resumable` checks that ``resume`` has
something to continue. Neither writes anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from unified_nas.benchmark.inputs import BenchInput, bench_seeds, check_recipe_object, object_file
from unified_nas.benchmark.orchestrate import resumable_bench
from unified_nas.benchmark.preflight import check_benches
from unified_nas.benchmark.spec import BenchSpec, check_backends
from unified_nas.core.errors import UserError
from unified_nas.report.store import ResultsStore

if TYPE_CHECKING:
    from unified_nas.benchmark.spec import BenchSpec


@dataclass(frozen=True)
class Planned:
    """A benchmark checked and ready to start.

    Attributes:
        item: Its recipe.
        spec: What it runs (``spec.recipe_path`` is the file the workers load).
    """

    item: BenchInput
    spec: BenchSpec


def plan_benches(
    inputs: Sequence[BenchInput],
    runs_dir: Path,
    backends: tuple[str, ...],
    seeds: int | Sequence[int] | None,
    trials: int | None,
    time_s: float | None,
    strategies: Mapping[str, str],
    retrain: int,
    default_first: bool = False,
) -> list[Planned]:
    """Checks every recipe with every backend and builds each benchmark's spec, before anything runs.

    Args:
        inputs: The recipes (:func:`~unified_nas.benchmark.inputs.read_bench_inputs`).
        runs_dir: Where run directories go (a recipe object's file goes below it).
        backends: The backends compared.
        seeds: As :func:`~unified_nas.benchmark.inputs.bench_seeds` takes them, per recipe.
        trials: Trial budget per run (None: the recipe's).
        time_s: Wall-clock budget per run (None: the recipe's).
        strategies: A strategy per backend.
        retrain: Retrains of each incumbent.
        default_first: Every run evaluates the recipe's start point first.

    Returns:
        One :class:`Planned` per recipe, in order.

    Raises:
        UserError: The first problem; for a suite, naming the recipe.
    """

    planned = []
    for item in inputs:
        try:
            if item.path is None:
                check_recipe_object(item.recipe)
            spec = BenchSpec(
                item.path or str(object_file(item.recipe, runs_dir)),
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
        planned.append(Planned(item, spec))
    check_benches([(p.item.recipe, p.spec) for p in planned])  # the toolkits' own checks, one process each
    return planned


def check_resumable(store: Path, planned: Sequence[Planned]) -> None:
    """With ``resume``, every benchmark must have an earlier one to continue, checked before any starts.

    Args:
        store: The results store file (opened read-only).
        planned: The benchmarks to continue.

    Raises:
        UserError: No store, no earlier benchmark of some recipe with these settings, or a recipe whose
            text, data or table changed since its benchmark started (its data is loaded again to tell).
        StoreError: The store cannot be read.
    """

    if not store.is_file():
        raise UserError(f"--resume: no results store at {store}")
    with ResultsStore(store, readonly=True, create=False) as s:
        for p in planned:
            resumable_bench(s, p.item.recipe, p.spec)
