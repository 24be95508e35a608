"""The reference backend: uniform random (or exhaustive) search over the IR, with no toolkit.

It exists to check the backend contract in seconds: the behaviour suite
(:mod:`unified_nas.testing.behaviour`) runs on it without NNI, Optuna or
AutoKeras installed, and a failure there is a bug of the core, not of a
toolkit. It is also the smallest complete example of a backend: one folder
and one entry-point line in ``pyproject.toml``
(``reference = "unified_nas.backends.reference:Backend"``), no edit of a core
module. Samples come from the IR's own helpers
(:func:`~unified_nas.space.random_sample`,
:func:`~unified_nas.space.enumerate_samples`), so they are canonical by
construction; every sample is scored by ``ctx.evaluate`` with the shared
trainer (or the run's table).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unified_nas.backends.base import Backend as BaseBackend
from unified_nas.backends.base import Capabilities, Options, Strategy
from unified_nas.backends.reference.search import NativeTrial, normalize_trial, run_search
from unified_nas.core.errors import Gap, RecipeError
from unified_nas.space import ParamDecl  # at run time: the class's generic base names it

if TYPE_CHECKING:
    from unified_nas.recipe import Recipe
    from unified_nas.report.records import TrialRecord
    from unified_nas.runs.context import RunContext


class Backend(BaseBackend[tuple[ParamDecl, ...], NativeTrial]):
    """Uniform random search (``random``) and exhaustive search (``grid``) over the recipe's IR."""

    name = "reference"
    # No toolkit of its own: the version reported is unified-nas's.
    toolkit = "unified-nas"
    capabilities = Capabilities(
        space_kinds=frozenset({"macro", "cell", "dense_cell"}), pruning=False, time_budget=True, pruners=("none",)
    )
    strategies = {
        s.name: s
        for s in (
            # Neither looks at scores, so any number of objectives is fine (the runner computes the Pareto front).
            Strategy(
                "random",
                "uniform random over the IR (unified_nas.space.random_sample)",
                multi_objective=True,
                default_first=True,
            ),
            Strategy(
                "grid",
                "every sample once, in declaration order (unified_nas.space.enumerate_samples)",
                multi_objective=True,
                finite_only=True,
                default_first=True,
            ),
        )
    }
    default_strategy = "random"
    # No toolkit to require: training uses the shared torch trainer, which only training recipes need
    # (a table recipe runs without torch), so torch is checked per recipe in ``gaps``, not here.
    requires = ()
    packages = ("torch",)
    # A contract check, not a NAS toolkit: `unas bench` compares it only when asked by name.
    in_default_bench = False

    def gaps(self, recipe: Recipe, options: Options) -> list[Gap]:
        """The generic checks of the capability data, plus torch for recipes that train.

        Args:
            recipe: The recipe.
            options: The resolved options.

        Returns:
            Every feature of the recipe this backend cannot serve.
        """
        import importlib.util

        gaps = super().gaps(recipe, options)
        if recipe.evaluation.has_data and importlib.util.find_spec("torch") is None:
            gaps.append(
                Gap(
                    "training", "toolkit", "the shared trainer and proxies need torch: pip install 'unified-nas[torch]'"
                )
            )
        return gaps

    def prepare(self, options: Options) -> None:
        """Imports the shared trainer (torch) before the run clock starts, if it is installed.

        Args:
            options: The run's options (unused).
        """
        import importlib.util

        if importlib.util.find_spec("torch") is not None:  # a table recipe runs without it
            import unified_nas.evaluation.train.evaluate  # noqa: F401

    def check_arguments(self, recipe: Recipe, options: Options, seed: int, budget: Any) -> None:
        """Refuses any strategy argument: neither strategy takes one.

        Args:
            recipe: The recipe (unused: the strategies have no per-recipe settings).
            options: The resolved options; ``strategy_args`` must be empty.
            seed: The run seed (unused).
            budget: The run's budget (unused).

        Raises:
            RecipeError: Naming ``backends.reference.strategy_args`` and the unknown keys.
        """
        if options.strategy_args:
            keys = ", ".join(sorted(map(str, options.strategy_args)))
            raise RecipeError(
                f"backends.{self.name}.strategy_args", f"{options.strategy} takes no arguments (got {keys})"
            )

    def translate(self, ctx: RunContext) -> tuple[ParamDecl, ...]:
        """The IR's flat declarations are the native space: nothing to translate."""
        return ctx.recipe.space.decls()

    def run(self, space: tuple[ParamDecl, ...], ctx: RunContext, report: Callable[[NativeTrial], None]) -> None:
        """Runs the search: see :func:`unified_nas.backends.reference.search.run_search`."""
        run_search(space, ctx, report)

    def normalize(self, native_trial: NativeTrial, ctx: RunContext) -> TrialRecord:
        """A finished trial -> its record: see :func:`unified_nas.backends.reference.search.normalize_trial`."""
        return normalize_trial(native_trial, ctx)
