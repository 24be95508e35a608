"""What only a toolkit can check, checked before a benchmark writes anything: each backend's strategy arguments.

A run refuses bad ``strategy_args`` (an unknown keyword of Optuna's sampler,
NNI's strategy or keras-tuner's oracle) before it writes its run row, by
building its strategy object once the toolkit is imported
(``Backend.prepare`` then ``Backend.check_arguments``). A benchmark's own
process imports no toolkit: each run is a process of its own, and one process
cannot even hold Keras with two Keras backends. So before its first write, a
benchmark starts one short process per backend (:func:`preflight`, all at
once) that does, for every recipe of the benchmark, what a run does before
its first write, and turns the first refusal into the benchmark's one-line
error. Every backend is checked the same way, in a process like its runs'.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from unified_nas.core.errors import UnasError, UserError, one_line
from unified_nas.recipe import Budget, Recipe, load_recipe_text
from unified_nas.runs.registry import get_backend
from unified_nas.runs.threads import thread_environment

if TYPE_CHECKING:
    from unified_nas.benchmark.spec import BenchSpec

# A recipe, its options for one backend, a seed, the trial and wall-clock budgets (None: the recipe's).
Job = tuple[Recipe, Mapping[str, Any], int, int | None, float | None]

MODULE = "unified_nas.benchmark.preflight"


def check_run_arguments(
    recipe: Recipe,
    backend_name: str,
    overrides: Mapping[str, Any],
    seed: int,
    trials: int | None = None,
    time_s: float | None = None,
) -> None:
    """What a run of ``recipe`` on ``backend_name`` checks before writing anything, toolkit included.

    Imports the backend's toolkit (``prepare``): call it in a process that may hold it.

    Args:
        recipe: The recipe.
        backend_name: The backend.
        overrides: Its options as a benchmark gives them (strategy, default_first).
        seed: A seed the runs use.
        trials: The trial budget (None: the recipe's).
        time_s: The wall-clock budget (None: the recipe's).

    Raises:
        UserError, RecipeError: What the run would refuse, naming the field.
    """

    backend = get_backend(backend_name)
    options = backend.options(recipe, dict(overrides))
    backend.check(recipe, options)
    backend.prepare(options)
    budget = Budget(
        trials if trials is not None else recipe.budget.trials,
        time_s if time_s is not None else recipe.budget.time_s,
        recipe.budget.simulated_s,
    )
    backend.check_arguments(recipe, options, seed, budget)


def _job(recipe: Recipe, overrides: Mapping[str, Any], seed: int, trials: int | None, time_s: float | None) -> dict:
    return {
        "text": recipe.source,
        "base_dir": str(recipe.base_dir),
        "name": recipe.name,
        "overrides": dict(overrides),
        "seed": seed,
        "trials": trials,
        "time_s": time_s,
    }


def check_benches(benches: Sequence[tuple[Recipe, BenchSpec]]) -> None:
    """:func:`preflight` for benchmarks: every recipe with every backend it gives strategy arguments.

    Args:
        benches: Each benchmark's recipe and spec (its backends, strategies, seeds and budget).

    Raises:
        UserError: As :func:`preflight`.
    """

    jobs: dict[str, list[Job]] = {}
    for recipe, spec in benches:
        for name in spec.backends:
            overrides = {"strategy": spec.strategies.get(name), "default_first": spec.default_first or None}
            # Without strategy arguments there is nothing only the toolkit can refuse (the strategy
            # names and options were checked already): no process, no toolkit import to pay for.
            if get_backend(name).options(recipe, overrides).toolkit_args:
                jobs.setdefault(name, []).append((recipe, overrides, spec.seeds[0], spec.trials, spec.time_s))
    if jobs:
        preflight(jobs, name_recipes=len({recipe.name for recipe, _ in benches}) > 1)


def preflight(backend_jobs: Mapping[str, Sequence[Job]], name_recipes: bool = False) -> None:
    """Checks every (recipe, options) of every backend in one process per backend, all at once.

    Args:
        backend_jobs: Per backend, the recipes with its options, a seed, the trial and time budgets.
        name_recipes: Prefix a refusal with its recipe's name (a suite of several recipes).

    Raises:
        UserError: The first refusal (in the order of ``backend_jobs``), prefixed with the recipe's
            name if ``name_recipes``.
    """

    env = thread_environment(1)  # the checks build objects only (this process's own setting is left alone)
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in backend_jobs
    }
    answers = {}
    try:
        for name, proc in procs.items():
            payload = {"backend": name, "recipes": [_job(*j) for j in backend_jobs[name]]}
            answers[name] = proc.communicate(json.dumps(payload))
    finally:
        for proc in procs.values():  # Ctrl-C while waiting: no check outlives the benchmark
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for name, (out, err) in answers.items():
        if procs[name].returncode == 0:
            continue
        answer = json.loads(out) if out.strip().startswith("{") else {}
        message = answer.get("error") or (err.strip().splitlines() or ["no output"])[-1]
        if answer.get("recipe") and name_recipes:
            message = f"recipe {answer['recipe']}: {message}"
        raise UserError(message if answer else f"backend {name}: checking its strategy arguments failed: {message}")


def main() -> int:
    """The child: reads its job as JSON on stdin; exit 0, or 2 with ``{"recipe", "error"}`` on stdout."""

    job = json.load(sys.stdin)
    name = None
    try:
        for r in job["recipes"]:
            name = r["name"]
            recipe = load_recipe_text(r["text"], r["base_dir"], r["name"], f"recipe {r['name']}")
            check_run_arguments(recipe, job["backend"], r["overrides"], r["seed"], r["trials"], r["time_s"])
    except UnasError as e:
        print(json.dumps({"recipe": name, "error": one_line(e)}))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
