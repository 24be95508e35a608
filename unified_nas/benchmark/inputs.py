"""What a benchmark is asked to run: its recipes (one, a list, or a suite file), seeds and backends.

Everything here reads and checks input; nothing is written except the file of a recipe given as
an object (:func:`write_object_file`), and only once the whole input is checked. The argument
checks shared with :func:`unified_nas.api.run` (:func:`check_int`, :func:`check_budget`) are here
too, so both entry points refuse bad input with the same messages.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

from unified_nas.core.errors import RecipeError, UserError
from unified_nas.core.limits import MAX_SEED
from unified_nas.core.text import file_label, shown
from unified_nas.recipe import Recipe, check_name, check_unaltered, load_recipe_text
from unified_nas.recipe.text import parse_recipe_yaml, read_recipe_text
from unified_nas.runs.registry import default_bench_backends
from unified_nas.space.fields import reject_unknown

RecipeLike = Union[str, "os.PathLike[str]", Recipe]

# Seeds per backend when none are asked: a table answers a trial in microseconds, so many seeds
# (and a tight confidence band) cost little; a trained recipe pays for every seed in training.
TABLE_SEEDS = 10
TRAINED_SEEDS = 2
SUITE_FIELDS = ("name", "recipes")
MAX_SUITE_RECIPES = 100  # a suite is hand-written; each entry is loaded and checked before anything runs
UNNAMED_SUITE = "suite"  # the name of a suite given as a list of recipes


@dataclass(frozen=True)
class BenchInput:
    """One recipe of a benchmark or suite.

    Attributes:
        recipe: The loaded recipe.
        path: Its file (absolute), which the benchmark's worker processes load;
            None for a recipe given as an object (see :func:`object_file`).
    """

    recipe: Recipe
    path: str | None


# -- argument checks (shared with unified_nas.api.run) -----------------------------------------------------------------
def check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    """Refuses a non-integer or an integer outside ``low..high``.

    Args:
        name: The argument's name, for the message.
        value: What the caller gave.
        low: The smallest value accepted.
        high: The largest value accepted (None: no limit).

    Raises:
        UserError: Naming ``name``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{name}: {shown(value)} is not an integer")
    if value < low or (high is not None and value > high):
        raise UserError(f"{name}: {value} is not in {low}..{'' if high is None else high}")


def check_budget(trials: int | None, time_s: float | None) -> None:
    """The budget overrides a caller may give: a trial count >= 1, a finite time > 0.

    Args:
        trials: Trial budget, or None (the recipe's).
        time_s: Wall-clock budget in seconds, or None (the recipe's).

    Raises:
        UserError: Naming the argument.
    """
    if trials is not None:
        check_int("trials", trials, 1)
    if time_s is not None:
        if isinstance(time_s, bool) or not isinstance(time_s, (int, float)):
            raise UserError(f"time_s: {shown(time_s)} is not a number")
        if not time_s > 0 or math.isinf(time_s):  # also refuses nan
            raise UserError(f"time_s: {time_s} is not a finite number > 0")


# -- seeds and backends -------------------------------------------------------------------------------------------------
def default_seed_count(recipe: Recipe) -> int:
    """Seeds per backend of a benchmark when none are asked.

    Args:
        recipe: The recipe.

    Returns:
        :data:`TABLE_SEEDS` (10) for a recipe that trains nothing (a table or a proxy scores its trials:
        a trial costs milliseconds), else :data:`TRAINED_SEEDS` (2), a supernet recipe included (each run
        trains its supernet).
    """
    return TRAINED_SEEDS if recipe.evaluation.runs_train else TABLE_SEEDS


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
        check_int("seeds", count, 1)
        if recipe.seed + count - 1 > MAX_SEED:
            raise UserError(f"--seeds: seeds {recipe.seed}..{recipe.seed + count - 1} go past {MAX_SEED}")
        return tuple(recipe.seed + i for i in range(count))
    chosen = tuple(seeds)
    for s in chosen:
        check_int("seeds", s, 0, MAX_SEED)
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
        backends = default_bench_backends()
    names = backends.split(",") if isinstance(backends, str) else list(backends)
    out = tuple(str(b).strip() for b in names if str(b).strip())
    if not out or len(set(out)) != len(out):
        raise UserError(f"--backends: expected distinct comma-separated names, got {shown(backends)}")
    return out


# -- recipe and suite files ---------------------------------------------------------------------------------------------
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

    reject_unknown("", raw, SUITE_FIELDS)
    name = check_name(raw, path.stem)
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
    """What :func:`unified_nas.api.bench` is asked to run: one recipe, or a suite.

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


# -- recipes given as objects ---------------------------------------------------------------------------------------------
def object_file(recipe: Recipe, runs_dir: Path) -> Path:
    """Where a recipe given as an object is written for the benchmark's workers, which load a file.

    In a folder named by the recipe's content, so ``resume`` finds the same file (and benchmark)
    again; the file is named by the recipe, which is its name when it has no ``name:`` field.

    Args:
        recipe: The recipe object.
        runs_dir: The benchmark's runs directory.

    Returns:
        The absolute path (not written here: see :func:`write_object_file`).
    """
    return (runs_dir / "recipes" / recipe.content_hash / f"{recipe.name}.yaml").resolve()


def write_object_file(recipe: Recipe, file: Path) -> None:
    """Writes a recipe object's text for the workers (only once every input is checked).

    Args:
        recipe: The recipe object.
        file: Its :func:`object_file` (its folder is created).

    Raises:
        OSError: The file cannot be written.
    """
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(recipe.source)


def check_recipe_object(recipe: Recipe) -> None:
    """A Recipe object can be benchmarked if its text alone gives it back (workers load it from a file).

    :func:`unified_nas.recipe.check_unaltered`, and no data path relative to its folder.

    Args:
        recipe: The recipe object.

    Raises:
        UserError: It was built without its YAML text, or reads data from a path
            relative to its folder (the workers would look elsewhere).
    """
    check_unaltered(recipe, "bench")
    if recipe.data is not None and recipe.data.path and not Path(recipe.data.path).is_absolute():
        raise UserError(
            f"bench: recipe {recipe.name} reads data.path {recipe.data.path!r} relative to its folder; "
            "pass the recipe's file path"
        )
