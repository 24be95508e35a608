"""Runs an Optuna study: sampler and pruner from unified names, SQLite storage in the run directory."""
from __future__ import annotations

import traceback
import warnings
from typing import TYPE_CHECKING, Any, Callable

import optuna

from unified_nas.errors import RecipeError

if TYPE_CHECKING:
    from unified_nas.runner import RunContext

    from unified_nas.backends.optuna.translate import Suggest


def make_sampler(strategy: str, seed: int, args: dict[str, Any]) -> optuna.samplers.BaseSampler:
    """Unified strategy name -> seeded Optuna sampler (``args`` go to its constructor).

    Raises:
        RecipeError: If ``args`` holds a keyword the sampler does not take.
    """
    S = optuna.samplers
    factories: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
        "random": S.RandomSampler, "tpe": S.TPESampler, "hyperband": S.TPESampler,
        "grid": S.BruteForceSampler, "cmaes": S.CmaEsSampler, "bayesian": S.GPSampler,
        "nsga2": S.NSGAIISampler, "evolution": S.NSGAIISampler,
    }
    try:
        with warnings.catch_warnings():
            # BruteForceSampler/GPSampler are marked experimental; the pin on optuna keeps them stable for us.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return factories[strategy](seed=seed, **args)
    except TypeError as e:
        raise RecipeError("backends.optuna.strategy_args", f"{strategy}: {e}") from None


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    return {"none": optuna.pruners.NopPruner, "median": optuna.pruners.MedianPruner,
            "hyperband": optuna.pruners.HyperbandPruner}[name]()


def make_objective(suggest: "Suggest", ctx: "RunContext", prune: bool) -> Callable[[optuna.Trial], Any]:
    """The objective: suggest a canonical sample, train it with the shared protocol, return the objectives."""
    primary = ctx.recipe.objectives[0].metric

    def objective(trial: optuna.Trial) -> Any:
        sample = suggest(trial)
        trial.set_user_attr("sample", sample)

        def on_epoch(epoch: int, row: dict[str, float]) -> bool:
            if not prune or primary not in row:
                return False
            trial.report(row[primary], epoch)
            return trial.should_prune()

        try:
            result = ctx.evaluate(sample, on_epoch)
        except Exception:
            # Kept for the record; Optuna marks the trial FAIL and goes on (catch=Exception).
            trial.set_user_attr("error", traceback.format_exc(limit=4))
            raise
        trial.set_user_attr("result", result.to_dict())
        if result.stopped == "pruned":
            raise optuna.TrialPruned()
        values = ctx.objective_values(result)
        return values[0] if len(values) == 1 else values

    return objective


def run_study(suggest: "Suggest", ctx: "RunContext", normalize: Callable) -> optuna.Study:
    """Creates the study in ``<run_dir>/optuna.sqlite3`` and optimises within the budget.

    Each finished trial (complete, pruned or failed) is normalized and emitted
    at once through an Optuna callback.
    """
    opts = ctx.options
    ctx.prepare_trainer()
    pruner = "hyperband" if opts.strategy == "hyperband" else opts.pruner
    storage = f"sqlite:///{(ctx.run_dir / 'optuna.sqlite3').resolve()}"
    study = optuna.create_study(
        study_name=ctx.run_id, storage=storage, sampler=make_sampler(opts.strategy, ctx.seed, opts.strategy_args),
        pruner=make_pruner(pruner), directions=ctx.directions)
    study.optimize(
        make_objective(suggest, ctx, prune=pruner != "none"),
        n_trials=ctx.budget.trials, timeout=ctx.budget.time_s, catch=(Exception,),
        callbacks=[lambda _study, trial: ctx.emit(normalize(trial, ctx))], gc_after_trial=False,
        show_progress_bar=False)
    return study
