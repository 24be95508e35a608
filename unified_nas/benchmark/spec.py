"""What a benchmark runs (:class:`BenchSpec`: everything that must match for ``--resume``) and its first checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from unified_nas.core.errors import UserError
from unified_nas.recipe import Recipe
from unified_nas.runs.registry import get_backend
from unified_nas.runs.runner import check_data_fits
from unified_nas.tables.recipes import load_recipe_data


@dataclass(frozen=True)
class BenchSpec:
    """What to benchmark (everything that must match for ``--resume``)."""

    recipe_path: str
    backends: tuple[str, ...]
    seeds: tuple[int, ...]
    trials: int | None
    time_s: float | None
    strategies: dict[str, str] = field(default_factory=dict)
    retrain: int = 0
    default_first: bool = False  # every run's trial 0 is the recipe's start point (the common option)

    def config(self, recipe: Recipe) -> dict[str, Any]:
        d = asdict(self)
        d["recipe_hash"] = recipe.content_hash
        d["backends"], d["seeds"] = list(self.backends), list(self.seeds)
        return d


def check_backends(recipe: Recipe, spec: BenchSpec) -> None:
    """Every backend exists, is installed and can serve the recipe, before any run starts.

    Raises:
        UserError: The first problem, naming the backend.
    """

    if spec.retrain and not recipe.evaluation.has_data:
        raise UserError(
            f"--retrain: recipe {recipe.name} is evaluated by table {recipe.evaluation.table}; "
            "there is no data to retrain its incumbents on"
        )
    unknown = set(spec.strategies) - set(spec.backends)
    if unknown:
        raise UserError(f"--strategy names backend(s) not benchmarked: {', '.join(sorted(unknown))}")
    for name in spec.backends:
        backend = get_backend(name)
        overrides = {"strategy": spec.strategies.get(name), "default_first": spec.default_first or None}
        backend.check(recipe, backend.options(recipe, overrides))
    check_data_fits(recipe, load_recipe_data(recipe))
