"""The Optuna backend: define-by-run objectives over the shared PyTorch trainer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import optuna

from unified_nas.backends.base import Backend as BaseBackend
from unified_nas.backends.base import Capabilities, Options, Strategy
from unified_nas.backends.optuna.normalize import normalize_trial
from unified_nas.backends.optuna.run import join_study, make_sampler, run_study
from unified_nas.backends.optuna.shared import RUN_ATTR, check_run_description
from unified_nas.backends.optuna.storage import check_storage_url, open_storage
from unified_nas.backends.optuna.translate import Suggest, make_suggest
from unified_nas.core.errors import Gap, UserError
from unified_nas.runs.options import OptionSpec

if TYPE_CHECKING:
    from unified_nas.recipe import Recipe
    from unified_nas.report.records import TrialRecord
    from unified_nas.runs.context import RunContext

# Our progress output replaces Optuna's per-trial INFO lines.
optuna.logging.set_verbosity(optuna.logging.WARNING)


class Backend(BaseBackend[Suggest, optuna.trial.FrozenTrial]):
    name = "optuna"
    toolkit = "optuna"
    capabilities = Capabilities(
        space_kinds=frozenset({"macro", "cell", "dense_cell"}), pruning=True, pruners=("none", "median", "hyperband")
    )
    # Every sampler takes Optuna's enqueued first trial (study.enqueue_trial): default_first on all.
    strategies = {
        s.name: s
        for s in (
            Strategy("random", "RandomSampler", multi_objective=True, default_first=True),
            Strategy("tpe", "TPESampler", multi_objective=True, default_first=True),
            Strategy("grid", "BruteForceSampler", multi_objective=True, finite_only=True, default_first=True),
            Strategy(
                "cmaes", "CmaEsSampler", numeric_only=True, requires=("cmaes",), extra="optuna", default_first=True
            ),
            Strategy(
                "bayesian", "GPSampler", multi_objective=True, requires=("scipy",), extra="optuna", default_first=True
            ),
            Strategy("nsga2", "NSGAIISampler", multi_objective=True, default_first=True),
            Strategy("evolution", "NSGAIISampler (genetic algorithm)", multi_objective=True, default_first=True),
            Strategy("hyperband", "TPESampler + HyperbandPruner", multi_fidelity=True, default_first=True),
        )
    }
    default_strategy = "tpe"
    option_specs = (
        OptionSpec(
            "storage",
            "str",
            None,
            "share the study: an RDB URL (postgresql://, mysql://, sqlite:///) or an Optuna journal file; "
            "other processes join with `unas worker RUN_ID --storage URL`",
        ),
    )
    shares_searches = True
    requires = ("optuna", "torch")
    extra = "optuna"
    packages = ("torch", "optuna")

    def gaps(self, recipe: Recipe, options: Options) -> list[Gap]:
        gaps = super().gaps(recipe, options)
        if options.extra.get("storage") and recipe.budget.simulated_s is not None:
            gaps.append(
                Gap(
                    "a simulated-time budget with a shared storage",
                    "adapter",
                    "simulated time is counted per process; give the shared search a trial budget",
                )
            )
        if len(recipe.objectives) > 1 and (options.pruner != "none" or options.strategy == "hyperband"):
            gaps.append(
                Gap("pruning with several objectives", "toolkit", "Optuna prunes single-objective studies only")
            )
        return gaps

    def check(self, recipe: Recipe, options: Options) -> None:
        super().check(recipe, options)
        url = options.extra.get("storage")
        if url is not None:
            check_storage_url(url, must_exist=options.resume)  # a resume attaches to the study it left there

    def prepare(self, options: Options) -> None:
        import unified_nas.evaluation.train.evaluate  # noqa: F401  (torch + the shared trainer)

    def check_arguments(self, recipe: Recipe, options: Options, seed: int, budget: Any) -> None:
        make_sampler(options.strategy, seed, options.strategy_args)  # raises RecipeError on a bad keyword

    def translate(self, ctx: RunContext) -> Suggest:
        return make_suggest(ctx.recipe.space.decls())

    def run(self, space: Suggest, ctx: RunContext, report: Callable[[optuna.trial.FrozenTrial], None]) -> None:
        run_study(space, ctx, report)

    def normalize(self, native_trial: optuna.trial.FrozenTrial, ctx: RunContext) -> TrialRecord:
        return normalize_trial(native_trial, ctx)

    def shared_run(self, run_id: str, storage: str) -> dict[str, Any]:
        """The run description ``unas run --storage`` left in the study ``run_id`` of ``storage``.

        Args:
            run_id: The run (the study's name).
            storage: The ``--storage`` value; checked first (a worker creates no file or schema).

        Returns:
            The description, its shape checked (:func:`~unified_nas.backends.optuna.shared.check_run_description`).

        Raises:
            UserError: A bad storage, no such study, a study not started by ``unas run --storage``,
                or a malformed description.
        """

        try:
            study = optuna.load_study(
                study_name=run_id, storage=open_storage(check_storage_url(storage, must_exist=True))
            )
        except KeyError:
            raise UserError(f"worker: no run {run_id} in the storage {storage}") from None
        if RUN_ATTR not in study.user_attrs:
            raise UserError(f"worker: study {run_id} in {storage} was not started by `unas run --storage`")
        # Anyone who can write the storage can write this attribute: checked before the worker trusts it.
        return check_run_description(study.user_attrs[RUN_ATTR], run_id, storage)

    def join(self, space: Suggest, ctx: RunContext, storage: str, trials: int | None) -> int:
        return join_study(ctx, space, storage, trials)
